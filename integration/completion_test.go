package integration

import (
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/sandbox"
)

// complete asks netctl for completions as the shell scripts do
// (`netctl __complete ARGS... PARTIAL`) and returns the candidates.
func complete(t *testing.T, h *sandbox.Host, args ...string) []string {
	t.Helper()
	r := h.MustNetctl(t, append([]string{"__complete"}, args...)...)
	var out []string
	for _, line := range strings.Split(r.Stdout, "\n") {
		if line == "" || strings.HasPrefix(line, ":") {
			continue
		}
		name, _, _ := strings.Cut(line, "\t")
		out = append(out, name)
	}
	return out
}

// TestCompletionLiveNames: completion offers the containers and networks
// of this host, read as ps and ls read them.
func TestCompletionLiveNames(t *testing.T) {
	h := sandbox.New(t)
	one := h.WriteFile(t, "one.yaml", `name: one
networks:
  app: {subnet: 172.29.43.0/24}
containers:
  web:
    networks: [app]
    ports: ["8080:80", "53/udp"]
  db:
    networks: [app]
`)
	two := h.WriteFile(t, "two.yaml", `name: two
networks:
  other: {subnet: 172.29.44.0/24}
containers:
  web:
    networks: [other]
`)
	h.MustNetctl(t, "apply", "-f", one)
	h.MustNetctl(t, "apply", "-f", two)

	check := func(what string, got, want []string) {
		t.Helper()
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: got %q, want %q", what, got, want)
		}
	}
	// web is in two projects: only PROJECT/NAME names it alone.
	check("exec", complete(t, h, "exec", ""), []string{"db", "one/db", "one/web", "two/web"})
	check("exec d", complete(t, h, "exec", "d"), []string{"db"})
	check("exec -p two", complete(t, h, "exec", "-p", "two", ""), []string{"two/web", "web"})
	check("env", complete(t, h, "env", "one/"), []string{"one/db", "one/web"})
	check("inspect", complete(t, h, "inspect", "db", ""),
		[]string{"app", "db", "one/app", "one/db", "one/web", "other", "two/other", "two/web"})
	check("port", complete(t, h, "port", "one/web", ""), []string{"53/udp", "80/tcp"})
	check("--project", complete(t, h, "ps", "--project", ""), []string{"one", "two"})
	check("commands", complete(t, h, "con"), []string{"convert"})
}
