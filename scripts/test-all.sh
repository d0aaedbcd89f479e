#!/usr/bin/env bash
# Runs every test of the project: unit and integration tests (namespace tests need root), then the
# real-kernel ESP scenarios in QEMU guests (vm-tests/). This is the README's test command; CI runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test (workspace)"
cargo test --workspace --all-targets

if [ -x vm-tests/run.sh ]; then
  echo "== vm-tests (QEMU guests, real ESP and function tracer)"
  vm-tests/run.sh
fi
