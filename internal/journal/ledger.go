package journal

// Ledger is a journal's count of the changes it heard and, per container,
// the count of the last change that concerned it. Asked what changed
// since a count of its own, it answers with the containers touched after
// it, or with "anything" when the count is from before a loss: a change
// it could not pin on a container (an overflowed queue, a watch placed
// anew) or a container it forgot.
type Ledger struct {
	seq, lost uint64
	touched   map[string]uint64
}

// MaxRemembered bounds the containers a journal keeps in its ledger:
// container names come and go (CI jobs with names of their own), and a
// journal lives as long as the DNS server. Past it, a journal forgets
// containers (Forget).
const MaxRemembered = 1 << 16

// Seq is the count of changes heard so far.
func (l *Ledger) Seq() uint64 { return l.seq }

// Lost is the count of the last loss.
func (l *Ledger) Lost() uint64 { return l.lost }

// Next counts a change heard.
func (l *Ledger) Next() { l.seq++ }

// Touch pins the change last counted on the container id.
func (l *Ledger) Touch(id string) {
	if l.touched == nil {
		l.touched = map[string]uint64{}
	}
	l.touched[id] = l.seq
}

// Lose makes every count until now useless: what changed before it is
// not known.
func (l *Ledger) Lose() { l.lost = l.seq }

// Len is how many containers the ledger remembers.
func (l *Ledger) Len() int { return len(l.touched) }

// Forget drops the containers gone reports, and with them every count from
// before their last change.
func (l *Ledger) Forget(gone func(id string) bool) {
	for id, seq := range l.touched {
		if gone(id) {
			l.lost = max(l.lost, seq)
			delete(l.touched, id)
		}
	}
}

// Since lists the containers touched after the count since; false when
// the ledger cannot tell (since is from before a loss, or ahead of it).
func (l *Ledger) Since(since uint64) ([]string, bool) {
	if since > l.seq || since < l.lost {
		return nil, false
	}
	var out []string
	for id, s := range l.touched {
		if s > since {
			out = append(out, id)
		}
	}
	return out, true
}
