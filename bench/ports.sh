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

die() { echo "ERROR: $*" >&2; exit 1; }
log() { echo "[$(date +%T)] $*" >&2; }

[[ $(id -u) -eq 0 ]] || die "run as root: the benchmark creates network namespaces"
for c in ip nsenter awk iptables-restore iptables-save; do command -v "$c" >/dev/null || die "$c not found"; done
[[ -x $NETCTL ]] || die "$NETCTL not found: run 'make build' first"
NETCTL=$(realpath "$NETCTL")
[[ $REPS =~ ^[1-9][0-9]*$ && $PORTS =~ ^[1-9][0-9]*$ ]] || die "REPS and PORTS must be positive integers"

WORK=$(mktemp -d /tmp/ncports.XXXXXX)
TIMES=$WORK/times.txt # "N phase microseconds"
: >"$TIMES"
HOSTNS=""
ROOT=""
SEQ=0

mounts_under() {
  awk -v r="$1" '$5 == r || index($5, r "/") == 1 {print $5}' /proc/self/mountinfo |
    awk -F/ '{print NF, $0}' | sort -rn | cut -d' ' -f2-
}

nsfs_under() {
  awk -v r="$1" '{
      fs = ""; for (i = 7; i < NF; i++) if ($i == "-") { fs = $(i + 1); break }
      if (fs == "nsfs" && ($5 == r || index($5, r "/") == 1)) print $5
    }' /proc/self/mountinfo
}

pids_in_netns() {
  local inodes="" p
  for p in "$@"; do inodes+=" $(stat -L -c %i "$p" 2>/dev/null || true)"; done
  { find /proc/[0-9]*/task/[0-9]*/ns/net -maxdepth 0 -printf '%p %l\n' 2>/dev/null || true; } |
    awk -v want="$inodes" -v self=$$ '
      BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) if (w[i] != "") ok["net:[" w[i] "]"] = 1 }
      ($2 in ok) { split($1, f, "/"); if (f[3] != self) print f[3] }' | sort -un
}

sandbox_up() {
  SEQ=$(( SEQ + 1 ))
  HOSTNS="ncp-$$-$SEQ"
  ROOT=$(mktemp -d /tmp/ncp-root.XXXXXX)
  ip netns add "$HOSTNS"
  ip -n "$HOSTNS" link set lo up
}

