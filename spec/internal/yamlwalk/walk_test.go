package yamlwalk

import (
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// walk decodes src and returns the walker, its root and a function that
// renders what was reported so far as "line:col msg" lines.
func walk(t *testing.T, src string) (*Walker, *yaml.Node, func() []string) {
	t.Helper()
	c := NewCollector("t.yaml")
	w := New(c)
	root := w.Decode([]byte(src), "a test file")
	return w, root, func() []string {
		var out []string
		for _, e := range c.Errors() {
			out = append(out, fmt.Sprintf("%d:%d %s", e.Pos.Line, e.Pos.Column, e.Msg))
		}
		return out
	}
}

func wantReports(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("reports:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		root      bool
		want      []string
	}{
		{"empty", "", false, nil},
		{"comment only", "# nothing\n", false, nil},
		{"syntax error has a line", "a: [1\nb: 2\n", false, []string{"1:0 invalid YAML: did not find expected ',' or ']'"}},
		{"tab indentation", "a:\n\tb: 1\n", false, []string{"2:0 invalid YAML: found character that cannot start any token"}},
		{"second document", "a: 1\n---\nb: 2\n", true, []string{"3:1 a second YAML document; a test file holds exactly one"}},
		{"one document", "a: 1\n", true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, root, reports := walk(t, tc.src)
			if (root != nil) != tc.root {
				t.Errorf("root = %v, want a root: %v", root, tc.root)
			}
			wantReports(t, reports(), tc.want...)
		})
	}
}

func keys(fs []Field) string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s@%d:%d", f.Key, f.KeyPos.Line, f.KeyPos.Column))
	}
	return strings.Join(out, " ")
}

func TestFields(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		ok        bool
		keys      string
		want      []string
	}{
		{"in order with positions", "b: 1\na: 2\n", true, "b@1:1 a@2:1", nil},
		{"null is empty", "~\n", true, "", nil},
		{"not a mapping", "[1]\n", false, "", []string{"1:1 thing: expected a mapping, got a list"}},
		{"scalar named", "hello\n", false, "", []string{`1:1 thing: expected a mapping, got "hello"`}},
		{"duplicate key", "a: 1\nb: 2\na: 3\n", true, "a@1:1 b@2:1", []string{`3:1 thing: duplicate item "a" (first at 1:1)`}},
		{"key not a string", "[1]: 2\nb: 3\n", true, "b@2:1", []string{"1:1 thing: keys must be strings"}},
		{"merge, explicit wins", "x: &d {a: 1, b: 2}\ny: {<<: *d, b: 3}\n", true, "x@1:1 y@2:1", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, root, reports := walk(t, tc.src)
			fs, ok := w.Fields(root, "thing", "item")
			if ok != tc.ok || keys(fs) != tc.keys {
				t.Errorf("Fields = %q, %v; want %q, %v", keys(fs), ok, tc.keys, tc.ok)
			}
			wantReports(t, reports(), tc.want...)
		})
	}
}

func TestFieldsMerge(t *testing.T) {
	w, root, reports := walk(t, "x: &d {a: 1, b: 2}\nz: &e {c: 4}\ny: {<<: [*d, *e], b: 3}\n")
	fs, _ := w.Fields(root, "top", "key")
	y, _ := w.Fields(fs[2].Value, "y", "key")
	// The explicit b comes first and keeps its own position; merged keys
	// keep theirs in the anchored mapping.
	if got, want := keys(y), "b@3:19 a@1:8 c@2:8"; got != want {
		t.Errorf("merged keys = %q, want %q", got, want)
	}
	if v, _ := w.Integer(y[0].Value, "b"); v != 3 {
		t.Errorf("b = %d, want the explicit 3", v)
	}
	wantReports(t, reports())
}

func TestMergeDepth(t *testing.T) {
	var b strings.Builder
	b.WriteString("m0: &m0 {a: 1}\n")
	for i := 1; i <= maxMergeDepth+1; i++ {
		fmt.Fprintf(&b, "m%d: &m%d {<<: *m%d}\n", i, i, i-1)
	}
	w, root, reports := walk(t, b.String())
	fs, _ := w.Fields(root, "top", "key")
	w.Fields(fs[len(fs)-1].Value, "deep", "key")
	got := reports()
	if len(got) != 1 || !strings.HasSuffix(got[0], "deep: merge keys nested too deeply") {
		t.Errorf("reports = %q, want one about merge depth", got)
	}
}

// A billion-laughs document stops the walk with one report instead of
// expanding every alias.
func TestAliasBudget(t *testing.T) {
	src := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i, prev := 0, "a"; i < 9; i++ {
		name := fmt.Sprintf("l%d", i)
		src += fmt.Sprintf("%s: &%s [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n", name, name, prev, prev, prev, prev, prev, prev, prev, prev, prev, prev)
		prev = name
	}
	w, root, reports := walk(t, src)
	var visit func(n *yaml.Node)
	visit = func(n *yaml.Node) {
		items, _ := w.Seq(n, "list")
		for _, it := range items {
			if Target(it).Kind == yaml.SequenceNode {
				visit(it)
			} else {
				w.Str(it, "item")
			}
		}
	}
	fs, _ := w.Fields(root, "top", "key")
	for _, f := range fs {
		visit(f.Value)
	}
	if !w.Exhausted() {
		t.Fatal("walk not exhausted")
	}
	got := reports()
	if len(got) != 1 || !strings.Contains(got[0], "the file expands to too many nodes through aliases") {
		t.Errorf("reports = %q, want one about the budget", got)
	}
}

