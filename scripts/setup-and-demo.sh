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
# What the demo and the tests shell out to, from Debian's registry, only when missing.
missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${missing[@]}"
fi
# The Rust toolchain comes with the machine (rustup); Debian's own rustc is too old for
# netlink-packet-xfrm, so say so rather than fail half-way through a build.
need_rust=1.88
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup-and-demo: no Rust toolchain (cargo) found: install Rust >= $need_rust with rustup" >&2
  exit 2
fi
have_rust=$(rustc --version | awk '{print $2}')
if [ "$(printf '%s\n%s\n' "$need_rust" "$have_rust" | sort -V | head -n1)" != "$need_rust" ]; then
  echo "setup-and-demo: rustc $have_rust is too old: xfrmdiag needs Rust >= $need_rust (rustup update)" >&2
  exit 2
fi
cargo build --release -q -p xfrmdiag
exec target/release/xfrmdiag demo "$@"
