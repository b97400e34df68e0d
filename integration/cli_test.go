package integration

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/internal/sandbox"
)

// The Docker CLI habits of issue 14, as a user types them.

const cliTopo = `name: cli
networks:
  back: {subnet: 172.30.0.0/24, labels: {team: pay}}
containers:
  db:
    hostname: database
    networks: [back]
    expose: [5432]
    env: {POSTGRES_DB: shop, MODE: db}
  web:
    networks: [back]
    links: ["db:webdb"]
    env: {MODE: prod}
  tool:
    network_mode: host
  quiet:
    network_mode: none
`

// IDs from ps and ls work everywhere a name does; inspect finds names,
// IDs, unique prefixes and the built-in networks, prints what it found
// before failing on the rest; formats and filters behave as Docker's.
func TestCLIIDsFormatsFilters(t *testing.T) {
	h := sandbox.New(t)
	file := h.WriteFile(t, "cli.yaml", cliTopo)
	h.MustNetctl(t, "apply", "-f", file)

	ids := strings.Fields(h.MustNetctl(t, "ps", "-q").Stdout)
	full := strings.Fields(h.MustNetctl(t, "ps", "-q", "--no-trunc").Stdout)
	if len(ids) != 4 || len(full) != 4 || len(ids[0]) != 12 || len(full[0]) != 64 || !strings.HasPrefix(full[0], ids[0]) {
		t.Fatalf("ps -q = %q, --no-trunc %q", ids, full)
	}
	nets := strings.Fields(h.MustNetctl(t, "ls", "-q").Stdout)
	if len(nets) != 3 { // back, host, none (nothing is on the default bridge)
		t.Errorf("ls -q = %q, want back, host and none", nets)
	}
	// Every ID, full, short or a shorter unique prefix, names its object;
	// mixed with names in one call.
	args := append(append(append([]string{"inspect", "--format", "{{.Name}}"}, ids...), full[1], nets[0][:8]), nets[1:]...)
	args = append(args, "db", "host")
	out := h.MustNetctl(t, args...).Stdout
	if want := "/db\n/quiet\n/tool\n/web\n/quiet\nback\nhost\nnone\n/db\nhost\n"; out != want {
		t.Errorf("inspect of IDs and names:\n%s\nwant\n%s", out, want)
	}

	// A miss: what was found is printed, then the error, exit 1.
	r := h.Netctl("inspect", "db", "missing", "--format", "{{.Config.Hostname}}")
	if r.Code != 1 || r.Stdout != "database\n" || !strings.Contains(r.Stderr, "no such object: missing") {
		t.Errorf("inspect db missing: %s", r)
	}
	r = h.Netctl("inspect", "db", "missing")
	var found []map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &found); r.Code != 1 || err != nil || len(found) != 1 {
		t.Errorf("inspect db missing (JSON): %v\n%s", err, r)
	}
	if r := h.Netctl("inspect", "db", "--format", "{{.NoSuchField}}"); r.Code != 1 || !strings.Contains(r.Stderr, `template parsing error`) ||
		!strings.Contains(r.Stderr, "NoSuchField") {
		t.Errorf("unknown field: %s", r)
	}
	if r := h.Netctl("inspect", "db", "--format", `{{join .Config.Labels ","}}`); r.Code != 1 || !strings.Contains(r.Stderr, "template parsing error") {
		t.Errorf("join on a map must fail: %s", r)
	}
	if got := h.MustNetctl(t, "inspect", "db", "--format", `{{join (split "a b" " ") ","}}|{{upper .Config.Hostname}}|{{truncate .Id 12}}`).Stdout; got != "a,b|DATABASE|"+ids[0]+"\n" {
		t.Errorf("functions: %q", got)
	}
	if got := h.MustNetctl(t, "inspect", "--format", "json", "none").Stdout; !strings.HasPrefix(got, `[{"Name":"none"`) || strings.Count(got, "\n") != 1 {
		t.Errorf("inspect --format json none: %q", got)
	}

	// IDs are stable: a reconcile that adds a container keeps them.
	h.WriteFile(t, "cli.yaml", cliTopo+"  extra:\n    networks: [back]\n")
	h.MustNetctl(t, "apply", "-f", file)
	if again := strings.Fields(h.MustNetctl(t, "ps", "-q", "--filter", "project=cli", "--filter", "name=^(db|web|tool|quiet)$").Stdout); strings.Join(again, " ") != strings.Join(ids, " ") {
		t.Errorf("IDs changed across a reconcile: %q -> %q", ids, again)
	}

	// ps --format json: one object a line, string values.
	for _, line := range strings.Split(strings.TrimSpace(h.MustNetctl(t, "ps", "--format", "json").Stdout), "\n") {
		var row map[string]string
		if err := json.Unmarshal([]byte(line), &row); err != nil || row["ID"] == "" || row["Names"] == "" {
			t.Errorf("ps --format json line %q: %v", line, err)
		}
	}
	if got := h.MustNetctl(t, "ps", "--filter", "network=back", "--format", "{{.Names}}").Stdout; got != "db\nextra\nweb\n" {
		t.Errorf("ps --filter network=back = %q", got)
	}
	if got := h.MustNetctl(t, "ps", "--filter", "network=host", "--filter", "network=none", "--format", "{{.Names}}").Stdout; got != "quiet\ntool\n" {
		t.Errorf("ps --filter network=host/none = %q", got)
	}
	if got := h.MustNetctl(t, "ls", "--filter", "label=team=pay", "--format", "table {{.Name}}\t{{.Driver}}").Stdout; got != "NAME      DRIVER\nback      bridge\n" {
		t.Errorf("ls --filter label --format table = %q", got)
	}
	if r := h.Netctl("ps", "--filter", "colour=red"); r.Code != 1 || !strings.Contains(r.Stderr, "invalid filter 'colour'") {
		t.Errorf("unknown filter: %s", r)
	}
	// port --format.
	if got := h.MustNetctl(t, "port", idOf(t, h, "web"), "--format", "json").Stdout; got != "" {
		t.Errorf("web publishes nothing, port --format json = %q", got)
	}
}

