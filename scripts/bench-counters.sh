#!/usr/bin/env bash
# Counters benchmark: one full snapshot of a namespace with 1,000 XFRM policies present, timed in
# process (Snapshot::take) and per command run next to `nstat` reading the same /proc files, then
# the CPU that `xfrmdiag watch -i 1s` uses over WATCH_SECS (default 60) seconds.
#
# Needs root (creates and always deletes one namespace). Usage: scripts/bench-counters.sh
# Env: RUNS (command runs per tool, default 200), ITER (in-process iterations, default 2000),
#      WATCH_SECS (default 60), POLICIES (default 1000), SAS (default 100: this host has no ESP, so
#      the SAs are `ip xfrm state allocspi` ones, which the kernel expires after 30 s).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-200}
ITER=${ITER:-2000}
WATCH_SECS=${WATCH_SECS:-60}
POLICIES=${POLICIES:-1000}
SAS=${SAS:-100}
NS="xfrmdiag-bench-$$"

cleanup() { ip netns del "$NS" 2>/dev/null || true; }
trap cleanup EXIT INT TERM

echo "== build (release)"
cargo build --release -q -p xfrmdiag --bin xfrmdiag
cargo build --release -q -p xfrmdiag-counters --example snapshot_bench
BIN=target/release/xfrmdiag

echo "== namespace $NS with $POLICIES XFRM policies"
ip netns add "$NS"
ip -n "$NS" link set lo up
for i in $(seq 0 $((POLICIES - 1))); do
  echo "xfrm policy add dir out src 10.$((i / 250)).$((i % 250)).1/32 dst 10.200.$((i / 250)).$((i % 250))/32 proto udp tmpl proto esp mode transport"
done | ip -n "$NS" -batch -
for i in $(seq 1 "$SAS"); do
  echo "xfrm state allocspi src 10.201.$((i / 250)).$((i % 250)) dst 10.202.0.1 proto esp reqid $i mode tunnel min 0x1000 max 0xfffff"
done | ip -n "$NS" -batch - >/dev/null
echo "policies: $(ip -n "$NS" xfrm policy count)"
echo "SAs: $(ip -n "$NS" xfrm state count)"
echo "kernel: $(uname -r), CPUs: $(nproc), load: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "== in process ($ITER iterations; /proc files + SA dump, as Snapshot::take does)"
target/release/examples/snapshot_bench "$NS" "$ITER"

# Wall time per run of a command, in ms, over $RUNS runs.
per_run_ms() {
  local start end
  start=$(date +%s%N)
  for _ in $(seq "$RUNS"); do "$@" >/dev/null; done
  end=$(date +%s%N)
  awk -v ns=$((end - start)) -v n="$RUNS" 'BEGIN { printf "%8.3f ms/run", ns / n / 1e6 }'
}

echo
echo "== per command run ($RUNS runs each; process start included)"
printf '%-70s %s\n' "xfrmdiag -n NS counters --json --all (xfrm_stat+snmp+netstat+snmp6+dev)" \
  "$(per_run_ms "$BIN" -n "$NS" counters --json --all)"
printf '%-70s %s\n' "nsenter --net=NS nstat -asz (snmp+netstat+snmp6, no xfrm_stat)" \
  "$(per_run_ms nsenter --net="/run/netns/$NS" nstat -asz)"
printf '%-70s %s\n' "nsenter --net=NS cat the 5 files (floor: reading only)" \
  "$(per_run_ms nsenter --net="/run/netns/$NS" cat /proc/self/net/xfrm_stat /proc/self/net/snmp /proc/self/net/netstat /proc/self/net/snmp6 /proc/self/net/dev)"

echo
echo "== xfrmdiag watch -i 1s for ${WATCH_SECS}s (CPU of one core)"
TIMEFORMAT='%R %U %S'
read -r real user sys < <({ time "$BIN" -n "$NS" watch -i 1s --count "$WATCH_SECS" --json >/dev/null; } 2>&1)
awk -v r="$real" -v u="$user" -v s="$sys" \
  'BEGIN { printf "wall %.1f s, user %.3f s, sys %.3f s => %.3f %% of one core\n", r, u, s, (u + s) / r * 100 }'
