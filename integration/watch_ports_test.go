package integration

import (
	"path/filepath"
	"strings"
	"testing"
)

// A watched project's published ports follow its edits when an edit's
// rules were taken as written (their read-back handed to the DNS server's
// worker): the next edit that changes rules reads them first, so a moved
// port's old mapping goes and the new one serves.
func TestWatchPortEditsAfterAHandedOffReadBack(t *testing.T) {
	h, out := iptablesNftHost(t)
	file := func(webPort string, api bool) string {
		s := strings.Replace(handOffTopo, "8080:80", webPort+":80", 1)
		if api {
			s += "  api:\n    networks: [front]\n    ports: [\"8081:80\"]\n"
		}
		return s
	}
	path := h.WriteFile(t, "wp.yaml", file("8080", false))
	w := startWatch(t, h, path, "--log-level", "debug")
	defer h.MustNetctl(t, "down", "-p", "ho")
	defer w.stop()
	awaitFile(t, filepath.Join(h.Root(), "dns", "iptables-save.sock"))

	w.next(isConverged("file"), "the edit adding api", func() { h.WriteFile(t, "wp.yaml", file("8080", true)) })
	if !strings.Contains(w.p.Stderr(), "read-back handed off") {
		t.Errorf("the edit adding api did not hand its read-back off:\n%s", w.p.Stderr())
	}
	w.next(isConverged("file"), "the edit moving web's port", func() { h.WriteFile(t, "wp.yaml", file("9090", true)) })

	serve(t, h.ContainerNetns("ho", "web"), "tcp", 80, "web")
	serve(t, h.ContainerNetns("ho", "api"), "tcp", 80, "api")
	expectServed(t, "web's new port", out, "tcp", "10.250.0.1:9090", "web")
	expectServed(t, "api's port", out, "tcp", "10.250.0.1:8081", "api")
	expectBlocked(t, "web's old port", out, "tcp", "10.250.0.1:8080")
	if r := h.Netctl("diff", "-f", path); r.Code != 0 {
		t.Errorf("not converged after the edits:\n%s", r)
	}
}
