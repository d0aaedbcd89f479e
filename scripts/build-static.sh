#!/usr/bin/env bash
# Builds a statically linked xfrmdiag (glibc, +crt-static): one file that runs on any x86_64
# Linux host or in a bare initramfs, no libraries needed. Prints the binary's path on stdout.
#   scripts/build-static.sh            # release build into target/vm-static
#   scripts/build-static.sh --quiet    # the same, without cargo's progress
# The vm-tests and the Debian package (scripts/build-deb.sh) use the same build, so in a test run
# the release build happens once.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=x86_64-unknown-linux-gnu
TARGET_DIR=${XFRMDIAG_STATIC_TARGET_DIR:-$ROOT/target/vm-static}
quiet=()
case "${1:-}" in
--quiet) quiet=(--quiet) ;;
"") ;;
*)
	echo "usage: $0 [--quiet]" >&2
	exit 2
	;;
esac
if [ "$(uname -m)" != x86_64 ]; then
	echo "build-static: only x86_64 hosts are supported (target $TARGET)" >&2
	exit 2
fi
(cd "$ROOT" && RUSTFLAGS='-C target-feature=+crt-static' cargo build "${quiet[@]}" --release \
	--target "$TARGET" -p xfrmdiag --target-dir "$TARGET_DIR") >&2
BIN=$TARGET_DIR/$TARGET/release/xfrmdiag
if ! file "$BIN" | grep -qE 'static(-pie)? linked|statically linked'; then
	echo "build-static: $BIN is not statically linked: $(file "$BIN")" >&2
	exit 1
fi
echo "$BIN"
