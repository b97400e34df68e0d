#!/usr/bin/env bash
# netctl benchmark: N containers on 4 bridge networks (bench/cmd/gentopo),
# for each N: cold apply, no-op re-apply, apply with one container added,
# down. In the same run, the floor: the same kind of kernel work done by one
# netlink process (shared/bench/peers/bench_netlink.sh N REPS --nsdel-teardown).
#
# usage: bench/run.sh          (as root; `make bench` builds netctl first)
# env:   NS="100 300 1000"   container counts
#        REPS=3              repetitions; every figure is a median
#        NETCTL=bin/netctl   binary under test
#        PEERS=../shared/bench/peers   relative to the repo
#        SETTLE_S=2          pause between repetitions (async netns cleanup)
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
REPS=${REPS:-3}
SETTLE_S=${SETTLE_S:-2}
export SETTLE_S # the floor script reads it too
NETCTL=${NETCTL:-bin/netctl}
PEERS=${PEERS:-../shared/bench/peers}
SKIP_NETCTL=${SKIP_NETCTL:-0}
SKIP_FLOOR=${SKIP_FLOOR:-0}
CACHE=$HERE/.cache
RESULTS=$HERE/results
STAMP=$(date +%Y%m%d-%H%M%S)

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $(id -u) -eq 0 ]] || die "run as root: the benchmark creates network namespaces"
for c in ip nsenter awk find stat; do
  command -v "$c" >/dev/null || die "$c not found"
done
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "REPS must be a positive integer"
for n in $NS; do [[ $n =~ ^[1-9][0-9]*$ ]] || die "bad N '$n' in NS"; done

if (( ! SKIP_NETCTL )); then
  [[ -x $NETCTL ]] || die "$NETCTL not found: run 'make build' first (or set NETCTL=/path/to/netctl; SKIP_NETCTL=1 runs the floor only)"
  NETCTL=$(realpath "$NETCTL")
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
# time (process start-up included: that is what a user waits for).
netctl_timed() {
  local n=$1 phase=$2 t0 t1 rc=0
  shift 2
  t0=${EPOCHREALTIME/./}
  nsenter --net="/run/netns/$HOSTNS" "$NETCTL" --root "$ROOT" "$@" >"$WORK/$phase.out" 2>&1 || rc=$?
  t1=${EPOCHREALTIME/./}
  if (( rc != 0 )); then
    tail -n 30 "$WORK/$phase.out" >&2
    die "netctl $* failed with exit $rc (N=$n, phase $phase)"
  fi
  echo "$n $phase $(( t1 - t0 ))" >>"$TIMES"
}

bench_netctl() { # N
  local n=$1 rep t0 t1 got left rc deadline
  "$GENTOPO" -n "$n" >"$WORK/topo-$n.yaml"
  "$GENTOPO" -n $(( n + 1 )) >"$WORK/topo-$(( n + 1 )).yaml"
  local file=$WORK/bench.yaml # one path, edited between applies as a user would
  for (( rep = 1; rep <= REPS; rep++ )); do
    log "netctl N=$n rep $rep/$REPS"
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
    deadline=$(( SECONDS + 120 ))
    while (( $(veths) > 0 && SECONDS < deadline )); do sleep 0.005; done
    t1=${EPOCHREALTIME/./}
    echo "$n down $(( t1 - t0 ))" >>"$TIMES"
    left=$(ip -n "$HOSTNS" -o link show | grep -cv ': lo:' || true)
    (( left == 0 )) || log "WARNING: $left links left in the sandbox after down"
    [[ -z $(nsfs_under "$ROOT") ]] || log "WARNING: namespace mounts left under --root after down"

    sandbox_down
    if (( rep < REPS )); then sleep "$SETTLE_S"; fi
  done
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

bench_floor() { # N
  local n=$1
  ensure_nlbench
  log "floor N=$n ($REPS reps): bench_netlink.sh $n $REPS --nsdel-teardown"
  NLBENCH=$NLBENCH "$PEERS/bench_netlink.sh" "$n" "$REPS" --nsdel-teardown \
    >"$WORK/floor-$n.out" 2>"$WORK/floor-$n.log" ||
    { tail -n 30 "$WORK/floor-$n.log" >&2; die "floor script failed for N=$n"; }
  cat "$WORK/floor-$n.out" >&2
  grep -q 'root netns untouched' "$WORK/floor-$n.log" || log "WARNING: floor script did not confirm the root netns was untouched"
  # The script prints medians as RESULT lines; its log keeps every
  # repetition ("raw setup 0.5120"), which lets the floor be a median of
  # per-repetition sums rather than a sum of medians.
  grep -q '^RESULT .* phase=setup ' "$WORK/floor-$n.out" || die "floor: no RESULT line for N=$n"
  awk -v n="$n" '$1 == "raw" && NF == 3 {
      r = ++rep[$2]; us = int($3 * 1e6 + 0.5); val[$2, r] = us
      print n, "floor_" $2, us
      if (r > reps) reps = r
    }
    END { for (r = 1; r <= reps; r++) print n, "floor", val["netns_create", r] + val["setup", r] }' \
    "$WORK/floor-$n.log" >>"$TIMES"
}

