#!/usr/bin/env bash
# netctl benchmark: N containers on NETWORKS bridge networks
# (bench/cmd/gentopo), for each N: cold apply, no-op re-apply, apply with one
# container added, down, and the peak RSS of each. In the same run, the
# floor: the same kind of kernel work done by one netlink process with the
# same spread over bridges (shared/bench/peers/bench_netlink.sh N REPS
# --nsdel-teardown, NLBENCH_BRIDGES=NETWORKS), and the floor for one
# container (N=1), which add-one is compared with.
#
# usage: bench/run.sh          (as root; `make bench` builds netctl first)
# env:   NS="100 300 1000"   container counts
#        NETWORKS=4          bridge networks the containers are spread over
#                            (a bridge holds at most 1024 ports)
#        PORTS=0             ports each container publishes (gentopo -ports)
#        REPS=3              repetitions; every figure is a median
#        NETCTL=bin/netctl   binary under test
#        BASE=""             a second binary (say, main's) run in every
#                            repetition too, reported as "base"
#        PEERS=../shared/bench/peers   relative to the repo
#        SETTLE_S=2          pause after each run (async netns cleanup)
#        TAG=""              prefix of the results file name
#        SKIP_NETCTL=1       floor only;  SKIP_FLOOR=1: netctl only
#        ROOT_ON_DISK=1      keep --root on the temp dir's disk (default: a tmpfs, like /run)
#
# Safety: each repetition runs netctl inside a sandbox network namespace of
# its own (ncb-<pid>-<rep>) with a private --root; the machine's root netns
# is never configured. The EXIT trap (also taken on INT/TERM) ends the
# processes living in that sandbox (netctl's DNS server), unmounts the
# namespace mounts under the root dir and deletes the namespace.
set -euo pipefail
export LC_ALL=C # EPOCHREALTIME and awk must use a '.' decimal point

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
cd "$REPO"

NS=${NS:-100 300 1000}
NETWORKS=${NETWORKS:-4}
PORTS=${PORTS:-0}
REPS=${REPS:-3}
SETTLE_S=${SETTLE_S:-2}
export SETTLE_S # the floor script reads it too
NETCTL=${NETCTL:-bin/netctl}
# The peers live beside the main checkout (../shared), also for a git
# worktree checked out elsewhere.
PEERS=${PEERS:-../shared/bench/peers}
if [[ ! -d $PEERS ]]; then
  PEERS=$(dirname "$(git rev-parse --path-format=absolute --git-common-dir)")/../shared/bench/peers
fi
SKIP_NETCTL=${SKIP_NETCTL:-0}
SKIP_FLOOR=${SKIP_FLOOR:-0}
CACHE=$HERE/.cache
RESULTS=$HERE/results
STAMP=$(date +%Y%m%d-%H%M%S)

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $(id -u) -eq 0 ]] || die "run as root: the benchmark creates network namespaces"
for c in ip nsenter awk find stat /usr/bin/time; do
  command -v "$c" >/dev/null || die "$c not found"
done
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "REPS must be a positive integer"
for n in $NS; do [[ $n =~ ^[1-9][0-9]*$ ]] || die "bad N '$n' in NS"; done

if (( ! SKIP_NETCTL )); then
  [[ -x $NETCTL ]] || die "$NETCTL not found: run 'make build' first (or set NETCTL=/path/to/netctl; SKIP_NETCTL=1 runs the floor only)"
  NETCTL=$(realpath "$NETCTL")
fi
BASE=${BASE:-}
if [[ -n $BASE ]]; then
  [[ -x $BASE ]] || die "BASE=$BASE is not an executable"
  BASE=$(realpath "$BASE")
fi
if (( ! SKIP_FLOOR )); then
  [[ -x $PEERS/bench_netlink.sh ]] || die "floor script not found: $PEERS/bench_netlink.sh (set PEERS=...)"
  PEERS=$(realpath "$PEERS")
fi

WORK=$(mktemp -d /tmp/ncbench.XXXXXX)
TIMES=$WORK/times.txt # "N phase microseconds" per repetition
: >"$TIMES"
HOSTNS=""
ROOT=""

