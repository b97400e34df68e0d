#!/usr/bin/env bash
# netctl published-ports benchmark: N containers on 4 bridge networks
# (bench/cmd/gentopo), each publishing 2 ports (one fixed, one ephemeral),
# against the same topology without ports, in the same run. For each N:
# cold apply, no-op re-apply and down, with and without ports; the
# firewall batch netctl ran (from its debug log); and the lower bound for
# the rules: the exact rules netctl made, loaded by one iptables-restore
# into a fresh namespace.
#
# usage: bench/ports.sh        (as root; `make build` first)
# env:   NS="100 300 1000"  REPS=3  NETCTL=bin/netctl  SETTLE_S=2
#        PORTS=2            ports per container
#
# Safety: everything runs in sandbox network namespaces of its own
# (ncp-<pid>-*) with a private --root; the EXIT trap ends what lives in them,
# unmounts the namespace mounts and deletes them. The root netns is never
# configured.
set -euo pipefail
export LC_ALL=C

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
cd "$REPO"

NS=${NS:-100 300 1000}
REPS=${REPS:-3}
SETTLE_S=${SETTLE_S:-2}
PORTS=${PORTS:-2}
NETCTL=${NETCTL:-bin/netctl}
RESULTS=$HERE/results
STAMP=$(date +%Y%m%d-%H%M%S)

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $PORTS =~ ^[1-9][0-9]*$ ]] || die "PORTS must be a positive integer"
# A fresh sandbox per configuration (next_sandbox): ncp-<pid>-<seq>.
bench_init ncp iptables-restore iptables-save

veths() { ip -n "$HOSTNS" -o link show type veth | wc -l; }

run_netctl() { # N PORTS TAG
  local n=$1 ports=$2 tag=$3 deadline t0 t1
  "$GENTOPO" -n "$n" -ports "$ports" >"$WORK/bench.yaml"
  next_sandbox
  timed "$n" "${tag}cold" apply -f "$WORK/bench.yaml"
  logged "$n" "${tag}cold" "firewall batch applied" "${tag}fwbatch"
  logged "$n" "${tag}cold" "firewall rules restored" "${tag}restore"
  if (( ports > 0 )); then
    # The built-in chains' policy lines are left out: declaring them makes
    # iptables-nft create every base chain of every table (~40 ms), which
    # netctl's own input never asks for.
    nsenter --net="/run/netns/$HOSTNS" iptables-save | grep -Ev '^(#|:[A-Z]+ (ACCEPT|DROP) )' >"$WORK/rules-$n.txt"
  fi
  rc=0; nsenter --net="/run/netns/$HOSTNS" "$NETCTL" --root "$ROOT" diff -f "$WORK/bench.yaml" >/dev/null 2>&1 || rc=$?
  (( rc == 0 )) || log "WARNING: diff after apply exited $rc"
  timed "$n" "${tag}noop" apply -f "$WORK/bench.yaml"
  t0=${EPOCHREALTIME/./}
  timed "$n" "${tag}down_cmd" down -f "$WORK/bench.yaml"
  logged "$n" "${tag}down_cmd" "firewall rules restored" "${tag}down_restore"
  deadline=$(( SECONDS + 120 ))
  while (( $(veths) > 0 && SECONDS < deadline )); do sleep 0.005; done
  t1=${EPOCHREALTIME/./}
  echo "$n ${tag}down $(( t1 - t0 ))" >>"$TIMES"
  if nsenter --net="/run/netns/$HOSTNS" iptables-save | grep -q 'netctl:bench'; then
    log "WARNING: project rules left after down (N=$n, $tag)"
  fi
  sandbox_down
}

# The same rules, loaded by one iptables-restore into a fresh namespace,
# and removed again by one (what down's restore has to do at least).
rules_floor() { # N
  local n=$1 t0 t1
  next_sandbox
  t0=${EPOCHREALTIME/./}
  nsenter --net="/run/netns/$HOSTNS" iptables-restore -w 10 --noflush <"$WORK/rules-$n.txt"
  t1=${EPOCHREALTIME/./}
  echo "$n rules_floor $(( t1 - t0 ))" >>"$TIMES"
  grep -c '^-A' "$WORK/rules-$n.txt" | awk -v n="$n" '{ print n, "rules", $1 }' >>"$TIMES"
  sandbox_down
}

report() {
  local n
  echo "# netctl published-ports benchmark $STAMP"
  echo
  echo "kernel $(uname -r), $(nproc) CPUs, $(iptables --version), tree $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?'), median of $REPS, wall clock."
  echo "Topology: N containers round robin on 4 bridge networks (bench/cmd/gentopo -ports $PORTS: \"<fixed>:8080\" + ephemeral), compared with the same topology without ports."
  echo
  echo "| N | cold s, no ports | cold s, $PORTS ports | ports add | ms/ctr with ports | no-op ms (0 / $PORTS ports) | down s (0 / $PORTS ports) ¹ | firewall batch ms (0 / $PORTS ports) ² | its iptables-restore ms | rules | floor: 1 iptables-restore ms ³ |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for n in $NS; do
    awk -v n="$n" -v c0="$(median "$n" p0cold)" -v c2="$(median "$n" p2cold)" \
      -v n0="$(median "$n" p0noop)" -v n2="$(median "$n" p2noop)" \
      -v d0="$(median "$n" p0down)" -v d2="$(median "$n" p2down)" \
      -v fb0="$(median "$n" p0fwbatch)" -v fb="$(median "$n" p2fwbatch)" -v rs="$(median "$n" p2restore)" \
      -v rules="$(median "$n" rules)" -v fl="$(median "$n" rules_floor)" '
      BEGIN {
        printf "| %d | %.3f | %.3f | %+.1f %% | %.2f | %.0f / %.0f | %.3f / %.3f | %.0f / %.0f | %.0f | %d | %.0f |\n", n,
          c0 / 1e6, c2 / 1e6, 100 * (c2 - c0) / c0, c2 / 1e3 / n, n0 / 1e3, n2 / 1e3, d0 / 1e6, d2 / 1e6,
          fb0 / 1e3, fb / 1e3, rs / 1e3, rules, fl / 1e3
      }'
  done
  echo
  echo "¹ \`netctl down\` until the kernel has removed the last host-side veth. Its rules go in one iptables-restore (all tables)."
  echo "² netctl's whole firewall phase of the cold apply (from its debug log): building the restore input, one \`iptables-restore --noflush\`, sysctls."
  echo "³ The lower bound: the very rules netctl made (\`iptables-save\` after the cold apply), loaded by one \`iptables-restore --noflush\` into a fresh namespace."
  echo
  raw_times "N phase µs (p0 = no ports, p2 = $PORTS ports per container)"
}

GENTOPO=$WORK/gentopo
go build -o "$GENTOPO" ./bench/cmd/gentopo
log "NS='$NS' REPS=$REPS PORTS=$PORTS netctl=$NETCTL"
for n in $NS; do
  for (( rep = 1; rep <= REPS; rep++ )); do
    log "N=$n rep $rep/$REPS: without ports"
    run_netctl "$n" 0 p0
    sleep "$SETTLE_S"
    log "N=$n rep $rep/$REPS: with $PORTS ports per container"
    run_netctl "$n" "$PORTS" p2
    rules_floor "$n"
    sleep "$SETTLE_S"
  done
done
mkdir -p "$RESULTS"
report | tee "$RESULTS/ports-$STAMP.md"
log "written $RESULTS/ports-$STAMP.md"
