#!/usr/bin/env bash
# netctl dual-stack benchmark: N containers on 4 bridge networks
# (bench/cmd/gentopo), IPv4 only and dual stack (gentopo -ipv6: every
# network enable_ipv6 with an explicit fd00:BASE+i::/64), in the same run,
# repetitions interleaved. For each: cold apply, `diff` right after (must
# exit 0), no-op re-apply, down. The figure that matters: cold apply dual
# stack / IPv4 only (target: within 1.3x at N=1000).
#
# usage: bench/ipv6.sh        (as root; `make build` first)
# env:   NS="1000"  REPS=3  NETCTL=bin/netctl  SETTLE_S=2
#
# Safety: everything runs in sandbox network namespaces of its own
# (nc6-<pid>-*) with a private --root; the EXIT trap ends what lives in them,
# unmounts the namespace mounts and deletes them. The root netns is never
# configured.
set -euo pipefail
export LC_ALL=C

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
cd "$REPO"

NS=${NS:-1000}
REPS=${REPS:-3}
SETTLE_S=${SETTLE_S:-2}
NETCTL=${NETCTL:-bin/netctl}
RESULTS=$HERE/results
STAMP=$(date +%Y%m%d-%H%M%S)

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_init nc6 iptables-save ip6tables-save

run_netctl() { # N TAG GENTOPO-FLAGS...
  local n=$1 tag=$2 rc
  shift 2
  "$GENTOPO" -n "$n" "$@" >"$WORK/bench.yaml"
  next_sandbox
  timed "$n" "${tag}cold" apply -f "$WORK/bench.yaml"
  (( $(host_veths) == n )) || log "WARNING: $(host_veths) veths after cold apply, want $n"
  rc=0; nsenter --net="/run/netns/$HOSTNS" "$NETCTL" --root "$ROOT" diff -f "$WORK/bench.yaml" >"$WORK/diff.out" 2>&1 || rc=$?
  (( rc == 0 )) || { log "WARNING: diff right after apply exited $rc ($tag, N=$n)"; head -n 20 "$WORK/diff.out" >&2; }
  timed "$n" "${tag}noop" apply -f "$WORK/bench.yaml"
  timed_down "$n" "${tag}down" down -f "$WORK/bench.yaml"
  sandbox_down
}


report() {
  local n
  echo "# netctl dual-stack benchmark $STAMP"
  echo
  echo "kernel $(uname -r), $(nproc) CPUs, $(iptables --version), tree $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?'), median of $REPS, wall clock, repetitions interleaved."
  echo "Topology: N containers round robin on 4 bridge networks (bench/cmd/gentopo), IPv4 only and with -ipv6 (every network dual stack, subnet_v6 fd00:20-23::/64)."
  echo
  echo "| N | cold s, IPv4 | cold s, dual stack | ratio | no-op ms (IPv4 / dual) | down s (IPv4 / dual) |"
  echo "|---:|---:|---:|---:|---:|---:|"
  for n in $NS; do
    awk -v n="$n" -v c4="$(median "$n" v4cold)" -v c6="$(median "$n" v6cold)" \
      -v n4="$(median "$n" v4noop)" -v n6="$(median "$n" v6noop)" \
      -v d4="$(median "$n" v4down)" -v d6="$(median "$n" v6down)" '
      BEGIN {
        printf "| %d | %.3f | %.3f | %.2f× | %.0f / %.0f | %.3f / %.3f |\n", n,
          c4 / 1e6, c6 / 1e6, c6 / c4, n4 / 1e3, n6 / 1e3, d4 / 1e6, d6 / 1e6
      }'
  done
  echo
  raw_times "N phase µs (v4 = IPv4 only, v6 = dual stack)"
}

build_gentopo
log "NS='$NS' REPS=$REPS netctl=$NETCTL"
for n in $NS; do
  for (( rep = 1; rep <= REPS; rep++ )); do
    log "N=$n rep $rep/$REPS: IPv4 only"
    run_netctl "$n" v4
    sleep "$SETTLE_S"
    log "N=$n rep $rep/$REPS: dual stack"
    run_netctl "$n" v6 -ipv6
    sleep "$SETTLE_S"
  done
done
mkdir -p "$RESULTS"
report | tee "$RESULTS/ipv6-$STAMP.md"
log "written $RESULTS/ipv6-$STAMP.md"