# --- sandbox -----------------------------------------------------------------

cleanup_on_exit

# --- netctl ------------------------------------------------------------------

veths() { ip -n "$HOSTNS" -o link show type veth | wc -l; }

# netctl_timed N PHASE ARGS... : runs netctl in the sandbox, records its wall
# time (process start-up included: that is what a user waits for), its
# peak RSS (GNU time's %M, KiB; nsenter execs netctl, so it is netctl's)
# and the CPU it used (user + system: less at the mercy of other jobs on a
# shared machine than the wall clock).
netctl_timed() {
  local n=$1 phase=$2 t0 t1 rc=0
  shift 2
  t0=${EPOCHREALTIME/./}
  /usr/bin/time -f "%M %U %S" -o "$WORK/$phase.rss" nsenter --net="/run/netns/$HOSTNS" "$NETCTL" --root "$ROOT" "$@" >"$WORK/$phase.out" 2>&1 || rc=$?
  t1=${EPOCHREALTIME/./}
  if (( rc != 0 )); then
    tail -n 30 "$WORK/$phase.out" >&2
    die "netctl $* failed with exit $rc (N=$n, phase $phase)"
  fi
  echo "$n $LABEL$phase $(( t1 - t0 ))" >>"$TIMES"
  tail -n 1 "$WORK/$phase.rss" | awk -v k="$n ${LABEL}" -v p="$phase" \
    '{ print k "rss_" p, $1; print k "cpu_" p, int(($2 + $3) * 1e6 + 0.5) }' >>"$TIMES"
}

# bench_netctl N REP [LABEL BINARY]: one repetition with NETCTL (or with
# BINARY, its phases recorded with the prefix LABEL).
LABEL=""
bench_netctl() {
  local n=$1 rep=$2 t0 t1 got left rc deadline
  local LABEL=${3:-} NETCTL=${4:-$NETCTL}
  local file=$WORK/bench.yaml # one path, edited between applies as a user would
  log "netctl N=$n rep $rep/$REPS (load $(cut -d' ' -f1-3 /proc/loadavg))"
  echo "$n load_x100 $(awk '{ printf "%d", $1 * 100 }' /proc/loadavg)" >>"$TIMES"
  sandbox_up "ncb-$$-$rep"
  cp "$WORK/topo-$n.yaml" "$file"
  netctl_timed "$n" cold apply -f "$file"
  got=$(veths)
  (( got == n )) || log "WARNING: $got veths in the sandbox after cold apply, want $n"
  rc=0; nsenter --net="/run/netns/$HOSTNS" "$NETCTL" --root "$ROOT" diff -f "$file" >"$WORK/diff.out" 2>&1 || rc=$?
  (( rc == 0 )) || log "WARNING: 'netctl diff' after apply exited $rc (0 = converged)"
  netctl_timed "$n" noop apply -f "$file"
  cp "$WORK/topo-$(( n + 1 )).yaml" "$file"
  netctl_timed "$n" addone apply -f "$file"
  got=$(veths)
  (( got == n + 1 )) || log "WARNING: $got veths after adding one, want $(( n + 1 ))"

  # down is over when the kernel has removed the host-side veths, as in
  # the floor's --nsdel-teardown (namespace deletion frees them async).
  t0=${EPOCHREALTIME/./}
  netctl_timed "$n" down_cmd down -f "$file"
  deadline=$(( SECONDS + 300 ))
  while (( $(veths) > 0 && SECONDS < deadline )); do sleep 0.005; done
  t1=${EPOCHREALTIME/./}
  echo "$n ${LABEL}down $(( t1 - t0 ))" >>"$TIMES"
  left=$(ip -n "$HOSTNS" -o link show | grep -cv ': lo:' || true)
  (( left == 0 )) || log "WARNING: $left links left in the sandbox after down"
  [[ -z $(nsfs_under "$ROOT") ]] || log "WARNING: namespace mounts left under --root after down"

  sandbox_down
  sleep "$SETTLE_S"
}

# --- floor -------------------------------------------------------------------

