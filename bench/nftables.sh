#!/usr/bin/env bash
# netctl firewall backends benchmark: the same topology (N containers on 4
# bridge networks, 2 published ports each: bench/cmd/gentopo -ports 2)
# applied with --firewall nftables and with --firewall iptables, in the
# same run, each in a fresh sandbox. For each N: the cold apply and its
# firewall phase (from netctl's debug log), the no-op re-apply, down, and
# the size of the ruleset; and the lower bound of the iptables side: the
# exact rules netctl made, loaded by one iptables-restore into a fresh
# namespace.
#
# usage: bench/nftables.sh      (as root; `make build` first)
# env:   NS="100 300 1000"  REPS=3  NETCTL=bin/netctl  SETTLE_S=2  PORTS=2
#
# Safety: everything runs in sandbox network namespaces of its own
# (ncn-<pid>-*) with a private --root; the EXIT trap ends what lives in them,
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
bench_init ncn nft iptables-restore iptables-save

in_sandbox() { nsenter --net="/run/netns/$HOSTNS" "$@"; }

run() { # N BACKEND
  local n=$1 be=$2 t0 t1 deadline table
  next_sandbox
  timed "$n" "$be.cold" --firewall "$be" apply -f "$WORK/bench.yaml"
  logged "$n" "$be.cold" "firewall batch applied" "$be.fwphase"
  logged "$n" "$be.cold" "nftables transaction" "$be.transaction"
  logged "$n" "$be.cold" "firewall rules restored" "$be.transaction"
  rc=0; in_sandbox "$NETCTL" --root "$ROOT" --firewall "$be" diff -f "$WORK/bench.yaml" >/dev/null 2>&1 || rc=$?
  (( rc == 0 )) || log "WARNING: diff after apply exited $rc ($be, N=$n)"
  timed "$n" "$be.noop" --firewall "$be" apply -f "$WORK/bench.yaml"
  if [[ $be == nftables ]]; then
    logged "$n" "$be.noop" "nftables observed" "nftables.elements" elements
    logged "$n" "$be.noop" "nftables observed" "nftables.observe"
    # A private --root makes the table inet netctl-<instance>.
    table=$(in_sandbox nft list tables inet | awk '$3 ~ /^netctl/ { print $3; exit }')
    in_sandbox nft list table inet "$table" | wc -c | awk -v n="$n" '{ print n, "nftables.bytes", $1 }' >>"$TIMES"
    in_sandbox nft list table inet "$table" |
      awk -v n="$n" '/^\tchain /{ c = 1; next } /^\t}/{ c = 0 } c && NF && !/^\t\ttype / { r++ } END { print n, "nftables.rules", r }' >>"$TIMES"
  else
    logged "$n" "$be.noop" "firewall observed" "iptables.observe"
    # The built-in chains' policy lines are left out of the floor's input:
    # declaring them makes iptables-nft create every base chain of every
    # table, which netctl's own input never asks for.
    in_sandbox iptables-save | grep -Ev '^(#|:[A-Z]+ (ACCEPT|DROP) )' >"$WORK/rules-$n.txt"
    in_sandbox iptables-save | wc -c | awk -v n="$n" '{ print n, "iptables.bytes", $1 }' >>"$TIMES"
    grep -c '^-A' "$WORK/rules-$n.txt" | awk -v n="$n" '{ print n, "iptables.rules", $1 }' >>"$TIMES"
  fi
  t0=${EPOCHREALTIME/./}
  timed "$n" "$be.down_cmd" --firewall "$be" down -f "$WORK/bench.yaml"
  deadline=$(( SECONDS + 120 ))
  while (( $(ip -n "$HOSTNS" -o link show type veth | wc -l) > 0 && SECONDS < deadline )); do sleep 0.005; done
  t1=${EPOCHREALTIME/./}
  echo "$n $be.down $(( t1 - t0 ))" >>"$TIMES"
  sandbox_down
}

