#!/usr/bin/env bash
# DNS benchmark: netctl's embedded DNS server against aardvark-dns (Podman's)
# serving the same names, in the same run, inside one sandbox namespace.
#
# One user-defined network (172.30.0.0/16) with N containers and a client
# container, wired by `netctl apply`; netctl's background server answers on
# the gateway 172.30.0.1:53, aardvark-dns (configured with the same names)
# on 172.30.0.1:5533. Both forward other names to the same stand-in
# upstream (`dnsload upstream`, 127.0.0.1:53 inside the sandbox, answering
# at once), so "forwarded" measures the servers, not a resolver.
#
# From inside the client container, per repetition and server (servers
# interleaved so background noise hits both alike):
#   - closed loop, CONC queries in flight (bench/cmd/dnsload): qps and
#     latency percentiles, for container names and for forwarded names;
#   - dnsperf (-q 100 outstanding): qps, as a cross-check.
# Every figure reported is the median over REPS.
#
# usage: bench/dns.sh            (as root; installs dnsperf and aardvark-dns if missing)
# env:   N=50 REPS=3 DURATION=10 CONC=16
set -euo pipefail
export LC_ALL=C

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
cd "$REPO"

N=${N:-50}
REPS=${REPS:-3}
DURATION=${DURATION:-10}
CONC=${CONC:-16}
CACHE=$HERE/.cache
RESULTS=$HERE/results
STAMP=$(date +%Y%m%d-%H%M%S)
AARDVARK=/usr/lib/podman/aardvark-dns

