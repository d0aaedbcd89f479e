#!/usr/bin/env bash
# Early-verdict benchmark: wall time of `xfrmdiag diagnose` with its default window (which closes
# once every datagram is received or counted by a drop counter) against the same run forced to
# wait the whole window (--full-window), for a drop case and a healthy case, in one run. Prints
# wall times, their ratio, and whether both verdicts are the same.
#
# Drop case: plain UDP from A into B, where B has an inbound policy requiring ESP
# (XfrmInTmplMismatch on B). Healthy case: the same pair without the policy.
#
# Needs root (creates and always deletes two namespaces). Usage: scripts/bench-verdict.sh
# Env: RUNS (runs per mode and case, default 5), WINDOW (default: the command's default, 2s),
#      XFRMDIAG (binary to time; default: a release build made here).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
A="xfrmdiag-bv-a-$$"
B="xfrmdiag-bv-b-$$"
WINDOW_ARGS=()
[ -n "${WINDOW:-}" ] && WINDOW_ARGS=(--window "$WINDOW")

cleanup() {
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

if [ -z "${XFRMDIAG:-}" ]; then
  echo "== build (release)"
  cargo build --release -q -p xfrmdiag --bin xfrmdiag
  XFRMDIAG=target/release/xfrmdiag
fi

echo "== namespaces $A (10.231.0.1) and $B (10.231.0.2) joined by veth"
ip netns add "$A"
ip netns add "$B"
ip -n "$A" link add veth0 type veth peer name veth0 netns "$B"
ip -n "$A" addr add 10.231.0.1/24 dev veth0
ip -n "$B" addr add 10.231.0.2/24 dev veth0
for ns in "$A" "$B"; do
  ip -n "$ns" link set lo up
  ip -n "$ns" link set veth0 up
done
echo "kernel: $(uname -r), CPUs: $(nproc), load: $(cut -d' ' -f1-3 /proc/loadavg)"

# One diagnose run: prints "<wall ms> <verdict> <early:yes|no>".
run_once() {
  local err out start end verdict early
  err=$(mktemp)
  start=$(date +%s%N)
  out=$("$XFRMDIAG" diagnose -n "$A" --send udp:10.231.0.2:5000 --peer-netns "$B" \
    "${WINDOW_ARGS[@]}" --json "$@" 2>"$err" || true)
  end=$(date +%s%N)
  verdict=$(printf '%s' "$out" | sed -n 's/^  "verdict": "\([^"]*\)".*/\1/p' | head -n1)
  early=no
  grep -q "window closed early" "$err" && early=yes
  rm -f "$err"
  echo "$(((end - start) / 1000000)) ${verdict:-?} $early"
}

# Runs a case RUNS times in each mode, alternating; prints the medians and the comparison.
bench_case() {
  local name=$1 i line
  local -a early_ms=() full_ms=() verdicts_early=() verdicts_full=() took=()
  for i in $(seq "$RUNS"); do
    read -r ms v e <<<"$(run_once)"
    early_ms+=("$ms")
    verdicts_early+=("$v")
    took+=("$e")
    read -r ms v _ <<<"$(run_once --full-window)"
    full_ms+=("$ms")
    verdicts_full+=("$v")
  done
  median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
  local me mf same=yes
  me=$(median "${early_ms[@]}")
  mf=$(median "${full_ms[@]}")
  for v in "${verdicts_early[@]}" "${verdicts_full[@]}"; do
    [ "$v" = "${verdicts_full[0]}" ] || same=no
  done
  printf '%-8s default %5d ms  --full-window %5d ms  ratio %.2f  early stop taken %s/%s  verdict %s (%s)\n' \
    "$name" "$me" "$mf" "$(awk -v a="$me" -v b="$mf" 'BEGIN { print a / b }')" \
    "$(printf '%s\n' "${took[@]}" | grep -c yes || true)" "$RUNS" \
    "${verdicts_full[0]}" "$([ $same = yes ] && echo identical in every run || echo DIFFERS)"
  line="$name ${verdicts_early[*]} | ${verdicts_full[*]}"
  [ $same = yes ] || echo "   verdicts: $line"
}

echo
echo "== $RUNS runs per mode, median wall time (process start, inventory, trace setup included)"
bench_case healthy
ip -n "$B" xfrm policy add src 10.231.0.1 dst 10.231.0.2 proto udp dir in \
  tmpl proto esp mode transport
bench_case drop
