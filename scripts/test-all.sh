#!/usr/bin/env bash
# Runs every test of the project: unit and integration tests (namespace tests need root), then the
# real-kernel ESP scenarios in QEMU guests (vm-tests/). This is the README's test command; CI runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

# What the integration tests shell out to (they skip, with the reason, when a tool is absent). On
# a fresh CI machine (root, Debian's registry reachable) the missing ones are installed first:
# one quiet `apt-get update` and install, only when something is missing. XFRMDIAG_NO_INSTALL=1
# turns that off.
# Each entry: program (a name on PATH, or an absolute path) and the Debian package that has it.
TEST_TOOLS=(
  "ip:iproute2" "nstat:iproute2"
  "unshare:util-linux" "nsenter:util-linux" "setpriv:util-linux" "script:bsdutils"
  "pgrep:procps" "sysctl:procps" "kill:procps" "mount:mount"
  "python3:python3"
  "ssh:openssh-client" "ssh-keygen:openssh-client" "/usr/sbin/sshd:openssh-server"
  "/usr/bin/time:time" "/usr/sbin/nft:nftables"
)

install_missing_test_tools() {
  local entry program package missing=()
  for entry in "${TEST_TOOLS[@]}"; do
    program=${entry%%:*}
    package=${entry#*:}
    if [[ $program == /* ]]; then
      [ -x "$program" ] && continue
    else
      # `type -P`: a file on PATH, not the shell builtin (kill) the tests cannot run.
      [ -n "$(type -P "$program")" ] && continue
    fi
    [[ " ${missing[*]} " == *" $package "* ]] || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "${XFRMDIAG_NO_INSTALL:-}" = 1 ] || [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "== missing test tools (their tests will skip): ${missing[*]}" >&2
    return 0
  fi
  echo "== installing missing test tools: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_missing_test_tools

# A test that cannot run here (no root, tracefs, a tool) skips through one harness function
# (xfrmdiag-testkit), which appends "TEST: REASON" to $XFRMDIAG_SKIP_LOG; vm-tests add their
# `pending` checks. As root everything a test needs is there or installed above, so a skip is a
# failure: XFRMDIAG_REQUIRE=all (an explicit XFRMDIAG_REQUIRE= in the environment wins).
if [ "$(id -u)" -eq 0 ]; then
  export XFRMDIAG_REQUIRE=${XFRMDIAG_REQUIRE-all}
fi
XFRMDIAG_SKIP_LOG=$(mktemp "${TMPDIR:-/tmp}/xfrmdiag-skips.XXXXXX")
export XFRMDIAG_SKIP_LOG

# The closing line, however the run ends: how many tests or checks did not run, and why.
report_skips() {
  local n
  n=$(grep -c . "$XFRMDIAG_SKIP_LOG" || true)
  if [ "$n" -gt 0 ]; then
    echo "== tests that could not run here${XFRMDIAG_REQUIRE:+ (failures: XFRMDIAG_REQUIRE=$XFRMDIAG_REQUIRE)}:"
    sort "$XFRMDIAG_SKIP_LOG" | sed 's/^/   /'
    echo "skipped: $n ($(sed 's/^[^:]*: //' "$XFRMDIAG_SKIP_LOG" | sort | uniq -c | sort -rn |
      awk '{ c = $1; $1 = ""; printf "%s%s x%d", (NR > 1 ? "; " : ""), substr($0, 2), c }'))"
  else
    echo "skipped: 0"
  fi
  rm -f "$XFRMDIAG_SKIP_LOG"
}
trap report_skips EXIT

echo "== cargo test (workspace)"
cargo test --workspace --all-targets

if [ -x vm-tests/run.sh ]; then
  echo "== vm-tests (QEMU guests, real ESP and function tracer)"
  vm-tests/run.sh
fi

scripts/test-ship.sh # the .deb, exporter service, alert rules, dashboard, fleet run (after vm-tests: reuses their static build)
