#!/usr/bin/env bash
# netctl watch benchmark.
#
# For each N: a watcher on a topology of N containers (bench/cmd/gentopo, 4
# bridge networks); the file is then replaced REPS times (temp + rename, as
# GitOps tools and `kubectl` ConfigMap updates do) alternately with N+1 and
# N containers. Measured:
#   - edit-to-converged, external: from just before the rename to the
#     watcher's "converged" log line reaching this script (a timestamp is
#     taken as each line arrives), for the added container;
#   - edit-to-converged, internal: the watcher's own edit_to_converged
#     field (first inotify event -> converged);
#   - write-to-ping, in REPS more edits: from just before the rename until
#     a ping from inside the added container reaches its network's gateway
#     (polled every 10 ms): the kernel is wired, before the watcher has
#     verified it;
#   - for N = IDLE_N: the watcher's CPU (utime+stime from /proc/PID/stat)
#     over IDLE_S seconds of idleness with the default --resync, its RSS
#     (VmRSS) at the end and its peak (VmHWM), and the no-op resync's
#     duration (from /metrics).
#
# usage: bench/watch.sh          (as root; `make bench-watch` builds first)
# env:   NS="10 100 1000"  container counts
#        REPS=5             edits per N (the add-one figure is their median)
#        IDLE_N=1000        N at which idle CPU and RSS are measured ("" skips)
#        IDLE_S=30          idle window
#        RESYNC=""          --resync for the watcher (default: netctl's)
#        NETCTL=bin/netctl  binary under test
#        BASE=""            a second binary (say, main's) measured the same
#                           way right after, reported as "base"
#        NETWORKS=4         bridge networks (a bridge holds at most 1024 ports)
#        KEEP_LOG=0         1: keep each watcher's log in bench/results
#        PORTS=0            ports each container publishes (gentopo -ports)
#        CONVERGE_S=300     how long to wait for a convergence (a cold start
#                           of 10,000 on a loaded machine takes longer)
#
# Safety: each N runs in a sandbox network namespace of its own
# (ncw-<pid>-<N>) with a private --root; the machine's root netns is never
# configured. The EXIT trap (also on INT/TERM) stops the watcher by PID,
# unmounts the namespace mounts under the root and deletes the namespace.
set -euo pipefail
export LC_ALL=C

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
cd "$REPO"

NS=${NS:-10 100 1000}
REPS=${REPS:-5}
IDLE_N=${IDLE_N-1000}
IDLE_S=${IDLE_S:-30}
RESYNC=${RESYNC:-}
NETCTL=${NETCTL:-bin/netctl}
BASE=${BASE:-}
NETWORKS=${NETWORKS:-4}
PORTS=${PORTS:-0}
CONVERGE_S=${CONVERGE_S:-300}
RESULTS=$HERE/results
STAMP=$(date +%Y%m%d-%H%M%S)

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $(id -u) -eq 0 ]] || die "run as root: the benchmark creates network namespaces"
for c in ip nsenter awk curl ping; do command -v "$c" >/dev/null || die "$c not found"; done
[[ -x $NETCTL ]] || die "$NETCTL not found: run 'make build' first"
NETCTL=$(realpath "$NETCTL")
if [[ -n $BASE ]]; then
  [[ -x $BASE ]] || die "BASE=$BASE is not an executable"
  BASE=$(realpath "$BASE")
fi
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "REPS must be a positive integer"
for n in $NS; do [[ $n =~ ^[1-9][0-9]*$ ]] || die "bad N '$n' in NS"; done

WORK=$(mktemp -d /tmp/ncwatch.XXXXXX)
TIMES=$WORK/times.txt # "N metric value"
: >"$TIMES"
HOSTNS=""
ROOT=""
WPID=""
GENTOPO=$WORK/gentopo
go build -o "$GENTOPO" ./bench/cmd/gentopo


sandbox_up() { # N
  HOSTNS="ncw-$$-$1${LABEL%:}"
  ROOT=$(mktemp -d /tmp/ncw-root.XXXXXX)
  ip netns add "$HOSTNS"
  ip -n "$HOSTNS" link set lo up
}

stop_watcher() {
  [[ -n $WPID ]] || return 0
  kill -TERM "$WPID" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$WPID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$WPID" 2>/dev/null || true
  wait "$WPID" 2>/dev/null || true
  WPID=""
}

