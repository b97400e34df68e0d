package iptables

import (
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/golden"
)

func savedShop(t *testing.T) savedReading {
	t.Helper()
	v4, err := Render(shop())
	if err != nil {
		t.Fatal(err)
	}
	return savedReading{
		gen:  Generation{Boot: "0cfac254-65bc-4c7e-8964-2235abcbb030", NetNS: 4096, ID: 4294967295},
		mode: "nft", save: "/usr/sbin/iptables-nft-save", save6: "/usr/sbin/ip6tables-nft-save",
		v4: v4, v6: "",
	}
}

// The saved reading's format is fixed by a golden file: a change to it
// must change saveCacheMagic's version (a file of another version is no
// reading, never a wrong one).
func TestSavedReadingGolden(t *testing.T) {
	s := savedShop(t)
	b := encodeSaved(s)
	golden.File(t, "testdata/saved-reading.golden", string(b))
	got, err := decodeSaved(b)
	if err != nil {
		t.Fatal(err)
	}
	if got != s {
		t.Errorf("decoded %+v, want %+v", got, s)
	}
}

func TestSavedReadingRejectsDamage(t *testing.T) {
	b := string(encodeSaved(savedShop(t)))
	for name, text := range map[string]string{
		"empty":          "",
		"other version":  strings.Replace(b, saveCacheMagic, "netctl iptables-save reading v0", 1),
		"truncated":      b[:len(b)-10],
		"trailing data":  b + "x",
		"header cut":     b[:strings.Index(b, "mode")],
		"bad genid":      strings.Replace(b, "genid 4294967295", "genid 4294967296", 1),
		"negative size":  strings.Replace(b, "v6 0", "v6 -1", 1),
		"missing v6":     b[:strings.LastIndex(b, "v6 0")],
		"fields swapped": strings.Replace(strings.Replace(b, "boot ", "netns_", 1), "netns 4096", "boot 4096", 1),
	} {
		if _, err := decodeSaved([]byte(text)); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

// A reading is reused only for the same generation of the same
// namespace's ruleset in the same boot, read by the same commands.
func TestSavedReadingMatchesItsRulesetOnly(t *testing.T) {
	s := savedShop(t)
	mode, save, save6 := s.mode, s.save, s.save6
	if !s.matches(s.gen, mode, save, save6) {
		t.Fatal("does not match its own key")
	}
	for name, gen := range map[string]Generation{
		"next generation": {Boot: s.gen.Boot, NetNS: s.gen.NetNS, ID: 0},
		"other namespace": {Boot: s.gen.Boot, NetNS: s.gen.NetNS + 1, ID: s.gen.ID},
		"other boot":      {Boot: "other", NetNS: s.gen.NetNS, ID: s.gen.ID},
	} {
		if s.matches(gen, mode, save, save6) {
			t.Errorf("%s: matches", name)
		}
	}
	if s.matches(s.gen, "legacy", save, save6) || s.matches(s.gen, mode, "/sbin/iptables-save", save6) || s.matches(s.gen, mode, save, "/x") {
		t.Error("matches other commands")
	}
}
