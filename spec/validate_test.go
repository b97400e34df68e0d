package spec

import (
	"fmt"
	"strings"
	"testing"

	"github.com/netctl/netctl/model"
)

func TestNames(t *testing.T) {
	long := strings.Repeat("a", 64)
	runErrorCases(t, []errorCase{
		{"project name", lines(`name: my_shop`), []string{`1:7 name: project name "my_shop" is not a DNS label`}},
		{"project name too long", lines(`name: ` + long), []string{`1:7 is not a DNS label`}},
		{"network names", lines(
			`networks:`,
			`  under_score: {}`,
			`  dot.ted: {}`,
			`  "..": {}`,
			`  "a/b": {}`,
			`  -dash: {}`,
			`  `+long+`: {}`,
			`  "ünï": {}`,
			`  "a b": {}`,
			`  "": {}`,
		), []string{
			`2:3 network name "under_score" is not a DNS label`,
			`3:3 network name "dot.ted"`,
			`4:3 network name ".."`,
			`5:3 network name "a/b"`,
			`6:3 network name "-dash"`,
			`7:3 network name "aaaa`,
			`8:3 network name "ünï"`,
			`9:3 network name "a b"`,
			`10:3 network name ""`,
		}},
		{"container names", lines(
			`containers:`,
			`  "web\n": {}`,
			`  "a:b": {}`,
			`  "x\"y": {}`,
			`  ok-Name-1: {}`,
			`  "1": {}`,
		), []string{
			`2:3 container name "web\n" is not a DNS label`,
			`3:3 container name "a:b"`,
			`4:3 container name "x\"y"`,
		}},
		{"names differing in case", lines(
			`networks: {net: {}, NET: {}}`,
			`containers: {web: {}, Web: {}}`,
		), []string{
			`1:21 network "NET" differs from network "net" (at 1:12) only in case`,
			`2:23 container "Web" differs from container "web" (at 2:14) only in case`,
		}},
		{"built-in networks declared", lines(`networks:`, `  host: {}`, `  none: {}`), []string{
			`2:3 network "host" is built in and cannot be declared; containers join it with network_mode: host`,
			`3:3 network "none" is built in`,
		}},
		{"hostnames and aliases", lines(
			`networks: {n: {}}`,
			`containers:`,
			`  a:`,
			`    hostname: my_host`,
			`    networks:`,
			`      n: {aliases: [ok.example, "bad alias", "trailing.", 7]}`,
			`    extra_hosts: ["under_score:1.2.3.4", "ok.example:1.2.3.4"]`,
			`    links: ["b:bad.alias", "b:-x", "b:"]`,
			`  b:`,
			`    hostname: "`+strings.Repeat("a.", 127)+`a"`,
		), []string{
			`4:15 container "a": hostname: "my_host" is not a DNS name`,
			`6:33 container "a": network "n": aliases: "bad alias" is not a DNS name`,
			`6:46 "trailing." is not a DNS name`,
			`7:19 container "a": extra_hosts: "under_score" is not a DNS name`,
			`8:13 container "a": links: alias "bad.alias" is not a DNS label`,
			`8:28 alias "-x" is not a DNS label`,
			`8:36 alias "" is not a DNS label`,
			`10:15 container "b": hostname:`,
		}},
		{"node names", lines(`networks: {o: {driver: overlay, subnet: 10.9.0.0/24}}`, `nodes: {"n_1": {address: 10.0.0.1}}`), []string{
			`2:9 node name "n_1" is not a DNS label`,
		}},
	})
}

