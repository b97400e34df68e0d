package integration

import (
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func asExit(err error, target **exec.ExitError) bool { return errors.As(err, target) }

func itoa(i int) string { return strconv.Itoa(i) }

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// diffLines shows the lines that differ between two snapshots.
func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	inA := map[string]bool{}
	for _, l := range al {
		inA[l] = true
	}
	inB := map[string]bool{}
	for _, l := range bl {
		inB[l] = true
	}
	var out strings.Builder
	for _, l := range al {
		if !inB[l] {
			out.WriteString("- " + l + "\n")
		}
	}
	for _, l := range bl {
		if !inA[l] {
			out.WriteString("+ " + l + "\n")
		}
	}
	return out.String()
}