func TestScalars(t *testing.T) {
	w, root, reports := walk(t, strings.Join([]string{
		"s: 123",
		"i: 42",
		"qi: '42'",
		"b: true",
		"qb: 'yes'",
		"l: [1]",
		"n:",
		"one: 1.1.1.1",
		"many: [a, b]",
	}, "\n")+"\n")
	fs, _ := w.Fields(root, "top", "key")
	v := map[string]*yaml.Node{}
	for _, f := range fs {
		v[f.Key] = f.Value
	}
	if s, ok := w.Str(v["s"], "s"); !ok || s != "123" {
		t.Errorf("Str(123) = %q, %v; want the string", s, ok)
	}
	if i, ok := w.Integer(v["i"], "i"); !ok || i != 42 {
		t.Errorf("Integer(42) = %d, %v", i, ok)
	}
	if _, ok := w.Integer(v["qi"], "qi"); ok {
		t.Error("Integer accepted a quoted string")
	}
	if b, ok := w.Boolean(v["b"], "b"); !ok || !b {
		t.Errorf("Boolean(true) = %v, %v", b, ok)
	}
	if _, ok := w.Boolean(v["qb"], "qb"); ok {
		t.Error("Boolean accepted a quoted string")
	}
	if _, ok := w.Str(v["l"], "l"); ok {
		t.Error("Str accepted a list")
	}
	if _, ok := w.Str(v["n"], "n"); ok {
		t.Error("Str accepted null")
	}
	if items := w.ScalarOrSeq(v["one"], "one"); len(items) != 1 {
		t.Errorf("ScalarOrSeq(scalar) = %d items, want 1", len(items))
	}
	if items := w.ScalarOrSeq(v["many"], "many"); len(items) != 2 {
		t.Errorf("ScalarOrSeq(list) = %d items, want 2", len(items))
	}
	if items, ok := w.Seq(v["n"], "n"); !ok || items != nil {
		t.Errorf("Seq(null) = %v, %v; want empty and ok", items, ok)
	}
	if _, ok := w.Seq(v["s"], "s"); ok {
		t.Error("Seq accepted a scalar")
	}
	wantReports(t, reports(),
		`1:4 s: expected a list, got "123"`,
		`3:5 qi: expected an integer, got "42"`,
		`5:5 qb: expected true or false, got "yes"`,
		"6:4 l: expected a string, got a list",
		"7:3 n: expected a string, got nothing",
	)
}

func TestUnknownKey(t *testing.T) {
	w, root, reports := walk(t, "netwrks: {}\nzzz: 1\n")
	fs, _ := w.Fields(root, "top", "key")
	for _, f := range fs {
		w.UnknownKey(f, "at top level", []string{"networks", "containers"})
	}
	wantReports(t, reports(),
		`1:1 unknown key "netwrks" at top level (did you mean "networks"?)`,
		`2:1 unknown key "zzz" at top level`,
	)
}

func TestValPosFollowsAliases(t *testing.T) {
	w, root, _ := walk(t, "a: &x 1\nb: *x\n")
	fs, _ := w.Fields(root, "top", "key")
	if got := ValPos(fs[1].Value); got != (Pos{1, 4}) {
		t.Errorf("ValPos(alias) = %v, want the anchored value at 1:4", got)
	}
	if got := PosOf(fs[1].Value); got != (Pos{2, 4}) {
		t.Errorf("PosOf(alias) = %v, want the alias at 2:4", got)
	}
}

func TestErrorRendering(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{"t.yaml", Pos{3, 5}, "bad"}, "t.yaml:3:5: bad"},
		{Error{"t.yaml", Pos{3, 0}, "bad"}, "t.yaml:3: bad"},
		{Error{"t.yaml", Pos{}, "bad"}, "t.yaml: bad"},
		{Error{"", Pos{3, 5}, "bad"}, "3:5: bad"},
		{Error{"", Pos{}, "bad"}, "bad"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.e, got, tc.want)
		}
	}
	es := Errors{{"f", Pos{1, 2}, "a"}, {"f", Pos{3, 4}, "b"}}
	if got, want := es.Error(), "f:1:2: a\nf:3:4: b"; got != want {
		t.Errorf("Errors.Error() = %q, want %q", got, want)
	}
}

func TestCollectorSortsAndDropsRepeats(t *testing.T) {
	c := NewCollector("f")
	if c.Errors() != nil {
		t.Fatal("Errors() of an empty collector is not nil")
	}
	c.Addf(Pos{5, 1}, "late")
	c.Addf(Pos{2, 3}, "x %d", 1)
	c.Addf(Pos{5, 1}, "late")
	c.Addf(Pos{2, 1}, "early")
	if got, want := c.Errors().Error(), "f:2:1: early\nf:2:3: x 1\nf:5:1: late"; got != want {
		t.Errorf("Errors() = %q, want %q", got, want)
	}
}

func TestSuggestAndQuote(t *testing.T) {
	known := []string{"networks", "containers", "nodes"}
	for s, want := range map[string]string{
		"netwroks":  ` (did you mean "networks"?)`,
		"Networks":  ` (did you mean "networks"?)`,
		"networks":  "",
		"services":  "",
		"container": ` (did you mean "containers"?)`,
	} {
		if got := Suggest(s, known); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", s, got, want)
		}
	}
	if got := Quote(strings.Repeat("a", 50)); got != `"`+strings.Repeat("a", 40)+`..."` {
		t.Errorf("Quote(long) = %s", got)
	}
}

func TestStrings(t *testing.T) {
	w, root, reports := walk(t, "l: [a, 2, [x], b]\n")
	fs, _ := w.Fields(root, "top", "key")
	if got := fmt.Sprint(w.Strings(fs[0].Value, "l")); got != "[{a {1 5}} {2 {1 8}} {b {1 16}}]" {
		t.Errorf("Strings = %s", got)
	}
	wantReports(t, reports(), "1:11 l: expected a string, got a list")
}
