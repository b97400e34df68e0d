# Shared by the benchmark scripts: logging and the sandbox host namespace
# every run lives in (created, and removed even on failure, by the caller's
# trap calling sandbox_down). Source it; it sets nothing but functions.
# shellcheck shell=bash

die() { echo "ERROR: $*" >&2; exit 1; }
log() { echo "[$(date +%T)] $*" >&2; }

mounts_under() { # DIR -> mount points at or below DIR, deepest first
  awk -v r="$1" '$5 == r || index($5, r "/") == 1 {print $5}' /proc/self/mountinfo |
    awk -F/ '{print NF, $0}' | sort -rn | cut -d' ' -f2-
}

nsfs_under() { # DIR -> namespace bind mounts at or below DIR
  awk -v r="$1" '{
      fs = ""; for (i = 7; i < NF; i++) if ($i == "-") { fs = $(i + 1); break }
      if (fs == "nsfs" && ($5 == r || index($5, r "/") == 1)) print $5
    }' /proc/self/mountinfo
}

# pids_in_netns PATH... -> processes with any thread in one of these
# namespaces. Only this script's sandboxes are ever passed, so whatever lives
# there was started by this run (netctl's background DNS server).
pids_in_netns() {
  # The inodes go through a pipe, not an argument: an interrupted run at
  # 10,000 containers leaves that many namespaces to look for.
  (( $# )) || return 0
  { printf '%s\0' "$@" | xargs -0 stat -L -c 'want %i' 2>/dev/null || true
    find /proc/[0-9]*/task/[0-9]*/ns/net -maxdepth 0 -printf '%p %l\n' 2>/dev/null || true
  } | awk -v self=$$ '
      $1 == "want" { ok["net:[" $2 "]"] = 1; next }
      ($2 in ok) { split($1, f, "/"); if (f[3] != self) print f[3] }' | sort -un
}

# sandbox_up NAME: a sandbox host namespace NAME (set in HOSTNS) and a
# private --root (set in ROOT).
sandbox_up() {
  HOSTNS=$1
  ROOT=$(mktemp -d "/tmp/$1-root.XXXXXX")
  # netctl's default --root, /run/netctl, is on tmpfs on a normal host; a
  # disk-backed temp dir would charge netctl for metadata writes (mkdir
  # alone costs ~0.3 ms on this VM's ext4). sandbox_down unmounts it.
  if [[ ${ROOT_ON_DISK:-0} != 1 ]]; then
    mount -t tmpfs -o size=512m,mode=0755 ncb-root "$ROOT"
  fi
  ip netns add "$HOSTNS"
  ip -n "$HOSTNS" link set lo up
}

sandbox_down() { # never fails, whatever errexit says
  local pids m nspaths
  [[ -n $HOSTNS ]] || return 0
  if [[ -e /run/netns/$HOSTNS ]]; then
    mapfile -t nspaths < <(echo "/run/netns/$HOSTNS"; nsfs_under "$ROOT")
    mapfile -t pids < <(pids_in_netns "${nspaths[@]}")
    if (( ${#pids[@]} )); then
      log "ending processes left in the sandbox: ${pids[*]}"
      kill -TERM "${pids[@]}" 2>/dev/null || true
      for _ in $(seq 20); do
        if [[ -z $(pids_in_netns "${nspaths[@]}") ]]; then break; fi
        sleep 0.1
      done
      mapfile -t pids < <(pids_in_netns "${nspaths[@]}")
      if (( ${#pids[@]} )); then kill -KILL "${pids[@]}" 2>/dev/null || true; fi
    fi
  fi
  if [[ -n $ROOT ]]; then
    # The root's own tmpfs (sandbox_up's) goes with everything mounted
    # below it in one lazy unmount: one umount per namespace mount would
    # take minutes at 10,000 (each walks every mount).
    if mountpoint -q "$ROOT"; then umount -l "$ROOT" 2>/dev/null || true; fi
    while read -r m; do
      if [[ -n $m ]]; then umount -l "$m" 2>/dev/null || true; fi
    done < <(mounts_under "$ROOT")
    if [[ -z $(mounts_under "$ROOT") ]]; then rm -rf "$ROOT"; else log "WARNING: mounts left under $ROOT"; fi
  fi
  if [[ -e /run/netns/$HOSTNS ]]; then
    ip netns del "$HOSTNS" || log "WARNING: could not delete $HOSTNS"
  fi
  HOSTNS=""
  ROOT=""
  return 0
}


# timed N NAME ARGS...: netctl --root $ROOT --log-level debug ARGS... in the
# sandbox $HOSTNS, its wall time (µs) recorded in $TIMES as "N NAME µs"; its
# output kept in $WORK/NAME.out and its debug log (JSON) in $WORK/NAME.log.
timed() {
  local n=$1 name=$2 t0 t1 rc=0
  shift 2
  t0=${EPOCHREALTIME/./}
  nsenter --net="/run/netns/$HOSTNS" "$NETCTL" --root "$ROOT" --log-level debug "$@" >"$WORK/$name.out" 2>"$WORK/$name.log" || rc=$?
  t1=${EPOCHREALTIME/./}
  if (( rc != 0 )); then
    tail -n 20 "$WORK/$name.out" "$WORK/$name.log" >&2
    die "netctl $* failed with exit $rc (N=$n, $name)"
  fi
  echo "$n $name $(( t1 - t0 ))" >>"$TIMES"
}

# bench_init NAME TOOL...: the start of a netctl benchmark: root, the
# tools it runs, NETCTL built and REPS a positive number; then WORK (a temp
# dir), TIMES ("N name value" lines), the sandbox variables and the exit
# trap. next_sandbox then makes a fresh sandbox host, NAME-<pid>-<seq>,
# ending the previous one.
bench_init() {
  local c
  BENCH_NAME=$1
  shift
  [[ $(id -u) -eq 0 ]] || die "run as root: the benchmark creates network namespaces"
  for c in ip nsenter awk "$@"; do command -v "$c" >/dev/null || die "$c not found"; done
  [[ -x $NETCTL ]] || die "$NETCTL not found: run 'make build' first"
  NETCTL=$(realpath "$NETCTL")
  [[ $REPS =~ ^[1-9][0-9]*$ ]] || die "REPS must be a positive integer"
  WORK=$(mktemp -d "/tmp/$BENCH_NAME.XXXXXX")
  TIMES=$WORK/times.txt
  : >"$TIMES"
  HOSTNS=""
  ROOT=""
  SEQ=0
  cleanup_on_exit
}

next_sandbox() {
  sandbox_down # the previous one, if the caller left it
  SEQ=$(( SEQ + 1 ))
  sandbox_up "$BENCH_NAME-$$-$SEQ"
}

# raw_times SUMMARY: TIMES as a folded block at the end of a report.
raw_times() {
  echo "<details><summary>raw: $1</summary>"
  echo
  echo '```'
  cat "$TIMES"
  echo '```'
  echo "</details>"
}

# build_gentopo: GENTOPO, the topology generator built into WORK.
build_gentopo() {
  GENTOPO=$WORK/gentopo
  go build -o "$GENTOPO" ./bench/cmd/gentopo
}

host_veths() { ip -n "$HOSTNS" -o link show type veth | wc -l; }

# timed_down N NAME ARGS...: `netctl ARGS...` (a down) timed as NAME_cmd,
# then the wait until the kernel has removed the last host-side veth
# (namespace deletion frees them asynchronously); the whole recorded as NAME.
timed_down() {
  local n=$1 name=$2 t0 t1 deadline
  shift 2
  t0=${EPOCHREALTIME/./}
  timed "$n" "${name}_cmd" "$@"
  deadline=$(( SECONDS + 120 ))
  while (( $(host_veths) > 0 && SECONDS < deadline )); do sleep 0.005; done
  t1=${EPOCHREALTIME/./}
  echo "$n $name $(( t1 - t0 ))" >>"$TIMES"
}

# logged N LOG MESSAGE NAME [FIELD]: a numeric field of the last line with
# MESSAGE in $WORK/LOG.log, recorded in $TIMES as "N NAME value": "took"
# (the default, a Go duration as netctl logs it) in µs, any other field as it is.
logged() {
  awk -v n="$1" -v name="$4" -v f="\"${5:-took}\":" -v msg="\"message\":\"$3\"" '
    # us: a duration as netctl logs it (Go syntax, e.g. "1m2.5s", "137.8ms", "850µs") in µs.
    function us(d,   t, x, u) {
      gsub(/"/, "", d)
      for (t = 0; match(d, /^[0-9.]+/); ) {
        x = substr(d, 1, RLENGTH) + 0; d = substr(d, RLENGTH + 1)
        match(d, /^[^0-9.]+/); u = substr(d, 1, RLENGTH); d = substr(d, RLENGTH + 1)
        t += x * (u == "h" ? 3.6e9 : u == "m" ? 6e7 : u == "s" ? 1e6 : u == "ms" ? 1e3 : u == "ns" ? 1e-3 : 1)
      }
      return int(t)
    }
    index($0, msg) && (i = index($0, f)) {
      v = substr($0, i + length(f)); sub(/[,}].*/, "", v)
      last = (f == "\"took\":") ? us(v) : v
    } END { if (last != "") print n, name, last }' "$WORK/$2.log" >>"$TIMES"
}

# median N NAME: the median of the values recorded for N and NAME in
# $TIMES (lines "N NAME value"); nothing when there are none.
median() {
  awk -v n="$1" -v p="$2" '$1 == n && $2 == p { print $3 }' "$TIMES" | sort -n |
    awk '{ a[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print a[(NR + 1) / 2]; else print int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'
}

# cleanup_on_exit: whatever ends the script (an error, ^C, a TERM), the
# sandbox goes and so does $WORK, and the exit status is kept.
on_exit() {
  local rc=$?
  set +e
  sandbox_down
  rm -rf "$WORK"
  exit "$rc"
}

cleanup_on_exit() {
  trap on_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
