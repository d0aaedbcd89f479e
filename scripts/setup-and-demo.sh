#!/usr/bin/env bash
# One command on a fresh machine: install what xfrmdiag needs, build it, and run the main job —
# `xfrmdiag demo`, which builds two namespaces with a known IPsec fault, diagnoses it across both
# sides and removes everything again. Pass a scenario name to pick another (see `xfrmdiag demo --list`).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-and-demo: needs root (namespaces, XFRM policies, tracefs): run it with sudo" >&2
  exit 2
fi
if ! command -v ip >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq iproute2
fi
cargo build --release -q -p xfrmdiag
exec target/release/xfrmdiag demo "$@"
