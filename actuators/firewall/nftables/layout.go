package nftables

import (
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/model"
)

// The layout: one table, `inet netctl`, whose chains are fixed and whose
// sets and maps hold every network, published port and link. A packet
// meets the same dozen rules whether there are ten containers or ten
// thousand: each object is an element of a set, found by a hash lookup.
//
//	forward          filter hook forward, priority filter+10
//	  oifname @bridges ct state established,related accept
//	  ct status dnat ip daddr . l4proto . th dport @published accept
//	  iifname . ip saddr . ip daddr . l4proto . th dport @links accept (and the answers)
//	  iifname . oifname vmap @icc            within a bridge: accept, or drop (icc: false)
//	  iifname @bridges oifname @bridges drop between bridges: isolation
//	  iifname @external accept               out of a bridge (not internal)
//	  iifname @bridges drop                  out of an internal bridge
//	  oifname @bridges drop                  into a bridge: only published ports
//	nat-prerouting   nat hook prerouting, priority dstnat+10:
//	  iifname @bridges fib daddr . iif type local udp/tcp dport 53 return   netctl's DNS on the gateways
//	  ip daddr . ip saddr @dns-peers udp/tcp dport 53 return               netctl's DNS for the overlay's nodes (overlay.go)
//	  fib daddr type local jump publish
//	nat-output       nat hook output, priority dstnat+10:     fib daddr type local jump publish
//	  publish        dnat ip to ip daddr . l4proto . th dport map @ports-addr
//	                 dnat ip to l4proto . th dport map @ports-any
//	nat-postrouting  nat hook postrouting, priority srcnat+10
//	  oifname @external fib saddr type local masquerade     from the host
//	  ct status dnat ip saddr @masq-subnets masquerade      hairpin and bridge to bridge via a port
//	  oifname @bridges return
//	  ip saddr @masq-subnets masquerade                     going out
//	raw-prerouting   filter hook prerouting, priority raw+10
//	  iifname != lo ip daddr . l4proto . th dport @loopback-ports drop
//	input            filter hook input, priority filter+10: the VXLAN filter (overlay.go)
//
// IPv6 (dual-stack networks) has the same rules on sets of its own
// (published6, links6, ports-any6, ports-addr6), masquerades going out
// only the subnets in masq-subnets6 (masquerade_v6), hairpins every
// dual-stack subnet (subnets6), lets neighbour discovery through between
// the ports of a bridge before the icc verdict, and never DNATs [::1]
// (IPv6 has no route_localnet). The sets of interface names serve both.
//
// It is Docker 28's iptables layout (and so the iptables backend's) with
// each per-object rule turned into an element. The priorities are the
// standard ones of iptables' tables plus 10: netctl's chains see a packet
// right after iptables' own chains at the same hook, deterministically
// (equal priorities run in registration order). Only a drop is final
// across base chains; an accept here does not stop another table from
// dropping (see ForwardDrops).

// tableName is netctl's table; family inet, so that IPv6 needs no second
// table. It is the default instance's: another instance (--root) has a
// table of its own, netctl-<instance>, so that two roots in one network
// namespace never touch each other's rules.
const tableName = "netctl"

// instanceTable is inst's table.
func instanceTable(inst model.Instance) *nftables.Table {
	name := tableName
	if inst != "" {
		name += "-" + string(inst)
	}
	return &nftables.Table{Name: name, Family: nftables.TableFamilyINet}
}

// Set and map names.
const (
	setBridges   = "bridges"
	setExternal  = "external"
	mapICC       = "icc"
	setMasq      = "masq-subnets"
	setPublished = "published"
	mapPortsAny  = "ports-any"
	mapPortsAddr = "ports-addr"
	setLoopback  = "loopback-ports"
	setLinks     = "links"

	setSubnets6   = "subnets6"
	setMasq6      = "masq-subnets6"
	setPublished6 = "published6"
	mapPortsAny6  = "ports-any6"
	mapPortsAddr6 = "ports-addr6"
	setLinks6     = "links6"
)

// Chain names.
const (
	chainForward    = "forward"
	chainPrerouting = "nat-prerouting"
	chainOutput     = "nat-output"
	chainPublish    = "publish"
	chainPost       = "nat-postrouting"
	chainRaw        = "raw-prerouting"
)

var (
	typeIfname  = nftables.TypeIFName
	typeIPv4    = nftables.TypeIPAddr
	typeIPv6    = nftables.TypeIP6Addr
	typeProto   = nftables.TypeInetProto
	typeService = nftables.TypeInetService
)