sandbox_down() {
  local pids m nspaths
  [[ -n $HOSTNS ]] || return 0
  if [[ -e /run/netns/$HOSTNS ]]; then
    mapfile -t nspaths < <(echo "/run/netns/$HOSTNS"; [[ -n $ROOT ]] && nsfs_under "$ROOT")
    mapfile -t pids < <(pids_in_netns "${nspaths[@]}")
    if (( ${#pids[@]} )); then
      kill -TERM "${pids[@]}" 2>/dev/null || true
      sleep 0.5
      mapfile -t pids < <(pids_in_netns "${nspaths[@]}")
      if (( ${#pids[@]} )); then kill -KILL "${pids[@]}" 2>/dev/null || true; fi
    fi
  fi
  if [[ -n $ROOT ]]; then
    while read -r m; do
      if [[ -n $m ]]; then umount -l "$m" 2>/dev/null || true; fi
    done < <(mounts_under "$ROOT")
    if [[ -z $(mounts_under "$ROOT") ]]; then rm -rf "$ROOT"; else log "WARNING: mounts left under $ROOT"; fi
  fi
  if [[ -e /run/netns/$HOSTNS ]]; then ip netns del "$HOSTNS" || log "WARNING: could not delete $HOSTNS"; fi
  HOSTNS=""
  ROOT=""
  return 0
}

on_exit() {
  local rc=$?
  set +e
  sandbox_down
  rm -rf "$WORK"
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# timed N PHASE ARGS...: netctl in the sandbox, wall time recorded; its
# debug log (JSON) kept in $WORK/PHASE.log.
timed() {
  local n=$1 phase=$2 t0 t1 rc=0
  shift 2
  t0=${EPOCHREALTIME/./}
  nsenter --net="/run/netns/$HOSTNS" "$NETCTL" --root "$ROOT" --log-level debug "$@" >"$WORK/$phase.out" 2>"$WORK/$phase.log" || rc=$?
  t1=${EPOCHREALTIME/./}
  if (( rc != 0 )); then
    tail -n 20 "$WORK/$phase.out" "$WORK/$phase.log" >&2
    die "netctl $* failed with exit $rc (N=$n, phase $phase)"
  fi
  echo "$n $phase $(( t1 - t0 ))" >>"$TIMES"
}

# logged N PHASE MESSAGE NAME: the "took" (ms) of a debug log line, in µs.
logged() {
  awk -v n="$1" -v name="$4" -v msg="\"message\":\"$3\"" 'index($0, msg) {
      if (match($0, /"took":[0-9.]+/)) { print n, name, int(substr($0, RSTART + 7, RLENGTH - 7) * 1000) }
    }' "$WORK/$2.log" | tail -n 1 >>"$TIMES"
}

veths() { ip -n "$HOSTNS" -o link show type veth | wc -l; }

run_netctl() { # N PORTS TAG
  local n=$1 ports=$2 tag=$3 deadline t0 t1
  "$GENTOPO" -n "$n" -ports "$ports" >"$WORK/bench.yaml"
  sandbox_up
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
  sandbox_up
  t0=${EPOCHREALTIME/./}
  nsenter --net="/run/netns/$HOSTNS" iptables-restore -w 10 --noflush <"$WORK/rules-$n.txt"
  t1=${EPOCHREALTIME/./}
  echo "$n rules_floor $(( t1 - t0 ))" >>"$TIMES"
  grep -c '^-A' "$WORK/rules-$n.txt" | awk -v n="$n" '{ print n, "rules", $1 }' >>"$TIMES"
  sandbox_down
}

median_us() {
  awk -v n="$1" -v p="$2" '$1 == n && $2 == p { print $3 }' "$TIMES" | sort -n |
    awk '{ a[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print a[(NR + 1) / 2]; else print int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'
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
    awk -v n="$n" -v c0="$(median_us "$n" p0cold)" -v c2="$(median_us "$n" p2cold)" \
      -v n0="$(median_us "$n" p0noop)" -v n2="$(median_us "$n" p2noop)" \
      -v d0="$(median_us "$n" p0down)" -v d2="$(median_us "$n" p2down)" \
      -v fb0="$(median_us "$n" p0fwbatch)" -v fb="$(median_us "$n" p2fwbatch)" -v rs="$(median_us "$n" p2restore)" \
      -v rules="$(median_us "$n" rules)" -v fl="$(median_us "$n" rules_floor)" '
      BEGIN {
        printf "| %d | %.3f | %.3f | %+.1f %% | %.2f | %.0f / %.0f | %.3f / %.3f | %.0f / %.0f | %.0f | %d | %.0f |\n", n,
          c0 / 1e6, c2 / 1e6, 100 * (c2 - c0) / c0, c2 / 1e3 / n, n0 / 1e3, n2 / 1e3, d0 / 1e6, d2 / 1e6,
          fb0 / 1e3, fb / 1e3, rs / 1e3, rules, fl / 1e3
      }'
  done
  echo
  echo "¹ \`netctl down\` until the kernel has removed the last host-side veth. Its rules go in one iptables-restore (all tables)."
  echo "² netctl's whole firewall phase of the cold apply (from its debug log): building the restore input, one \`iptables-restore --noflush\`, sysctls, hairpin mode on each publishing veth."
  echo "³ The lower bound: the very rules netctl made (\`iptables-save\` after the cold apply), loaded by one \`iptables-restore --noflush\` into a fresh namespace."
  echo
  echo "<details><summary>raw: N phase µs (p0 = no ports, p2 = $PORTS ports per container)</summary>"
  echo
  echo '```'
  cat "$TIMES"
  echo '```'
  echo "</details>"
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
