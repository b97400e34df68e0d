package format

import (
	"errors"
	"strings"
	"testing"
)

// Docker's template functions, one by one, with Docker's results.
func TestTemplateFunctions(t *testing.T) {
	data := map[string]any{"S": "Hello World", "L": []string{"a", "b"}, "E": "", "H": "<&>"}
	for tpl, want := range map[string]string{
		`{{json .L}}`:             `["a","b"]`,
		`{{json .H}}`:             `"<&>"`,
		`{{join .L ", "}}`:        "a, b",
		`{{lower .S}}`:            "hello world",
		`{{upper .S}}`:            "HELLO WORLD",
		`{{title "hello wORLD"}}`: "Hello WORLD",
		`{{split "a:b:c" ":"}}`:   "[a b c]",
		`{{pad .S 2 1}}|`:         "  Hello World |",
		`{{pad .E 2 1}}|`:         "|",
		`{{truncate .S 5}}`:       "Hello",
		`{{truncate .S 50}}`:      "Hello World",
		`{{println .S}}`:          "Hello World\n",
		`a\tb\nc`:                 "a\tb\nc",
	} {
		tp, err := Parse(tpl)
		if err != nil {
			t.Errorf("%s: %v", tpl, err)
			continue
		}
		var b strings.Builder
		if err := tp.Execute(&b, data); err != nil {
			t.Errorf("%s: %v", tpl, err)
			continue
		}
		if b.String() != want {
			t.Errorf("%s = %q, want %q", tpl, b.String(), want)
		}
	}
}

type row struct {
	ID, Names string
	labels    map[string]string
}

func (r row) Label(k string) string { return r.labels[k] }

// Docker's list output: the table directive with headers (columns at
// least 10 wide including the 3 spaces of padding, as in docker ps; header
// functions leave column names alone), json one object a line, a template
// per row, and no half-written output on a template error.
func TestList(t *testing.T) {
	rows := []any{row{ID: "abc", Names: "web", labels: map[string]string{"k": "v"}}, row{ID: "def", Names: "db"}}
	l := List{Default: "table {{.ID}}\t{{.Names}}", Headers: Headers{"ID": "ID", "Names": "NAMES"}}
	for format, want := range map[string]string{
		"":                                       "ID        NAMES\nabc       web\ndef       db\n",
		"table":                                  "ID        NAMES\nabc       web\ndef       db\n",
		`table {{upper .Names}}\t{{.Label "k"}}`: "NAMES     K\nWEB       v\nDB        \n",
		"json":                                   `{"ID":"abc","Names":"web"}` + "\n" + `{"ID":"def","Names":"db"}` + "\n",
		"{{.Names}}:{{.ID}}":                     "web:abc\ndb:def\n",
	} {
		l.Format = format
		var b strings.Builder
		if err := l.Write(&b, rows); err != nil {
			t.Errorf("%q: %v", format, err)
			continue
		}
		if b.String() != want {
			t.Errorf("%q =\n%q\nwant\n%q", format, b.String(), want)
		}
	}
	l.Format = "{{.Names}} {{.Nope}}"
	var b strings.Builder
	if err := l.Write(&b, rows); err == nil || b.Len() != 0 {
		t.Errorf("unknown field: %v, wrote %q", err, b.String())
	}
}

// docker inspect's rules: typed first, then the JSON shape with missing
// keys as errors; what works is printed, the failures returned.
func TestInspect(t *testing.T) {
	type hostConfig struct {
		DNS []string `json:"Dns"`
	}
	type view struct {
		Name       string
		HostConfig hostConfig
	}
	objs := []any{view{Name: "a", HostConfig: hostConfig{DNS: []string{"9.9.9.9"}}}, view{Name: "b"}}
	for format, want := range map[string]string{
		"{{.Name}}":           "a\nb\n",
		"{{.HostConfig.DNS}}": "[9.9.9.9]\n[]\n",
		"{{.HostConfig.Dns}}": "[9.9.9.9]\n<no value>\n", // the JSON key, through the fallback (null prints as in Docker)
		"json":                `[{"Name":"a","HostConfig":{"Dns":["9.9.9.9"]}},{"Name":"b","HostConfig":{"Dns":null}}]` + "\n",
	} {
		var b strings.Builder
		if err := Inspect(&b, format, objs); err != nil {
			t.Errorf("%q: %v", format, err)
			continue
		}
		if b.String() != want {
			t.Errorf("%q = %q, want %q", format, b.String(), want)
		}
	}
	var b strings.Builder
	err := Inspect(&b, "{{.Nope}}", objs)
	if err == nil || !strings.Contains(err.Error(), `map has no entry for key "Nope"`) || b.String() != "\n" {
		t.Errorf("unknown field: %v, wrote %q", err, b.String())
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 2 {
		t.Errorf("want one error per object: %v", err)
	}
	if err := Inspect(&b, "{{.Name", objs); err == nil || !strings.HasPrefix(err.Error(), "template parsing error") {
		t.Errorf("bad template: %v", err)
	}
}
