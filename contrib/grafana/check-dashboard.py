#!/usr/bin/env python3
"""Checks that a dashboard (or alert rules) queries only metrics the exporter serves.

    check-dashboard.py contrib/grafana/xfrmdiag.json SCRAPE
    check-dashboard.py --rules contrib/prometheus/xfrmdiag.rules.yml SCRAPE

SCRAPE is a /metrics page of `xfrmdiag watch --prometheus` (its `# TYPE` lines name every family,
samples or not). `up` is Prometheus's own. Exit 0 when all are served, 1 otherwise.
"""
import json
import re
import sys

# PromQL functions and keywords that look like names; everything else word-like outside quotes,
# braces and [ranges] is a metric name.
NOT_METRICS = {
    "rate", "irate", "increase", "sum", "max", "min", "avg", "count", "by", "without", "time",
    "label_values", "topk", "bottomk", "abs", "and", "or", "unless", "on", "ignoring", "offset",
    "group_left", "group_right", "histogram_quantile", "clamp_min", "clamp_max", "delta",
    "deriv", "changes", "resets", "absent", "vector", "scalar", "bool",
}


def metrics_in(expr):
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values
    expr = re.sub(r"\{[^}]*\}", "", expr)  # matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)  # grouping labels
    names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr))
    return {n for n in names if n not in NOT_METRICS and not n.startswith("$")}


def dashboard_exprs(path):
    dash = json.load(open(path))
    exprs = []
    def walk(panels):
        for p in panels:
            exprs.extend(t["expr"] for t in p.get("targets", []) if t.get("expr"))
            walk(p.get("panels", []))
    walk(dash["panels"])
    for var in dash.get("templating", {}).get("list", []):
        q = var.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.match(r"label_values\((.*),\s*\w+\)$", q or "")
        if m:
            exprs.append(m.group(1))
    return exprs


def rule_exprs(path):
    return [m.group(1) for m in re.finditer(r"^\s*expr:\s*(.+)$", open(path).read(), re.M)]


def main(argv):
    rules = argv[:1] == ["--rules"]
    if rules:
        argv = argv[1:]
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    exprs = rule_exprs(argv[0]) if rules else dashboard_exprs(argv[0])
    served = set(re.findall(r"^# TYPE (\S+) ", open(argv[1]).read(), re.M)) | {"up"}
    used = set().union(*(metrics_in(e) for e in exprs)) if exprs else set()
    if not exprs:
        print(f"{argv[0]}: no queries found", file=sys.stderr)
        return 1
    missing = sorted(used - served)
    for name in missing:
        print(f"{argv[0]}: queries {name}, which the exporter does not serve", file=sys.stderr)
    print(f"{len(exprs)} queries over {len(used)} metrics: {', '.join(sorted(used))}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
