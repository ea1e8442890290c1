#!/usr/bin/env bash
# Gateway load benchmark: the same handler bare, behind portcullis with bearer JWT (EdDSA) + RBAC
# + a RequirePermission extractor, and behind portcullis with an API key; wrk drives each in turn
# at fixed connections and duration on loopback, and the script prints req/s, p50 and p99 per
# variant and the ratio to bare.
#
#   bash bench/gateway-load.sh [seconds] [connections]      (defaults 10, 32)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${2:-32}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --quiet --release --example gateway_bench

work=$(mktemp -d)
./target/release/examples/gateway_bench >"$work/out" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do grep -q '^ready' "$work/out" && break; sleep 0.1; done
grep -q '^ready' "$work/out" || { cat "$work/out"; exit 1; }
value() { sed -n "s/^$1=//p" "$work/out"; }

run() { # name port [header]
  local name=$1 port=$2; shift 2
  wrk -t1 -c"$connections" -d"${seconds}s" --latency "$@" "http://127.0.0.1:$port/books" >"$work/$name"
  local rps p50 p99 non2xx
  rps=$(sed -n 's/^Requests\/sec: *//p' "$work/$name")
  p50=$(awk '$1 == "50%" {print $2}' "$work/$name")
  p99=$(awk '$1 == "99%" {print $2}' "$work/$name")
  non2xx=$(sed -n 's/^ *Non-2xx or 3xx responses: *//p' "$work/$name")
  echo "$name $rps $p50 $p99 ${non2xx:-0}"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); wrk 1 thread, $connections connections, ${seconds}s each"
{
  run bare "$(value BARE_PORT)"
  run bearer "$(value BEARER_PORT)" -H "Authorization: Bearer $(value TOKEN)"
  run api_key "$(value API_KEY_PORT)" -H "X-API-Key: $(value API_KEY)"
} | awk 'NR == 1 {bare = $2} {printf "%-8s %10.0f req/s  p50 %-8s p99 %-8s non-2xx %s  ratio to bare %.2f\n", $1, $2, $3, $4, $5, $2 / bare}'
