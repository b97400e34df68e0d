package spec

import "testing"

// IPv6 checks that need more than one value: static ipv6_address against
// its network, ports on IPv6 host addresses, masquerade_v6, reserved ranges.
func TestIPv6Validation(t *testing.T) {
	runErrorCases(t, []errorCase{
		{"static ipv6_address", lines(
			`networks:`,
			`  v4: {}`,
			`  v6: {enable_ipv6: true, subnet_v6: "fd00:1::/64"}`,
			`  pool: {enable_ipv6: true}`,
			`containers:`,
			`  a: {networks: {v4: {ipv6_address: "fd00:9::2"}}}`,
			`  b: {networks: {v6: {ipv6_address: "fd00:2::2"}}}`,
			`  c: {networks: {v6: {ipv6_address: "fd00:1::1"}}}`,
			`  d: {networks: {v6: {ipv6_address: "fd00:1::"}}}`,
			`  e: {networks: {v6: {ipv6_address: "fd00:1::10"}}}`,
			`  f: {networks: {v6: {ipv6_address: "fd00:1::10"}}}`,
			`  g: {networks: {pool: {ipv6_address: "fd00:3::2"}}}`,
			`  h: {networks: {v6: {ipv6_address: "10.0.0.1"}}}`,
		), []string{
			`6:23 container "a": network "v4": ipv6_address needs enable_ipv6: true on network "v4"`,
			`7:23 container "b": network "v6": ipv6_address fd00:2::2 is outside the subnet fd00:1::/64`,
			`8:23 container "c": network "v6": ipv6_address fd00:1::1 is the network's gateway`,
			`9:23 container "d": network "v6": ipv6_address fd00:1:: is the network address of fd00:1::/64`,
			`11:23 container "f": network "v6": ipv6_address fd00:1::10 is already container "e"'s (at 10:23)`,
			`12:25 container "g": network "pool": ipv6_address needs an explicit subnet_v6 on network "pool"`,
			`13:37 container "h": network "v6": ipv6_address: "10.0.0.1" is not an IPv6 address`,
		}},
		{"IPv6 with a small mtu", lines(
			`networks:`,
			`  a: {enable_ipv6: true, mtu: 1279}`,
			`  b: {enable_ipv6: true, mtu: 1280}`,
			`  c: {mtu: 576}`,
		), []string{
			`2:26 network "a": mtu 1279 is below 1280, the least IPv6 needs`,
		}},
		{"masquerade_v6 without enable_ipv6", lines(
			`networks:`,
			`  a: {masquerade_v6: false}`,
			`  b: {enable_ipv6: true, masquerade_v6: false}`,
		), []string{
			`2:7 network "a": masquerade_v6 needs enable_ipv6: true`,
		}},
		{"reserved IPv6 ranges", lines(
			`networks:`,
			`  a: {enable_ipv6: true, subnet_v6: "fe80::/64"}`,
			`  b: {enable_ipv6: true, subnet_v6: "ff02::/64"}`,
			`  c: {enable_ipv6: true, subnet_v6: "::/64"}`,
			`  d: {enable_ipv6: true, subnet_v6: "::ffff:10.0.0.0/120"}`,
		), []string{
			`2:37 network "a": subnet_v6: fe80::/64 overlaps fe80::/10, which is not for hosts`,
			`3:37 network "b": subnet_v6: ff02::/64 overlaps ff00::/8, which is not for hosts`,
			`4:37 network "c": subnet_v6: ::/64 overlaps ::/127, which is not for hosts`,
			`5:37 network "d": subnet_v6: "::ffff:10.0.0.0/120" is not an IPv6 prefix`,
		}},
		{"ports on IPv6 host addresses", lines(
			`networks:`,
			`  v4: {}`,
			`  v6: {enable_ipv6: true}`,
			`  vault: {internal: true, enable_ipv6: true}`,
			`containers:`,
			`  a: {networks: [v4], ports: ["[::]:8080:80", "[fd00::1]::81", "8081:80"]}`,
			`  b: {networks: [vault, v6], ports: ["[::]:8082:80", "[fd00::1]::81"]}`,
			`  c: {networks: [v6], ports: ["[fe80::1]:1:1", "[fd00::1:80", "[::1]:2:2"]}`,
		), []string{
			`6:31 container "a": ports: "[::]:8080:80": an IPv6 host address needs a network with enable_ipv6 that is not internal ("v4" has no IPv6)`,
			`6:47 container "a": ports: "[fd00::1]::81": an IPv6 host address needs a network with enable_ipv6`,
			`8:31 "[fe80::1]:1:1": host address fe80::1 is not a unicast address of this host`,
			`8:48 "[fd00::1:80": expected [host_ip:][host_port[-end]:]container_port[-end][/tcp|udp|sctp] (an IPv6 host address in brackets: [::1]:8080:80)`,
			`8:63 "[::1]:2:2": the IPv6 loopback [::1] cannot be published`,
		}},
	})
}

