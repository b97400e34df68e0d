package schema_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/netctl/netctl/spec"
	"github.com/netctl/netctl/spec/schema"
	"github.com/netctl/netctl/spec/schema/schemacheck"
)

// committed is the schema users and editors fetch.
const committed = "../../schema/netctl.schema.json"

// pending are schema keys the parser does not accept yet, with why: the
// contract has them and another branch adds them to the parser.
var pending = map[string]string{}

func TestCommittedSchemaIsCurrent(t *testing.T) {
	want, err := schema.JSON()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run `make schema` (netctl schema > schema/netctl.schema.json) and commit it", committed)
	}
}

func validator(t *testing.T) *schemacheck.Validator {
	t.Helper()
	v, err := schemacheck.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// parse parses a topology with spec's parser, tolerating only the pending
// keys' "unknown key" errors.
func parse(t *testing.T, path string, data []byte) {
	t.Helper()
	_, err := spec.Parse(path, data)
	var errs spec.Errors
	if err == nil {
		return
	}
	if !errors.As(err, &errs) {
		t.Fatalf("%s: %v", path, err)
	}
	for _, e := range errs {
		if pendingError(e.Msg) {
			continue
		}
		t.Errorf("%v", e)
	}
}

func pendingError(msg string) bool {
	for k := range pending {
		_, key, _ := strings.Cut(k, ".")
		if strings.HasPrefix(msg, `unknown key "`+key+`"`) {
			return true
		}
	}
	return false
}

// TestExamplesValidate: every topology under examples/ validates against
// the schema and parses. Compose files (examples/compose) are checked by
// convert/compose's tests, through their conversion.
func TestExamplesValidate(t *testing.T) {
	v := validator(t)
	var files []string
	err := filepath.WalkDir("../../examples", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "compose" {
			return filepath.SkipDir
		}
		if ext := filepath.Ext(path); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "testdata/every-key.yaml")
	if len(files) < 4 {
		t.Fatalf("found only %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.ValidateYAML(data); err != nil {
				t.Errorf("%s: %v", f, err)
			}
			parse(t, f, data)
		})
	}
}

// TestEveryKeyFileIsComplete: testdata/every-key.yaml uses every key of
// the schema, so that TestExamplesValidate proves the parser accepts
// each one (and spec's own test proves the reverse).
func TestEveryKeyFileIsComplete(t *testing.T) {
	data, err := os.ReadFile("testdata/every-key.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	used := map[string]map[string]bool{}
	use := func(kind string, m any) {
		mm, _ := m.(map[string]any)
		if used[kind] == nil {
			used[kind] = map[string]bool{}
		}
		for k := range mm {
			used[kind][k] = true
		}
	}
	use("top", doc)
	for _, n := range entries(doc["networks"]) {
		use("network", n)
	}
	for _, c := range entries(doc["containers"]) {
		use("container", c)
		if nets, ok := c.(map[string]any)["networks"].(map[string]any); ok {
			for _, a := range nets {
				use("attachment", a)
			}
		}
	}
	for _, n := range entries(doc["nodes"]) {
		use("node", n)
	}
	for kind, keys := range schema.Keys() {
		for _, k := range keys {
			if !used[kind][k] {
				t.Errorf("testdata/every-key.yaml uses no %s key %q", kind, k)
			}
		}
	}
}

func entries(v any) []any {
	m, _ := v.(map[string]any)
	var out []any
	for _, e := range m {
		out = append(out, e)
	}
	return out
}

// TestSchemaRejects: what an editor should underline.
func TestSchemaRejects(t *testing.T) {
	v := validator(t)
	for _, tc := range []struct{ name, doc string }{
		{"unknown top-level key", "name: a\nservices: {}\n"},
		{"unknown network key", "networks: {n: {subnett: 10.0.0.0/8}}\n"},
		{"unknown container key", "containers: {c: {image: nginx}}\n"},
		{"unknown attachment key", "containers: {c: {networks: {n: {ipv4: 1.2.3.4}}}}\n"},
		{"unknown node key", "nodes: {a: {address: 10.0.0.1, port: 1}}\n"},
		{"node without address", "nodes: {a: {}}\n"},
		{"built-in network declared", "networks: {host: {}}\n"},
		{"network name not a label", "networks: {my_net: {}}\n"},
		{"bad driver", "networks: {n: {driver: macvlan}}\n"},
		{"gateway not an address", "networks: {n: {gateway: 10.0.0}}\n"},
		{"subnet not CIDR", "networks: {n: {subnet: 10.0.0.0}}\n"},
		{"mtu out of range", "networks: {n: {mtu: 20}}\n"},
		{"bridge name too long", "networks: {n: {bridge_name: a-very-long-bridge}}\n"},
		{"empty networks list", "containers: {c: {networks: []}}\n"},
		{"bad network mode", "containers: {c: {network_mode: bridge}}\n"},
		{"port as a word", "containers: {c: {ports: [http]}}\n"},
		{"port zero", "containers: {c: {ports: [0]}}\n"},
		{"bad env name", "containers: {c: {env: {1X: a}}}\n"},
		{"ipv4_address not v4", "containers: {c: {networks: {n: {ipv4_address: '::1'}}}}\n"},
		{"extra_hosts without ip", "containers: {c: {extra_hosts: [metrics]}}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := v.ValidateYAML([]byte(tc.doc)); err == nil {
				t.Errorf("accepted:\n%s", tc.doc)
			}
		})
	}
}

// TestEveryFieldDescribed: editors show the description on hover.
func TestEveryFieldDescribed(t *testing.T) {
	var s map[string]any
	b, err := schema.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	objects := map[string]any{"(root)": s}
	for name, d := range s["$defs"].(map[string]any) {
		objects[name] = d
	}
	var missing []string
	count := 0
	for name, o := range objects {
		props, _ := o.(map[string]any)["properties"].(map[string]any)
		for key, p := range props {
			count++
			if d, _ := p.(map[string]any)["description"].(string); len(d) < 10 {
				missing = append(missing, name+"."+key)
			}
		}
		if props != nil && o.(map[string]any)["additionalProperties"] != false {
			t.Errorf("%s: additionalProperties is not false", name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("fields without a description: %v", missing)
	}
	if count < 30 {
		t.Errorf("only %d fields in the schema", count)
	}
}

// TestKeysMatchSchema: Keys (what spec's test compares with the parser)
// is what the schema holds.
func TestKeysMatchSchema(t *testing.T) {
	var s struct {
		Properties map[string]any            `json:"properties"`
		Defs       map[string]map[string]any `json:"$defs"`
	}
	b, _ := schema.JSON()
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	props := map[string]map[string]any{"top": s.Properties}
	for kind, def := range map[string]string{"network": "Network", "container": "Container", "attachment": "Attachment", "node": "Node"} {
		props[kind], _ = s.Defs[def]["properties"].(map[string]any)
	}
	for kind, keys := range schema.Keys() {
		var got []string
		for k := range props[kind] {
			got = append(got, k)
		}
		sort.Strings(got)
		if !slices.Equal(got, keys) {
			t.Errorf("%s: schema has %v, Keys says %v", kind, got, keys)
		}
	}
}
