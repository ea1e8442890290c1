#!/usr/bin/env bash
# Login throughput, and the p99 latency of /health while logins run flat out (issue #3).
#
#   bash bench/identity-load.sh [seconds]        (default 15)
#
# Starts the quickstart (release build, SQLite in a temp dir, OWASP argon2id parameters) on
# loopback, measures /health alone with a fixed-rate probe (the baseline), then again while wrk
# drives POST /auth/login as fast as it can. Installs wrk from Debian when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-15}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --quiet --release --example quickstart --example latency_probe

work=$(mktemp -d)
PORT=0 RUST_LOG=warn PORTCULLIS_DB="$work/bench.db" ./target/release/examples/quickstart >"$work/log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  addr=$(sed -n 's/.*listens on http:\/\/\([0-9.:]*\).*/\1/p' "$work/log" | head -n 1)
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { cat "$work/log"; exit 1; }

cat >"$work/login.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"editor@example.com","password":"editor-demo-password"}'
done = function(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format("logins: %d in %.1f s = %.1f/s, %d not 2xx, p50 %.1f ms, p99 %.1f ms\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6), non2xx,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "== baseline: /health alone"
./target/release/examples/latency_probe "$addr" /health 200 "$seconds"
echo "== /health while logins run flat out (wrk, 1 thread, 16 connections)"
wrk -t1 -c16 -d"$((seconds + 4))s" -s "$work/login.lua" "http://$addr/auth/login" >"$work/wrk" 2>&1 &
wrk_pid=$!
sleep 2
./target/release/examples/latency_probe "$addr" /health 200 "$seconds"
wait "$wrk_pid"
grep '^logins:' "$work/wrk" || cat "$work/wrk"
