// Package format renders command output the way the docker CLI's --format
// does: Go templates with Docker's functions, the `table` directive with
// column headers, `json` as a format name, and docker inspect's JSON.
package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"
)

// Format names a user can give instead of a template.
const (
	tableKey = "table"
	jsonKey  = "json"
)

// funcs are the functions Docker offers in every template, with Docker's
// semantics (println and the rest of Go's builtins come with text/template).
var funcs = template.FuncMap{
	"json":     jsonString,
	"split":    strings.Split,
	"join":     strings.Join,
	"title":    title,
	"lower":    strings.ToLower,
	"upper":    strings.ToUpper,
	"pad":      pad,
	"truncate": truncate,
}

// headerFuncs stand in for funcs when a table's header row is rendered: a
// header is a column name, which must come out as it is (pad still pads,
// to keep the columns aligned).
var headerFuncs = template.FuncMap{
	"json":     func(v string) string { return v },
	"split":    func(v, _ string) string { return v },
	"join":     func(v, _ string) string { return v },
	"title":    func(v string) string { return v },
	"lower":    func(v string) string { return v },
	"upper":    func(v string) string { return v },
	"truncate": func(v string, _ int) string { return v },
}

// jsonString is Docker's json: no HTML escaping, no trailing newline.
func jsonString(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSpace(b.String()), nil
}

// title upper-cases the first letter of every word (ASCII), as Docker's
// strings.Title does for the names it formats.
func title(s string) string {
	b := []byte(s)
	for i := range b {
		if (i == 0 || isSpace(b[i-1])) && 'a' <= b[i] && b[i] <= 'z' {
			b[i] -= 'a' - 'A'
		}
	}
	return string(b)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// pad surrounds a non-empty string with spaces.
func pad(s string, prefix, suffix int) string {
	if s == "" {
		return s
	}
	return strings.Repeat(" ", max(prefix, 0)) + s + strings.Repeat(" ", max(suffix, 0))
}

// truncate keeps the first n bytes.
func truncate(s string, n int) string {
	if n < 0 || len(s) < n {
		return s
	}
	return s[:n]
}

// Parse parses a template with Docker's functions. As in Docker, a
// literal `\t` or `\n` in the text (what a shell passes for '\t') stands
// for a tab or a newline.
func Parse(text string) (*template.Template, error) {
	text = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(text)
	t, err := template.New("").Funcs(funcs).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("template parsing error: %w", err)
	}
	return t, nil
}

// List is the output of a list command (ps, ls, port).
type List struct {
	// Format is the user's --format: "" for Default, "table" or "table
	// TEMPLATE" for a table with headers, "json" for one JSON object a
	// line, anything else a template executed for each row.
	Format string
	// Default is the format used when Format is "" or just "table".
	Default string
	// Headers names the column of each field, for tables.
	Headers Headers
}

// Headers maps a row's fields to their column names. Templates see it in
// place of a row when they render a table's header.
type Headers map[string]string

// Label is the column name of {{.Label "key"}}: the key, as Docker shows
// it.
func (h Headers) Label(key string) string { return strings.ToUpper(key) }

// Write renders rows. Every row is executed before anything is written,
// so a template error leaves no half-written output.
func (l List) Write(w io.Writer, rows []any) error {
	text := strings.TrimSpace(l.Format)
	switch {
	case text == "" || text == tableKey:
		text = l.Default
	case text == jsonKey:
		text = "{{json .}}"
	}
	isTable := strings.HasPrefix(text, tableKey)
	if isTable {
		text = strings.TrimSpace(text[len(tableKey):])
	}
	tpl, err := Parse(text)
	if err != nil {
		return err
	}
	var body bytes.Buffer
	for _, r := range rows {
		if err := tpl.Execute(&body, r); err != nil {
			return fmt.Errorf("template parsing error: %w", err)
		}
		body.WriteByte('\n')
	}
	if !isTable {
		_, err := body.WriteTo(w)
		return err
	}
	tw := tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
	header, err := tpl.Clone()
	if err != nil {
		return err
	}
	// A header that cannot be rendered (say, .Label "x", a method the
	// header's map lacks) is left partial rather than failing the listing,
	// as Docker does.
	_ = header.Funcs(headerFuncs).Execute(tw, l.Headers)
	fmt.Fprintln(tw)
	if _, err := body.WriteTo(tw); err != nil {
		return err
	}
	return tw.Flush()
}

// Inspect renders objects as docker inspect does: format "" as an indented
// JSON array, "json" as a compact one, anything else as a template
// executed for each object. A template runs first on the typed object and,
// if that fails, on its JSON shape with missing keys as errors (so both the
// Go field names and the JSON keys work, and a field that exists in
// neither is an error). Objects whose template fails are skipped; their
// errors are returned, joined, after the others are written.
func Inspect(w io.Writer, format string, objs []any) error {
	switch format {
	case "":
		return writeJSONArray(w, objs, true)
	case jsonKey:
		return writeJSONArray(w, objs, false)
	}
	tpl, err := Parse(format)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	var errs []error
	for _, o := range objs {
		var b bytes.Buffer
		if err := tpl.Execute(&b, o); err != nil {
			b.Reset()
			if err := executeRaw(&b, tpl, o); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		out.Write(b.Bytes())
		out.WriteByte('\n')
	}
	if out.Len() == 0 {
		out.WriteByte('\n')
	}
	if _, err := out.WriteTo(w); err != nil {
		return err
	}
	return errors.Join(errs...)
}

func executeRaw(w io.Writer, tpl *template.Template, o any) error {
	raw, err := json.Marshal(o)
	if err != nil {
		return err
	}
	var generic any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		return err
	}
	strict, err := tpl.Clone()
	if err != nil {
		return err
	}
	if err := strict.Option("missingkey=error").Execute(w, generic); err != nil {
		return fmt.Errorf("template parsing error: %w", err)
	}
	return nil
}

func writeJSONArray(w io.Writer, objs []any, indent bool) error {
	if objs == nil {
		objs = []any{}
	}
	var b []byte
	var err error
	if indent {
		b, err = json.MarshalIndent(objs, "", "    ")
	} else {
		b, err = json.Marshal(objs)
	}
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
