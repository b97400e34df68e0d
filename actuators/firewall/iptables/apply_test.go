package iptables

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/netctl/netctl/model"
)

// fakeTools stands in for iptables-save and iptables-restore: save prints
// text, restore copies its input to a file. Nothing reaches netfilter.
// ip6tables' twins show nothing of netctl's and restore to a file of
// their own.
func fakeTools(t *testing.T, saved string) (b *Backend, restored string) {
	t.Helper()
	dir := t.TempDir()
	save, restore, restored := fakeFamily(t, dir, "", saved)
	save6, restore6, _ := fakeFamily(t, dir, "6", emptySave)
	return &Backend{log: zerolog.Nop(), mode: "nft", save: save, restore: restore, save6: save6, restore6: restore6}, restored
}

// fakeFamily writes one family's fake save and restore into dir.
func fakeFamily(t *testing.T, dir, suffix, saved string) (save, restore, restored string) {
	t.Helper()
	restored = filepath.Join(dir, "restored"+suffix)
	save, restore = filepath.Join(dir, "save"+suffix), filepath.Join(dir, "restore"+suffix)
	savedFile := filepath.Join(dir, "saved"+suffix)
	if err := os.WriteFile(savedFile, []byte(saved), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, script := range map[string]string{
		save:    "#!/bin/sh\ncat " + savedFile + "\n",
		restore: "#!/bin/sh\ncat > " + restored + "\n",
	} {
		if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return save, restore, restored
}

// Apply works from the observation the batch carries, not from anything
// the backend kept: with the batch's snapshot it does not read the rules
// again, and without one it reads them first.
func TestApplyUsesTheBatchsObservation(t *testing.T) {
	b, restored := fakeTools(t, emptySave)
	ctx := context.Background()
	fw, err := b.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fw.Snapshot == nil || fw.Snapshot.Backend() != Name {
		t.Fatalf("snapshot %v", fw.Snapshot)
	}
	// The rules change on the host after the observation; a batch planned
	// from it still goes by it (the restore would fail on a real host and
	// the next round observe again).
	full, err := Render(shop())
	if err != nil {
		t.Fatal(err)
	}
	b2, restored2 := fakeTools(t, full)
	batch := batchFor("shop", shop())
	batch.Observed = fw.Snapshot
	if err := b2.Apply(ctx, batch); err != nil {
		t.Fatal(err)
	}
	want, err := buildScript(observeText(t, emptySave), batchFor("shop", shop()))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(restored2); string(got) != want {
		t.Errorf("Apply with the batch's snapshot restored:\n%s\nwant:\n%s", got, want)
	}

	// No snapshot: the rules are read first; they already match, so no
	// restore runs.
	if err := os.Remove(restored2); err != nil {
		t.Fatal(err)
	}
	batch.Observed = nil
	if err := b2.Apply(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(restored2); !os.IsNotExist(err) {
		t.Errorf("Apply without a snapshot did not read the rules first (restore ran: %v)", err)
	}
	if err := b.Apply(ctx, &model.FirewallBatch{Project: "shop", Observed: fw.Snapshot}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(restored); !os.IsNotExist(err) {
		t.Errorf("an empty batch ran iptables-restore (%v)", err)
	}
}
