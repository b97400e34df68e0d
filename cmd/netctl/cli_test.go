package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/netctl/netctl/reconciler"
	"github.com/netctl/netctl/spec"
)

// Every line of a report on a bad file is file:line:column: message, the
// form editors and CI annotations match; other errors are netctl: lines.
func TestErrorLines(t *testing.T) {
	_, err := spec.Parse("t.yaml", []byte("networks:\n  a: {subnet: 10.0.0.0/33}\ncontainers:\n  x: {networks: [zz], foo: 1}\n"))
	if err == nil {
		t.Fatal("bad file accepted")
	}
	yamlErr := &spec.Error{File: "u.yaml", Pos: spec.Pos{Line: 3}, Msg: "invalid YAML"}
	all := errors.Join(fmt.Errorf("desired: %w", err), spec.Errors{yamlErr}, errors.New("one\ntwo"),
		&plainError{errors.New("netctl apply needs root (CAP_NET_ADMIN)")})
	lines := errorLines(all)
	positioned := regexp.MustCompile(`^[^:]+:[0-9]+:[0-9]+: .+$`)
	var got []string
	for _, l := range lines {
		switch {
		case positioned.MatchString(l):
			got = append(got, "pos")
		case strings.HasPrefix(l, "netctl: "):
			got = append(got, "netctl")
		default:
			got = append(got, l)
		}
	}
	want := []string{"pos", "pos", "pos", "pos", "netctl", "netctl", "netctl apply needs root (CAP_NET_ADMIN)"}
	if !slices.Equal(got, want) {
		t.Errorf("lines %q\nclassified %q, want %q", lines, got, want)
	}
	if lines[3] != "u.yaml:3:1: invalid YAML" {
		t.Errorf("an error without a column: %q", lines[3])
	}

	je := jsonError(all)
	b, _ := json.Marshal(je)
	var back struct {
		Message  string
		Problems []struct {
			File         string
			Line, Column int
			Message      string
		}
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Problems) != 4 || back.Problems[0].File != "t.yaml" || back.Problems[0].Line != 2 || back.Problems[0].Column == 0 ||
		!strings.Contains(back.Message, "3 problem(s) in t.yaml") || !strings.Contains(back.Message, "needs root") {
		t.Errorf("JSON error = %s", b)
	}
}

func TestJSONErrorDocument(t *testing.T) {
	var b strings.Builder
	if err := reconciler.WriteJSONError(&b, jsonError(errors.New("boom"))); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(b.String()), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["format_version"] != reconciler.PlanFormatVersion || doc["error"].(map[string]any)["message"] != "boom" {
		t.Errorf("document = %s", b.String())
	}
}

func TestColorLines(t *testing.T) {
	var b strings.Builder
	cw := &colorLines{w: &b}
	fmt.Fprint(cw, "+ network a: not present\n    bridge x\n~ files b: differs\n- endpoint c/a: gone\n! network d: blocked\nproject p: 1 to create")
	cw.flush()
	want := ansiGreen + "+ network a: not present" + ansiReset + "\n    bridge x\n" +
		ansiYellow + "~ files b: differs" + ansiReset + "\n" +
		ansiRed + "- endpoint c/a: gone" + ansiReset + "\n" +
		ansiRed + "! network d: blocked" + ansiReset + "\n" +
		"project p: 1 to create"
	if b.String() != want {
		t.Errorf("coloured = %q\nwant       %q", b.String(), want)
	}
}

func TestColorOff(t *testing.T) {
	a := &app{}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if a.color(f) {
		t.Error("a file is no terminal, yet output would be coloured")
	}
}

func TestEnv(t *testing.T) {
	t.Setenv("NETCTL_TEST_PASS", "from caller")
	path := filepath.Join(t.TempDir(), "env")
	content := "\xef\xbb\xbf# comment\n\nA=1\n  B= x y \nC=a=b\nNETCTL_TEST_PASS\nNETCTL_TEST_UNSET\nQ=\"quoted\"\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readEnvFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"A=1", "B= x y ", "C=a=b", "NETCTL_TEST_PASS=from caller", `Q="quoted"`}
	if !slices.Equal(got, want) {
		t.Errorf("env file = %q\nwant %q", got, want)
	}
	if err := os.WriteFile(path, []byte("BAD KEY=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readEnvFile(path); err == nil || !strings.Contains(err.Error(), ":1: ") {
		t.Errorf("whitespace in a name: %v", err)
	}
	if _, _, err := envEntry("=x"); err == nil {
		t.Error("-e =x accepted")
	}

	merged := mergeEnv([]string{"PATH=/bin", "A=caller"}, []string{"HOSTNAME=db"}, []string{"A=own", "B=own"}, []string{"B=exec"})
	if !slices.Equal(merged, []string{"PATH=/bin", "A=own", "HOSTNAME=db", "B=exec"}) {
		t.Errorf("merged = %q", merged)
	}
}

func TestVersionString(t *testing.T) {
	version, commit = "v1.2.3", "0123abcd"
	defer func() { version, commit = "", "" }()
	if got := versionString(); !regexp.MustCompile(`^v1\.2\.3, commit 0123abcd, go1\.[0-9.]+\S* [a-z0-9]+/[a-z0-9]+$`).MatchString(got) {
		t.Errorf("version = %q", got)
	}
}

func TestFileFlag(t *testing.T) {
	f := fileFlag{paths: []string{"a.yaml", "b.yaml"}}
	if _, err := f.path(); err == nil || !strings.Contains(err.Error(), "-f given 2 times (a.yaml, b.yaml)") {
		t.Errorf("two -f: %v", err)
	}
	t.Chdir(t.TempDir())
	if _, err := (&fileFlag{}).path(); err == nil || !strings.Contains(err.Error(), "netctl.yaml not found") {
		t.Errorf("no -f, no netctl.yaml: %v", err)
	}
	if err := os.WriteFile(defaultFile, []byte("containers: {a: {}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if top, err := (&fileFlag{}).load(); err != nil || top.Name != "netctl" {
		t.Errorf("default file: %v, %+v", err, top)
	}
	stdin := func(s string) *fileFlag { return &fileFlag{paths: []string{"-"}, stdin: strings.NewReader(s)} }
	if top, err := stdin("name: shop\ncontainers: {a: {}}\n").load(); err != nil || top.Name != "shop" || top.File != stdinName {
		t.Errorf("stdin: %v, %+v", err, top)
	}
	if _, err := stdin("containers: {a: {}}\n").load(); err == nil || !strings.Contains(err.Error(), "stdin:1:1: no project name") {
		t.Errorf("stdin without name: %v", err)
	}
	if _, err := stdin("name: shop\ncontainers: [\n").load(); err == nil || !strings.HasPrefix(errorLines(err)[0], "stdin:") {
		t.Errorf("bad YAML on stdin: %v", err)
	}
}