// setDef is one of netctl's sets or maps.
type setDef struct {
	name     string
	key      []nftables.SetDatatype
	data     []nftables.SetDatatype // a map's data; nil for a set
	verdict  bool                   // a verdict map
	interval bool
	comment  string
}

func (d setDef) isMap() bool { return d.verdict || len(d.data) > 0 }

// keyType is the set's key type as the kernel stores it.
func (d setDef) keyType() nftables.SetDatatype { return concat(d.key) }

func (d setDef) dataType() nftables.SetDatatype {
	if d.verdict {
		return nftables.TypeVerdict
	}
	return concat(d.data)
}

func concat(ts []nftables.SetDatatype) nftables.SetDatatype {
	if len(ts) == 1 {
		return ts[0]
	}
	return nftables.MustConcatSetType(ts...)
}

var setDefs = []setDef{
	{name: setBridges, key: []nftables.SetDatatype{typeIfname}, comment: "every netctl bridge"},
	{name: setExternal, key: []nftables.SetDatatype{typeIfname}, comment: "bridges of networks that are not internal"},
	{name: mapICC, key: []nftables.SetDatatype{typeIfname, typeIfname}, verdict: true,
		comment: "traffic within a bridge: accept, or drop (icc: false)"},
	{name: setMasq, key: []nftables.SetDatatype{typeIPv4}, interval: true,
		comment: "subnets of networks that are not internal, masqueraded"},
	{name: setPublished, key: []nftables.SetDatatype{typeIPv4, typeProto, typeService},
		comment: "published container ports: target . protocol . port"},
	{name: mapPortsAny, key: []nftables.SetDatatype{typeProto, typeService}, data: []nftables.SetDatatype{typeIPv4, typeService},
		comment: "ports published on every host address"},
	{name: mapPortsAddr, key: []nftables.SetDatatype{typeIPv4, typeProto, typeService}, data: []nftables.SetDatatype{typeIPv4, typeService},
		comment: "ports published on one host address"},
	{name: setLoopback, key: []nftables.SetDatatype{typeIPv4, typeProto, typeService},
		comment: "ports published on a loopback address: no remote access"},
	{name: setLinks, key: []nftables.SetDatatype{typeIfname, typeIPv4, typeIPv4, typeProto, typeService},
		comment: "legacy links on icc: false networks: bridge . source . destination . protocol . port"},
	{name: setSubnets6, key: []nftables.SetDatatype{typeIPv6}, interval: true,
		comment: "IPv6 subnets of dual-stack networks: hairpin"},
	{name: setMasq6, key: []nftables.SetDatatype{typeIPv6}, interval: true,
		comment: "IPv6 subnets masqueraded going out (masquerade_v6)"},
	{name: setPublished6, key: []nftables.SetDatatype{typeIPv6, typeProto, typeService},
		comment: "published container ports, IPv6: target . protocol . port"},
	{name: mapPortsAny6, key: []nftables.SetDatatype{typeProto, typeService}, data: []nftables.SetDatatype{typeIPv6, typeService},
		comment: "ports published on every IPv6 host address"},
	{name: mapPortsAddr6, key: []nftables.SetDatatype{typeIPv6, typeProto, typeService}, data: []nftables.SetDatatype{typeIPv6, typeService},
		comment: "ports published on one IPv6 host address"},
	{name: setLinks6, key: []nftables.SetDatatype{typeIfname, typeIPv6, typeIPv6, typeProto, typeService},
		comment: "legacy links on icc: false networks, IPv6: bridge . source . destination . protocol . port"},
	vxlanSetDefs[0], vxlanSetDefs[1], peerDNSSetDef,
}

func findSetDef(name string) (setDef, bool) {
	for _, d := range setDefs {
		if d.name == name {
			return d, true
		}
	}
	return setDef{}, false
}

// chainDef is one of netctl's chains: a base chain when hook is set.
type chainDef struct {
	name     string
	typ      nftables.ChainType
	hook     *nftables.ChainHook
	priority nftables.ChainPriority
	rules    []ruleDef
}

func (d chainDef) base() bool { return d.hook != nil }

// ruleDef is one rule with the comment nft shows beside it.
type ruleDef struct {
	comment string
	exprs   []expr.Any
}