func TestNetworkRules(t *testing.T) {
	runErrorCases(t, []errorCase{
		{"driver", lines(`networks: {n: {driver: macvlan}}`), []string{`1:24 network "n": driver: unknown driver "macvlan" (bridge or overlay)`}},
		{"mtu", lines(`networks:`, `  a: {mtu: 67}`, `  b: {mtu: 65536}`, `  c: {mtu: 68}`, `  d: {mtu: 65535}`), []string{
			`2:12 network "a": mtu: 67 is out of range 68-65535`,
			`3:12 network "b": mtu: 65536 is out of range`,
		}},
		{"subnet syntax", lines(
			`networks:`,
			`  a: {subnet: 172.18.0.5/16}`,
			`  b: {subnet: "fd00::/64"}`,
			`  c: {subnet: 10.0.0.0}`,
			`  d: {subnet: 10.0.0.0/31}`,
			`  e: {subnet: 0.0.0.0/0}`,
			`  f: {subnet: 127.1.0.0/16}`,
			`  g: {subnet: 230.0.0.0/8}`,
			`  h: {subnet: 10.0.0.0/30}`,
		), []string{
			`2:15 network "a": subnet: 172.18.0.5/16 has host bits set; did you mean 172.18.0.0/16?`,
			`3:15 network "b": subnet: "fd00::/64" is not an IPv4 prefix (IPv6 goes in subnet_v6, with enable_ipv6)`,
			`4:15 network "c": subnet: "10.0.0.0" is not a CIDR prefix`,
			`5:15 network "d": subnet: 10.0.0.0/31 is too small`,
			`6:15 network "e": subnet: 0.0.0.0/0 covers every address`,
			`7:15 network "f": subnet: 127.1.0.0/16 overlaps 127.0.0.0/8, which is not for hosts`,
			`8:15 network "g": subnet: 230.0.0.0/8 overlaps 224.0.0.0/3`,
		}},
		{"gateway", lines(
			`networks:`,
			`  a: {subnet: 10.1.0.0/24, gateway: 10.2.0.1}`,
			`  b: {subnet: 10.2.0.0/24, gateway: 10.2.0.0}`,
			`  c: {subnet: 10.3.0.0/24, gateway: 10.3.0.255}`,
			`  d: {gateway: 10.4.0.1}`,
			`  e: {subnet: 10.5.0.0/24, gateway: "fd00::1"}`,
			`  f: {subnet: 10.6.0.0/24, gateway: 10.6.0.254}`,
			`  g: {subnet: 10.7.0.0/24, gateway: nope}`,
		), []string{
			`2:28 network "a": gateway 10.2.0.1 is outside the subnet 10.1.0.0/24`,
			`3:28 network "b": gateway 10.2.0.0 is the network address of 10.2.0.0/24`,
			`4:28 network "c": gateway 10.3.0.255 is the broadcast address of 10.3.0.0/24`,
			`5:7 network "d": gateway needs an explicit subnet`,
			`6:37 network "e": gateway: "fd00::1" is not an IPv4 address`,
			`8:37 network "g": gateway: "nope" is not an IP address`,
		}},
		{"gateway on the default network checks the implied subnet", lines(
			`networks: {bridge: {gateway: 10.0.0.1}}`,
		), []string{`1:21 network "bridge": gateway 10.0.0.1 is outside the subnet 172.17.0.0/16`}},
		{"ip_range", lines(
			`networks:`,
			`  a: {subnet: 10.1.0.0/24, ip_range: 10.1.0.128/25}`,
			`  b: {subnet: 10.2.0.0/24, ip_range: 10.2.0.0/23}`,
			`  c: {subnet: 10.3.0.0/24, ip_range: 10.9.0.0/25}`,
			`  d: {ip_range: 10.4.0.0/25}`,
			`  e: {subnet: 10.5.0.0/24, ip_range: 10.5.0.7/32}`,
		), []string{
			`3:28 network "b": ip_range 10.2.0.0/23 is not inside the subnet 10.2.0.0/24`,
			`4:28 network "c": ip_range 10.9.0.0/25 is not inside`,
			`5:7 network "d": ip_range needs an explicit subnet`,
		}},
		{"ipv6", lines(
			`networks:`,
			`  a: {subnet_v6: "fd00:1::/64", gateway_v6: "fd00:1::1"}`,
			`  b: {enable_ipv6: true, gateway_v6: "fd00:2::1"}`,
			`  c: {enable_ipv6: true, subnet_v6: 10.0.0.0/24}`,
			`  d: {enable_ipv6: true, subnet_v6: "fd00:4::/64", gateway_v6: "fd00:5::1"}`,
			`  e: {enable_ipv6: true, subnet_v6: "fd00:6::/64", gateway_v6: "fd00:6::"}`,
			`  f: {enable_ipv6: true, subnet_v6: "fd00:7::1/64", gateway_v6: 10.0.0.1}`,
			`  g: {enable_ipv6: true, subnet_v6: "fd00:8::/64", gateway_v6: "fd00:8::1"}`,
			`  h: {enable_ipv6: true, subnet_v6: "fd00:8:0:0:1::/80"}`,
		), []string{
			`2:7 network "a": subnet_v6 needs enable_ipv6: true`,
			`2:33 network "a": gateway_v6 needs enable_ipv6: true`,
			`3:26 network "b": gateway_v6 needs subnet_v6`,
			`4:37 network "c": subnet_v6: "10.0.0.0/24" is not an IPv6 prefix`,
			`5:52 network "d": gateway_v6 fd00:5::1 is outside the subnet fd00:4::/64`,
			`6:52 network "e": gateway_v6 fd00:6:: is the network address of fd00:6::/64`,
			`7:37 network "f": subnet_v6: fd00:7::1/64 has host bits set; did you mean fd00:7::/64?`,
			`7:65 network "f": gateway_v6: "10.0.0.1" is not an IPv6 address`,
			`9:26 network "h": subnet_v6 fd00:8:0:0:1::/80 overlaps subnet_v6 fd00:8::/64 of network "g" (at 8:26)`,
		}},
		{"overlapping subnets", lines(
			`networks:`,
			`  a: {subnet: 10.1.0.0/16}`,
			`  b: {subnet: 10.1.2.0/24}`,
			`  c: {subnet: 10.0.0.0/8}`,
			`  d: {subnet: 10.2.0.0/16}`,
		), []string{
			`3:7 network "b": subnet 10.1.2.0/24 overlaps subnet 10.1.0.0/16 of network "a" (at 2:7)`,
			`4:7 network "c": subnet 10.0.0.0/8 overlaps subnet 10.1.0.0/16 of network "a" (at 2:7)`,
			`4:7 network "c": subnet 10.0.0.0/8 overlaps subnet 10.1.2.0/24 of network "b" (at 3:7)`,
			`5:7 network "d": subnet 10.2.0.0/16 overlaps subnet 10.0.0.0/8 of network "c" (at 4:7)`,
		}},
		{"overlap with the implicit default network", lines(
			`networks:`,
			`  a: {subnet: 172.17.5.0/24}`,
		), []string{
			`2:7 network "a": subnet 172.17.5.0/24 overlaps the default network bridge's 172.17.0.0/16; choose another, or move bridge with networks.bridge.subnet`,
		}},
		{"overlap with a declared default network without subnet", lines(
			`networks:`,
			`  bridge: {mtu: 1400}`,
			`  a: {subnet: 172.16.0.0/12}`,
		), []string{
			`3:7 network "a": subnet 172.16.0.0/12 overlaps the default network bridge's 172.17.0.0/16`,
		}},
		{"overlap with an explicit default subnet", lines(
			`networks:`,
			`  a: {subnet: 10.9.0.0/24}`,
			`  bridge: {subnet: 10.9.0.0/16}`,
		), []string{
			`3:12 network "bridge": subnet 10.9.0.0/16 overlaps subnet 10.9.0.0/24 of network "a" (at 2:7)`,
		}},
		{"bridge_name", lines(
			`networks:`,
			`  a: {bridge_name: br-0123456789abc}`,
			`  b: {bridge_name: "br/x"}`,
			`  c: {bridge_name: ..}`,
			`  d: {bridge_name: br-d}`,
			`  e: {bridge_name: br-d}`,
			`  f: {bridge_name: netctl0}`,
			`  bridge: {bridge_name: br0}`,
			`  g: {bridge_name: br-0123456789a}`,
		), []string{
			`2:20 network "a": bridge_name: "br-0123456789abc" is not a kernel interface name (at most 15`,
			`3:20 network "b": bridge_name: "br/x" is not a kernel interface name`,
			`4:20 network "c": bridge_name: ".." is not a kernel interface name`,
			`6:7 network "e": bridge_name br-d is already used by network "d" (at 5:7)`,
			`7:7 network "f": bridge_name netctl0 is reserved for the default network bridge`,
			`8:12 network "bridge": bridge_name cannot be set; the default network's bridge is always netctl0`,
		}},
		{"default network driver", lines(`networks: {bridge: {driver: overlay}}`, `nodes: {n: {address: 10.0.0.1}}`), []string{
			`1:21 network "bridge": the default network uses the bridge driver`,
		}},
		{"labels", lines(
			`networks:`,
			`  a:`,
			`    labels:`,
			`      ok: "fine"`,
			`      empty:`,
			`      "bad\nkey": x`,
			`      nl: "a\nb"`,
			`      nul: "a\0b"`,
			`      list: [a]`,
		), []string{
			`6:7 network "a": labels: label key "bad\nkey" is empty or holds a newline or NUL`,
			`7:11 network "a": labels: label "nl": value holds a newline or NUL`,
			`8:12 label "nul": value holds a newline or NUL`,
			`9:13 network "a": labels.list: expected a string, got a list`,
		}},
	})
}

