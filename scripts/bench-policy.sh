#!/usr/bin/env bash
# Bench: `xfrmdiag policy` (JSON and human) against `ip xfrm policy list` on many policies.
#
# Creates a throwaway namespace, loads COUNT policies with `ip -batch`, then times, in the same
# run and over ROUNDS rounds, `ip xfrm policy list`, `xfrmdiag policy --json` and
# `xfrmdiag policy`, all to /dev/null. Prints median wall times, the ratios to ip, and
# xfrmdiag's peak RSS (/usr/bin/time). Runs twice: policies with a protocol selector (ip then
# resolves each protocol name through /etc/protocols) and without one.
#
# Usage (root): scripts/bench-policy.sh [COUNT] [ROUNDS]     defaults: 100000 5
# Targets (issue 3): JSON ≤ 0.2× ip, human ≤ 0.3× ip (≤ 1.0× without proto), RSS ≤ 32 MB.
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${1:-100000}
ROUNDS=${2:-5}
[ "$(id -u)" = 0 ] || { echo "bench-policy: needs root (creates a namespace)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench-policy: needs /usr/bin/time (apt-get install time)" >&2; exit 2; }

cargo build --release -q -p xfrmdiag
BIN=$PWD/target/release/xfrmdiag
NS="xfrmdiag-bench-$$"
TMP=$(mktemp -d)
cleanup() { ip netns del "$NS" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM

# Wall time of one run in milliseconds (output to /dev/null).
wall_ms() {
  local start end
  start=$(date +%s%N)
  "$@" >/dev/null
  end=$(date +%s%N)
  echo $(( (end - start) / 1000000 ))
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }

# Peak RSS in MB of one run.
rss_mb() {
  /usr/bin/time -f %M -o "$TMP/rss" "$@" >/dev/null
  awk '{printf "%.1f", $1/1024}' "$TMP/rss"
}

bench_set() {
  local label=$1 with_proto=$2
  ip netns del "$NS" 2>/dev/null || true
  ip netns add "$NS"
  awk -v n="$COUNT" -v proto="$with_proto" 'BEGIN {
    for (i = 0; i < n; i++) {
      a = int(i / 65536) % 256; b = int(i / 256) % 256; c = i % 256;
      sel = sprintf("src 10.%d.%d.%d/32 dst 172.16.%d.%d/32", a, b, c, b, c);
      if (proto) sel = sel sprintf(" proto %s dport %d", (i % 2) ? "udp" : "tcp", 1000 + i % 5000);
      printf "xfrm policy add %s dir %s priority %d tmpl src 192.0.2.1 dst 192.0.2.2 proto esp mode tunnel reqid %d\n",
        sel, (i % 3 == 0) ? "in" : "out", i % 1000, i % 100 + 1;
    }
  }' > "$TMP/batch"
  ip -n "$NS" -batch "$TMP/batch"
  local loaded
  loaded=$("$BIN" -n "$NS" info --json | awk -F'[:,]' '/"(in|out|fwd)":/ {s += $2} END {print s}')
  echo "== $label: $loaded policies, $ROUNDS rounds (median wall, ms)"

  : > "$TMP/ip"; : > "$TMP/json"; : > "$TMP/human"
  for _ in $(seq "$ROUNDS"); do
    wall_ms ip -n "$NS" xfrm policy list >> "$TMP/ip"
    wall_ms "$BIN" -n "$NS" policy --json >> "$TMP/json"
    wall_ms "$BIN" -n "$NS" policy >> "$TMP/human"
  done
  local ip_ms json_ms human_ms
  ip_ms=$(median < "$TMP/ip"); json_ms=$(median < "$TMP/json"); human_ms=$(median < "$TMP/human")
  printf '  ip xfrm policy list      %6d ms\n' "$ip_ms"
  printf '  xfrmdiag policy --json   %6d ms  %.2fx ip\n' "$json_ms" "$(awk -v a="$json_ms" -v b="$ip_ms" 'BEGIN {print a / b}')"
  printf '  xfrmdiag policy          %6d ms  %.2fx ip\n' "$human_ms" "$(awk -v a="$human_ms" -v b="$ip_ms" 'BEGIN {print a / b}')"
  printf '  peak RSS: --json %s MB, human %s MB (ip: %s MB)\n' \
    "$(rss_mb "$BIN" -n "$NS" policy --json)" "$(rss_mb "$BIN" -n "$NS" policy)" \
    "$(rss_mb ip -n "$NS" xfrm policy list)"
  ip netns del "$NS"
}

bench_set "with proto selector" 1
bench_set "without proto selector" 0
