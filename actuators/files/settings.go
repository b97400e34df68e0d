package files

import (
	"encoding/json"
	"net/netip"

	"github.com/netctl/netctl/model"
)

// decodeSettings is json.Unmarshal(b, cs) for a zero cs, made cheaper
// for settings as writeJSON writes them: json.Unmarshal scans the bytes
// twice and decodes through reflection, a fifth of the CPU of reading
// the containers' files. The fast path accepts a subset of JSON (known
// keys, each once; strings of printable ASCII without escapes) and
// leaves anything else, errors included, to json.Unmarshal itself.
// FuzzDecodeSettings holds it to json.Unmarshal's results.
func decodeSettings(b []byte, cs *containerSettings) error {
	var fast containerSettings
	d := decoder{b: b}
	if d.settings(&fast) && d.end() {
		*cs = fast
		return nil
	}
	return json.Unmarshal(b, cs)
}

// decoder reads the fast path's JSON; its methods return false on
// anything it does not take.
type decoder struct {
	b []byte
	i int
}

func (d *decoder) skipSpace() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// consume reads c, after any white space.
func (d *decoder) consume(c byte) bool {
	d.skipSpace()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// end is whether nothing but white space is left.
func (d *decoder) end() bool {
	d.skipSpace()
	return d.i == len(d.b)
}

// literal reads a string's bytes, valid until b changes.
func (d *decoder) literal() ([]byte, bool) {
	if !d.consume('"') {
		return nil, false
	}
	for j := d.i; j < len(d.b); j++ {
		switch c := d.b[j]; {
		case c == '"':
			s := d.b[d.i:j]
			d.i = j + 1
			return s, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
	}
	return nil, false
}

func (d *decoder) str(s *string) bool {
	b, ok := d.literal()
	*s = string(b)
	return ok
}

func (d *decoder) boolean(v *bool) bool {
	switch {
	case d.word("true"):
		*v = true
	case d.word("false"):
		*v = false
	default:
		return false
	}
	return true
}

func (d *decoder) null() bool { return d.word("null") }

// word reads w, after any white space.
func (d *decoder) word(w string) bool {
	d.skipSpace()
	if len(d.b)-d.i >= len(w) && string(d.b[d.i:d.i+len(w)]) == w {
		d.i += len(w)
		return true
	}
	return false
}

// addr reads an address as netip.Addr's UnmarshalText does.
func (d *decoder) addr(a *netip.Addr) bool {
	b, ok := d.literal()
	if !ok || len(b) == 0 {
		*a = netip.Addr{}
		return ok
	}
	var err error
	*a, err = netip.ParseAddr(string(b))
	return err == nil
}

// object reads an object, handing each key to member to read its value.
// A key seen twice is left to json.Unmarshal (for some types the last
// one wins, for others they merge), and so is an object of many keys,
// which the search for a repeated one would make slow.
func (d *decoder) object(member func(key []byte) bool) bool {
	if !d.consume('{') {
		return false
	}
	if d.consume('}') {
		return true
	}
	var keys [16][]byte
	seen := keys[:0]
	for {
		k, ok := d.literal()
		if !ok || !d.consume(':') || len(seen) == len(keys) {
			return false
		}
		for _, s := range seen {
			if string(s) == string(k) {
				return false
			}
		}
		seen = append(seen, k)
		if !member(k) {
			return false
		}
		if d.consume('}') {
			return true
		}
		if !d.consume(',') {
			return false
		}
	}
}

// array reads an array, calling elem for each element. json.Unmarshal
// makes an empty array an empty slice, not nil: the caller does too.
func (d *decoder) array(elem func() bool) bool {
	if !d.consume('[') {
		return false
	}
	if d.consume(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if d.consume(']') {
			return true
		}
		if !d.consume(',') {
			return false
		}
	}
}

// stringList reads an array of strings, or null (a HostEntry's Names
// when there are none): json.Unmarshal makes a slice nil then.
func (d *decoder) stringList(v *[]string) bool {
	if d.null() {
		*v = nil
		return true
	}
	*v = []string{}
	return d.array(func() bool {
		var s string
		*v = append(*v, s)
		return d.str(&(*v)[len(*v)-1])
	})
}

func (d *decoder) settings(cs *containerSettings) bool {
	return d.object(func(key []byte) bool {
		switch string(key) {
		case "hostname":
			return d.str(&cs.Hostname)
		case "mode":
			var m string
			ok := d.str(&m)
			cs.Mode = model.Mode(m)
			return ok
		case "netns":
			return d.str(&cs.Netns)
		case "external":
			return d.boolean(&cs.External)
		case "aliases":
			cs.Aliases = map[string][]string{}
			return d.object(func(network []byte) bool {
				var names []string
				ok := d.stringList(&names)
				cs.Aliases[string(network)] = names
				return ok
			})
		case "extra_hosts":
			cs.ExtraHosts = []model.HostEntry{}
			return d.array(func() bool {
				var h model.HostEntry
				ok := d.object(func(key []byte) bool {
					switch string(key) {
					case "IP":
						return d.addr(&h.IP)
					case "Names":
						return d.stringList(&h.Names)
					}
					return false
				})
				cs.ExtraHosts = append(cs.ExtraHosts, h)
				return ok
			})
		case "dns":
			cs.DNS = []netip.Addr{}
			return d.array(func() bool {
				var a netip.Addr
				ok := d.addr(&a)
				cs.DNS = append(cs.DNS, a)
				return ok
			})
		case "node":
			return d.str(&cs.Node)
		case "publish_all":
			return d.boolean(&cs.PublishAll)
		}
		return false
	})
}