func TestContainerRules(t *testing.T) {
	runErrorCases(t, []errorCase{
		{"unknown and built-in networks", lines(
			`networks: {frontend: {}}`,
			`containers:`,
			`  a: {networks: [frontnd, host, frontend, frontend]}`,
			`  b:`,
			`    networks:`,
			`      none: {}`,
			`      elsewhere: {}`,
		), []string{
			`3:18 container "a": unknown network "frontnd" (did you mean "frontend"?)`,
			`3:27 container "a": "host" is not a network to join; use network_mode: host`,
			`3:43 container "a": network "frontend" listed twice (first at 3:33)`,
			`6:7 container "b": "none" is not a network to join; use network_mode: none`,
			`7:7 container "b": unknown network "elsewhere"`,
		}},
		{"empty networks", lines(`containers:`, `  a: {networks: []}`, `  b: {networks: {}}`, `  c:`, `    networks:`), []string{
			`2:17 container "a": networks: empty; leave it out to join the default network bridge, or use network_mode: none`,
			`3:17 container "b": networks: empty`,
			`5:14 container "c": networks: empty`,
		}},
		{"network_mode", lines(
			`networks: {n: {}}`,
			`containers:`,
			`  a: {network_mode: bridge}`,
			`  b: {network_mode: "container:a"}`,
			`  c:`,
			`    network_mode: host`,
			`    networks: [n]`,
			`    ports: ["80:80"]`,
			`    links: [d]`,
			`    dns: [1.1.1.1]`,
			`    extra_hosts: ["a:1.2.3.4"]`,
			`    netns_path: /proc/1/ns/net`,
			`    node: x`,
			`    hostname: c`,
			`    expose: [80]`,
			`    env: {A: b}`,
			`  d: {network_mode: none}`,
		), []string{
			`3:21 container "a": network_mode: "bridge" is not supported (host or none; bridge networks go under networks)`,
			`4:21 container "b": network_mode: "container:a" is not supported`,
			`7:5 container "c": networks is not allowed with network_mode: host (no other network settings)`,
			`8:5 container "c": ports is not allowed with network_mode: host`,
			`9:5 container "c": links is not allowed`,
			`10:5 container "c": dns is not allowed`,
			`12:5 container "c": netns_path is not allowed`,
			`13:5 container "c": node is not allowed`,
		}},
		{"netns_path", lines(
			`containers:`,
			`  a: {netns_path: proc/1/ns/net}`,
			`  b: {netns_path: /proc/1/../1/ns/net}`,
			`  c: {netns_path: "/"}`,
			`  d: {netns_path: "/run/netns/x\n"}`,
			`  e: {netns_path: /run/netns/x}`,
			`  f: {netns_path: /run/netns/x}`,
			`  g: {netns_path: /run/netns/y/}`,
		), []string{
			`2:19 container "a": netns_path: "proc/1/ns/net" is not an absolute, clean path`,
			`3:19 container "b": netns_path: "/proc/1/../1/ns/net" is not an absolute, clean path`,
			`4:19 container "c": netns_path: "/" is not`,
			`5:19 container "d": netns_path: "/run/netns/x\n" is not`,
			`7:7 container "f": netns_path /run/netns/x is already wired as container "e" (at 6:7)`,
			`8:19 container "g": netns_path: "/run/netns/y/" is not`,
		}},
		{"aliases on the default network", lines(
			`containers:`,
			`  a:`,
			`    networks:`,
			`      bridge: {aliases: [x]}`,
		), []string{
			`4:16 container "a": aliases need a user-defined network; names do not resolve on the default network bridge (use links)`,
		}},
		{"env", lines(
			`containers:`,
			`  a:`,
			`    env:`,
			`      OK_1: x`,
			`      _ok: y`,
			`      1BAD: x`,
			`      BAD-NAME: x`,
			`      EMPTY:`,
			`      NL: "a\nb"`,
			`      MAP: {a: b}`,
		), []string{
			`6:7 container "a": env: "1BAD" is not a variable name`,
			`7:7 container "a": env: "BAD-NAME" is not a variable name`,
			`8:13 container "a": env: EMPTY has no value`,
			`9:11 container "a": env: NL: value holds a newline or NUL`,
			`10:12 container "a": env.MAP: expected a string, got a mapping`,
		}},
		{"dns and extra_hosts", lines(
			`containers:`,
			`  a:`,
			`    dns: [1.1.1.1, dns.google, "fe80::1%eth0"]`,
			`    extra_hosts: ["noip", "a:", "b:host-gateway", "c:[::1"]`,
		), []string{
			`3:20 container "a": dns: "dns.google" is not an IP address`,
			`3:32 container "a": dns: "fe80::1%eth0" is not an IP address`,
			`4:19 container "a": extra_hosts: "noip" is not "name:ip"`,
			`4:27 container "a": extra_hosts: "" is not an IP address`,
			`4:33 container "a": extra_hosts: "host-gateway" is not an IP address`,
			`4:51 container "a": extra_hosts: "[::1" is not an IP address`,
		}},
		{"expose", lines(`containers:`, `  a: {expose: [0, "80/icmp", "1000-2000", "x", 65536]}`), []string{
			`2:16 container "a": expose: "0": port 0 is out of range 1-65535`,
			`2:19 "80/icmp": unknown protocol "icmp" (tcp, udp or sctp)`,
			`2:30 "1000-2000": port ranges are not supported in expose`,
			`2:43 "x": port "x" is not a number`,
			`2:48 "65536": port 65536 is out of range`,
		}},
	})
}