func idOf(t *testing.T, h *sandbox.Host, name string) string {
	t.Helper()
	return strings.TrimSpace(h.MustNetctl(t, "ps", "-q", "--filter", "name=^"+name+"$").Stdout)
}

// exec: the container's own UTS namespace and hostname, its env: and link
// env, -e, --env-file, -w, -i, -t with and without a terminal.
func TestExecEnvHostnameTerminal(t *testing.T) {
	h := sandbox.New(t)
	file := h.WriteFile(t, "cli.yaml", cliTopo)
	h.MustNetctl(t, "apply", "-f", file)

	hostHost, _ := os.Hostname()
	for name, want := range map[string]string{"db": "database", "web": "web", "quiet": "quiet", "tool": hostHost} {
		if got := h.MustNetctl(t, "exec", name, "hostname").Stdout; got != want+"\n" {
			t.Errorf("exec %s hostname = %q, want %q", name, got, want)
		}
	}
	// The UTS namespace lives under --root beside the network namespace.
	uts := filepath.Join(h.Root(), "uts", "cli", "db")
	if r := h.InHost("nsenter", "--uts="+uts, "hostname"); r.Stdout != "database\n" {
		t.Errorf("nsenter --uts=%s hostname: %s", uts, r)
	}

	envFile := h.WriteFile(t, "exec.env", "# comment\nFROM_FILE=1\nMODE=file\nPASSED\n")
	r := h.MustNetctl(t, "exec", "-e", "FROM_E=x y", "-e", "MODE=cli", "--env-file", envFile, "-w", "/tmp", "web",
		"sh", "-c", `echo "$FROM_E|$FROM_FILE|$MODE|$HOSTNAME|$WEBDB_ENV_POSTGRES_DB|$WEBDB_PORT|$(pwd)"`)
	if want := "x y|1|cli|web|shop|tcp://172.30.0.2:5432|/tmp\n"; r.Stdout != want {
		t.Errorf("exec env = %q, want %q", r.Stdout, want)
	}
	if got := h.MustNetctl(t, "exec", "db", "sh", "-c", `echo "$MODE $POSTGRES_DB"`).Stdout; got != "db shop\n" {
		t.Errorf("db's own env: %q", got)
	}
	if r := h.Netctl("exec", "-w", "/nonexistent", "web", "pwd"); r.Code != 126 {
		t.Errorf("exec -w /nonexistent: %s", r)
	}
	// stdin only with -i, as docker exec.
	if r := h.NetctlInput("hello\n", "exec", "web", "cat"); r.Code != 0 || r.Stdout != "" {
		t.Errorf("exec without -i read stdin: %s", r)
	}
	if r := h.NetctlInput("hello\n", "exec", "-i", "web", "cat"); r.Stdout != "hello\n" {
		t.Errorf("exec -i: %s", r)
	}
	// -t without a terminal: a pseudo-terminal of its own.
	if r := h.Netctl("exec", "-t", "web", "sh", "-c", "tty; test -t 1 && echo out-tty; exit 4"); r.Code != 4 ||
		!regexp.MustCompile(`^/dev/pts/[0-9]+\r?\nout-tty\r?\n$`).MatchString(r.Stdout) {
		t.Errorf("exec -t (no terminal): %s", r)
	}
	// A signal to netctl reaches the command on the pseudo-terminal.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	sleeper, err := h.NetctlCommand(ctx, "exec", "-t", "web", "sleep", "60")
	must(t, err)
	sleeper.Cancel = func() error { return sleeper.Process.Signal(syscall.SIGTERM) }
	start := time.Now()
	err = sleeper.Run()
	var ee *exec.ExitError
	if !asExit(err, &ee) || ee.ExitCode() != 128+int(syscall.SIGTERM) || time.Since(start) > 10*time.Second {
		t.Errorf("exec -t sleep 60, SIGTERM after 2s: %v after %s, want exit 143 at once", err, time.Since(start))
	}
	if r := h.NetctlInput("x", "exec", "-it", "web", "tty"); r.Code != 1 || !strings.Contains(r.Stderr, "the input device is not a TTY") {
		t.Errorf("exec -it from a pipe: %s", r)
	}
	// -it on a terminal: the command runs on it.
	if got := execOnTerminal(t, h, "exec", "-it", "db", "sh", "-c", "test -t 0 && test -t 1 && echo both-tty; hostname"); !strings.Contains(got, "both-tty") ||
		!strings.Contains(got, "database") {
		t.Errorf("exec -it on a terminal: %q", got)
	}

	// The hostname is kernel state: changed by hand, it is drift.
	h.MustNetctl(t, "exec", "db", "hostname", "changed")
	if r := h.Netctl("diff", "-f", file); r.Code != 2 || !strings.Contains(r.Stdout, "~ container db: hostname differs") ||
		!strings.Contains(r.Stdout, "changed -> database") {
		t.Errorf("diff after a hostname change: %s", r)
	}
	// A new hostname in the file is applied to the UTS namespace.
	h.WriteFile(t, "cli.yaml", strings.Replace(cliTopo, "hostname: database", "hostname: primary", 1))
	h.MustNetctl(t, "apply", "-f", file)
	if got := h.MustNetctl(t, "exec", "db", "hostname").Stdout; got != "primary\n" {
		t.Errorf("hostname after the file changed it: %q", got)
	}
	// Removed with the container, and by down.
	h.WriteFile(t, "cli.yaml", strings.Replace(strings.Replace(cliTopo, "hostname: database", "hostname: primary", 1),
		"  quiet:\n    network_mode: none\n", "", 1))
	h.MustNetctl(t, "apply", "-f", file)
	if _, err := os.Stat(filepath.Join(h.Root(), "uts", "cli", "quiet")); !os.IsNotExist(err) {
		t.Errorf("quiet's UTS namespace outlived it: %v", err)
	}
	h.MustNetctl(t, "down", "-f", file)
	if entries, _ := os.ReadDir(filepath.Join(h.Root(), "uts")); len(entries) != 0 {
		t.Errorf("UTS namespaces left after down: %v", entries)
	}
	if m := strings.Join(mountsUnder(filepath.Join(h.Root(), "uts")), "\n"); m != "" {
		t.Errorf("UTS mounts left after down:\n%s", m)
	}
}