sandbox_down() { # never fails
  local m
  stop_watcher
  [[ -n $HOSTNS ]] || return 0
  if [[ -n $ROOT ]]; then
    nsenter --net="/run/netns/$HOSTNS" "$NETCTL" --root "$ROOT" down -p bench >/dev/null 2>&1 || true
    while read -r m; do if [[ -n $m ]]; then umount -l "$m" 2>/dev/null || true; fi; done < <(mounts_under "$ROOT")
    if [[ -z $(mounts_under "$ROOT") ]]; then rm -rf "$ROOT"; else log "WARNING: mounts left under $ROOT"; fi
  fi
  [[ -e /run/netns/$HOSTNS ]] && { ip netns del "$HOSTNS" || log "WARNING: could not delete $HOSTNS"; }
  HOSTNS=""
  ROOT=""
  return 0
}

cleanup_on_exit

in_sandbox() { nsenter --net="/run/netns/$HOSTNS" "$@"; }

# stamp: prefix every line read with the time it arrived (µs).
stamp() { while IFS= read -r line; do printf '%s %s\n' "${EPOCHREALTIME/./}" "$line"; done; }

# count_converged TRIGGER -> how many "converged" lines with that trigger so far
count_converged() { grep -c "\"trigger\":\"$1\".*\"message\":\"converged\"" "$WORK/watch.log" || true; }

# wait_converged TRIGGER N -> waits for the N-th such line, prints it
wait_converged() {
  local deadline=$(( SECONDS + CONVERGE_S ))
  while (( $(count_converged "$1") < $2 )); do
    (( SECONDS < deadline )) || { tail -n 20 "$WORK/watch.log" >&2; die "no convergence ($1 #$2)"; }
    kill -0 "$WPID" 2>/dev/null || { tail -n 20 "$WORK/watch.log" >&2; die "the watcher died"; }
    sleep 0.002
  done
  grep "\"trigger\":\"$1\".*\"message\":\"converged\"" "$WORK/watch.log" | sed -n "$2p"
}

# KEY <<< line: a duration field ("took":"12.5ms", logged with its unit) in ms.
json_ms() {
  sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" | awk '{
    v = $0; h = 0
    if (match(v, /^[0-9]+h/)) { h += 3600000 * substr(v, 1, RLENGTH - 1); v = substr(v, RLENGTH + 1) }
    if (match(v, /^[0-9]+m[0-9]/)) { h += 60000 * substr(v, 1, RLENGTH - 2); v = substr(v, RLENGTH) } # 6m57.0s, not 12.5ms
    u = v; sub(/^[0-9.]+/, "", u); n = substr(v, 1, length(v) - length(u))
    f = (u == "ns") ? 1e-6 : (u == "µs" || u == "us") ? 1e-3 : (u == "ms") ? 1 : (u == "s") ? 1000 : -1
    if (f < 0) { print "unparsed:" v; exit }
    printf "%.3f\n", h + n * f }'
}

metric() { # NAME -> value of an unlabelled sample, or the sum over labels matching $2
  in_sandbox curl -s "http://127.0.0.1:9477/metrics" | awk -v n="$1" -v l="${2:-}" \
    '$1 == n || (l != "" && index($1, n "{") == 1 && index($1, l)) { s += $2 } END { print s + 0 }'
}

proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
proc_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# bench_n N [LABEL BINARY]: the measures of one N with NETCTL (or with
# BINARY, recorded with the prefix LABEL).
LABEL=""
bench_n() {
  local n=$1 file=$WORK/bench.yaml rep line t0 t1 ext int gw added before
  local LABEL=${2:-} NETCTL=${3:-$NETCTL}
  log "${LABEL}N=$n: cold start (load $(cut -d' ' -f1-3 /proc/loadavg))"
  echo "$n ${LABEL}load_x100 $(awk '{ printf "%d", $1 * 100 }' /proc/loadavg)" >>"$TIMES"
  sandbox_up "$n"
  "$GENTOPO" -n "$n" -networks "$NETWORKS" -ports "$PORTS" >"$WORK/topo-$n.yaml"
  "$GENTOPO" -n $(( n + 1 )) -networks "$NETWORKS" -ports "$PORTS" >"$WORK/topo-$(( n + 1 )).yaml"
  cp "$WORK/topo-$n.yaml" "$file"
  : >"$WORK/watch.log"
  local resync=()
  [[ -n $RESYNC ]] && resync=(--resync "$RESYNC")
  nsenter --net="/run/netns/$HOSTNS" "$NETCTL" --root "$ROOT" watch -f "$file" "${resync[@]}" \
    --metrics-addr 127.0.0.1:9477 2> >(stamp >>"$WORK/watch.log") &
  WPID=$!
  line=$(wait_converged start 1)
  echo "$n ${LABEL}cold_ms $(json_ms took <<<"${line#* }")" >>"$TIMES"
  sleep 2 # let the verify reconcile after the start and the kernel settle

  added=$(awk '/^  [a-z0-9-]+:$/ { last = $1 } END { sub(":", "", last); print last }' "$WORK/topo-$(( n + 1 )).yaml")
  # gentopo puts container k on network ((k-1) mod NETWORKS)+1, 172.(20+that-1).0.0/16
  gw="172.$(( 20 + n % NETWORKS )).0.1"
  grep -q "gateway: $gw\$" "$WORK/topo-$(( n + 1 )).yaml" || die "gentopo layout changed: no gateway $gw"
  local deadline
  for (( rep = 1; rep <= 2 * REPS; rep++ )); do
    # add one container
    before=$(count_converged file)
    cp "$WORK/topo-$(( n + 1 )).yaml" "$file.tmp"
    t0=${EPOCHREALTIME/./}
    mv "$file.tmp" "$file"
    if (( rep > REPS )); then
      # until the new container pings its gateway, polled: the poller's
      # processes compete with the watcher, so these reps are kept apart
      deadline=$(( SECONDS + 60 ))
      until nsenter --net="$ROOT/netns/bench/$added" ping -c1 -W1 -q "$gw" >/dev/null 2>&1; do
        (( SECONDS < deadline )) || { log "WARNING: N=$n rep $rep: $added never pinged $gw"; break; }
        sleep 0.01
      done
      echo "$n ${LABEL}add_ping_us $(( ${EPOCHREALTIME/./} - t0 ))" >>"$TIMES"
    fi
    line=$(wait_converged file $(( before + 1 )))
    t1=${line%% *}
    ext=$(( t1 - t0 ))
    int=$(json_ms edit_to_converged <<<"${line#* }")
    if (( rep <= REPS )); then
      echo "$n ${LABEL}add_ext_us $ext" >>"$TIMES"
      echo "$n ${LABEL}add_int_ms $int" >>"$TIMES"
      echo "$n ${LABEL}add_took_ms $(json_ms took <<<"${line#* }")" >>"$TIMES"
      nsenter --net="$ROOT/netns/bench/$added" ping -c1 -W1 -q "$gw" >/dev/null 2>&1 ||
        log "WARNING: N=$n rep $rep: the added container $added cannot ping its gateway $gw"
    fi
    log "N=$n rep $rep: add one: ${ext}µs external, ${int}ms internal"
    sleep 0.5
    # remove it again
    before=$(count_converged file)
    cp "$WORK/topo-$n.yaml" "$file.tmp"
    t0=${EPOCHREALTIME/./}
    mv "$file.tmp" "$file"
    line=$(wait_converged file $(( before + 1 )))
    (( rep > REPS )) || echo "$n ${LABEL}remove_ext_us $(( ${line%% *} - t0 ))" >>"$TIMES"
    sleep 0.5
  done

  if [[ $n == "$IDLE_N" ]]; then
    log "N=$n: idle for ${IDLE_S}s"
    sleep 3
    local hz c0 c1 r0 r1 s0 s1
    hz=$(getconf CLK_TCK)
    c0=$(proc_ticks "$WPID"); r0=$(metric netctl_watch_reconcile_duration_seconds_count); s0=$(metric netctl_watch_reconcile_duration_seconds_sum)
    t0=${EPOCHREALTIME/./}
    sleep "$IDLE_S"
    t1=${EPOCHREALTIME/./}
    c1=$(proc_ticks "$WPID"); r1=$(metric netctl_watch_reconcile_duration_seconds_count); s1=$(metric netctl_watch_reconcile_duration_seconds_sum)
    awk -v c="$(( c1 - c0 ))" -v hz="$hz" -v us="$(( t1 - t0 ))" -v n="$n" -v l="$LABEL" \
      'BEGIN { printf "%s %sidle_cpu_pct %.3f\n", n, l, 100 * c / hz / (us / 1e6) }' >>"$TIMES"
    awk -v r="$(( r1 - r0 ))" -v s0="$s0" -v s1="$s1" -v n="$n" -v l="$LABEL" \
      'BEGIN { printf "%s %sidle_reconciles %d\n%s %sidle_reconcile_ms %.1f\n", n, l, r, n, l, r ? 1000 * (s1 - s0) / r : 0 }' >>"$TIMES"
    echo "$n ${LABEL}rss_kb $(proc_kb "$WPID" VmRSS)" >>"$TIMES"
    echo "$n ${LABEL}hwm_kb $(proc_kb "$WPID" VmHWM)" >>"$TIMES"
  fi
  if [[ ${KEEP_LOG:-0} == 1 ]]; then
    mkdir -p "$RESULTS"
    cp "$WORK/watch.log" "$RESULTS/watch-$STAMP-$n${LABEL%:}.log"
  fi
  sandbox_down
}

median() { # N METRIC
  awk -v n="$1" -v m="$2" '$1 == n && $2 == m { print $3 }' "$TIMES" | sort -g |
    awk '{ a[NR] = $1 } END { if (NR == 0) { print "–"; exit } if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
for n in $NS; do
  bench_n "$n"
  [[ -z $BASE ]] || bench_n "$n" base: "$BASE"
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

report() {
  local n l labels="-"
  [[ -z $BASE ]] || labels+=" base:"
  echo "# netctl watch benchmark $STAMP"
  echo
  echo "kernel $(uname -r), $(nproc) CPUs, tree $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo "?"), binary $NETCTL${BASE:+, base $BASE}, resync ${RESYNC:-default}, median of $REPS edits."
  echo "Topology: N containers round robin on $NETWORKS bridge networks, $PORTS published port(s) each (bench/cmd/gentopo); each edit renames a new file over the old one."
  echo "Load average before: $LOAD0; after: $LOAD1 (the figures move with it: the machine may be shared); at each start in the table."
  echo
  echo "| N | | cold start ms | add one: write → pings ms ⁰ | add one: write → converged line ms ¹ | add one: first event → converged ms ² | add one: reconcile ms ³ | remove one ms ¹ | load |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|"
  for n in $NS; do
    for l in $labels; do
      [[ $l == - ]] && l=""
      printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$n" "${l:-netctl}" "$(median "$n" "${l}cold_ms")" \
        "$(awk -v v="$(median "$n" "${l}add_ping_us")" 'BEGIN { printf "%.1f", v / 1000 }')" \
        "$(awk -v v="$(median "$n" "${l}add_ext_us")" 'BEGIN { printf "%.1f", v / 1000 }')" \
        "$(median "$n" "${l}add_int_ms")" "$(median "$n" "${l}add_took_ms")" \
        "$(awk -v v="$(median "$n" "${l}remove_ext_us")" 'BEGIN { printf "%.1f", v / 1000 }')" \
        "$(awk -v v="$(median "$n" "${l}load_x100")" 'BEGIN { printf "%.1f", v / 100 }')"
    done
  done
  echo
  echo "⁰ From just before the rename until a ping from inside the new container reaches its gateway (polled every 10 ms, in separate edits as the poller competes for the CPU): wired, not yet verified by the watcher."
  echo "¹ From just before the rename to the watcher's \"converged\" log line read by the script (includes the debounce and pipe latency)."
  echo "² The watcher's own edit_to_converged: first inotify event to converged."
  echo "³ The reconcile alone (observe, plan, apply, verify), from the same log line's \"took\"."
  if [[ -n $IDLE_N ]]; then
    for l in $labels; do
      [[ $l == - ]] && l=""
      echo
      echo "${l:-netctl}: idle watcher with N=$IDLE_N, over ${IDLE_S}s: CPU $(median "$IDLE_N" "${l}idle_cpu_pct") % of one core," \
        "$(median "$IDLE_N" "${l}idle_reconciles") resync reconciles of $(median "$IDLE_N" "${l}idle_reconcile_ms") ms each," \
        "RSS $(awk -v k="$(median "$IDLE_N" "${l}rss_kb")" 'BEGIN { printf "%.1f", k / 1024 }') MiB" \
        "(peak $(awk -v k="$(median "$IDLE_N" "${l}hwm_kb")" 'BEGIN { printf "%.1f", k / 1024 }') MiB, during the cold start)."
    done
  fi
  echo
  echo "<details><summary>raw</summary>"
  echo
  echo '```'
  cat "$TIMES"
  echo '```'
  echo "</details>"
}

mkdir -p "$RESULTS"
report | tee "$RESULTS/watch-$STAMP.md"
log "written $RESULTS/watch-$STAMP.md"
