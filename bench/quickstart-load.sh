#!/usr/bin/env bash
# The gateway's cost on the real demo app: `GET /books` of the quickstart (identity bearer token
# with its revocation checks, RBAC, the RequirePermission extractor, the real handler and its
# JSON) against the same handler on the same books with no gateway, served by one process
# (examples/quickstart_load.rs). wrk drives them in turn, alternating, `rounds` times; the
# script prints each round and the medians of req/s and p99, and the ratio of the medians.
#
#   bash bench/quickstart-load.sh [seconds] [connections] [rounds]      (defaults 10, 32, 5)
#
# QUICKSTART_LOAD_BIN=path runs that build of examples/quickstart_load instead of building one
# (to compare two commits on the same machine in the same hour). BASELINE=noaudit compares the
# app with the same app without its audit trail instead of the bare handler (what the trail
# costs); the baseline is still called "bare" in the output. AUDIT_SINK=discard (with
# BASELINE=noaudit) has the app seal and chain every decision but keep nothing: the trail's cost in
# process, apart from its SQLite store's.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${2:-32}
rounds=${3:-5}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }
bin=${QUICKSTART_LOAD_BIN:-}
if [ -z "$bin" ]; then
  cargo build --quiet --release --example quickstart_load
  bin=./target/release/examples/quickstart_load
fi

work=$(mktemp -d)
RUST_LOG=warn "$bin" >"$work/out" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$(sed -n "s/^DB=//p" "$work/out")"*; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do grep -q '^ready' "$work/out" && break; sleep 0.1; done
grep -q '^ready' "$work/out" || { cat "$work/out"; exit 1; }
value() { sed -n "s/^$1=//p" "$work/out"; }
app="http://127.0.0.1:$(value APP_PORT)"
bare="http://127.0.0.1:$(value BARE_PORT)"

login() { # base -> an access token of the viewer there
  curl -sf -X POST "$1/auth/login" -H 'content-type: application/json' \
    -d '{"email":"viewer@example.com","password":"viewer-demo-password"}' |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}
token=$(login "$app")
bare_token=$token
if [ "${BASELINE:-bare}" = noaudit ]; then
  bare="http://127.0.0.1:$(value NOAUDIT_PORT)"
  bare_token=$(login "$bare")
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$bare/books")" = 401 ] || { echo "the baseline let /books through without a token"; exit 1; }
fi
# Both must answer the same books, and the app only with the token.
[ "$(curl -s -o /dev/null -w '%{http_code}' "$app/books")" = 401 ] || { echo "the app let /books through without a token"; exit 1; }
with=$(curl -sf "$app/books" -H "Authorization: Bearer $token")
without=$(curl -sf "$bare/books" -H "Authorization: Bearer $bare_token")
[ "$with" = "$without" ] || { echo "the two servers answer differently"; exit 1; }

run() { # name base token
  local name=$1 base=$2 bearer=$3
  wrk -t1 -c"$connections" -d"${seconds}s" --latency -H "Authorization: Bearer $bearer" "$base/books" >"$work/$name"
  local rps p99 failed
  rps=$(sed -n 's/^Requests\/sec: *//p' "$work/$name")
  p99=$(awk '$1 == "99%" {print $2}' "$work/$name")
  failed=$(awk '/Non-2xx or 3xx responses:/ {n += $NF}
                /Socket errors:/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$work/$name")
  echo "$name $rps $p99 $failed"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); wrk 1 thread, $connections connections, ${seconds}s per run, $rounds rounds"
for round in $(seq 1 "$rounds"); do
  # Bare and the app take turns, and who goes first alternates, so drift hits both alike.
  if (( round % 2 )); then run bare "$bare" "$bare_token"; run app "$app" "$token"
  else run app "$app" "$token"; run bare "$bare" "$bare_token"; fi
done >"$work/rounds"
echo "each round (variant req/s p99 failed):"
sed 's/^/  /' "$work/rounds"
# p99 in milliseconds for sorting: wrk prints us, ms or s.
to_ms() { awk '{v = $1; if (v ~ /us$/) {sub(/us$/, "", v); v /= 1000} else if (v ~ /ms$/) {sub(/ms$/, "", v)} else if (v ~ /s$/) {sub(/s$/, "", v); v *= 1000} print v}'; }
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
for name in bare app; do
  rps=$(awk -v n="$name" '$1 == n {print $2}' "$work/rounds" | median)
  p99=$(awk -v n="$name" '$1 == n {print $3}' "$work/rounds" | to_ms | median)
  echo "$name $rps $p99"
done >"$work/medians"
echo "medians:"
awk 'NR == 1 {bare = $2} {printf "  %-5s %10.0f req/s  p99 %.2f ms  ratio to bare %.2f\n", $1, $2, $3, $2 / bare}' "$work/medians"
echo "failed requests in all runs: $(awk '{n += $4} END {print n + 0}' "$work/rounds")"