// execOnTerminal runs netctl with a pseudo-terminal as its stdin, stdout
// and stderr (a user at a terminal) and returns what appeared on it.
func execOnTerminal(t *testing.T, h *sandbox.Host, args ...string) string {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	must(t, err)
	defer master.Close()
	must(t, unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0))
	n, err := unix.IoctlGetUint32(int(master.Fd()), unix.TIOCGPTN)
	must(t, err)
	slave, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|unix.O_NOCTTY, 0)
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), sandbox.DefaultTimeout)
	defer cancel()
	cmd, err := h.NetctlCommand(ctx, args...)
	must(t, err)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	must(t, cmd.Start())
	slave.Close()
	done := make(chan []byte, 1)
	go func() {
		var all []byte
		buf := make([]byte, 4096)
		for {
			k, err := master.Read(buf)
			all = append(all, buf[:k]...)
			if err != nil {
				done <- all
				return
			}
		}
	}()
	if err := cmd.Wait(); err != nil {
		t.Errorf("netctl %s on a terminal: %v", strings.Join(args, " "), err)
	}
	select {
	case out := <-done:
		return string(out)
	case <-time.After(5 * time.Second):
		t.Fatal("terminal output never ended")
	}
	return ""
}

// publish_all (docker run -P), examples/publish-all.yaml: every exposed
// port on a sticky ephemeral host port, serving, shown by port, ps and
// inspect, in the link env.
func TestPublishAll(t *testing.T) {
	h := sandbox.New(t)
	out := outside(t, h)
	occupy(t, h, "32768") // picks skip what a program of the host holds
	file := h.WriteFile(t, "publish-all.yaml", example(t, "publish-all.yaml"))
	h.MustNetctl(t, "apply", "-f", file)
	web := h.ContainerNetns("webapp", "web")
	serve(t, web, "tcp", 5000, "web")
	serve(t, web, "udp", 5001, "web")

	ports := h.MustNetctl(t, "port", "web").Stdout
	tcp := regexp.MustCompile(`5000/tcp -> 0\.0\.0\.0:(\d+)`).FindStringSubmatch(ports)
	udp := regexp.MustCompile(`5001/udp -> 0\.0\.0\.0:(\d+)`).FindStringSubmatch(ports)
	if tcp == nil || udp == nil || tcp[1] == "32768" || !strings.Contains(ports, "5002/tcp -> 0.0.0.0:8080") {
		t.Fatalf("netctl port web:\n%s", ports)
	}
	expectServed(t, "publish_all tcp from outside", out, "tcp", "10.250.0.1:"+tcp[1], "web")
	expectServed(t, "publish_all udp from outside", out, "udp", "10.250.0.1:"+udp[1], "web")
	if ps := h.MustNetctl(t, "ps", "--filter", "name=web", "--format", "{{.Ports}}").Stdout; !strings.Contains(ps, "0.0.0.0:"+tcp[1]+"->5000/tcp") {
		t.Errorf("ps PORTS: %q", ps)
	}
	if got := h.MustNetctl(t, "inspect", "web", "--format", `{{(index (index .NetworkSettings.Ports "5000/tcp") 0).HostPort}}`).Stdout; got != tcp[1]+"\n" {
		t.Errorf("inspect NetworkSettings.Ports 5000/tcp = %q, want %s", got, tcp[1])
	}
	env := h.MustNetctl(t, "env", "client").Stdout
	for _, v := range []string{"WEB_PORT_5000_TCP_PORT=5000", "WEB_PORT_5001_UDP_PROTO=udp", "WEB_PORT_5002_TCP="} {
		if !strings.Contains(env, v) {
			t.Errorf("client's env lacks %s:\n%s", v, env)
		}
	}
	// Sticky: with the lower port free, a re-apply changes nothing.
	if r := h.MustNetctl(t, "apply", "-f", file); !strings.Contains(r.Stdout, "no changes") {
		t.Errorf("re-apply changed something:\n%s", r.Stdout)
	}
	if again := h.MustNetctl(t, "port", "web").Stdout; again != ports {
		t.Errorf("ports moved: %q -> %q", ports, again)
	}
}