// Priorities: iptables' standard ones plus 10 (see the layout above).
const (
	prioRaw    nftables.ChainPriority = -300 + 10
	prioDstNAT nftables.ChainPriority = -100 + 10
	prioFilter nftables.ChainPriority = 0 + 10
	prioSrcNAT nftables.ChainPriority = 100 + 10
)

// Registers. Keys of several fields are loaded field after field from the
// first 32-bit register on (NFT_REG32_00, the same bytes as NFT_REG_1),
// each field padded to 4 bytes, exactly as elements store them.
const (
	reg1   = unix.NFT_REG_1
	reg32  = unix.NFT_REG32_00
	regVdt = unix.NFT_REG_VERDICT
)

// Offsets in the headers.
const (
	offSaddr  = 12 // IPv4 header
	offDaddr  = 16
	offSaddr6 = 8 // IPv6 header
	offDaddr6 = 24
	offSport  = 0 // TCP, UDP and SCTP headers alike
	offDport  = 2
	offICMPv6 = 0 // ICMPv6 type
)

// field is one part of a lookup key: what to load, and its size in bytes.
type field struct {
	load func(reg uint32) expr.Any
	size uint32
}

var (
	fIIF    = field{func(r uint32) expr.Any { return &expr.Meta{Key: expr.MetaKeyIIFNAME, Register: r} }, 16}
	fOIF    = field{func(r uint32) expr.Any { return &expr.Meta{Key: expr.MetaKeyOIFNAME, Register: r} }, 16}
	fProto  = field{func(r uint32) expr.Any { return &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: r} }, 1}
	fSaddr  = field{payload(expr.PayloadBaseNetworkHeader, offSaddr, 4), 4}
	fDaddr  = field{payload(expr.PayloadBaseNetworkHeader, offDaddr, 4), 4}
	fSaddr6 = field{payload(expr.PayloadBaseNetworkHeader, offSaddr6, 16), 16}
	fDaddr6 = field{payload(expr.PayloadBaseNetworkHeader, offDaddr6, 16), 16}
	fSport  = field{payload(expr.PayloadBaseTransportHeader, offSport, 2), 2}
	fDport  = field{payload(expr.PayloadBaseTransportHeader, offDport, 2), 2}
)

func payload(base expr.PayloadBase, offset, size uint32) func(uint32) expr.Any {
	return func(r uint32) expr.Any {
		return &expr.Payload{OperationType: expr.PayloadLoad, Base: base, Offset: offset, Len: size, DestRegister: r}
	}
}

// load loads fields one after the other from the first 32-bit register on
// and returns the expressions and the register after the last field.
func load(fields ...field) []expr.Any {
	var out []expr.Any
	r := uint32(reg32)
	for _, f := range fields {
		out = append(out, f.load(r))
		r += (f.size + 3) / 4
	}
	return out
}

// lookup matches the key fields against a set.
func lookup(set string, fields ...field) []expr.Any {
	return append(load(fields...), &expr.Lookup{SourceRegister: reg32, SetName: set})
}

// vmap looks the key fields up in a verdict map: its verdict applies.
func vmap(set string, fields ...field) []expr.Any {
	return append(load(fields...), &expr.Lookup{SourceRegister: reg32, SetName: set, DestRegister: regVdt, IsDestRegSet: true})
}

// dnatMap looks the key up in a map of IPv4 address . port and DNATs to it.
func dnatMap(set string, fields ...field) []expr.Any {
	return append(load(fields...),
		&expr.Lookup{SourceRegister: reg32, SetName: set, DestRegister: reg32, IsDestRegSet: true},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: reg32, RegProtoMin: reg32 + 1, Specified: true},
	)
}

// dnatMap6 is dnatMap for IPv6: the address takes four 32-bit registers.
func dnatMap6(set string, fields ...field) []expr.Any {
	return append(load(fields...),
		&expr.Lookup{SourceRegister: reg32, SetName: set, DestRegister: reg32, IsDestRegSet: true},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV6, RegAddrMin: reg32, RegProtoMin: reg32 + 4, Specified: true},
	)
}

// ipv4 restricts a rule of the inet table to IPv4 before it reads the
// IPv4 header.
func ipv4() []expr.Any { return nfproto(unix.NFPROTO_IPV4) }

// ipv6 restricts a rule to IPv6.
func ipv6() []expr.Any { return nfproto(unix.NFPROTO_IPV6) }

func nfproto(p byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{p}},
	}
}

