#!/usr/bin/env bash
# Gateway load benchmark: the same handler bare, behind portcullis with bearer JWT (EdDSA) + RBAC
# + a RequirePermission extractor, behind portcullis with an API key, and behind portcullis with
# bearer keys from a JWKS URL while the provider rotates its key half-way through the run. wrk
# drives each in turn at fixed connections and duration on loopback; the script prints req/s, p50
# and p99 per variant, the ratio to bare, failed requests, and the JWKS fetches the rotation cost.
#
#   bash bench/gateway-load.sh [seconds] [connections] [rounds]      (defaults 10, 32, 3)
#
# The machine is shared and noisy, so bare, bearer and API key run in turn `rounds` times
# (interleaved, so drift hits every variant alike) and each figure is the median of its rounds;
# ratios are taken between medians of the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${2:-32}
rounds=${3:-3}
# The provider must publish its next key (at a third of the run) a clear second before clients
# use it (at half), as real providers do.
if (( seconds < 8 )); then echo "seconds must be at least 8" >&2; exit 2; fi

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }
cargo build --quiet --release --features jwks --example gateway_bench

work=$(mktemp -d)
./target/release/examples/gateway_bench >"$work/out" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do grep -q '^ready' "$work/out" && break; sleep 0.1; done
grep -q '^ready' "$work/out" || { cat "$work/out"; exit 1; }
value() { sed -n "s/^$1=//p" "$work/out"; }
provider="http://127.0.0.1:$(value PROVIDER_PORT)"

run() { # name port [wrk options]
  local name=$1 port=$2; shift 2
  wrk -t1 -c"$connections" -d"${seconds}s" --latency "$@" "http://127.0.0.1:$port/books" >"$work/$name"
  local rps p50 p99 failed
  rps=$(sed -n 's/^Requests\/sec: *//p' "$work/$name")
  p50=$(awk '$1 == "50%" {print $2}' "$work/$name")
  p99=$(awk '$1 == "99%" {print $2}' "$work/$name")
  # Failed = answers other than 2xx/3xx plus socket errors (connect, read, write, timeout).
  failed=$(awk '/Non-2xx or 3xx responses:/ {n += $NF}
                /Socket errors:/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$work/$name")
  echo "$name $rps $p50 $p99 $failed"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); wrk 1 thread, $connections connections, ${seconds}s per run, $rounds rounds"
for round in $(seq 1 "$rounds"); do
  # Bare gets the bearer token too (and ignores it): moving and parsing its 330 bytes is the
  # client's and the kernel's work, not the gateway's, and must not count against it.
  run bare "$(value BARE_PORT)" -H "Authorization: Bearer $(value TOKEN)"
  run bearer "$(value BEARER_PORT)" -H "Authorization: Bearer $(value TOKEN)"
  run api_key "$(value API_KEY_PORT)" -H "X-API-Key: $(value API_KEY)"
done >"$work/rounds"
echo "each round (variant req/s p50 p99 failed):"
sed 's/^/  /' "$work/rounds"

fetches_before=$(curl -sf "$provider/stats")
# The rotation: the provider publishes its next key at a third of the run, clients switch to
# tokens of that key at half of it; the gateway must fetch the JWKS once and fail nothing.
switch_at=$(( $(date +%s) + seconds / 2 ))
( sleep $(( seconds / 3 )); curl -sf -X POST "$provider/rotate" >/dev/null ) &
rotator=$!
OLD_TOKEN=$(value OLD_TOKEN) NEW_TOKEN=$(value NEW_TOKEN) SWITCH_AT=$switch_at \
  run jwks_rotation "$(value JWKS_PORT)" -s bench/rotation.lua >>"$work/rounds"
wait "$rotator"
fetches_after=$(curl -sf "$provider/stats")

echo "medians:"
for name in bare bearer api_key jwks_rotation; do
  awk -v n="$name" '$1 == n' "$work/rounds" | sort -k2 -g | awk '{rows[NR] = $0} END {print rows[int((NR + 1) / 2)]}'
done | awk 'NR == 1 {bare = $2} {printf "  %-14s %10.0f req/s  p50 %-8s p99 %-8s failed %s  ratio to bare %.2f\n", $1, $2, $3, $4, $5, $2 / bare}'
failed=$(awk '{n += $5} END {print n + 0}' "$work/rounds")
echo "failed requests in all runs: $failed"
echo "JWKS fetches during the rotation run: $((fetches_after - fetches_before)) (the start-up fetch excluded)"