func TestStaticAddresses(t *testing.T) {
	runErrorCases(t, []errorCase{
		{"address rules", lines(
			`networks:`,
			`  n: {subnet: 10.1.0.0/24}`,
			`  g: {subnet: 10.2.0.0/24, gateway: 10.2.0.254}`,
			`  nosub: {}`,
			`containers:`,
			`  a:`,
			`    networks:`,
			`      n: {ipv4_address: 10.9.0.5}`,
			`      g: {ipv4_address: 10.2.0.254}`,
			`      nosub: {ipv4_address: 10.3.0.5}`,
			`  b:`,
			`    networks:`,
			`      n: {ipv4_address: 10.1.0.0}`,
			`      g: {ipv4_address: 10.2.0.1}`,
			`  c:`,
			`    networks:`,
			`      n: {ipv4_address: 10.1.0.255}`,
			`      g: {ipv4_address: 10.2.0.1}`,
			`  d:`,
			`    networks:`,
			`      n: {ipv4_address: 10.1.0.1}`,
			`      bridge: {ipv4_address: 172.17.0.1}`,
			`  e:`,
			`    networks:`,
			`      n: {ipv4_address: "fd00::5"}`,
			`      bridge: {ipv4_address: 10.1.0.9}`,
		), []string{
			`8:11 container "a": network "n": ipv4_address 10.9.0.5 is outside the subnet 10.1.0.0/24`,
			`9:11 container "a": network "g": ipv4_address 10.2.0.254 is the network's gateway`,
			`10:15 container "a": network "nosub": ipv4_address needs an explicit subnet on network "nosub"`,
			`13:11 container "b": network "n": ipv4_address 10.1.0.0 is the network address of 10.1.0.0/24`,
			`17:11 container "c": network "n": ipv4_address 10.1.0.255 is the broadcast address of 10.1.0.0/24`,
			`18:11 container "c": network "g": ipv4_address 10.2.0.1 is already container "b"'s (at 14:11)`,
			`21:11 container "d": network "n": ipv4_address 10.1.0.1 is the network's gateway`,
			`22:16 container "d": network "bridge": ipv4_address 172.17.0.1 is the network's gateway`,
			`25:25 container "e": network "n": ipv4_address: "fd00::5" is not an IPv4 address`,
			`26:16 container "e": network "bridge": ipv4_address 10.1.0.9 is outside the subnet 172.17.0.0/16`,
		}},
	})
	top := mustParse(t, lines(
		`networks:`,
		`  n: {subnet: 10.1.0.0/24, ip_range: 10.1.0.128/25}`,
		`containers:`,
		`  a:`,
		`    networks:`,
		`      n: {ipv4_address: 10.1.0.5}`,
		`      bridge: {ipv4_address: 172.17.3.4}`,
		`  b:`,
		`    networks: {bridge: {ipv4_address: 172.17.3.5}}`,
	))
	if a := top.Container("a"); a.Networks[1].IPv4Address.String() != "172.17.3.4" {
		t.Errorf("static address on the implied default subnet: %v", a.Networks[1])
	}
}