// notIPv6Loopback matches an IPv6 destination other than ::1.
func notIPv6Loopback() []expr.Any {
	return []expr.Any{
		fDaddr6.load(reg1),
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: netip.IPv6Loopback().AsSlice()},
	}
}

// neighbourDiscovery matches an ICMPv6 message of the given type (135:
// neighbour solicitation, 136: advertisement).
func neighbourDiscovery(typ byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{unix.IPPROTO_ICMPV6}},
		&expr.Payload{OperationType: expr.PayloadLoad, Base: expr.PayloadBaseTransportHeader, Offset: offICMPv6, Len: 1, DestRegister: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{typ}},
	}
}

// bits matches when (value & mask) != 0, value loaded by e into reg1 in
// host byte order (conntrack state and status).
func bits(e expr.Any, mask uint32) []expr.Any {
	return []expr.Any{
		e,
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(mask), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
}

// ipsDstNAT is conntrack's IPS_DST_NAT status bit.
const ipsDstNAT = 1 << 5

func ctEstablished() []expr.Any {
	return bits(&expr.Ct{Register: reg1, Key: expr.CtKeySTATE}, expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED)
}

func ctDNAT() []expr.Any { return bits(&expr.Ct{Register: reg1, Key: expr.CtKeySTATUS}, ipsDstNAT) }

// localAddr matches an address of the host (fib ... type local).
func localAddr(saddr bool) []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: reg1, ResultADDRTYPE: true, FlagSADDR: saddr, FlagDADDR: !saddr},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

// gatewayDNS matches a query to netctl's DNS server: port 53 of proto on
// an address of the interface the packet came in on (fib daddr . iif type
// local: a bridge's gateway), so that a port 53 published on every host
// address does not take the containers' own name lookups to the
// publishing container. The iptables backend's NETCTL chain starts with
// the same exemptions; Docker's resolver, at 127.0.0.11 inside the
// container, never meets its DNATs. fib with iif is valid in prerouting
// only, hence here rather than in publish, which output enters too.
func gatewayDNS(proto byte) []expr.Any {
	return append([]expr.Any{
		&expr.Fib{Register: reg1, ResultADDRTYPE: true, FlagDADDR: true, FlagIIF: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}, dnsQuery(proto)...)
}

// dnsQuery matches proto to port 53.
func dnsQuery(proto byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{proto}},
		fDport.load(reg1),
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.BigEndian.PutUint16(dnsPort)},
	}
}

// dnsPort is where netctl's DNS server listens on each gateway (and on
// an overlay node's underlay address).
const dnsPort = model.DNSPort

func notLoopbackIn() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: ifnameBytes("lo")},
	}
}

func verdict(k expr.VerdictKind) expr.Any { return &expr.Verdict{Kind: k} }

func jump(chain string) expr.Any { return &expr.Verdict{Kind: expr.VerdictJump, Chain: chain} }

func rule(comment string, parts ...[]expr.Any) ruleDef {
	var exprs []expr.Any
	for _, p := range parts {
		exprs = append(exprs, p...)
	}
	return ruleDef{comment: comment, exprs: exprs}
}

func one(e expr.Any) []expr.Any { return []expr.Any{e} }

