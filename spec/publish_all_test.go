package spec

import "testing"

func TestPublishAll(t *testing.T) {
	top := mustParse(t, lines(
		"containers:",
		"  web:",
		"    expose: [5000]",
		"    publish_all: true",
	))
	if c := top.Container("web"); !c.PublishAll {
		t.Errorf("publish_all: true not read")
	}
	runErrorCases(t, []errorCase{
		{"not a bool", lines(
			"containers:",
			"  web:",
			"    publish_all: yes",
		), []string{"3:18 expected true or false"}},
		{"network mode", lines(
			"containers:",
			"  tool:",
			"    network_mode: host",
			"    publish_all: true",
		), []string{"4:5 publish_all is not allowed with network_mode: host"}},
		{"internal only", lines(
			"networks:",
			"  vault: {internal: true}",
			"containers:",
			"  db:",
			"    networks: [vault]",
			"    expose: [5432]",
			"    publish_all: true",
		), []string{"7:5 publish_all needs a network that is not internal"}},
	})
}