func TestPorts(t *testing.T) {
	runErrorCases(t, []errorCase{
		{"syntax", lines(
			`containers:`,
			`  a:`,
			`    ports:`,
			`      - "[::1]:80:80"`,
			`      - "::1:80:80"`,
			`      - "80:80/icmp"`,
			`      - "0:80"`,
			`      - "80:65536"`,
			`      - "90-80:80"`,
			`      - "80:5000-5002"`,
			`      - "8000-8001:5000-5002"`,
			`      - "1.2.3:80:80"`,
			`      - "80:"`,
			`      - "fe80::1:80:80"`,
			`      - "80:80/TCP"`,
			`      - "a:80"`,
			`      - ""`,
		), []string{
			`4:9 container "a": ports: "[::1]:80:80": the IPv6 loopback [::1] cannot be published (IPv6 has no route_localnet); bind 127.0.0.1, or leave the address out`,
			`5:9 "::1:80:80": expected [host_ip:][host_port[-end]:]container_port[-end][/tcp|udp|sctp] (an IPv6 host address goes in brackets: [::1]:8080:80)`,
			`6:9 "80:80/icmp": unknown protocol "icmp"`,
			`7:9 "0:80": host port 0 is out of range 1-65535`,
			`8:9 "80:65536": container port 65536 is out of range`,
			`9:9 "90-80:80": host port range 90-80 starts after it ends`,
			`10:9 "80:5000-5002": container port range 5000-5002 needs a host port range of the same length, or no host port`,
			`11:9 "8000-8001:5000-5002": host port range 8000-8001 and container port range 5000-5002 differ in length`,
			`12:9 "1.2.3:80:80": host address "1.2.3" is not an IP address`,
			`13:9 "80:": missing container port`,
			`14:9 "fe80::1:80:80": expected`,
			`15:9 "80:80/TCP": unknown protocol "TCP"`,
			`16:9 "a:80": host port "a" is not a number`,
			`17:9 "": missing container port`,
		}},
		{"conflicts", lines(
			`containers:`,
			`  a:`,
			`    ports:`,
			`      - "80:80"`,
			`      - "127.0.0.1:443:443"`,
			`      - "8000-8010:5000-5010"`,
			`      - "53:53/udp"`,
			`  b:`,
			`    ports:`,
			`      - "127.0.0.1:80:80"`,
			`      - "0.0.0.0:443:443"`,
			`      - "8010:80"`,
			`      - "53:53/tcp"`,
			`      - "10.0.0.1:53:53/udp"`,
			`      - "127.0.0.2:443:443"`,
			`      - "8005-8020:6005-6020"`,
		), []string{
			`10:9 container "b": host port 80/tcp on 127.0.0.1 is already published by container "a" ("80:80" at 4:9)`,
			`11:9 container "b": host port 443/tcp on 127.0.0.1 is already published by container "a" ("127.0.0.1:443:443" at 5:9)`,
			`12:9 container "b": host port 8010/tcp on all addresses is already published by container "a" ("8000-8010:5000-5010" at 6:9)`,
			`14:9 container "b": host port 53/udp on 10.0.0.1 is already published by container "a" ("53:53/udp" at 7:9)`,
			`15:9 container "b": host port 443/tcp on 127.0.0.2 is already published by container "b" ("0.0.0.0:443:443" at 11:9)`,
			`16:9 container "b": host port 8005-8010/tcp on all addresses is already published by container "a"`,
		}},
		{"same port in one container", lines(`containers:`, `  a: {ports: ["80:80", "80:81", 80]}`), []string{
			`2:24 container "a": host port 80/tcp on all addresses is already published by container "a" ("80:80" at 2:15)`,
		}},
		{"internal networks", lines(
			`networks:`,
			`  in: {internal: true}`,
			`  out: {}`,
			`containers:`,
			`  a:`,
			`    networks: [in]`,
			`    ports: ["80:80"]`,
			`  b:`,
			`    networks: [in, out]`,
			`    ports: ["81:80"]`,
			`  c:`,
			`    networks: [in]`,
			`    ports: []`,
		), []string{
			`7:5 container "a": published ports need a network that is not internal`,
		}},
		{"internal default network", lines(
			`networks: {bridge: {internal: true}}`,
			`containers:`,
			`  a: {ports: ["80:80"]}`,
		), []string{`3:7 container "a": published ports need a network that is not internal`}},
	})
}

