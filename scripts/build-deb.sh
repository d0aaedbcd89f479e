#!/usr/bin/env bash
# Builds the Debian package: target/debian/xfrmdiag_VERSION-1_amd64.deb, path printed on stdout.
#   scripts/build-deb.sh
# Contents: the static binary (scripts/build-static.sh: the same release build the vm-tests use,
# so a test run builds it once), the man page and bash/zsh/fish completions generated from that
# binary, docs and example checklists under /usr/share/doc/xfrmdiag, and
# xfrmdiag-exporter.service with /etc/default/xfrmdiag-exporter (not enabled on install).
# Needs cargo-deb: installed here when missing (`cargo install cargo-deb --locked`, a one-time
# build of a few minutes); XFRMDIAG_NO_INSTALL=1 makes a missing one an error instead.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

if ! cargo deb --version >/dev/null 2>&1; then
	if [ "${XFRMDIAG_NO_INSTALL:-}" = 1 ]; then
		echo "build-deb: cargo-deb is missing: cargo install cargo-deb --locked" >&2
		exit 2
	fi
	echo "build-deb: installing cargo-deb (once)" >&2
	cargo install cargo-deb --locked --quiet >&2
fi

BIN=$(scripts/build-static.sh --quiet)

# Generated from the binary itself, so they always match its options.
ASSETS=$ROOT/target/deb-assets
rm -rf "$ASSETS"
mkdir -p "$ASSETS"
"$BIN" man >"$ASSETS/xfrmdiag.1"
gzip -9n "$ASSETS/xfrmdiag.1"
"$BIN" completions bash >"$ASSETS/xfrmdiag.bash"
"$BIN" completions zsh >"$ASSETS/_xfrmdiag"
"$BIN" completions fish >"$ASSETS/xfrmdiag.fish"

# The static build lives in its own target directory; cargo-deb finds it there with --target.
TARGET_DIR=$(dirname "$(dirname "$(dirname "$BIN")")")
mkdir -p target/debian
CARGO_TARGET_DIR=$TARGET_DIR cargo deb --quiet -p xfrmdiag --no-build \
	--target x86_64-unknown-linux-gnu --output target/debian/ >&2
deb=$(ls -t target/debian/xfrmdiag_*.deb | head -1)
echo "$ROOT/$deb"
