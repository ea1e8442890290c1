#!/usr/bin/env bash
# Runs the quickstart binary for real and checks, over HTTP with curl, that it answers
# 200 / 401 / 403 as the README says. Used by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet --example quickstart
log=$(mktemp)
db_dir=$(mktemp -d)
PORT=0 RUST_LOG=warn PORTCULLIS_DB="$db_dir/quickstart.db" ./target/debug/examples/quickstart >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$log" "$db_dir"' EXIT

base=""
for _ in $(seq 1 100); do
  base=$(sed -n 's/.*listens on \(http:\/\/[0-9.:]*\).*/\1/p' "$log" | head -n 1)
  [ -n "$base" ] && break
  sleep 0.1
done
[ -n "$base" ] || { echo "quickstart did not start:"; cat "$log"; exit 1; }

field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
login() { # email password -> the login answer's JSON
  curl -s --max-time 10 -X POST "$base/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"$2\"}"
}
viewer=$(login viewer@example.com viewer-demo-password | field access_token)
editor_login=$(login editor@example.com editor-demo-password)
editor=$(echo "$editor_login" | field access_token)
editor_refresh=$(echo "$editor_login" | field refresh_token)
admin=$(login admin@example.com admin-demo-password | field access_token)
[ -n "$viewer" ] && [ -n "$editor" ] && [ -n "$admin" ] || { echo "demo logins failed:"; cat "$log"; exit 1; }

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

# Organisations (tenants): roles come from each organisation's own role store.
check 200 "editor reads acme (librarian)"     -H "$(auth "$editor")" "$base/orgs/acme/books"
check 201 "editor reviews at acme"            -X POST -H "$(auth "$editor")" "${json[@]}" "$base/orgs/acme/books/1/reviews"
check 200 "editor reads globex (reader)"      -H "$(auth "$editor")" "$base/orgs/globex/books"
check 403 "editor cannot review at globex"    -X POST -H "$(auth "$editor")" "${json[@]}" "$base/orgs/globex/books/1/reviews"
check 403 "viewer is no member of acme"       -H "$(auth "$viewer")" "$base/orgs/acme/books"
check 200 "viewer reads globex"               -H "$(auth "$viewer")" "$base/orgs/globex/books"
check 403 "editor cannot manage acme's roles" -H "$(auth "$editor")" "$base/tenants/acme/roles"
check 200 "admin lists acme's roles"          -H "$(auth "$admin")" "$base/tenants/acme/roles"
reason=$(curl -s --max-time 5 -H "$(auth "$viewer")" "$base/orgs/acme/books" | field reason)
if [ "$reason" = "deny_no_roles" ]; then passes=$((passes + 1)); else
  echo "FAIL: a non-member's reason code was: $reason"; failures=$((failures + 1)); fi
# Documents: each one's owner, visibility and shares decide; the list pages inside SQLite.
ids() { sed 's/"id":"\([^"]*\)"/\n\1\n/g' | grep -E '^(acme|globex)-' | tr '\n' ' '; }
expect_ids() { # description expected-ids curl-args...
  local what=$1 want=$2; shift 2
  local got
  got=$(curl -s --max-time 5 "$@" | ids)
  if [ "$got" = "$want" ]; then passes=$((passes + 1)); else
    echo "FAIL: $what: expected [$want], got [$got]"; failures=$((failures + 1)); fi
}
expect_ids "viewer (no member of acme) sees the public one" "acme-handbook " \
  -H "$(auth "$viewer")" "$base/orgs/acme/documents"
expect_ids "editor sees own, members', and the group's" "acme-handbook acme-minutes acme-notes acme-roadmap " \
  -H "$(auth "$editor")" "$base/orgs/acme/documents"
expect_ids "a page of two" "acme-handbook acme-minutes " \
  -H "$(auth "$editor")" "$base/orgs/acme/documents?limit=2"
expect_ids "the next page" "acme-notes acme-roadmap " \
  -H "$(auth "$editor")" "$base/orgs/acme/documents?limit=2&after=acme-minutes"
expect_ids "an org-admin sees everything" "acme-handbook acme-minutes acme-notes acme-roadmap " \
  -H "$(auth "$admin")" "$base/orgs/acme/documents"
check 200 "editor reads the roadmap (group share)"   -H "$(auth "$editor")" "$base/orgs/acme/documents/acme-roadmap"
check 404 "editor cannot edit it: hidden as missing" -X PUT -H "$(auth "$editor")" -H 'content-type: application/json' \
  -d '{"body":"changed"}' "$base/orgs/acme/documents/acme-roadmap"
check 404 "viewer cannot read the editor's notes"    -H "$(auth "$viewer")" "$base/orgs/acme/documents/acme-notes"
check 404 "a document asked in another org"          -H "$(auth "$admin")" "$base/orgs/globex/documents/acme-notes"
check 204 "editor edits own notes"                   -X PUT -H "$(auth "$editor")" -H 'content-type: application/json' \
  -d '{"body":"changed"}' "$base/orgs/acme/documents/acme-notes"