# --- report ------------------------------------------------------------------

median_us() { # N PHASE -> median in microseconds, empty if not measured
  awk -v n="$1" -v p="$2" '$1 == n && $2 == p { print $3 }' "$TIMES" | sort -n |
    awk '{ a[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print a[(NR + 1) / 2]; else print int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'
}

report() {
  local n cold noop add down fd floor phase
  echo "# netctl benchmark $STAMP"
  echo
  echo "kernel $(uname -r), $(nproc) CPUs, tree $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo "(no commit)"), binary $( (( SKIP_NETCTL )) && echo "–" || echo "$NETCTL"), median of $REPS, wall clock."
  echo "Topology: N containers round robin on 4 bridge networks (172.20-23.0.0/16), one network each (bench/cmd/gentopo). netctl --root on tmpfs (like /run) unless ROOT_ON_DISK=1."
  echo
  echo "| N | netctl cold s | ms/ctr | floor s ¹ | ratio | no-op ms | % of cold | add-one ms | down s ² | floor down s ³ |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for n in $NS; do
    cold=$(median_us "$n" cold); noop=$(median_us "$n" noop); add=$(median_us "$n" addone); down=$(median_us "$n" down)
    floor=$(median_us "$n" floor); fd=$(median_us "$n" floor_teardown)
    awk -v n="$n" -v cold="$cold" -v noop="$noop" -v add="$add" -v down="$down" -v floor="$floor" -v fd="$fd" '
      function s(us)  { return us == "" ? "–" : sprintf("%.3f", us / 1e6) }
      function ms(us) { return us == "" ? "–" : sprintf("%.1f", us / 1e3) }
      BEGIN {
        printf "| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", n,
          s(cold), cold == "" ? "–" : sprintf("%.2f", cold / 1e3 / n),
          s(floor), (cold == "" || floor == "") ? "–" : sprintf("%.1f×", cold / floor),
          ms(noop), (noop == "" || cold == "") ? "–" : sprintf("%.1f %%", 100 * noop / cold),
          ms(add), s(down), s(fd)
      }'
  done
  echo
  echo "¹ Floor = netns creation (one \`ip -batch\`) + one netlink process making the bridge, veths (peer created in the container netns), addresses and routes + one \`iptables-restore\`: \`bench_netlink.sh N $REPS --nsdel-teardown\`, median of the per-repetition sums. The floor script pre-creates the namespaces and reports their creation separately; netctl's cold apply creates them itself, so their creation is added to the floor. The floor wires one bridge (10.89.0.0/16); netctl wires four."
  echo "² \`netctl down\` until the kernel has removed the last host-side veth (namespace deletion frees them asynchronously)."
  echo "³ Floor teardown: one \`iptables-restore\` deleting the rules, then namespace deletion until the last host-side veth is gone."
  echo
  if (( ! SKIP_FLOOR )); then
    echo "Floor sub-phases, median s:"
    echo
    echo "| N | netns create | netlink (host links + in-netns config) | iptables-restore | teardown: rules | teardown: netns delete until veths gone |"
    echo "|---:|---:|---:|---:|---:|---:|"
    for n in $NS; do
      printf '| %s |' "$n"
      for phase in netns_create nlbench_exec fw fw_del links_del_via_nsdel; do
        awk -v us="$(median_us "$n" "floor_$phase")" 'BEGIN { printf " %s |", us == "" ? "–" : sprintf("%.3f", us / 1e6) }'
      done
      echo
    done
    echo
  fi
  echo "<details><summary>raw: N phase µs, one line per repetition (floor_* from the floor script's log)</summary>"
  echo
  echo '```'
  cat "$TIMES"
  echo '```'
  echo "</details>"
}

# --- main --------------------------------------------------------------------

if (( ! SKIP_NETCTL )); then
  GENTOPO=$WORK/gentopo
  go build -o "$GENTOPO" ./bench/cmd/gentopo
fi
log "NS='$NS' REPS=$REPS netctl=$( (( SKIP_NETCTL )) && echo skipped || echo "$NETCTL") floor=$( (( SKIP_FLOOR )) && echo skipped || echo "$PEERS")"
for n in $NS; do
  (( SKIP_NETCTL )) || bench_netctl "$n"
  (( SKIP_FLOOR )) || bench_floor "$n"
done

mkdir -p "$RESULTS"
report | tee "$RESULTS/$STAMP.md"
log "written $RESULTS/$STAMP.md"
