#!/usr/bin/env bash
# Trace parsing speed: generates a trace (function, function_graph, event and stack lines) and
# prints lines per second for the parser alone, parse + summary, and the streamed path a capture
# uses. Target: at least 1 million lines per second. Needs no root.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench -q -p xfrmdiag-trace --bench parse "$@"
