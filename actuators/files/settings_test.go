package files

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"testing"

	"github.com/netctl/netctl/model"
)

// settingsSamples are settings as writeJSON writes them: the first sets
// every field.
func settingsSamples(tb testing.TB) [][]byte {
	tb.Helper()
	samples := []containerSettings{
		{
			Hostname: "web-1", Mode: model.ModeBridge, Netns: "/run/netctl/netns/shop/web", External: true,
			Aliases: map[string][]string{"shop/back": {"api", "web"}, "shop/front": {"www"}},
			ExtraHosts: []model.HostEntry{
				{IP: netip.MustParseAddr("10.250.0.9"), Names: []string{"metrics", "m"}},
				{IP: netip.MustParseAddr("fd00::1")},
			},
			DNS:  []netip.Addr{netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("2606:4700::1111")},
			Node: "node-2", PublishAll: true,
		},
		{Hostname: "db", Mode: model.ModeHost},
		{},
		{Aliases: map[string][]string{"n": {}}, ExtraHosts: []model.HostEntry{{Names: []string{}}}},
	}
	v := reflect.ValueOf(samples[0])
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			tb.Fatalf("the first sample leaves %s unset", v.Type().Field(i).Name)
		}
	}
	var out [][]byte
	for _, cs := range samples {
		b, err := json.MarshalIndent(cs, "", "  ")
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, append(b, '\n'))
	}
	return out
}

// What netctl writes takes the fast path, and comes out as from
// json.Unmarshal.
func TestDecodeSettingsFastPath(t *testing.T) {
	for _, b := range settingsSamples(t) {
		var fast, want containerSettings
		d := decoder{b: b}
		if !d.settings(&fast) || !d.end() {
			t.Errorf("fast path refused %s", b)
			continue
		}
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fast, want) {
			t.Errorf("fast path read %s as %+v, json.Unmarshal as %+v", b, fast, want)
		}
	}
}

// decodeSettings is json.Unmarshal, results and errors.
func FuzzDecodeSettings(f *testing.F) {
	for _, b := range settingsSamples(f) {
		f.Add(b)
	}
	for _, s := range []string{
		`{"hostname":"a","hostname":"b"}`,
		`{"aliases":{"n":["a"],"n":["b"]}}`,
		`{"Hostname":"a"}`,
		`{"hostname":"a\u0041"}`,
		`{"hostname":null}`,
		`{"dns":["1.1.1.1",""]}`,
		`{"dns":["nope"]}`,
		`{"extra_hosts":[{"IP":"10.0.0.1","ip":"10.0.0.2"}]}`,
		`{"external":truex}`,
		`{"publish_all":false} x`,
		`{"mode":"bridge",}`,
		`[]`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got, want containerSettings
		err := decodeSettings(b, &got)
		wantErr := json.Unmarshal(b, &want)
		if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
			t.Fatalf("decodeSettings(%q): %v, json.Unmarshal: %v", b, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeSettings(%q) = %+v, json.Unmarshal: %+v", b, got, want)
		}
	})
}
