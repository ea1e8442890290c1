#!/usr/bin/env bash
# The service under wrk: decisions per second over HTTP for Sentinel's `/permissions/check`
# with 1 and 100 checks and AuthZEN's `evaluation` and `evaluations` (100 items), with p50 and
# p99, against `GET /health` of the same server as the baseline (what HTTP itself costs here).
# The release `portcullis` binary on SQLite, audit trail on (every decision sealed and stored),
# set up with its own administration commands.
#
#   bash bench/service-load.sh [seconds] [connections] [rounds]      (defaults 10, 16, 3)
#
# The machine is shared and noisy: the variants run in turn, `rounds` times, and each figure
# is the median of its rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${2:-16}
rounds=${3:-3}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }
cargo build --quiet --release --features cli --bin portcullis
bin="$PWD/target/release/portcullis"

work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export PORTCULLIS_LISTEN="127.0.0.1:$port" PORTCULLIS_ISSUER="http://127.0.0.1:$port"
export PORTCULLIS_PASSWORD="violet-harbour-lantern-47"
json() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
ws=$("$bin" workspace create --slug bench | json workspace)
user=$("$bin" user add --email ada@example.com | json user)
"$bin" member set --workspace "$ws" --user "$user" --role editor >/dev/null
"$bin" role create --workspace "$ws" --slug exporter --action reports:export >/dev/null
"$bin" assign --workspace "$ws" --role exporter --user "$user" >/dev/null
key=$("$bin" service-key create --service docs | json key)
token=$("$bin" token issue --user "$user" --workspace "$ws" | json token)
PORTCULLIS_AUTHZEN_WORKSPACE="$ws" "$bin" serve 2>"$work/serve.log" &
pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do curl -sf "$base/health" >/dev/null && break; sleep 0.1; done

# 100 documents: half visible to the workspace (Ada, an editor, may view them), half private.
ids=()
for i in $(seq 1 100); do
  id=$(python3 -c 'import uuid; print(uuid.uuid4())')
  ids+=("$id")
  visibility=$([ $((i % 2)) = 0 ] && echo workspace || echo private)
  curl -sf -XPOST "$base/permissions/register" -H "X-Service-Key: $key" \
    -H 'content-type: application/json' \
    -d "{\"service_name\":\"docs\",\"resource_type\":\"document\",\"resource_id\":\"$id\",\"workspace_id\":\"$ws\",\"owner_id\":\"00000000-0000-4000-8000-000000000000\",\"visibility\":\"$visibility\"}" >/dev/null
done
printf '%s\n' "${ids[@]}" >"$work/ids"

# The wrk scripts: one POST body each.
python3 - "$work" "$key" "$token" "$ws" "$user" <<'EOF'
import json, sys
work, key, token, ws, user = sys.argv[1:]
ids = open(f"{work}/ids").read().split()
def check(i): return {"service_name": "docs", "resource_type": "document", "resource_id": ids[i], "action": "view"}
def item(i): return {"action": {"name": "reports:export"}, "resource": {"type": "report", "id": str(i)}}
subject = {"type": "user", "id": user}
bodies = {
    "check1": {"checks": [check(1)]},
    "check100": {"checks": [check(i) for i in range(100)]},
    "evaluation": {"subject": subject, **item(1)},
    "evaluations": {"subject": subject, "evaluations": [item(i) for i in range(100)]},
}
for name, body in bodies.items():
    with open(f"{work}/{name}.json", "w") as f:
        json.dump(body, f)
    with open(f"{work}/{name}.lua", "w") as f:
        f.write('wrk.method = "POST"\n')
        f.write(f"wrk.body = {json.dumps(json.dumps(body))}\n")
        f.write('wrk.headers["Content-Type"] = "application/json"\n')
        f.write(f'wrk.headers["X-Service-Key"] = "{key}"\n')
        f.write(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
EOF
# Every answer must be what the model says before anything is measured.
answer() { curl -sf -XPOST "$base$1" -H "X-Service-Key: $key" -H "Authorization: Bearer $token" \
  -H 'content-type: application/json' --data-binary "@$work/$2.json"; }
answer /permissions/check check100 | python3 -c '
import json, sys
r = json.load(sys.stdin)["results"]
assert [x["allowed"] for x in r] == [i % 2 == 1 for i in range(100)], r'
answer /access/v1/evaluations evaluations | python3 -c '
import json, sys
e = json.load(sys.stdin)["evaluations"]
assert e == [{"decision": True}] * 100, e'

run() { # name path [script]
  local name=$1 path=$2 script=${3:-}
  local args=(-t1 -c"$connections" -d"${seconds}s" --latency)
  [ -n "$script" ] && args+=(-s "$work/$script.lua")
  wrk "${args[@]}" "$base$path" >"$work/$name.out"
  local rps p50 p99 failed
  rps=$(sed -n 's/^Requests\/sec: *//p' "$work/$name.out")
  p50=$(awk '$1 == "50%" {print $2}' "$work/$name.out")
  p99=$(awk '$1 == "99%" {print $2}' "$work/$name.out")
  failed=$(awk '/Non-2xx or 3xx responses:/ {n += $NF}
                /Socket errors:/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$work/$name.out")
  echo "$name $rps $p50 $p99 $failed"
}

echo "machine: $(nproc) cores; wrk 1 thread, $connections connections, ${seconds}s per run, $rounds rounds; SQLite, audit trail on"
for _ in $(seq 1 "$rounds"); do
  run health /health
  run check1 /permissions/check check1
  run check100 /permissions/check check100
  run evaluation /access/v1/evaluation evaluation
  run evaluations /access/v1/evaluations evaluations
done >"$work/rounds"
sed 's/^/  /' "$work/rounds"
python3 - "$work/rounds" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, rps, p50, p99, failed = line.split()
    rows.setdefault(name, []).append((float(rps), p50, p99, int(failed)))
per = {"health": 0, "check1": 1, "check100": 100, "evaluation": 1, "evaluations": 100}
base = statistics.median(r[0] for r in rows["health"])
print(f"{'variant':<12} {'req/s':>9} {'decisions/s':>12} {'vs health':>9} {'p50':>9} {'p99':>9} failed")
for name, runs in rows.items():
    rps = statistics.median(r[0] for r in runs)
    mid = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
    failed = sum(r[3] for r in runs)
    decisions = f"{rps * per[name]:.0f}" if per[name] else "-"
    print(f"{name:<12} {rps:>9.0f} {decisions:>12} {rps / base:>9.2f} {mid[1]:>9} {mid[2]:>9} {failed}")
    if failed:
        sys.exit(f"{name}: {failed} requests failed")
EOF
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
"$bin" audit verify
