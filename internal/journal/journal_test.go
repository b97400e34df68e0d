package journal

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestLedger(t *testing.T) {
	var l Ledger
	l.Next()
	l.Touch("p/a") // 1
	l.Next()
	l.Touch("p/b") // 2
	l.Next()       // 3: a change of no container
	for _, c := range []struct {
		since uint64
		want  []string
		known bool
	}{
		{0, []string{"p/a", "p/b"}, true},
		{1, []string{"p/b"}, true},
		{3, nil, true},
		{4, nil, false}, // ahead of the ledger
	} {
		got, known := l.Since(c.since)
		slices.Sort(got)
		if known != c.known || !slices.Equal(got, c.want) {
			t.Errorf("since %d: %v %v, want %v %v", c.since, got, known, c.want, c.known)
		}
	}
	l.Lose()
	if _, known := l.Since(2); known {
		t.Error("a count from before a loss was answered")
	}
	l.Next()
	l.Touch("p/c") // 4
	l.Forget(func(id string) bool { return id == "p/c" })
	if l.Len() != 2 || l.Lost() != 4 {
		t.Errorf("after forgetting p/c: %d remembered, lost at %d; want 2 and 4", l.Len(), l.Lost())
	}
	if _, known := l.Since(3); known {
		t.Error("a count from before a forgotten change was answered")
	}
}

func TestSocketQuestionAndAnswer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dns", "j.sock")
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, path, func(q Question) any { return map[string]uint64{"epoch": q.Epoch, "since": q.Since} })
	}()
	var got map[string]uint64
	deadline := time.Now().Add(5 * time.Second)
	for Ask(ctx, path, Question{Epoch: 3, Since: 7}, &got) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the journal never answered")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got["epoch"] != 3 || got["since"] != 7 {
		t.Errorf("answer %v, want epoch 3 since 7", got)
	}
	if err := Serve(ctx, path, func(Question) any { return nil }); !errors.Is(err, ErrRunning) {
		t.Errorf("a second journal on the socket: %v, want ErrRunning", err)
	}
	cancel()
	if err := <-served; err != nil {
		t.Errorf("Serve after cancel: %v", err)
	}
	if err := Ask(context.Background(), path, Question{}, &got); err == nil {
		t.Error("asked a journal that ended, and got an answer")
	}
}