// A port bound on [::] is every IPv6 address only, kept apart from the
// IPv4 "every address", so that both can be published side by side.
func TestIPv6PortHostIP(t *testing.T) {
	for raw, want := range map[string]string{
		"[::]:8080:80":       "::",
		"[fd00:1::5]::80":    "fd00:1::5",
		"0.0.0.0:8080:80":    "invalid IP",
		"8080:80":            "invalid IP",
		"[fd00:1::5]:1-9:80": "fd00:1::5",
	} {
		m, why := parsePortMapping(raw)
		if why != "" {
			t.Errorf("%s: %s", raw, why)
			continue
		}
		if got := m.HostIP.String(); got != want {
			t.Errorf("%s: host ip %s, want %s", raw, got, want)
		}
	}
}

// A dual-stack overlay is valid as a bridge network is: the same rules for
// subnet_v6, gateway_v6 and static ipv6_address (an explicit subnet_v6,
// the address unique across nodes), and the overlay's own (subnet).
func TestIPv6OnOverlay(t *testing.T) {
	top := mustParse(t, lines(
		`networks:`,
		`  app: {driver: overlay, subnet: 10.60.0.0/16, enable_ipv6: true}`,
		`  data: {driver: overlay, subnet: 10.61.0.0/24, enable_ipv6: true, subnet_v6: "fd00:61::/64", gateway_v6: "fd00:61::fe"}`,
		`containers:`,
		`  web: {networks: [app], node: a}`,
		`  db: {networks: {data: {ipv6_address: "fd00:61::200"}}, node: b}`,
		`nodes:`,
		`  a: {address: 10.250.0.1}`,
		`  b: {address: 10.250.0.2}`,
	))
	if n := top.Networks[0]; !n.EnableIPv6 || n.SubnetV6.IsValid() {
		t.Errorf("app = %+v, want enable_ipv6 with subnet_v6 left to the pool", n)
	}
	runErrorCases(t, []errorCase{
		{"dual-stack overlay errors", lines(
			`networks:`,
			`  app: {driver: overlay, enable_ipv6: true}`,
			`  data: {driver: overlay, subnet: 10.61.0.0/24, enable_ipv6: true, subnet_v6: "fd00:61::/64"}`,
			`  pool: {driver: overlay, subnet: 10.62.0.0/24, enable_ipv6: true, mtu: 1200}`,
			`containers:`,
			`  x: {networks: {data: {ipv6_address: "fd00:61::9"}}, node: a}`,
			`  y: {networks: {data: {ipv6_address: "fd00:61::9"}}, node: b}`,
			`  z: {networks: {pool: {ipv6_address: "fd00:62::9"}}, node: b}`,
			`nodes:`,
			`  a: {address: 10.250.0.1}`,
			`  b: {address: 10.250.0.2}`,
		), []string{
			`2:9 network "app": an overlay network needs subnet:`,
			`4:68 network "pool": mtu 1200 is below 1280`,
			`7:25 container "y": network "data": ipv6_address fd00:61::9 is already container "x"'s (at 6:25)`,
			`8:25 container "z": network "pool": ipv6_address needs an explicit subnet_v6 on network "pool"`,
		}},
	})
}
