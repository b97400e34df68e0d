package integration

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/netctl/netctl/internal/sandbox"
)

// icc: false makes netctl turn bridge-nf-call-iptables on, so the DNAT of
// a container's own published port happens in the bridge path and the
// answer must leave by the port it came in: the case hairpin mode exists
// for.
const hairpinTopo = `name: hp
networks:
  front: {icc: false}
containers:
  web:
    networks: [front]
    ports: ["8080:5000"]
`

// A container reaches its own published port through the host's address
// thanks to its endpoint's hairpin mode; switched off by hand, it no
// longer does, `diff` shows the endpoint update and `apply` restores it.
func TestHairpinModeOfEndpoint(t *testing.T) {
	h := sandbox.New(t)
	outside(t, h) // the host's address, 10.250.0.1
	file := h.WriteFile(t, "hp.yaml", hairpinTopo)
	res := h.MustNetctl(t, "apply", "-f", file)
	if !strings.Contains(res.Stdout, "hairpin mode on (the container reaches its own published ports through the host)") {
		t.Errorf("apply output does not say the endpoint gets hairpin mode:\n%s", res.Stdout)
	}
	if strings.Contains(res.Stdout, "hairpin_mode") {
		t.Errorf("apply output still shows hairpin mode as a sysctl:\n%s", res.Stdout)
	}
	web := h.ContainerNetns("hp", "web")
	serve(t, web, "tcp", 5000, "web")
	expectServed(t, "own published port", web, "tcp", "10.250.0.1:8080", "web")

	veth := hostVeth(t, h, "hp", "front", "web")
	inHost(t, h, "ip", "link", "set", "dev", veth, "type", "bridge_slave", "hairpin", "off")
	expectBlocked(t, "own published port, hairpin mode off", web, "tcp", "10.250.0.1:8080")

	diff := h.Netctl("diff", "-f", file)
	wantLine := "hairpin mode: off -> on (the container reaches its own published ports through the host)"
	if diff.Code != 2 || !strings.Contains(diff.Stdout, "~ endpoint web/front") || !strings.Contains(diff.Stdout, wantLine) ||
		!strings.Contains(diff.Stdout, "0 to create, 1 to update, 0 to delete") {
		t.Errorf("netctl diff after hairpin mode was switched off: %s", diff)
	}
	var plan struct {
		Actions []struct {
			Object  struct{ Kind, Name string }
			Changed []string
		}
	}
	js := h.Netctl("diff", "-f", file, "-o", "json")
	if err := json.Unmarshal([]byte(js.Stdout), &plan); err != nil || len(plan.Actions) != 1 ||
		plan.Actions[0].Object.Kind != "endpoint" || strings.Join(plan.Actions[0].Changed, ",") != "hairpin" {
		t.Errorf("netctl diff -o json (%v): %s", err, js)
	}

	res = h.MustNetctl(t, "apply", "-f", file)
	if !strings.Contains(res.Stdout, wantLine) {
		t.Errorf("apply output lacks %q:\n%s", wantLine, res.Stdout)
	}
	if out := inHost(t, h, "ip", "-d", "link", "show", "dev", veth).Stdout; !strings.Contains(out, "hairpin on") {
		t.Errorf("hairpin mode not on after apply:\n%s", out)
	}
	expectServed(t, "own published port after apply", web, "tcp", "10.250.0.1:8080", "web")
	if d := h.Netctl("diff", "-f", file); d.Code != 0 {
		t.Errorf("netctl diff after apply: %s", d)
	}
}

// watch repairs an endpoint's hairpin mode switched off by hand as soon as
// the kernel announces it, with the periodic resync off: by `bridge link
// set`, which only the bridge's own port message announces, and by `ip
// link set ... type bridge_slave`; after each repair the container reaches
// its own published port again. The new endpoint's own announcements
// (its carrier coming up) are let pass first: each re-reads the container,
// which would repair the mode by chance.
func TestWatchRepairsHairpinMode(t *testing.T) {
	h := sandbox.New(t)
	outside(t, h) // the host's address, 10.250.0.1
	file := h.WriteFile(t, "hp.yaml", hairpinTopo)
	w := startWatch(t, h, file, "--resync", "0")
	defer w.stop()
	veth := hostVeth(t, h, "hp", "front", "web")
	web := h.ContainerNetns("hp", "web")
	serve(t, web, "tcp", 5000, "web")
	time.Sleep(3 * time.Second)
	for _, off := range [][]string{
		{"bridge", "link", "set", "dev", veth, "hairpin", "off"},
		{"ip", "link", "set", "dev", veth, "type", "bridge_slave", "hairpin", "off"},
	} {
		w.next(isDrift("web/front"), "the repair after "+strings.Join(off[:2], " "), func() { inHost(t, h, off...) })
		if out := inHost(t, h, "ip", "-d", "link", "show", "dev", veth).Stdout; !strings.Contains(out, "hairpin on") {
			t.Errorf("hairpin mode not on again after %s:\n%s", strings.Join(off, " "), out)
		}
		expectServed(t, "own published port after watch's repair", web, "tcp", "10.250.0.1:8080", "web")
	}
}

// hostVeth finds the host end of a container's endpoint by netctl's mark.
func hostVeth(t *testing.T, h *sandbox.Host, project, network, container string) string {
	t.Helper()
	var links []struct {
		Ifname  string `json:"ifname"`
		Ifalias string `json:"ifalias"`
	}
	must(t, json.Unmarshal([]byte(inHost(t, h, "ip", "-j", "link", "show", "type", "veth").Stdout), &links))
	suffix := ":" + project + ":" + network + "/" + container
	for _, l := range links {
		if strings.HasSuffix(l.Ifalias, suffix) {
			return l.Ifname
		}
	}
	t.Fatalf("no veth marked ...%s in %+v", suffix, links)
	return ""
}

// inHost runs cmd in the sandbox host and fails t unless it succeeds.
func inHost(t *testing.T, h *sandbox.Host, cmd ...string) sandbox.Result {
	t.Helper()
	r := h.InHost(cmd...)
	if r.Code != 0 {
		t.Fatalf("%s: %s", strings.Join(cmd, " "), r)
	}
	return r
}
