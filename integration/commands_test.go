package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/sandbox"
)

// An iptables-restore that commits its rules and then exits non-zero
// (issue 10, item 8): apply reads the rules back, finds them written, and
// says what it did (it used to exit 0 printing nothing).
func TestRestoreThatCommitsThenFails(t *testing.T) {
	h := sandbox.New(t)
	wrappers := t.TempDir()
	for _, name := range []string{"iptables-restore", "iptables-nft-restore", "iptables-legacy-restore"} {
		real, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		script := "#!/bin/sh\n" + real + " \"$@\"\necho 'iptables-restore: exiting with an error after COMMIT' >&2\nexit 1\n"
		must(t, os.WriteFile(filepath.Join(wrappers, name), []byte(script), 0o755))
	}
	t.Setenv("PATH", wrappers+":"+os.Getenv("PATH"))

	file := h.WriteFile(t, "p.yaml", "name: p\nnetworks:\n  n: {}\ncontainers:\n  web:\n    networks: [n]\n    ports: [\"8080:80\"]\n")
	r := h.MustNetctl(t, "apply", "-f", file)
	if !strings.Contains(r.Stdout, "firewall") {
		t.Errorf("apply does not report the firewall actions it carried out:\n%s", r.Stdout)
	}
	if !strings.Contains(h.InHost("iptables-save").Stdout, "netctl:p:web 0.0.0.0:8080->") {
		t.Errorf("the port's rules are not there")
	}
	if r := h.Netctl("diff", "-f", file); r.Code != 0 {
		t.Errorf("diff after the apply: %s", r)
	}
}
