package iptables

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// External commands (issue 10, item 8): every one has a deadline, and a
// restore's outcome is what the rules read back say, not its exit status.

// scriptTools stands in for iptables-save (which prints the file state)
// and an iptables-restore running script (which may write state).
func scriptTools(t *testing.T, initial, restore string) (*Backend, string) {
	t.Helper()
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.WriteFile(state, []byte(initial), 0o644); err != nil {
		t.Fatal(err)
	}
	save, rest := filepath.Join(dir, "save"), filepath.Join(dir, "restore")
	for path, script := range map[string]string{
		save: "#!/bin/sh\ncat " + state + "\n",
		rest: "#!/bin/sh\n" + restore + "\n",
	} {
		if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := fakeTools(t, initial)
	b.save, b.restore = save, rest
	return b, state
}

func TestRestoreThatHangsIsKilled(t *testing.T) {
	b, _ := scriptTools(t, emptySave, "sleep 60")
	b.timeout = 500 * time.Millisecond
	start := time.Now()
	err := b.Apply(context.Background(), batchFor("shop", shop()))
	if err == nil || !strings.Contains(err.Error(), "no result within 500ms: killed") {
		t.Errorf("Apply with a hung iptables-restore: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Apply returned after %s", took)
	}
}

func TestRestoreThatCommitsThenFailsIsApplied(t *testing.T) {
	full, err := Render(shop())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rendered := filepath.Join(dir, "rendered")
	if err := os.WriteFile(rendered, []byte(full), 0o644); err != nil {
		t.Fatal(err)
	}
	// Commits (the rules are there afterwards), then exits 1.
	b, state := scriptTools(t, emptySave, "")
	if err := os.WriteFile(b.restore, []byte("#!/bin/sh\ncat >/dev/null\ncp "+rendered+" "+state+"\necho 'iptables-restore: COMMIT failed' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(context.Background(), batchFor("shop", shop())); err != nil {
		t.Errorf("the rules were written, yet Apply reports: %v", err)
	}
	// One that fails and writes nothing is an error, with its message.
	b, _ = scriptTools(t, emptySave, "cat >/dev/null; echo 'iptables-restore: line 3 failed' >&2; exit 1")
	err = b.Apply(context.Background(), batchFor("shop", shop()))
	if err == nil || !strings.Contains(err.Error(), "line 3 failed (line 3: ") {
		t.Errorf("a restore that wrote nothing: %v", err)
	}
}

// The flavour comes from the multi-call binary the iptables command
// resolves to (Debian's alternatives: iptables -> /etc/alternatives ->
// iptables-nft -> xtables-nft-multi); anything else is asked.
func TestModeOfBinary(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"xtables-nft-multi", "xtables-legacy-multi", "iptables-wrapper"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := func(name, target string) string {
		p := filepath.Join(dir, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	link("iptables-nft", "xtables-nft-multi")
	link("alt-nft", filepath.Join(dir, "iptables-nft"))
	for path, want := range map[string]string{
		link("iptables", filepath.Join(dir, "alt-nft")): "nft",
		link("iptables-legacy", "xtables-legacy-multi"): "legacy",
		link("iptables-other", "iptables-wrapper"):      "",
		filepath.Join(dir, "missing"):                   "",
	} {
		if got := modeOfBinary(path); got != want {
			t.Errorf("%s: %q, want %q", filepath.Base(path), got, want)
		}
	}
}