# The iptables rules netctl made, loaded by one iptables-restore into a
# fresh namespace: the lower bound of the firewall phase.
floor() { # N
  local n=$1 t0 t1
  SEQ=$(( SEQ + 1 ))
  sandbox_up "ncn-$$-$SEQ"
  t0=${EPOCHREALTIME/./}
  in_sandbox iptables-restore -w 10 --noflush <"$WORK/rules-$n.txt"
  t1=${EPOCHREALTIME/./}
  echo "$n floor $(( t1 - t0 ))" >>"$TIMES"
  sandbox_down
}

report() {
  local n be
  echo "# netctl firewall backends benchmark $STAMP"
  echo
  echo "kernel $(uname -r), $(nproc) CPUs, $(nft --version), $(iptables --version), tree $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?'), median of $REPS, wall clock; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end."
  echo "Topology: bench/cmd/gentopo -n N -ports $PORTS (N containers round robin on 4 bridge networks, \"<fixed>:8080\" + ephemeral)."
  echo
  echo "| N | backend | cold apply s | firewall phase ms ¹ | its transaction ms ² | floor: 1 iptables-restore ms ³ | no-op re-apply ms | % of cold | observe ms ⁴ | down s | ruleset ⁵ |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  for n in $NS; do
    for be in nftables iptables; do
      local size
      if [[ $be == nftables ]]; then
        size="$(median "$n" nftables.rules) rules, $(median "$n" nftables.elements) elements, $(median "$n" nftables.bytes) B"
      else
        size="$(median "$n" iptables.rules) rules, $(median "$n" iptables.bytes) B"
      fi
      awk -v n="$n" -v be="$be" -v c="$(median "$n" "$be.cold")" -v fp="$(median "$n" "$be.fwphase")" \
        -v tx="$(median "$n" "$be.transaction")" -v fl="$(median "$n" floor)" -v no="$(median "$n" "$be.noop")" \
        -v ob="$(median "$n" "$be.observe")" -v d="$(median "$n" "$be.down")" -v size="$size" '
        BEGIN {
          printf "| %d | %s | %.3f | %.1f | %.1f | %.1f | %.1f | %.1f %% | %.1f | %.3f | %s |\n", n, be,
            c / 1e6, fp / 1e3, tx / 1e3, fl / 1e3, no / 1e3, 100 * no / c, ob / 1e3, d / 1e6, size
        }'
    done
  done
  echo
  echo "¹ netctl's whole firewall phase of the cold apply (reconciler debug log \"firewall batch applied\"): the transaction, conntrack flushes, sysctls."
  echo "² nftables: the one nf_tables netlink transaction (\"nftables transaction\"); iptables: the one \`iptables-restore --noflush\` (\"firewall rules restored\")."
  echo "³ The very iptables rules netctl made (\`iptables-save\` after the cold apply), loaded by one \`iptables-restore --noflush\` into a fresh namespace."
  echo "⁴ Reading the rules back in the no-op re-apply: nftables, one netlink dump of the table (\"nftables observed\"); iptables, one \`iptables-save\` (\"firewall observed\"). With nftables in use netctl also reads iptables (another backend may hold rules to move): one more \`iptables-save\`, of an empty ruleset."
  echo "⁵ nftables: rules of \`table inet netctl\` (fixed), elements of its sets and maps, bytes of \`nft list table inet netctl\`; iptables: \`-A\` lines and bytes of \`iptables-save\`."
  echo
  raw_times "N name value (µs, or a count)"
}

GENTOPO=$WORK/gentopo
go build -o "$GENTOPO" ./bench/cmd/gentopo
log "NS='$NS' REPS=$REPS PORTS=$PORTS netctl=$NETCTL"
for n in $NS; do
  "$GENTOPO" -n "$n" -ports "$PORTS" >"$WORK/bench.yaml"
  for (( rep = 1; rep <= REPS; rep++ )); do
    for be in nftables iptables; do
      log "N=$n rep $rep/$REPS: $be"
      run "$n" "$be"
      sleep "$SETTLE_S"
    done
    floor "$n"
  done
done
mkdir -p "$RESULTS"
report | tee "$RESULTS/nftables-$STAMP.md"
log "written $RESULTS/nftables-$STAMP.md"