// The file flag, errors people and machines read, versions and logs.
func TestCLIFilesErrorsLogs(t *testing.T) {
	h := sandbox.New(t)
	// -f - reads stdin; it needs name:.
	if r := h.NetctlInput(cliTopo, "apply", "-f", "-"); r.Code != 0 || !strings.Contains(r.Stdout, "+ container db") {
		t.Fatalf("apply -f -: %s", r)
	}
	if r := h.NetctlInput("containers: {a: {}}\n", "validate", "-f", "-"); r.Code != 1 || !strings.Contains(r.Stderr, "stdin:1:1: no project name") {
		t.Errorf("stdin without name: %s", r)
	}
	if r := h.Netctl("apply", "-f", "a.yaml", "-f", "b.yaml"); r.Code != 1 || !strings.Contains(r.Stderr, "-f given 2 times") {
		t.Errorf("two -f: %s", r)
	}
	// No -f: ./netctl.yaml.
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "netctl.yaml"), []byte(cliTopo), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), sandbox.DefaultTimeout)
	defer cancel()
	cmd, err := h.NetctlCommand(ctx, "diff")
	must(t, err)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), "project cli: no changes") {
		t.Errorf("diff with ./netctl.yaml: %v\n%s", err, b)
	}

	// A report of several errors: every line file:line:column: message,
	// and as JSON with -o json.
	bad := h.WriteFile(t, "bad.yaml", "networks:\n  a: {subnet: 10.0.0.0/33}\ncontainers:\n  x: {networks: [zz], foo: 1}\n  y: [\n")
	r := h.Netctl("apply", "-f", bad)
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	for _, l := range lines {
		if !regexp.MustCompile(`^` + regexp.QuoteMeta(bad) + `:\d+:\d+: .+`).MatchString(l) {
			t.Errorf("not file:line:column: message: %q", l)
		}
	}
	bad2 := h.WriteFile(t, "bad2.yaml", "networks:\n  a: {subnet: 10.0.0.0/33}\ncontainers:\n  x: {networks: [zz], foo: 1}\n")
	r = h.Netctl("apply", "-f", bad2, "-o", "json")
	var doc struct {
		FormatVersion string `json:"format_version"`
		Error         struct {
			Message  string
			Problems []struct {
				File         string
				Line, Column int
				Message      string
			}
		}
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); r.Code != 1 || err != nil || doc.FormatVersion != "1" || len(doc.Error.Problems) != 3 ||
		doc.Error.Problems[0].Line != 2 || doc.Error.Problems[0].Column != 15 {
		t.Errorf("apply -o json of a bad file: %v\n%s", err, r)
	}

	// -o json plans: format_version, objects, before/after.
	file := h.WriteFile(t, "cli.yaml", strings.Replace(cliTopo, "hostname: database", "hostname: primary", 1))
	r = h.Netctl("diff", "-f", file, "-o", "json")
	var plan struct {
		FormatVersion string `json:"format_version"`
		Actions       []struct {
			Object    struct{ Kind, Name, ID string }
			Operation string
			Before    map[string]any
			After     map[string]any
			Changed   []string
		}
	}
	if err := json.Unmarshal([]byte(r.Stdout), &plan); r.Code != 2 || err != nil || plan.FormatVersion != "1" || len(plan.Actions) == 0 {
		t.Fatalf("diff -o json: %v\n%s", err, r)
	}
	var sawHostname bool
	for _, a := range plan.Actions {
		if a.Object.Kind == "container" && a.Object.Name == "db" && a.Operation == "update" && a.Before["uts_hostname"] == "database" &&
			a.After["uts_hostname"] == "primary" && strings.Join(a.Changed, ",") == "uts_hostname" && len(a.Object.ID) == 64 {
			sawHostname = true
		}
	}
	if !sawHostname {
		t.Errorf("no structured hostname change in:\n%s", r.Stdout)
	}

	// Not root: said plainly, before anything; as JSON with -o json.
	nobody := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sandbox.Binary(t), "--root", h.Root(), "apply", "-f", bad2)
	b, err := nobody.CombinedOutput()
	if err == nil || string(b) != "netctl apply needs root (CAP_NET_ADMIN)\n" {
		t.Errorf("apply as nobody: %v %q", err, b)
	}
	// A --resolv-conf that does not exist is an error, not no upstreams.
	if r := h.Netctl("--resolv-conf", "/nonexistent/resolv.conf", "diff", "-f", file); r.Code != 1 || !strings.Contains(r.Stderr, "--resolv-conf: open /nonexistent/resolv.conf") {
		t.Errorf("missing --resolv-conf: %s", r)
	}

	// --version: version, commit, Go version.
	if r := h.MustNetctl(t, "--version"); !regexp.MustCompile(`^netctl version \S+, commit \S+, go1\.\d+\S* linux/\w+\n$`).MatchString(r.Stdout) {
		t.Errorf("--version = %q", r.Stdout)
	}

	// Logs: nothing but warnings when stderr is not a terminal; --log-level
	// info brings the info lines back, with millisecond times and
	// durations with units.
	if r := h.MustNetctl(t, "apply", "-f", file); r.Stderr != "" {
		t.Errorf("apply logged on a pipe:\n%s", r.Stderr)
	}
	r = h.MustNetctl(t, "--log-level", "info", "apply", "-f", file)
	var line struct {
		Time, Took, Message string
	}
	if err := json.Unmarshal([]byte(lastLine(r.Stderr)), &line); err != nil || line.Message != "apply finished" ||
		!regexp.MustCompile(`T\d\d:\d\d:\d\d\.\d{3}`).MatchString(line.Time) || !regexp.MustCompile(`^[0-9.]+(ns|µs|ms|s)$`).MatchString(line.Took) {
		t.Errorf("info log line: %v %q", err, r.Stderr)
	}
}
