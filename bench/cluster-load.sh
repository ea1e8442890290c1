#!/usr/bin/env bash
# Two quickstart instances on one PostgreSQL and one Redis under wrk: revocation propagation,
# Redis and PostgreSQL faults, lockout and a login storm across both, the audit chains verified
# (bench/cluster_load.py says what each phase does). It starts a PostgreSQL server and a
# redis-server of its own, so that it can crash and restart them without touching the machine's.
#
#   bash bench/cluster-load.sh [rounds] [connections] [outage seconds]     (defaults 100, 16, 3)
#
# PROFILE=release runs release binaries (built with --features postgres,redis); the default is
# the debug build that `cargo test --all-features` makes, which CI reuses.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-100}
connections=${2:-16}
outage=${3:-3}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; }
# Debian keeps PostgreSQL's server programs off PATH, under its version.
if ! command -v initdb >/dev/null || ! command -v pg_ctl >/dev/null; then
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$pg_bin" ] && export PATH="$pg_bin:$PATH"
fi
command -v initdb >/dev/null && command -v pg_ctl >/dev/null ||
  { echo "cluster-load needs PostgreSQL's server programs (initdb, pg_ctl)"; exit 1; }

profile=${PROFILE:-debug}
if [ "$profile" = release ]; then
  cargo build --quiet --release --features postgres,redis --example quickstart --example audit_verify
else
  cargo build --quiet --all-features --example quickstart --example audit_verify
fi
exec python3 bench/cluster_load.py --quickstart "target/$profile/examples/quickstart" \
  --audit-verify "target/$profile/examples/audit_verify" \
  --rounds "$rounds" --connections "$connections" --outage "$outage"