NLBENCH=""
ensure_nlbench() {
  [[ -n $NLBENCH ]] && return 0
  if [[ -x $PEERS/bin/nlbench ]]; then
    NLBENCH=$PEERS/bin/nlbench
    return 0
  fi
  # install.sh --nlbench would also apt-install the peers (netavark, CNI)
  # and `go mod tidy` the shared tree; a plain build into our cache is
  # enough (bench_netlink.sh documents it as the alternative).
  mkdir -p "$CACHE"
  log "building nlbench into $CACHE"
  if (cd "$PEERS/nlbench" && go build -o "$CACHE/nlbench" .); then
    NLBENCH=$CACHE/nlbench
  else
    log "plain build failed; running $PEERS/install.sh --nlbench"
    "$PEERS/install.sh" --nlbench >&2
    NLBENCH=$PEERS/bin/nlbench
  fi
}

# bench_floor N TAG: one repetition of the floor for N containers,
# recorded as TAG (floor, or floor1 for the one-container floor of an N).
bench_floor() {
  local n=$1 tag=$2 key=$3
  ensure_nlbench
  local try
  for try in 1 2 3; do
    # The floor script's sandbox has a fixed name (pbnl-host) that other
    # runs on this machine may be using: wait for it, and try again when
    # the script fails (it cleans up after itself).
    while [[ -e /run/netns/pbnl-host ]]; do log "floor sandbox pbnl-host in use; waiting"; sleep 5; done
    log "$tag N=$n: NLBENCH_BRIDGES=$(( n < NETWORKS ? n : NETWORKS )) bench_netlink.sh $n 1 --nsdel-teardown"
    if NLBENCH_BRIDGES=$(( n < NETWORKS ? n : NETWORKS )) NLBENCH=$NLBENCH SETTLE_S=0 \
      "$PEERS/bench_netlink.sh" "$n" 1 --nsdel-teardown >"$WORK/floor.out" 2>"$WORK/floor.log"; then
      break
    fi
    tail -n 30 "$WORK/floor.log" >&2
    (( try < 3 )) || die "floor script failed for N=$n"
    log "floor script failed for N=$n (try $try); trying again"
    sleep 10
  done
  grep -q 'root netns untouched' "$WORK/floor.log" || log "WARNING: floor script did not confirm the root netns was untouched"
  grep -q '^RESULT .* phase=setup ' "$WORK/floor.out" || die "floor: no RESULT line for N=$n"
  # The script's log keeps every phase ("raw setup 0.5120"); netctl's
  # cold apply creates the namespaces itself, so their creation is added.
  awk -v key="$key" -v tag="$tag" '$1 == "raw" && NF == 3 {
      us = int($3 * 1e6 + 0.5); val[$2] = us
      print key, tag "_" $2, us
    }
    END { print key, tag, val["netns_create"] + val["setup"] }' "$WORK/floor.log" >>"$TIMES"
  sleep "$SETTLE_S"
}

# bench_bridges N: what the kernel takes to delete the bridges of N's
# topology (NETWORKS of them, up, with their gateway address, no ports
# left), in one request as netctl's down does. The floor's teardown leaves
# its bridges to the sandbox's removal, untimed; netctl's down must delete
# them, and on kernels where each costs an RCU grace period (20-40 ms
# here) that alone can exceed twice the floor at small N.
bench_bridges() {
  local n=$1 b t0 t1
  local nb=$(( n < NETWORKS ? n : NETWORKS ))
  sandbox_up "ncbb-$$"
  for (( b = 0; b < nb; b++ )); do
    echo "link add ncbb$b group 77 type bridge"
    echo "addr add 172.$(( 20 + b )).0.1/16 dev ncbb$b"
    echo "link set ncbb$b up"
  done | ip -n "$HOSTNS" -batch -
  t0=${EPOCHREALTIME/./}
  ip -n "$HOSTNS" link del group 77
  t1=${EPOCHREALTIME/./}
  echo "$n floor_bridges $(( t1 - t0 ))" >>"$TIMES"
  sandbox_down
  HOSTNS="" ROOT=""
}

# --- report ------------------------------------------------------------------