// chainDefs is the fixed part of the table, in the order nft lists it.
func chainDefs() []chainDef {
	accept, drop := one(verdict(expr.VerdictAccept)), one(verdict(expr.VerdictDrop))
	hook := nftables.ChainHookRef
	return []chainDef{
		{name: chainForward, typ: nftables.ChainTypeFilter, hook: hook(*nftables.ChainHookForward), priority: prioFilter, rules: []ruleDef{
			rule("replies into a bridge", lookup(setBridges, fOIF), ctEstablished(), accept),
			rule("published ports", ipv4(), ctDNAT(), lookup(setPublished, fDaddr, fProto, fDport), accept),
			rule("links", ipv4(), lookup(setLinks, fIIF, fSaddr, fDaddr, fProto, fDport), accept),
			rule("links: answers", ipv4(), lookup(setLinks, fIIF, fDaddr, fSaddr, fProto, fSport), accept),
			rule("published ports (IPv6)", ipv6(), ctDNAT(), lookup(setPublished6, fDaddr6, fProto, fDport), accept),
			rule("links (IPv6)", ipv6(), lookup(setLinks6, fIIF, fSaddr6, fDaddr6, fProto, fDport), accept),
			rule("links: answers (IPv6)", ipv6(), lookup(setLinks6, fIIF, fDaddr6, fSaddr6, fProto, fSport), accept),
			rule("neighbour solicitations within a bridge", ipv6(), neighbourDiscovery(135), lookup(setBridges, fIIF), accept),
			rule("neighbour advertisements within a bridge", ipv6(), neighbourDiscovery(136), lookup(setBridges, fIIF), accept),
			rule("icc", vmap(mapICC, fIIF, fOIF)),
			rule("isolation between networks", lookup(setBridges, fIIF), lookup(setBridges, fOIF), drop),
			rule("outgoing", lookup(setExternal, fIIF), accept),
			rule("internal networks", lookup(setBridges, fIIF), drop),
			rule("unpublished ports", lookup(setBridges, fOIF), drop),
		}},
		{name: chainPrerouting, typ: nftables.ChainTypeNAT, hook: hook(*nftables.ChainHookPrerouting), priority: prioDstNAT, rules: []ruleDef{
			rule("DNS queries to a bridge's gateway stay netctl's (udp)", ipv4(), lookup(setBridges, fIIF), gatewayDNS(unix.IPPROTO_UDP), one(verdict(expr.VerdictReturn))),
			rule("DNS queries to a bridge's gateway stay netctl's (tcp)", ipv4(), lookup(setBridges, fIIF), gatewayDNS(unix.IPPROTO_TCP), one(verdict(expr.VerdictReturn))),
			rule("DNS queries from an overlay's nodes stay netctl's (udp)", ipv4(), lookup(setDNSPeers, fDaddr, fSaddr), dnsQuery(unix.IPPROTO_UDP), one(verdict(expr.VerdictReturn))),
			rule("DNS queries from an overlay's nodes stay netctl's (tcp)", ipv4(), lookup(setDNSPeers, fDaddr, fSaddr), dnsQuery(unix.IPPROTO_TCP), one(verdict(expr.VerdictReturn))),
			rule("to the host", localAddr(false), one(jump(chainPublish))),
		}},
		{name: chainOutput, typ: nftables.ChainTypeNAT, hook: hook(*nftables.ChainHookOutput), priority: prioDstNAT, rules: []ruleDef{
			rule("from the host to itself", localAddr(false), one(jump(chainPublish))),
		}},
		{name: chainPublish, rules: []ruleDef{
			rule("ports on one address", ipv4(), dnatMap(mapPortsAddr, fDaddr, fProto, fDport)),
			rule("ports on every address", ipv4(), dnatMap(mapPortsAny, fProto, fDport)),
			rule("ports on one IPv6 address", ipv6(), dnatMap6(mapPortsAddr6, fDaddr6, fProto, fDport)),
			rule("ports on every IPv6 address but [::1]", ipv6(), notIPv6Loopback(), dnatMap6(mapPortsAny6, fProto, fDport)),
		}},
		{name: chainPost, typ: nftables.ChainTypeNAT, hook: hook(*nftables.ChainHookPostrouting), priority: prioSrcNAT, rules: []ruleDef{
			rule("from the host", lookup(setExternal, fOIF), localAddr(true), one(&expr.Masq{})),
			rule("hairpin and published ports across networks", ipv4(), ctDNAT(), lookup(setMasq, fSaddr), one(&expr.Masq{})),
			rule("hairpin and published ports across networks (IPv6)", ipv6(), ctDNAT(), lookup(setSubnets6, fSaddr6), one(&expr.Masq{})),
			rule("within a bridge", lookup(setBridges, fOIF), one(verdict(expr.VerdictReturn))),
			rule("going out", ipv4(), lookup(setMasq, fSaddr), one(&expr.Masq{})),
			rule("going out (IPv6)", ipv6(), lookup(setMasq6, fSaddr6), one(&expr.Masq{})),
		}},
		{name: chainRaw, typ: nftables.ChainTypeFilter, hook: hook(*nftables.ChainHookPrerouting), priority: prioRaw, rules: []ruleDef{
			rule("remote traffic to loopback-published ports", ipv4(), notLoopbackIn(), lookup(setLoopback, fDaddr, fProto, fDport), drop),
		}},
		vxlanChain(),
	}
}

// ifnameBytes is an interface name as the kernel compares it: IFNAMSIZ
// bytes, NUL-padded.
func ifnameBytes(s string) []byte {
	b := make([]byte, 16)
	copy(b, s)
	return b
}