func TestLinks(t *testing.T) {
	runErrorCases(t, []errorCase{
		{"links", lines(
			`networks: {n: {}, m: {}}`,
			`containers:`,
			`  a:`,
			`    links: [a, bb, c, "d:x", "e:x", ":x"]`,
			`  b: {}`,
			`  c: {networks: [n]}`,
			`  d: {networks: [n, bridge]}`,
			`  e: {network_mode: none}`,
			`  f:`,
			`    networks: [m, n]`,
			`    links: [c, "d:dd", d]`,
		), []string{
			`4:13 container "a": a container cannot link to itself`,
			`4:16 container "a": link to unknown container "bb" (did you mean "b"?)`,
			`4:20 container "a": cannot link to container "c": they share no network (on the default network, both must be on bridge)`,
			`4:30 container "a": link alias "x" is already used (at 4:23)`,
			`4:37 container "a": links: ":x" has no container name`,
		}},
		{"link to a host-mode container", lines(
			`containers:`,
			`  a: {links: [b]}`,
			`  b: {network_mode: host}`,
		), []string{`2:15 container "a": cannot link to container "b": they share no network`}},
	})
}

func TestNodes(t *testing.T) {
	runErrorCases(t, []errorCase{
		{"overlay needs nodes", lines(`networks:`, `  o: {driver: overlay, subnet: 10.9.0.0/24}`), []string{
			`2:7 network "o": an overlay network needs nodes: (the hosts it spans)`,
		}},
		{"nodes need an overlay network", lines(`networks: {n: {}}`, `nodes:`, `  a: {address: 10.0.0.1}`), []string{
			`2:1 nodes: only overlay networks use nodes, and no network has driver: overlay`,
		}},
		{"node rules", lines(
			`networks: {o: {driver: overlay, subnet: 10.9.0.0/24}, b: {}}`,
			`containers:`,
			`  a: {networks: [o], node: nod-a}`,
			`  b: {networks: [b], node: node-a}`,
			`  c: {networks: [b, o]}`,
			`  d: {networks: [o], node: "node a"}`,
			`  e: {node: node-a}`,
			`nodes:`,
			`  node-a: {address: 10.0.0.1}`,
			`  node-b: {address: 10.0.0.1}`,
			`  node-c: {address: nowhere}`,
			`  node-d: {}`,
			`  node-e:`,
		), []string{
			`3:22 container "a": unknown node "nod-a" (did you mean "node-a"?)`,
			`4:22 container "b": node only applies to containers on an overlay network`,
			`5:21 container "c": on overlay network "o", the container needs node: to say which host runs it`,
			`6:28 container "d": node: "node a" is not a node name`,
			`7:7 container "e": node only applies to containers on an overlay network`,
			`10:3 node "node-b": address 10.0.0.1 is already node "node-a"'s (at 9:3)`,
			`11:21 node "node-c": address: "nowhere" is not an IP address`,
			`12:3 node "node-d": address is required`,
			`13:3 node "node-e": address is required`,
		}},
		{"overlay subnet and vni", lines(
			`networks:`,
			`  o1: {driver: overlay, vni: 42}`,
			`  o2: {driver: overlay, subnet: 10.9.0.0/24, vni: 42}`,
			`  o3: {driver: overlay, subnet: 10.9.1.0/24, vni: 16777216}`,
			`  b: {vni: 7}`,
			`nodes: {n: {address: 10.0.0.1}}`,
		), []string{
			`2:8 network "o1": an overlay network needs subnet: (every node must derive the same addresses)`,
			`3:46 network "o2": vni 42 (set) is already network "o1"'s (at 2:3); set another vni`,
			`4:51 network "o3": vni: 16777216 is out of range 1-16777215`,
			`5:7 network "b": vni needs driver: overlay`,
		}},
		{"links across nodes", lines(
			`networks: {o: {driver: overlay, subnet: 10.9.0.0/24}, b: {}}`,
			`containers:`,
			`  a: {networks: [o], node: n1, links: [b, c]}`,
			`  b: {networks: [o], node: n2}`,
			`  c: {networks: [o], node: n1}`,
			`  d: {networks: [b, o], node: n1}`,
			`  e: {networks: [b], links: [d]}`,
			`nodes: {n1: {address: 10.0.0.1}, n2: {address: 10.0.0.2}}`,
		), []string{
			`3:40 container "a": cannot link to container "b": it runs on node "n2", this container on node "n1"`,
			`7:30 container "e": cannot link to container "d": it runs on node "n1", this container on every node`,
		}},
		{"one host port on two nodes", lines(
			`networks: {o: {driver: overlay, subnet: 10.9.0.0/24}}`,
			`containers:`,
			`  a: {networks: [o], node: n1, ports: ["80:80"]}`,
			`  b: {networks: [o], node: n2, ports: ["80:80"]}`,
			`  c: {networks: [o], node: n1, ports: ["80:80"]}`,
			`nodes: {n1: {address: 10.0.0.1}, n2: {address: 10.0.0.2}}`,
		), []string{
			`5:40 container "c": host port 80/tcp on all addresses is already published by container "a" ("80:80" at 3:40)`,
		}},
	})
}

