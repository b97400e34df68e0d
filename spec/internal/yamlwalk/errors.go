package yamlwalk

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a position in a file (1-based; zero when unknown).
type Pos struct {
	Line   int
	Column int
}

// Error is one problem in a file.
type Error struct {
	File string
	Pos  Pos // zero when the problem has no place in the file
	Msg  string
}

// Error renders "file:line:col: msg", leaving out the parts that are
// unknown (YAML syntax errors carry a line but no column).
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Pos.Line > 0 {
		fmt.Fprintf(&b, "%d:", e.Pos.Line)
		if e.Pos.Column > 0 {
			fmt.Fprintf(&b, "%d:", e.Pos.Column)
		}
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a file, sorted by position.
type Errors []*Error

// Error renders one error a line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Collector gathers the problems of one file, from the walk and from
// whatever checks the caller runs afterwards, so that every problem is
// reported the same way.
type Collector struct {
	file string
	errs Errors
}

// NewCollector returns a Collector for problems in file (the name errors
// carry; it is not read).
func NewCollector(file string) *Collector { return &Collector{file: file} }

// Addf records a problem at pos.
func (c *Collector) Addf(pos Pos, format string, args ...any) {
	c.errs = append(c.errs, &Error{File: c.file, Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// Errors returns the problems recorded so far ordered by position, without
// repeats (aliases produce them when an anchored value is used in several
// places); nil when there are none.
func (c *Collector) Errors() Errors {
	if len(c.errs) == 0 {
		return nil
	}
	type key struct {
		pos Pos
		msg string
	}
	seen := map[key]bool{}
	out := make(Errors, 0, len(c.errs))
	for _, e := range c.errs {
		k := key{e.Pos, e.Msg}
		if !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Pos, out[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return out
}
