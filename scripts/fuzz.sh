#!/usr/bin/env bash
# Runs every fuzz target (crates/fuzz) for longer than `cargo test` does, optimized but with
# overflow checks and debug assertions on, so arithmetic bugs still panic.
#
# Usage: scripts/fuzz.sh [SECONDS] [FILTER]
#   SECONDS  time per generator (each target has two: built and mutated inputs), default 60
#   FILTER   a test-name filter, e.g. netlink, procfs, trace, checklist, evidence
# Env: XFRMDIAG_FUZZ_CASES caps the cases per generator (default: as many as fit in SECONDS).
#
# Prints the cases run per target and generator. A panicking input is shrunk and saved under
# tests/fixtures/fuzz-regressions/TARGET/; the run then fails naming the file. Fix the decoder
# and commit the file: every `cargo test` replays it.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_GENERATOR=${1:-60}
FILTER=${2:-}
case "$SECONDS_PER_GENERATOR" in
  '' | *[!0-9.]*)
    echo "fuzz.sh: '$SECONDS_PER_GENERATOR' is not a number of seconds (usage: scripts/fuzz.sh [SECONDS] [FILTER])" >&2
    exit 2
    ;;
esac

export XFRMDIAG_FUZZ_SECS=$SECONDS_PER_GENERATOR
export CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true
export CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true
echo "== fuzz: ${SECONDS_PER_GENERATOR}s per generator${XFRMDIAG_FUZZ_CASES:+, at most $XFRMDIAG_FUZZ_CASES cases}"
# A target directory of its own: these profile settings differ from the release build's.
cargo test --release --target-dir target/fuzz -p xfrmdiag-fuzz --test fuzz -- \
  --nocapture --test-threads "$(nproc)" $FILTER 2>&1 |
  grep -E '^(fuzz |replayed |test result|thread .* panicked|  the shrunk input)'