// Two overlays whose derived VNIs clash are refused; the check uses the
// same derivation the reconciler does.
func TestDerivedVNIClash(t *testing.T) {
	if model.DerivedVNI("p", "a") == model.DerivedVNI("p", "b") {
		t.Fatal("test premise: distinct names give distinct VNIs")
	}
	src := lines(
		`name: p`,
		`networks:`,
		`  a: {driver: overlay, subnet: 10.9.0.0/24}`,
		fmt.Sprintf(`  b: {driver: overlay, subnet: 10.9.1.0/24, vni: %d}`, model.DerivedVNI("p", "a")),
		`nodes: {n: {address: 10.0.0.1}}`,
	)
	checkErrors(t, "t.yaml", src, []string{
		fmt.Sprintf(`4:45 network "b": vni %d (set) is already network "a"'s (at 3:3); set another vni`, model.DerivedVNI("p", "a")),
	})
}

// A file with many independent mistakes reports every one of them, in
// file order, from one call.
func TestAllErrorsAtOnce(t *testing.T) {
	checkErrors(t, "t.yaml", lines(
		`name: shop`,
		`networks:`,
		`  back: {subnet: 172.18.0.0/16, mtu: 10}`,
		`  front: {subnet: 172.18.1.0/24, bridge_name: a-very-long-bridge}`,
		`  bad_name: {}`,
		`containers:`,
		`  db:`,
		`    networks:`,
		`      back: {ipv4_address: 172.19.0.1}`,
		`    ports: ["5432:5432"]`,
		`  web:`,
		`    networks: [front, missing]`,
		`    ports: ["5432:80"]`,
		`    links: [ghost]`,
		`    colour: blue`,
		`  db:`,
		`    networks: [back]`,
	), []string{
		`3:38 network "back": mtu: 10 is out of range 68-65535`,
		`4:11 network "front": subnet 172.18.1.0/24 overlaps subnet 172.18.0.0/16 of network "back" (at 3:10)`,
		`4:47 network "front": bridge_name: "a-very-long-bridge" is not a kernel interface name`,
		`5:3 network name "bad_name" is not a DNS label`,
		`9:14 container "db": network "back": ipv4_address 172.19.0.1 is outside the subnet 172.18.0.0/16`,
		`12:23 container "web": unknown network "missing"`,
		`13:13 container "web": host port 5432/tcp on all addresses is already published by container "db" ("5432:5432" at 10:13)`,
		`14:13 container "web": link to unknown container "ghost"`,
		`15:5 unknown key "colour" in container "web"`,
		`16:3 containers: duplicate container "db" (first at 7:3)`,
	})
}
