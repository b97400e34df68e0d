package nftables

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/google/nftables/expr"
)

// describe renders a rule's expressions in the style of
// `nft --debug=netlink`: one bracketed step per expression. netctl
// compares the rules it reads back with the ones it writes in this form,
// which keeps what matters (registers, keys, sets, data, verdicts) and
// leaves out what the kernel assigns (set IDs) or adds (NAT flags it
// derives), and the golden tests show it.
func describe(exprs []expr.Any) string {
	parts := make([]string, len(exprs))
	for i, e := range exprs {
		parts[i] = "[ " + describeExpr(e) + " ]"
	}
	return strings.Join(parts, " ")
}

var metaNames = map[expr.MetaKey]string{
	expr.MetaKeyIIFNAME: "iifname", expr.MetaKeyOIFNAME: "oifname",
	expr.MetaKeyL4PROTO: "l4proto", expr.MetaKeyNFPROTO: "nfproto",
}

var ctNames = map[expr.CtKey]string{expr.CtKeySTATE: "state", expr.CtKeySTATUS: "status"}

var cmpNames = map[expr.CmpOp]string{expr.CmpOpEq: "eq", expr.CmpOpNeq: "neq"}

func describeExpr(e expr.Any) string {
	switch e := e.(type) {
	case *expr.Meta:
		return fmt.Sprintf("meta load %s => reg %d", nameOr(metaNames, e.Key), reg(e.Register))
	case *expr.Payload:
		base := map[expr.PayloadBase]string{expr.PayloadBaseNetworkHeader: "network", expr.PayloadBaseTransportHeader: "transport"}
		return fmt.Sprintf("payload load %db @ %s header + %d => reg %d", e.Len, nameOr(base, e.Base), e.Offset, reg(e.DestRegister))
	case *expr.Cmp:
		return fmt.Sprintf("cmp %s reg %d 0x%s", nameOr(cmpNames, e.Op), reg(e.Register), hex.EncodeToString(e.Data))
	case *expr.Lookup:
		s := fmt.Sprintf("lookup reg %d set %s", reg(e.SourceRegister), e.SetName)
		if e.IsDestRegSet {
			s += fmt.Sprintf(" dreg %d", reg(e.DestRegister))
		}
		if e.Invert {
			s += " invert"
		}
		return s
	case *expr.Ct:
		return fmt.Sprintf("ct load %s => reg %d", nameOr(ctNames, e.Key), reg(e.Register))
	case *expr.Bitwise:
		return fmt.Sprintf("bitwise reg %d = (reg %d & 0x%s) ^ 0x%s", reg(e.DestRegister), reg(e.SourceRegister),
			hex.EncodeToString(e.Mask), hex.EncodeToString(e.Xor))
	case *expr.Fib:
		what := "daddr"
		if e.FlagSADDR {
			what = "saddr"
		}
		result := "unknown"
		if e.ResultADDRTYPE {
			result = "type"
		}
		return fmt.Sprintf("fib %s %s => reg %d", what, result, reg(e.Register))
	case *expr.NAT:
		kind := map[expr.NATType]string{expr.NATTypeDestNAT: "dnat", expr.NATTypeSourceNAT: "snat"}
		return fmt.Sprintf("nat %s family %d addr_min reg %d proto_min reg %d", nameOr(kind, e.Type), e.Family, reg(e.RegAddrMin), reg(e.RegProtoMin))
	case *expr.Masq:
		return "masq"
	case *expr.Verdict:
		if e.Chain != "" {
			return fmt.Sprintf("immediate %s %s", verdictWord(e.Kind), e.Chain)
		}
		return "immediate " + verdictWord(e.Kind)
	case *expr.Counter:
		return "counter"
	}
	return fmt.Sprintf("%T", e)
}

func verdictWord(k expr.VerdictKind) string {
	if k == expr.VerdictJump {
		return "jump"
	}
	if k == expr.VerdictGoto {
		return "goto"
	}
	return verdictName(k)
}

func nameOr[K comparable](names map[K]string, k K) string {
	if n, ok := names[k]; ok {
		return n
	}
	return fmt.Sprint(k)
}

// reg numbers a register as the kernel dumps it: a 32-bit register
// (NFT_REG32_00 on) that starts a 128-bit one under that one's number.
func reg(r uint32) uint32 {
	if r >= reg32 && (r-reg32)%4 == 0 {
		return (r-reg32)/4 + reg1
	}
	return r
}
