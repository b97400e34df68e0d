#!/usr/bin/env bash
# netctl's fixed costs per one-shot command, this binary against BASE in
# the same run: CPU (perf stat's task-clock, summed over the process and
# the commands it runs: iptables-save, iptables-restore, nsenter) and wall
# time of a no-op apply, a diff, adding one container, removing it again,
# and down. At small N these are what a user waits for beyond the kernel's
# own work; bench/run.sh's CPU column has GNU time's 10 ms resolution,
# too coarse for them.
#
# usage: BASE=/path/to/netctl-main bench/fixedcost.sh   (as root)
# env:   NS="100 1000"   container counts
#        NETWORKS=4      bridge networks the containers are spread over
#        PORTS=1         ports each container publishes
#        REPS=5          repetitions; each one runs every command with
#                        both binaries, alternately; figures are medians
#        NETCTL=bin/netctl   binary under test;  BASE: the one to compare
#        TAG=""          prefix of the results file name
#
# Safety: each binary works in a sandbox network namespace of its own
# (ncf-<pid>-<label>) with a private --root on tmpfs; the EXIT trap ends
# what lives there (netctl's DNS server), unmounts and deletes them.
set -euo pipefail
export LC_ALL=C

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
cd "$REPO"
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

NS=${NS:-100 1000}
NETWORKS=${NETWORKS:-4}
PORTS=${PORTS:-1}
REPS=${REPS:-5}
NETCTL=${NETCTL:-bin/netctl}
BASE=${BASE:-}
[[ $(id -u) -eq 0 ]] || die "run as root: the benchmark creates network namespaces"
for c in ip nsenter perf awk; do command -v "$c" >/dev/null || die "$c not found"; done
[[ -x $NETCTL ]] || die "$NETCTL not found: run 'make build' first"
[[ -n $BASE && -x $BASE ]] || die "BASE=/path/to/netctl (say, main's build) is required"
NETCTL=$(realpath "$NETCTL")
BASE=$(realpath "$BASE")

WORK=$(mktemp -d /tmp/ncfixed.XXXXXX)
TIMES=$WORK/times.txt # "N label command cpu_us wall_us"
: >"$TIMES"
declare -A NSNAME ROOTDIR
cleanup() {
  local l
  for l in "${!NSNAME[@]}"; do
    HOSTNS=${NSNAME[$l]} ROOT=${ROOTDIR[$l]}
    sandbox_down
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run LABEL N CMD ARGS...: one netctl command of LABEL's binary in its
# sandbox, its CPU and wall time recorded as CMD.
run() {
  local label=$1 n=$2 cmd=$3 bin t0 t1 cpu
  shift 3
  bin=$NETCTL
  [[ $label == base ]] && bin=$BASE
  [[ -e /run/netns/${NSNAME[$label]} ]] || die "sandbox ${NSNAME[$label]} is gone"
  t0=${EPOCHREALTIME/./}
  perf stat -x, -e task-clock -o "$WORK/perf.out" \
    nsenter --net="/run/netns/${NSNAME[$label]}" "$bin" --root "${ROOTDIR[$label]}" "$@" >"$WORK/out" 2>&1 || {
    local rc=$?
    # diff exits 2 when changes are pending: no failure here.
    if [[ $cmd != diff || $rc != 2 ]]; then tail -n 20 "$WORK/out" >&2; die "$label: netctl $* exited $rc"; fi
  }
  t1=${EPOCHREALTIME/./}
  cpu=$(awk -F, '$3 == "task-clock" { printf "%d", $1 * 1000 }' "$WORK/perf.out")
  echo "$n $label $cmd $cpu $(( t1 - t0 ))" >>"$TIMES"
}

GENTOPO=$WORK/gentopo
go build -o "$GENTOPO" ./bench/cmd/gentopo
log "NS='$NS' NETWORKS=$NETWORKS PORTS=$PORTS REPS=$REPS netctl=$NETCTL base=$BASE"
for n in $NS; do
  "$GENTOPO" -n "$n" -networks "$NETWORKS" -ports "$PORTS" >"$WORK/topo-$n.yaml"
  "$GENTOPO" -n $(( n + 1 )) -networks "$NETWORKS" -ports "$PORTS" >"$WORK/topo-$(( n + 1 )).yaml"
  for label in this base; do
    sandbox_up "ncf-$$-$label"
    NSNAME[$label]=$HOSTNS ROOTDIR[$label]=$ROOT
    run "$label" "$n" cold apply -f "$WORK/topo-$n.yaml"
  done
  for (( rep = 1; rep <= REPS; rep++ )); do
    log "N=$n rep $rep/$REPS (load $(cut -d' ' -f1-3 /proc/loadavg))"
    echo "$n - load_x100 $(awk '{ printf "%d", $1 * 100 }' /proc/loadavg) 0" >>"$TIMES"
    for label in this base; do
      run "$label" "$n" noop apply -f "$WORK/topo-$n.yaml"
      run "$label" "$n" diff diff -f "$WORK/topo-$n.yaml"
      run "$label" "$n" addone apply -f "$WORK/topo-$(( n + 1 )).yaml"
      run "$label" "$n" removeone apply -f "$WORK/topo-$n.yaml"
      run "$label" "$n" down down -f "$WORK/topo-$n.yaml"
      (( rep == REPS )) || run "$label" "$n" cold apply -f "$WORK/topo-$n.yaml"
    done
  done
  for label in this base; do
    HOSTNS=${NSNAME[$label]} ROOT=${ROOTDIR[$label]}
    sandbox_down
    unset "NSNAME[$label]" "ROOTDIR[$label]"
  done
done

median() { # N LABEL CMD FIELD(4 cpu, 5 wall) -> median, µs
  awk -v n="$1" -v l="$2" -v c="$3" -v f="$4" '$1 == n && $2 == l && $3 == c { print $f }' "$TIMES" | sort -n |
    awk '{ a[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print a[(NR + 1) / 2]; else print int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'
}

{
  echo "# netctl fixed costs $(date +%Y%m%d-%H%M%S)"
  echo
  echo "kernel $(uname -r), $(nproc) CPUs, tree $(git describe --always --dirty 2>/dev/null || echo '?'), this $NETCTL, base $BASE; N containers on $NETWORKS networks, $PORTS port(s) each; median of $REPS; load average $(awk '$3 == "load_x100" { s = s sprintf("%.1f ", $4 / 100) } END { print s }' "$TIMES")."
  echo "CPU: perf stat task-clock of the command and everything it runs (ms); wall: ms."
  echo
  echo "| N | command | CPU this | CPU base | CPU this/base | wall this | wall base | wall this/base |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|"
  for n in $NS; do
    for c in noop diff addone removeone down cold; do
      awk -v n="$n" -v c="$c" -v a="$(median "$n" this "$c" 4)" -v b="$(median "$n" base "$c" 4)" \
        -v wa="$(median "$n" this "$c" 5)" -v wb="$(median "$n" base "$c" 5)" 'BEGIN {
          printf "| %d | %s | %.1f | %.1f | %.2f | %.1f | %.1f | %.2f |\n", n, c, a / 1e3, b / 1e3, b ? a / b : 0, wa / 1e3, wb / 1e3, wb ? wa / wb : 0
        }'
    done
  done
  echo
  echo "<details><summary>raw: N label command cpu_us wall_us</summary>"
  echo
  echo '```'
  cat "$TIMES"
  echo '```'
  echo "</details>"
} | tee "$HERE/results/${TAG:+$TAG-}fixed-$(date +%Y%m%d-%H%M%S).md"