median_us() { # N PHASE -> median in microseconds, empty if not measured
  awk -v n="$1" -v p="$2" '$1 == n && $2 == p { print $3 }' "$TIMES" | sort -n |
    awk '{ a[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print a[(NR + 1) / 2]; else print int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'
}

# median_ratio N A B -> median over repetitions of A/B, the k-th A of N
# paired with the k-th B (both measured in the same repetition, so that
# the machine's load of the moment weighs on both).
median_ratio() {
  awk -v n="$1" -v a="$2" -v b="$3" '
    $1 == n && $2 == a { x[++na] = $3 }
    $1 == n && $2 == b { y[++nb] = $3 }
    END { for (i = 1; i <= na && i <= nb; i++) if (y[i] > 0) print x[i] / y[i] }' "$TIMES" | sort -g |
    awk '{ a[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) printf "%.2f\n", a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

report() {
  local n
  echo "# netctl benchmark $STAMP"
  echo
  echo "kernel $(uname -r), $(nproc) CPUs, tree $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo "(no commit)"), binary $( (( SKIP_NETCTL )) && echo "–" || echo "$NETCTL")${BASE:+, base $BASE}, median of $REPS, wall clock."
  echo "Topology: N containers round robin on $NETWORKS bridge networks (172.20.0.0/16 on), one network each, $PORTS published port(s) each (bench/cmd/gentopo). netctl --root on tmpfs (like /run) unless ROOT_ON_DISK=1. Each repetition runs netctl, then the floor for N, then the floor for 1 container; ratios are medians of per-repetition ratios."
  echo
  echo "| N | | cold s | floor s ¹ | cold/floor | no-op ms | no-op % of cold | add-one ms | floor(1) ms | add-one/floor(1) | down s ² | floor down s ³ | down/floor | CPU s cold / no-op / add-one | peak RSS MiB cold / no-op / add-one / down | load |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  local l labels=""
  (( SKIP_NETCTL )) || labels="-"
  [[ -z $BASE ]] || labels+=" base:"
  for n in $NS; do
   for l in $labels; do
    [[ $l == - ]] && l=""
    awk -v n="$n" -v label="${l:-netctl}" -v cold="$(median_us "$n" "${l}cold")" -v noop="$(median_us "$n" "${l}noop")" -v add="$(median_us "$n" "${l}addone")" \
      -v down="$(median_us "$n" "${l}down")" -v floor="$(median_us "$n" floor)" -v f1="$(median_us "$n" floor1)" \
      -v fd="$(median_us "$n" floor_teardown)" -v rc="$(median_ratio "$n" "${l}cold" floor)" -v ra="$(median_ratio "$n" "${l}addone" floor1)" \
      -v rd="$(median_ratio "$n" "${l}down" floor_teardown)" -v rn="$(median_ratio "$n" "${l}noop" "${l}cold")" \
      -v c1="$(median_us "$n" "${l}cpu_cold")" -v c2="$(median_us "$n" "${l}cpu_noop")" -v c3="$(median_us "$n" "${l}cpu_addone")" \
      -v m1="$(median_us "$n" "${l}rss_cold")" -v m2="$(median_us "$n" "${l}rss_noop")" -v m3="$(median_us "$n" "${l}rss_addone")" -v m4="$(median_us "$n" "${l}rss_down_cmd")" \
      -v load="$(median_us "$n" load_x100)" '
      function s(us)  { return us == "" ? "–" : sprintf("%.3f", us / 1e6) }
      function ms(us) { return us == "" ? "–" : sprintf("%.1f", us / 1e3) }
      function x(r)   { return r == "" ? "–" : r "×" }
      function mib(k) { return k == "" ? "–" : sprintf("%.0f", k / 1024) }
      BEGIN {
        printf "| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s / %s | %s / %s / %s / %s | %s |\n", n, label,
          s(cold), s(floor), x(rc), ms(noop), rn == "" ? "–" : sprintf("%.1f %%", 100 * rn),
          ms(add), ms(f1), x(ra), s(down), s(fd), x(rd), s(c1), s(c2), s(c3), mib(m1), mib(m2), mib(m3), mib(m4),
          load == "" ? "–" : sprintf("%.1f", load / 100)
      }'
   done
  done
  echo
  echo "¹ Floor = netns creation (one \`ip -batch\`) + one netlink process making the bridges, veths (peer created in the container netns), addresses and routes + one \`iptables-restore\` of one DNAT rule per container: \`NLBENCH_BRIDGES=$NETWORKS bench_netlink.sh N 1 --nsdel-teardown\`. The floor script pre-creates the namespaces and reports their creation separately; netctl's cold apply creates them itself, so their creation is added to the floor."
  echo "² \`netctl down\` until the kernel has removed the last host-side veth (namespace deletion frees them asynchronously)."
  echo "³ Floor teardown: one \`iptables-restore\` deleting the rules, then namespace deletion until the last host-side veth is gone."
  echo "⁴ The floor's teardown leaves its bridges to the sandbox's removal; \`netctl down\` deletes them. Measured apart: the topology's bridges, up with their gateway address and no ports, deleted in one request."
  if (( ! SKIP_FLOOR && ! SKIP_NETCTL )); then
    echo
    echo "\`down\` against the floor's teardown plus the bridges' deletion, medians:"
    echo
    echo "| N | down s | floor teardown + bridges s | ratio |"
    echo "|---:|---:|---:|---:|"
    for n in $NS; do
      awk -v n="$n" -v d="$(median_us "$n" down)" -v fd="$(median_us "$n" floor_teardown)" -v fb="$(median_us "$n" floor_bridges)" \
        'BEGIN { if (d == "" || fd == "" || fb == "") exit; printf "| %d | %.3f | %.3f | %.2f× |\n", n, d / 1e6, (fd + fb) / 1e6, d / (fd + fb) }'
    done
  fi
  echo
  if (( ! SKIP_FLOOR )); then
    echo "Floor sub-phases, median s:"
    echo
    echo "| N | netns create | netlink (host links + in-netns config) | iptables-restore | teardown: rules | teardown: netns delete until veths gone | not in the floor: delete the emptied bridges ⁴ |"
    echo "|---:|---:|---:|---:|---:|---:|---:|"
    for n in $NS; do
      printf '| %s |' "$n"
      for phase in netns_create nlbench_exec fw fw_del links_del_via_nsdel bridges; do
        awk -v us="$(median_us "$n" "floor_$phase")" 'BEGIN { printf " %s |", us == "" ? "–" : sprintf("%.3f", us / 1e6) }'
      done
      echo
    done
    echo
  fi
  echo "<details><summary>raw: N phase value (µs; rss_* KiB; load ×100), one line per repetition (floor_* from the floor script's log)</summary>"
  echo
  echo '```'
  cat "$TIMES"
  echo '```'
  echo "</details>"
}

# --- main --------------------------------------------------------------------

GENTOPO=$WORK/gentopo
go build -o "$GENTOPO" ./bench/cmd/gentopo
log "NS='$NS' NETWORKS=$NETWORKS PORTS=$PORTS REPS=$REPS netctl=$( (( SKIP_NETCTL )) && echo skipped || echo "$NETCTL") floor=$( (( SKIP_FLOOR )) && echo skipped || echo "$PEERS")"
for n in $NS; do
  "$GENTOPO" -n "$n" -networks "$NETWORKS" -ports "$PORTS" >"$WORK/topo-$n.yaml"
  "$GENTOPO" -n $(( n + 1 )) -networks "$NETWORKS" -ports "$PORTS" >"$WORK/topo-$(( n + 1 )).yaml"
  for (( rep = 1; rep <= REPS; rep++ )); do
    (( SKIP_NETCTL )) || bench_netctl "$n" "$rep"
    [[ -z $BASE ]] || bench_netctl "$n" "$rep" base: "$BASE"
    if (( ! SKIP_FLOOR )); then
      bench_floor "$n" floor "$n"
      bench_floor 1 floor1 "$n"
      bench_bridges "$n"
    fi
  done
done

mkdir -p "$RESULTS"
report | tee "$RESULTS/${TAG:+$TAG-}$STAMP.md"
log "written $RESULTS/${TAG:+$TAG-}$STAMP.md"
