package model

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"regexp"
	"strconv"
	"testing"
)

// The regular expressions DecodePortComment was first written with: the
// hand-cut decoder must accept exactly what they accept, and decode it the
// same way.
var (
	oraclePortRE   = regexp.MustCompile(`^netctl:([A-Za-z0-9-]+):([A-Za-z0-9-]+) ([0-9.]+):([0-9]+)->([0-9.]+):([0-9]+)/(tcp|udp|sctp)$`)
	oraclePortV6RE = regexp.MustCompile(`^netctl:([A-Za-z0-9-]+):([A-Za-z0-9-]+) \[([0-9a-f:]+)\]:([0-9]+)->\[([0-9a-f:]+)\]:([0-9]+)/(tcp|udp|sctp)$`)
)

func oracleDecodePortComment(c string) (*PortRule, bool) {
	m := oraclePortRE.FindStringSubmatch(c)
	v6 := m == nil
	if v6 {
		m = oraclePortV6RE.FindStringSubmatch(c)
	}
	if m == nil {
		return nil, false
	}
	hostIP, err1 := netip.ParseAddr(m[3])
	target, err2 := netip.ParseAddr(m[5])
	hp, err3 := strconv.ParseUint(m[4], 10, 16)
	cp, err4 := strconv.ParseUint(m[6], 10, 16)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || hp == 0 || cp == 0 ||
		hostIP.Is6() != v6 || target.Is6() != v6 || hostIP.Is4In6() || target.Is4In6() {
		return nil, false
	}
	if !v6 && hostIP.IsUnspecified() {
		hostIP = netip.Addr{}
	}
	return &PortRule{
		Project: m[1], Container: m[2], Target: target,
		Port: Port{HostIP: hostIP, HostPort: uint16(hp), ContainerPort: uint16(cp), Proto: m[7]},
	}, true
}

func checkPortCommentOracle(t *testing.T, s string) {
	t.Helper()
	got, ok := DecodePortComment(s)
	want, wantOK := oracleDecodePortComment(s)
	if ok != wantOK || !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodePortComment(%q) = %+v, %v; the expression decodes %+v, %v", s, got, ok, want, wantOK)
	}
}

var portCommentSeeds = []string{
	"netctl:shop:web 0.0.0.0:8080->172.18.0.2:5000/tcp", "netctl:shop:web 127.0.0.1:32768->172.18.0.2:5001/udp",
	"netctl:a-1:b-2 10.250.0.1:9000->10.0.0.9:9000/sctp", "netctl:shop:web [::]:8080->[fd00:18::2]:5000/tcp",
	"netctl:shop:dns [fd00:99::1]:53->[fd00:18::3]:53/udp", "netctl:shop:web 0.0.0.0:080->172.18.0.2:5000/tcp",
	"netctl:shop:web [::ffff:1.2.3.4]:1->[fd00::2]:2/tcp", "netctl:shop:web [::FFFF]:1->[fd00::2]:2/tcp",
	"netctl:shop:web 1.2.3:1->1.2.3.4:2/tcp", "netctl:shop:web []:1->[fd00::2]:2/tcp", "netctl:shop:web [::]:->[::1]:2/tcp",
	"netctl:shop:web 0.0.0.0:8080->172.18.0.2:5000/tcp/tcp", "netctl:sh:op:web 0.0.0.0:1->1.2.3.4:2/tcp",
	"netctl:shop:web 0.0.0.0:+1->1.2.3.4:2/tcp", "netctl:shop:web 0.0.0.0:1->1.2.3.4:2->1.2.3.4:3/tcp",
}

func TestPortCommentMatchesExpression(t *testing.T) {
	const alphabet = "netcl:shopwb 0123456789.->[]:/fdFtcpudpsa"
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range portCommentSeeds {
		checkPortCommentOracle(t, s)
		// Mutations: a byte replaced, dropped or doubled, many times over.
		for range 2000 {
			b := []byte(s)
			i := rng.IntN(len(b))
			switch rng.IntN(3) {
			case 0:
				b[i] = alphabet[rng.IntN(len(alphabet))]
			case 1:
				b = append(b[:i], b[i+1:]...)
			default:
				b = append(b[:i+1], b[i:]...)
			}
			checkPortCommentOracle(t, string(b))
		}
	}
}

func FuzzPortCommentMatchesExpression(f *testing.F) {
	for _, s := range portCommentSeeds {
		f.Add(s)
	}
	f.Fuzz(checkPortCommentOracle)
}
