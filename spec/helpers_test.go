package spec

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// lines joins its arguments with newlines, so that a test's YAML reads
// with line N at argument N.
func lines(ls ...string) string { return strings.Join(ls, "\n") + "\n" }

// mustParse parses src as "t.yaml" and fails the test on any error.
func mustParse(t *testing.T, src string) *Topology {
	t.Helper()
	top, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatalf("unexpected errors:\n%v\nin:\n%s", err, numbered(src))
	}
	return top
}

// errorCase expects exactly the listed errors, in order. Each want is
// "line:col substring": the position must match exactly and the message
// must contain the substring.
type errorCase struct {
	name string
	src  string
	want []string
}

func runErrorCases(t *testing.T, cases []errorCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Helper()
			checkErrors(t, "t.yaml", tc.src, tc.want)
		})
	}
}

func checkErrors(t *testing.T, file, src string, want []string) {
	t.Helper()
	top, err := Parse(file, []byte(src))
	if err == nil {
		t.Fatalf("no error; want %q\nin:\n%s", want, numbered(src))
	}
	if top != nil {
		t.Errorf("Parse returned a topology along with errors")
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error is %T, not Errors: %v", err, err)
	}
	got := make([]string, len(es))
	for i, e := range es {
		if e.File != file {
			t.Errorf("error %d: File = %q, want %q", i, e.File, file)
		}
		got[i] = fmt.Sprintf("%d:%d %s", e.Pos.Line, e.Pos.Column, e.Msg)
	}
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		pos, sub, _ := strings.Cut(want[i], " ")
		gpos, gmsg, _ := strings.Cut(got[i], " ")
		ok = pos == gpos && strings.Contains(gmsg, sub)
	}
	if !ok {
		t.Errorf("errors:\n  %s\nwant:\n  %s\nin:\n%s", strings.Join(got, "\n  "), strings.Join(want, "\n  "), numbered(src))
	}
}

func numbered(src string) string {
	var b strings.Builder
	for i, l := range strings.Split(strings.TrimSuffix(src, "\n"), "\n") {
		fmt.Fprintf(&b, "%3d  %s\n", i+1, l)
	}
	return b.String()
}
