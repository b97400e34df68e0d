package netlink

import (
	"context"
	"fmt"
	"maps"
	"os/exec"
	"strings"
	"testing"
)

// Hairpin mode is read from and set on the sandbox host's bridge ports,
// and only on bridge ports.
func TestHairpin(t *testing.T) {
	s := newSandbox(t)
	s.mustIn(s.hostPath, "ip", "link", "add", "br-hp", "type", "bridge")
	s.mustIn(s.hostPath, "ip", "link", "add", "hp-a", "type", "veth", "peer", "name", "hp-b")
	s.mustIn(s.hostPath, "ip", "link", "set", "hp-a", "master", "br-hp")
	ns, _, err := openNetns(s.hostPath, false)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h := NewHairpin(ns)
	ctx := context.Background()

	got, err := h.Hairpins(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if on, ok := got["hp-a"]; !ok || on || len(got) != 1 {
		t.Errorf("hairpins = %v, want hp-a off and nothing else", got)
	}
	if err := h.SetHairpin(ctx, map[string]bool{"hp-a": true}); err != nil {
		t.Fatal(err)
	}
	if got, err = h.Hairpins(ctx); err != nil || !got["hp-a"] {
		t.Errorf("after SetHairpin: %v, %v", got, err)
	}
	if err := h.SetHairpin(ctx, map[string]bool{"absent0": true}); err == nil {
		t.Error("hairpin on a missing port accepted")
	}
}

// More ports than one datagram takes are set in several.
func TestHairpinManyPorts(t *testing.T) {
	s := newSandbox(t)
	var batch strings.Builder
	batch.WriteString("link add br-hp type bridge\n")
	want := map[string]bool{}
	for i := range hairpinBatch + 10 {
		fmt.Fprintf(&batch, "link add hp%d type veth peer name hq%d\nlink set hp%d master br-hp\n", i, i, i)
		want[fmt.Sprintf("hp%d", i)] = i%2 == 0
	}
	cmd := exec.Command("nsenter", "--net="+s.hostPath, "ip", "-batch", "-")
	cmd.Stdin = strings.NewReader(batch.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ip -batch: %v\n%s", err, out)
	}
	ns, _, err := openNetns(s.hostPath, false)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h := NewHairpin(ns)
	if err := h.SetHairpin(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	got, err := h.Hairpins(context.Background())
	if err != nil || !maps.Equal(got, want) {
		t.Errorf("hairpins differ from what was set (%v)", err)
	}
}
