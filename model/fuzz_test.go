package model

import (
	"reflect"
	"testing"
)

// FuzzPersistedEncodings feeds arbitrary text to the decoders of what
// netctl reads back from live hosts (rule comments, link marks), as a
// hand-edited or hostile rule or alias could hold it. No panic; whatever
// decodes, encodes to a text that decodes to the same object, and that
// text is one line of at most 255 bytes (xt_comment's limit).
func FuzzPersistedEncodings(f *testing.F) {
	for _, s := range []string{
		"netctl:shop", "netctl:shop:backend br-1a2b 172.18.0.0/16 internal no-icc", "netctl::bridge netctl0 172.17.0.0/16",
		"netctl:shop:web 0.0.0.0:8080->172.18.0.2:5000/tcp", "netctl:shop:web 127.0.0.1:80->172.18.0.2:80/udp",
		"netctl:shop:web link db 172.18.0.3->172.18.0.2:5432/tcp br-1a2b",
		"netctl:shop:backend/web", "netctl@0a1b2c3d:shop:backend", "netctl@0a1b2c3d::bridge nctl-0a1b2c3d 172.20.0.0/16", "netctl:shop:web 0.0.0.0:080->172.18.0.2:5000/tcp",
	} {
		f.Add(s)
	}
	check := func(t *testing.T, what, text string, got any, again func(string) (any, bool)) {
		t.Helper()
		if len(text) > 255 || containsNewline(text) {
			t.Fatalf("%s encodes to %q", what, text)
		}
		back, ok := again(text)
		if !ok || !reflect.DeepEqual(back, got) {
			t.Fatalf("%s: %q decodes to %+v, which encodes to %q, which decodes to %+v (ok %v)", what, text, got, text, back, ok)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		if p, ok := DecodeProjectComment(s); ok {
			check(t, "project comment", EncodeProjectComment(p), p, func(x string) (any, bool) { return DecodeProjectComment(x) })
		}
		if n, ok := DecodeNetworkComment(s); ok {
			check(t, "network comment", EncodeNetworkComment(n), n, func(x string) (any, bool) { return DecodeNetworkComment(x) })
		}
		if p, ok := DecodePortComment(s); ok {
			check(t, "port comment", EncodePortComment(p), p, func(x string) (any, bool) { return DecodePortComment(x) })
		}
		if l, ok := DecodeLinkComment(s); ok {
			check(t, "link comment", EncodeLinkComment(l), l, func(x string) (any, bool) { return DecodeLinkComment(x) })
		}
		if inst, c, ok := CommentInstance(s); ok && inst != "" {
			if back := InstanceComment(inst, c); back != s {
				t.Fatalf("instance comment %q splits into %q %q, which join as %q", s, inst, c, back)
			}
		}
		if o, ok := ParseOwner(s); ok {
			check(t, "link mark", EncodeOwner(o), o, func(x string) (any, bool) { return ParseOwner(x) })
		}
	})
}

func containsNewline(s string) bool {
	for i := range len(s) {
		if s[i] == '\n' || s[i] == 0 {
			return true
		}
	}
	return false
}
