package nftables

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// eventBuffer is the subscription socket's receive buffer: a cold apply
// announces every element it adds.
const eventBuffer = 4 << 20

// Subscribe reports the changes other processes make to netctl's table
// (deleted, flushed, an element removed, a rule or chain added by hand):
// one value per transaction that touched the table, the channel holding at
// most one (the receiver learns that something changed; a reconcile finds
// out what). netctl's own transactions are not reported: the kernel names
// the thread that made each one, and threads carry their process's name.
// The channel is closed when ctx is done or the socket fails; an overflow
// of the socket is reported as a change.
func (b *Backend) Subscribe(ctx context.Context) (<-chan struct{}, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: int(b.host)})
	if err != nil {
		return nil, fmt.Errorf("nftables: subscribe: %w", err)
	}
	if err := c.JoinGroup(unix.NFNLGRP_NFTABLES); err != nil {
		c.Close()
		return nil, fmt.Errorf("nftables: subscribe: %w", err)
	}
	_ = c.SetReadBuffer(eventBuffer) // a smaller buffer overflows sooner, which reads as a change
	self, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("nftables: subscribe: %w", err)
	}
	name := string(bytes.TrimSpace(self))
	out := make(chan struct{}, 1)
	notify := func() {
		select {
		case out <- struct{}{}:
		default:
		}
	}
	var once sync.Once
	stop := func() { once.Do(func() { c.Close() }) }
	go func() {
		<-ctx.Done()
		stop()
	}()
	go func() {
		defer close(out)
		defer stop()
		touched := false // the transaction being announced touched netctl's table
		for {
			msgs, err := c.Receive()
			if errors.Is(err, unix.ENOBUFS) {
				notify()
				continue
			}
			if err != nil {
				if ctx.Err() == nil {
					b.log.Warn().Err(err).Msg("nftables: event subscription ended")
				}
				return
			}
			for _, m := range msgs {
				if m.Header.Type>>8 != unix.NFNL_SUBSYS_NFTABLES || len(m.Data) < 4 {
					continue
				}
				switch typ := int(m.Header.Type & 0xff); typ {
				case unix.NFT_MSG_NEWGEN:
					// The end of a transaction's announcements: who made it.
					if touched && genProcess(m.Data[4:]) != name {
						notify()
					}
					touched = false
				case unix.NFT_MSG_NEWTABLE, unix.NFT_MSG_DELTABLE, unix.NFT_MSG_NEWCHAIN, unix.NFT_MSG_DELCHAIN,
					unix.NFT_MSG_NEWRULE, unix.NFT_MSG_DELRULE, unix.NFT_MSG_NEWSET, unix.NFT_MSG_DELSET,
					unix.NFT_MSG_NEWSETELEM, unix.NFT_MSG_DELSETELEM:
					if m.Data[0] == unix.NFPROTO_INET && ofTable(m.Data[4:], b.table.Name) {
						touched = true
					}
				}
			}
		}
	}()
	return out, nil
}

// ofTable reports whether a message about a table, chain, rule, set or
// element names the table name: its first attribute (NFTA_TABLE_NAME,
// NFTA_CHAIN_TABLE, NFTA_RULE_TABLE, NFTA_SET_TABLE and
// NFTA_SET_ELEM_LIST_TABLE are all 1).
func ofTable(attrs []byte, name string) bool {
	ad, err := netlink.NewAttributeDecoder(attrs)
	if err != nil {
		return false
	}
	for ad.Next() {
		if ad.Type() == 1 {
			return bytes.Equal(bytes.TrimRight(ad.Bytes(), "\x00"), []byte(name))
		}
	}
	return false
}

// genProcess is the name of the process (of its thread: NFTA_GEN_PROC_PID
// is a thread id) that made the transaction a NEWGEN message ends.
func genProcess(attrs []byte) string {
	ad, err := netlink.NewAttributeDecoder(attrs)
	if err != nil {
		return ""
	}
	for ad.Next() {
		if ad.Type() == unix.NFTA_GEN_PROC_NAME {
			return strings.TrimRight(ad.String(), "\x00")
		}
	}
	return ""
}