check 403 "editor cannot share the admin's roadmap"  -X POST -H "$(auth "$editor")" -H 'content-type: application/json' \
  -d '{"grantee_kind":"group","grantee":"librarians","access":"edit"}' "$base/orgs/acme/documents/acme-roadmap/shares"
check 201 "the admin can"                            -X POST -H "$(auth "$admin")" -H 'content-type: application/json' \
  -d '{"grantee_kind":"group","grantee":"librarians","access":"edit"}' "$base/orgs/acme/documents/acme-roadmap/shares"
check 204 "and the next request sees it"             -X PUT -H "$(auth "$editor")" -H 'content-type: application/json' \
  -d '{"body":"changed"}' "$base/orgs/acme/documents/acme-roadmap"

# The admin makes the viewer a librarian of acme: the next request sees it.
librarian=$(curl -s --max-time 5 -H "$(auth "$admin")" "$base/tenants/acme/roles?search=librarian" | sed -n 's/.*"id":"\(rol_[^"]*\)".*/\1/p' | head -n 1)
viewer_id=$(curl -s --max-time 5 -H "$(auth "$viewer")" "$base/me" | field subject)
check 201 "admin assigns librarian at acme"   -X POST -H "$(auth "$admin")" -H 'content-type: application/json' \
  -d "{\"role_id\":\"$librarian\",\"subject_kind\":\"user\",\"subject\":\"$viewer_id\"}" "$base/tenants/acme/assignments"
check 200 "viewer now reads acme"             -H "$(auth "$viewer")" "$base/orgs/acme/books"
check 403 "admin cannot hand on what it lacks" -X POST -H "$(auth "$admin")" -H 'content-type: application/json' \
  -d '{"slug":"everything","permissions":["*:*"]}' "$base/tenants/acme/roles"
check 409 "a duplicate role is refused"       -X POST -H "$(auth "$admin")" -H 'content-type: application/json' \
  -d '{"slug":"reader"}' "$base/tenants/acme/roles"

json_body() { echo "{\"$1\":\"$2\"}"; }
check 401 "wrong password"           -X POST -H 'content-type: application/json' \
  -d '{"email":"viewer@example.com","password":"not the password"}' "$base/auth/login"
check 201 "register"                 -X POST -H 'content-type: application/json' \
  -d '{"email":"new.reader@example.com","password":"a reader of many books"}' "$base/auth/register"
check 409 "register twice"           -X POST -H 'content-type: application/json' \
  -d '{"email":"New.Reader@example.com","password":"a reader of many books"}' "$base/auth/register"
key=$(curl -s --max-time 10 -X POST "$base/auth/api-keys" -H "$(auth "$editor")" -H 'content-type: application/json' \
  -d '{"name":"smoke test"}' | field key)
[ -n "$key" ] || { echo "FAIL: no API key created"; failures=$((failures + 1)); }
check 200 "refresh"                  -X POST -H 'content-type: application/json' \
  -d "$(json_body refresh_token "$editor_refresh")" "$base/auth/refresh"
check 401 "refresh token reused"     -X POST -H 'content-type: application/json' \
  -d "$(json_body refresh_token "$editor_refresh")" "$base/auth/refresh"
check 401 "reuse ended its tokens"   -H "$(auth "$editor")" "$base/me"
check 200 "api key reads books"      -H "X-API-Key: $key" "$base/books"
check 403 "api key cannot delete"    -X DELETE -H "X-API-Key: $key" "$base/books/2"
check 401 "truncated api key"        -H "X-API-Key: ${key%?}" "$base/books"
check 204 "logout"                   -X POST -H "$(auth "$admin")" "$base/auth/logout"
check 401 "token dead after logout"  -H "$(auth "$admin")" "$base/me"
check 200 "jwks"                     "$base/.well-known/jwks.json"

challenge=$(curl -s -D - -o /dev/null --max-time 5 "$base/books" | tr -d '\r' | sed -n 's/^[Ww][Ww][Ww]-[Aa]uthenticate: //p')
if [ "$challenge" = 'Bearer realm="book-catalog"' ]; then passes=$((passes + 1)); else
  echo "FAIL: challenge header was: $challenge"; failures=$((failures + 1)); fi

# The decisions above are in the audit trail, and the chain verifies (the README's command).
cargo build --quiet --example audit_verify
sleep 0.5 # the trail's writer appends off the request path
verified=$(./target/debug/examples/audit_verify "$db_dir/quickstart.db" 2>&1 || true)
if echo "$verified" | grep -Eq '^[1-9][0-9]* records verified'; then passes=$((passes + 1)); else
  echo "FAIL: audit_verify said: $verified"; failures=$((failures + 1)); fi
# A record edited behind the database's back is found.
if command -v sqlite3 >/dev/null; then
  sqlite3 "$db_dir/quickstart.db" "DROP TRIGGER portcullis_audit_no_update; UPDATE portcullis_audit SET subject = subject || 'x' WHERE seq = 2;"
  tampered=$(./target/debug/examples/audit_verify "$db_dir/quickstart.db" 2>&1 || true)
  if echo "$tampered" | grep -q 'broken at record 2'; then passes=$((passes + 1)); else
    echo "FAIL: a tampered trail verified: $tampered"; failures=$((failures + 1)); fi
fi

echo "quickstart-smoke: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
