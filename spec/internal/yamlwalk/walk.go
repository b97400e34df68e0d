// Package yamlwalk reads a YAML document node by node, keeping the position
// of every key and value, so that a schema built on it can report each
// problem at file:line:column and keep going. It knows nothing of any
// schema: it decodes, follows aliases and merge keys within a budget,
// rejects duplicate keys and checks scalar types; the caller says what each
// key means.
package yamlwalk

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// Walker walks one document, reporting problems to its Collector.
type Walker struct {
	*Collector

	// Aliases let a small file expand into a huge tree (billion laughs);
	// the walk stops once it has visited budget nodes.
	visits, budget int
	exhausted      bool
}

// New returns a Walker that reports to c.
func New(c *Collector) *Walker { return &Walker{Collector: c} }

// Exhausted reports whether the walk stopped because aliases expanded the
// document beyond its budget; what was read is then incomplete.
func (w *Walker) Exhausted() bool { return w.exhausted }

// Field is one key of a mapping, with its value not yet resolved.
type Field struct {
	Key    string
	KeyPos Pos
	Value  *yaml.Node
}

var yamlLineRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^yaml: line (\d+): (.*)$`) })

// Decode returns the root node of the single YAML document in data, or nil
// when there is none or it does not parse. kind names the file for the
// message about a second document ("a topology file").
func (w *Walker) Decode(data []byte, kind string) (root *yaml.Node) {
	defer func() {
		// yaml.v3 is not ours; a panic on hostile input must become an
		// error rather than take a long-running caller down.
		if r := recover(); r != nil {
			w.Addf(Pos{}, "invalid YAML: %v", r)
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if !errors.Is(err, io.EOF) {
			w.yamlError(err)
		}
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		pos := PosOf(&extra)
		if len(extra.Content) > 0 {
			pos = PosOf(extra.Content[0])
		}
		w.Addf(pos, "a second YAML document; %s holds exactly one", kind)
	case !errors.Is(err, io.EOF):
		w.yamlError(err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	w.visits, w.exhausted = 0, false
	w.budget = 10*countNodes(doc.Content[0]) + 1000
	return doc.Content[0]
}

func (w *Walker) yamlError(err error) {
	msg := err.Error()
	if m := yamlLineRE().FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		w.Addf(Pos{Line: line}, "invalid YAML: %s", m[2])
		return
	}
	w.Addf(Pos{}, "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// countNodes counts the nodes of the tree without following aliases.
func countNodes(n *yaml.Node) int {
	count := 0
	stack := []*yaml.Node{n}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		count++
		stack = append(stack, n.Content...)
	}
	return count
}

// PosOf is where n is in the file.
func PosOf(n *yaml.Node) Pos { return Pos{Line: n.Line, Column: n.Column} }

// Target follows aliases. Anchors cannot sit on alias nodes, so one step
// suffices; the bound is for trees not built by the YAML parser.
func Target(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 8; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

// resolve is Target plus the accounting that bounds alias expansion. It
// returns nil once the budget is spent.
func (w *Walker) resolve(n *yaml.Node) *yaml.Node {
	if w.exhausted {
		return nil
	}
	w.visits++
	if w.visits > w.budget {
		w.exhausted = true
		w.Addf(PosOf(n), "the file expands to too many nodes through aliases")
		return nil
	}
	return Target(n)
}

// ValPos is where a value's problems are reported: at the anchored value
// itself for aliases, so that one bad anchor gives one error.
func ValPos(n *yaml.Node) Pos {
	if t := Target(n); t != nil {
		return PosOf(t)
	}
	return PosOf(n)
}

// IsNull reports whether n is the null scalar (`~`, `null` or nothing).
func IsNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// Describe names a node's type for "expected X, got Y" messages.
func Describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if IsNull(n) {
			return "nothing"
		}
		return Quote(n.Value)
	}
	return "something else"
}

const maxMergeDepth = 8

// Fields returns a mapping's entries in order, with `<<` merge keys
// expanded (explicit keys win, as in YAML 1.1 and Compose). A null value is
// an empty mapping, so `frontend:` means `frontend: {}`. ok is false when n
// is not a mapping at all. what prefixes messages; noun names a key in the
// duplicate message ("duplicate network ...").
func (w *Walker) Fields(n *yaml.Node, what, noun string) (fs []Field, ok bool) {
	return w.fieldsDepth(n, what, noun, 0)
}

func (w *Walker) fieldsDepth(n *yaml.Node, what, noun string, depth int) ([]Field, bool) {
	m := w.resolve(n)
	if m == nil {
		return nil, !w.exhausted
	}
	if IsNull(m) {
		return nil, true
	}
	if m.Kind != yaml.MappingNode {
		w.Addf(PosOf(m), "%s: expected a mapping, got %s", what, Describe(m))
		return nil, false
	}
	var out []Field
	seen := map[string]Pos{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		kt := Target(k)
		if kt == nil || kt.Kind != yaml.ScalarNode {
			w.Addf(PosOf(k), "%s: keys must be strings", what)
			continue
		}
		if kt.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if first, dup := seen[kt.Value]; dup {
			w.Addf(PosOf(k), "%s: duplicate %s %q (first at %d:%d)", what, noun, kt.Value, first.Line, first.Column)
			continue
		}
		seen[kt.Value] = PosOf(k)
		out = append(out, Field{Key: kt.Value, KeyPos: PosOf(k), Value: v})
	}
	for _, mv := range merges {
		if depth >= maxMergeDepth {
			w.Addf(ValPos(mv), "%s: merge keys nested too deeply", what)
			break
		}
		sources := []*yaml.Node{mv}
		if t := Target(mv); t != nil && t.Kind == yaml.SequenceNode {
			sources = t.Content
		}
		for _, src := range sources {
			merged, _ := w.fieldsDepth(src, what, noun, depth+1)
			for _, f := range merged {
				if _, dup := seen[f.Key]; !dup {
					seen[f.Key] = f.KeyPos
					out = append(out, f)
				}
			}
		}
	}
	return out, true
}

// UnknownKey reports a key the schema does not know, with the closest
// known one as a suggestion. where completes "unknown key "x" ...".
func (w *Walker) UnknownKey(f Field, where string, known []string) {
	w.Addf(f.KeyPos, "unknown key %q %s%s", f.Key, where, Suggest(f.Key, known))
}

// Seq returns a list's items; null is an empty list. ok is false when n is
// not a list.
func (w *Walker) Seq(n *yaml.Node, what string) (items []*yaml.Node, ok bool) {
	s := w.resolve(n)
	if s == nil {
		return nil, !w.exhausted
	}
	if IsNull(s) {
		return nil, true
	}
	if s.Kind != yaml.SequenceNode {
		w.Addf(PosOf(s), "%s: expected a list, got %s", what, Describe(s))
		return nil, false
	}
	return s.Content, true
}

// ScalarOrSeq accepts a single value where a list is expected, as Compose
// does for `dns`.
func (w *Walker) ScalarOrSeq(n *yaml.Node, what string) []*yaml.Node {
	if t := Target(n); t != nil && t.Kind == yaml.ScalarNode && !IsNull(t) {
		return []*yaml.Node{n}
	}
	items, _ := w.Seq(n, what)
	return items
}

// Scalar returns n resolved when it is a non-null scalar; expected names
// what was wanted in the message otherwise ("an integer").
func (w *Walker) Scalar(n *yaml.Node, what, expected string) *yaml.Node {
	s := w.resolve(n)
	if s == nil {
		return nil
	}
	if s.Kind != yaml.ScalarNode || IsNull(s) {
		w.Addf(PosOf(s), "%s: expected %s, got %s", what, expected, Describe(s))
		return nil
	}
	return s
}

// Str accepts any scalar: `name: 123` is the string "123".
func (w *Walker) Str(n *yaml.Node, what string) (string, bool) {
	s := w.Scalar(n, what, "a string")
	if s == nil {
		return "", false
	}
	return s.Value, true
}

// String is a string list item with where it is written.
type String struct {
	Value string
	Pos   Pos
}

// Strings returns a list's items that are strings (any scalar, as Str),
// each with its position; items that are not are reported and left out.
func (w *Walker) Strings(n *yaml.Node, what string) []String {
	items, _ := w.Seq(n, what)
	var out []String
	for _, item := range items {
		if s, ok := w.Str(item, what); ok {
			out = append(out, String{Value: s, Pos: ValPos(item)})
		}
	}
	return out
}

// Integer accepts a YAML integer only: "80" in quotes is not one.
func (w *Walker) Integer(n *yaml.Node, what string) (int64, bool) {
	s := w.Scalar(n, what, "an integer")
	if s == nil {
		return 0, false
	}
	var v int64
	if s.ShortTag() != "!!int" || s.Decode(&v) != nil {
		w.Addf(PosOf(s), "%s: expected an integer, got %s", what, Describe(s))
		return 0, false
	}
	return v, true
}

// Boolean accepts a YAML boolean only.
func (w *Walker) Boolean(n *yaml.Node, what string) (bool, bool) {
	s := w.Scalar(n, what, "true or false")
	if s == nil {
		return false, false
	}
	var v bool
	if s.ShortTag() != "!!bool" || s.Decode(&v) != nil {
		w.Addf(PosOf(s), "%s: expected true or false, got %s", what, Describe(s))
		return false, false
	}
	return v, true
}