log() { echo "[$(date +%T)] $*" >&2; }
die() { echo "ERROR: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces)"
missing=()
command -v dnsperf >/dev/null || missing+=(dnsperf)
[[ -x $AARDVARK ]] || missing+=(aardvark-dns)
command -v dig >/dev/null || missing+=(dnsutils)
if (( ${#missing[@]} )); then
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" </dev/null >/dev/null
fi

mkdir -p "$CACHE" "$RESULTS"
log "building netctl and dnsload"
go build -o "$CACHE/netctl" ./cmd/netctl
go build -o "$CACHE/dnsload" ./bench/cmd/dnsload

SB=ncdns-$$
WORK=$(mktemp -d /tmp/ncdns-XXXXXX)
ROOT=$WORK/root
OUT=$RESULTS/dns-$STAMP.txt

# Everything in the sandbox is ours: end what lives in it, unmount the
# namespace mounts under the root, delete the namespace.
cleanup() {
  set +e
  if [[ -e /run/netns/$SB ]]; then
    for p in $(ip netns pids "$SB" 2>/dev/null); do kill "$p" 2>/dev/null; done
    sleep 0.3
    for p in $(ip netns pids "$SB" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  fi
  awk -v r="$ROOT" 'index($5, r "/") == 1 {print $5}' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m"; done
  [[ -e /run/netns/$SB ]] && ip netns del "$SB"
  rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$SB"
ip -n "$SB" link set lo up
IN=(nsenter --net=/run/netns/"$SB")

printf 'nameserver 127.0.0.1\n' >"$WORK/resolv.conf"
{
  echo "name: bench"
  echo "networks:"
  echo "  benchnet: {subnet: 172.30.0.0/16}"
  echo "containers:"
  echo "  client: {networks: [benchnet]}"
  for i in $(seq 1 "$N"); do echo "  c$i: {networks: [benchnet]}"; done
} >"$WORK/bench.yaml"
NC=("${IN[@]}" "$CACHE/netctl" --root "$ROOT" --resolv-conf "$WORK/resolv.conf")

log "upstream stand-in on 127.0.0.1:53 in $SB"
"${IN[@]}" "$CACHE/dnsload" upstream -addr 127.0.0.1:53 >"$WORK/upstream.log" 2>&1 &
log "netctl apply ($N containers + client)"
"${NC[@]}" apply -f "$WORK/bench.yaml" >/dev/null

# aardvark-dns: one file per network, first line the listen address, then
# "<id> <ipv4> <ipv6> <names>"; upstreams from /etc/resolv.conf, which a
# private mount namespace replaces with the sandbox's.
mkdir -p "$WORK/aardvark"
{
  echo "172.30.0.1"
  "${NC[@]}" ps -p bench | awk 'NR > 1 { printf "%s %s  %s\n", $1, $5, $2 }'
} >"$WORK/aardvark/benchnet"
unshare -m sh -c "mount --bind '$WORK/resolv.conf' /etc/resolv.conf && exec nsenter --net=/run/netns/$SB $AARDVARK --config '$WORK/aardvark' -p 5533 run" \
  >"$WORK/aardvark.log" 2>&1 &
sleep 1

CLIENT=(nsenter --net="$ROOT/netns/bench/client")
for i in $(seq 1 "$N"); do echo "c$i"; done >"$WORK/names-local"
for i in $(seq 1 1000); do echo "n$i.example.test"; done >"$WORK/names-fwd"
awk '{print $1, "A"}' "$WORK/names-local" >"$WORK/perf-local"
awk '{print $1, "A"}' "$WORK/names-fwd" >"$WORK/perf-fwd"

# Both servers must give the same answers before anything is timed.
for port in 53 5533; do
  want=$("${NC[@]}" inspect c7 --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}')
  got=$("${CLIENT[@]}" dig +short +time=2 +tries=1 -p "$port" @172.30.0.1 c7)
  [[ $got == "$want" ]] || die "port $port: c7 = '$got', want $want"
  got=$("${CLIENT[@]}" dig +short +time=2 +tries=1 -p "$port" @172.30.0.1 n1.example.test)
  [[ $got == 192.0.2.1 ]] || die "port $port: forwarded name = '$got'"
done
log "both servers answer; measuring ($REPS reps, ${DURATION}s each, $CONC in flight)"

{
  echo "# DNS benchmark $STAMP: N=$N REPS=$REPS DURATION=${DURATION}s CONC=$CONC"
  echo "# $(uname -r), $(nproc) CPUs, aardvark-dns $($AARDVARK --version 2>/dev/null | awk '{print $2}'), $(dnsperf -h 2>&1 | awk '/^Version/ {print $2}' | head -1)"
} >"$OUT"
for rep in $(seq 1 "$REPS"); do
  for kind in local fwd; do
    for srv in netctl:53 aardvark:5533; do
      name=${srv%%:*} port=${srv##*:}
      line=$("${CLIENT[@]}" "$CACHE/dnsload" load -server 172.30.0.1:"$port" -names "$WORK/names-$kind" \
        -duration "${DURATION}s" -concurrency "$CONC" -label "RESULT tool=$name kind=$kind rep=$rep")
      echo "$line" | tee -a "$OUT" >&2
      qps=$("${CLIENT[@]}" dnsperf -s 172.30.0.1 -p "$port" -d "$WORK/perf-$kind" -l "$DURATION" -q 100 2>&1 |
        awk '/Queries per second/ {print $4}')
      echo "DNSPERF tool=$name kind=$kind rep=$rep qps=${qps:-0}" | tee -a "$OUT" >&2
    done
  done
done

# Medians per tool and kind.
summary=$(awk '
  function med(list,   n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  {
    key = ""
    for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    key = v["tool"] " " v["kind"]
    keys[key] = 1
    if ($1 == "RESULT") { qps[key] = qps[key] " " v["qps"]; p50[key] = p50[key] " " v["p50_ms"]; p99[key] = p99[key] " " v["p99_ms"]; p999[key] = p999[key] " " v["p999_ms"]; lost[key] += v["lost"] }
    if ($1 == "DNSPERF") perf[key] = perf[key] " " v["qps"]
  }
  END {
    print "| server | names | qps (dnsload) | p50 ms | p99 ms | p99.9 ms | lost | qps (dnsperf) |"
    print "|---|---|---:|---:|---:|---:|---:|---:|"
    n = split("netctl local,aardvark local,netctl fwd,aardvark fwd", order, ",")
    for (i = 1; i <= n; i++) { k = order[i]; if (!(k in keys)) continue; split(k, tk, " ")
      printf "| %s | %s | %.0f | %.3f | %.3f | %.3f | %d | %.0f |\n", tk[1], (tk[2] == "local" ? "container names" : "forwarded"), med(qps[k]), med(p50[k]), med(p99[k]), med(p999[k]), lost[k], med(perf[k]) }
  }' "$OUT")
echo "$summary" | tee -a "$OUT"
log "raw results: $OUT"
