package spec

import (
	"slices"
	"sort"
	"testing"

	"github.com/netctl/netctl/spec/schema"
)

// schemaPending are keys the JSON Schema documents ahead of the parser
// (TOPOLOGY.md has them; the parser gains them on their own branch).
var schemaPending = map[string]bool{"container.publish_all": true}

// TestParserKeysMatchSchema ties the parser to the JSON Schema that
// editors use (spec/schema): every key the parser accepts is in the
// schema and vice versa.
func TestParserKeysMatchSchema(t *testing.T) {
	parser := map[string][]string{
		"top":        topKeys,
		"network":    networkKeys,
		"container":  containerKeys,
		"attachment": attachmentKeys,
		"node":       nodeKeys,
	}
	want := schema.Keys()
	for kind, keys := range parser {
		got := slices.Clone(keys)
		for _, k := range want[kind] {
			if schemaPending[kind+"."+k] && !slices.Contains(got, k) {
				got = append(got, k)
			}
		}
		sort.Strings(got)
		if !slices.Equal(got, want[kind]) {
			t.Errorf("%s keys: the parser accepts %v, the schema (spec/schema) has %v", kind, got, want[kind])
		}
	}
	if len(parser) != len(want) {
		t.Errorf("the schema has %d kinds of mapping, the parser %d", len(want), len(parser))
	}
}
