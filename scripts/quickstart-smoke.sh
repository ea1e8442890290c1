#!/usr/bin/env bash
# Runs the quickstart binary for real and checks, over HTTP with curl, that it answers
# 200 / 401 / 403 as the README says. Used by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet --example quickstart
log=$(mktemp)
PORT=0 RUST_LOG=warn ./target/debug/examples/quickstart >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$log"' EXIT

base=""
for _ in $(seq 1 100); do
  base=$(sed -n 's/.*listens on \(http:\/\/[0-9.:]*\).*/\1/p' "$log" | head -n 1)
  [ -n "$base" ] && break
  sleep 0.1
done
[ -n "$base" ] || { echo "quickstart did not start:"; cat "$log"; exit 1; }

token() { sed -n "s/^$1=//p" "$log"; }
viewer=$(token VIEWER); editor=$(token EDITOR); admin=$(token ADMIN)

failures=0
passes=0
check() { # expected-status description curl-args...
  local want=$1 what=$2; shift 2
  local got
  got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@")
  if [ "$got" = "$want" ]; then passes=$((passes + 1)); else
    echo "FAIL: $what: expected $want, got $got"; failures=$((failures + 1)); fi
}
auth() { echo "Authorization: Bearer $1"; }
json=(-H 'content-type: application/json' -d '{"text":"Loved it"}')

check 200 "public health"            "$base/health"
check 401 "books without a token"    "$base/books"
check 401 "books with a bad token"   -H "$(auth not.a.token)" "$base/books"
check 200 "viewer reads books"       -H "$(auth "$viewer")" "$base/books"
check 200 "viewer reads /me"         -H "$(auth "$viewer")" "$base/me"
check 403 "viewer cannot review"     -X POST -H "$(auth "$viewer")" "${json[@]}" "$base/books/1/reviews"
check 201 "editor reviews"           -X POST -H "$(auth "$editor")" "${json[@]}" "$base/books/1/reviews"
check 403 "editor cannot delete"     -X DELETE -H "$(auth "$editor")" "$base/books/3"
check 204 "admin deletes"            -X DELETE -H "$(auth "$admin")" "$base/books/3"
check 403 "editor cannot export"     -H "$(auth "$editor")" "$base/reports/export"
check 200 "admin exports"            -H "$(auth "$admin")" "$base/reports/export"

challenge=$(curl -s -D - -o /dev/null --max-time 5 "$base/books" | tr -d '\r' | sed -n 's/^[Ww][Ww][Ww]-[Aa]uthenticate: //p')
if [ "$challenge" = 'Bearer realm="book-catalog"' ]; then passes=$((passes + 1)); else
  echo "FAIL: challenge header was: $challenge"; failures=$((failures + 1)); fi

echo "quickstart-smoke: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
