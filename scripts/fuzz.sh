#!/usr/bin/env bash
# Fuzzing: builds every cargo-fuzz target in fuzz/ once (AddressSanitizer, debug assertions and
# overflow checks on), runs each for a while, and fails if any of them finds a crash.
#
#   bash scripts/fuzz.sh                         # every target, 30 s each (what CI runs)
#   bash scripts/fuzz.sh 3600 authorization_header
#
# cargo-fuzz passes nightly-only flags (-Zsanitizer=address among them); this machine has only the
# stable toolchain, so they are enabled with RUSTC_BOOTSTRAP=1 (the stable compiler ships the
# sanitizer runtimes). The writable corpus of a target is fuzz/corpus/<target> (not committed);
# the committed seeds in fuzz/seeds/<target> are read as a second corpus and never written to.
# Crash inputs land in fuzz/artifacts/<target>/.
#
# Environment: FUZZ_JOBS (targets run side by side; default: the number of cores),
# FUZZ_TARGET_DIR (cargo's target dir for the fuzz build; default fuzz/target).
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
SECONDS_PER_TARGET="${1:-30}"
shift $(($# > 0 ? 1 : 0))
JOBS="${FUZZ_JOBS:-$(nproc)}"
TARGET_DIR="${FUZZ_TARGET_DIR:-fuzz/target}"
case "$SECONDS_PER_TARGET" in
  '' | *[!0-9]*) echo "usage: $0 [seconds-per-target] [target...]" >&2; exit 2 ;;
esac

export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

if ! cargo fuzz --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
  echo "installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

# The same flags for the build and for every run (a run with other flags would rebuild).
# --codegen-units 16: cargo-fuzz defaults to 1, which makes the cold build a good minute slower
# on two cores for a few percent of fuzzing speed.
FLAGS=(--sanitizer address --debug-assertions --codegen-units 16 --target-dir "$TARGET_DIR")

if (($# > 0)); then
  TARGETS=("$@")
else
  mapfile -t TARGETS < <(cargo fuzz list)
fi
known=" $(cargo fuzz list | tr '\n' ' ') "
for target in "${TARGETS[@]}"; do
  if [[ "$known" != *" $target "* ]]; then
    echo "unknown fuzz target: $target (known:$known)" >&2
    exit 2
  fi
done

start=$(date +%s)
echo "building the fuzz targets (cargo fuzz ${FLAGS[*]})"
cargo fuzz build "${FLAGS[@]}"
echo "built in $(($(date +%s) - start)) s"

max_len() {
  case "$1" in
    authorization_header | token_verify) echo 12288 ;; # past the 8 KiB token cap
    role_file) echo 8192 ;;
    permission_grammar) echo 2048 ;;
    *) echo 1024 ;;
  esac
}

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

# Each run's libFuzzer output is kept in fuzz/artifacts/<target>/last-run.log (ignored by git).
run_one() {
  local target="$1"
  mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
  local rc=0
  cargo fuzz run "${FLAGS[@]}" "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -max_len="$(max_len "$target")" \
    -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
    -artifact_prefix="fuzz/artifacts/$target/" >"fuzz/artifacts/$target/last-run.log" 2>&1 || rc=$?
  echo "$rc" >"$logs/$target.rc"
}

echo "fuzzing ${#TARGETS[@]} target(s) for $SECONDS_PER_TARGET s each, $JOBS at a time"
running=0
for target in "${TARGETS[@]}"; do
  run_one "$target" &
  running=$((running + 1))
  if ((running >= JOBS)); then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true

failed=0
printf '%-22s %-6s %12s %8s %7s %7s\n' target result execs exec/s cov ft
for target in "${TARGETS[@]}"; do
  log="fuzz/artifacts/$target/last-run.log"
  rc="$(cat "$logs/$target.rc" 2>/dev/null || echo 1)"
  stat_of() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
  done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)"
  cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")"
  ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")"
  result=ok
  [[ "$rc" == 0 ]] || result=FAILED
  printf '%-22s %-6s %12s %8s %7s %7s\n' "$target" "$result" "$(stat_of number_of_executed_units)" \
    "$(stat_of average_exec_per_sec)" "${cov:--}" "${ft:--}"
  if [[ "$rc" != 0 ]]; then
    failed=1
    echo "---- $target exited with $rc (its whole output: $log)" >&2
    grep -E -A2 'panicked at|ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|^SUMMARY' "$log" \
      | head -n 40 >&2 || tail -n 40 "$log" >&2
    grep -h 'Test unit written to' "$log" | sed 's/.*Test unit written to /artifact: /' >&2 || true
  fi
done
echo "fuzzing took $(($(date +%s) - start)) s in all"
if ((failed)); then
  echo "a fuzz target failed; replay its input with" >&2
  echo "  RUSTC_BOOTSTRAP=1 cargo fuzz run ${FLAGS[*]} <target> <artifact>" >&2
  exit 1
fi
