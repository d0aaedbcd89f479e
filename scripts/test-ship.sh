#!/usr/bin/env bash
# Tests what ships beside the binary: the Debian package (built, installed with dpkg, run, its man
# page, the exporter unit verified, purged without leftovers), the exporter's capabilities and
# per-SA metrics on a real kernel, the `sa-lifetime`/`sa-seq-headroom` checks, the Prometheus
# rules (promtool), the Grafana dashboard's metrics, and the Ansible fleet run against two
# network namespaces. Called by scripts/test-all.sh; needs root.
# A step that cannot run is a failure, never a skip. Last line: `ship: N passed, N failed`.
# Runtime: the .deb reuses the static release build of the vm-tests (scripts/build-static.sh),
# so after them it costs seconds; alone, that release build takes a few minutes.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "ok   $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $1" >&2; }
# step NAME COMMAND...: runs it, output shown only when it fails.
step() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		pass "$name"
	else
		fail "$name"
		printf '%s\n' "$out" | tail -40 | sed 's/^/     /' >&2
	fi
}
finish() {
	echo "ship: $PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
	exit $?
}

if [ "$(id -u)" -ne 0 ]; then
	fail "root (dpkg, namespaces and capabilities need it)"
	finish
fi

# ------------------------------------------------------------------ tools, installed when missing
TOOLS=("dpkg-deb:dpkg" "systemd-analyze:systemd" "man:man-db" "promtool:prometheus"
	"ansible-playbook:ansible-core" "python3:python3" "setpriv:util-linux" "ip:iproute2"
	"file:file" "gzip:gzip")
install_tools() {
	local entry missing=()
	for entry in "${TOOLS[@]}"; do
		command -v "${entry%%:*}" >/dev/null || missing+=("${entry#*:}")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "${XFRMDIAG_NO_INSTALL:-}" = 1 ] || ! command -v apt-get >/dev/null; then
		echo "missing: ${missing[*]}" >&2
		return 1
	fi
	echo "== installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
step "test tools present (dpkg, systemd, man-db, prometheus, ansible-core)" install_tools

# ------------------------------------------------------------------ scratch state, always removed
TAG=ship$$
NS_A=$TAG-a
NS_B=$TAG-b
WORK=$(mktemp -d /tmp/xfrmdiag-ship.XXXXXX)
cleanup() {
	[ -s "$WORK/exporter.pid" ] && kill "$(cat "$WORK/exporter.pid")" 2>/dev/null
	ip netns del "$NS_A" 2>/dev/null
	ip netns del "$NS_B" 2>/dev/null
	rm -rf "$WORK" /var/tmp/xfrmdiag-"$TAG"-*
	if [ -n "${INSTALLED_BY_US:-}" ] && dpkg -s xfrmdiag >/dev/null 2>&1; then
		dpkg --purge xfrmdiag >/dev/null 2>&1
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Two "hosts": namespaces with loopback up and one real (keyless) SA each. The host kernel has no
# ESP, so `allocspi` makes the SA; its hard lifetime is net.core.xfrm_acq_expires of the namespace.
make_host() { # make_host NS SPI
	ip netns add "$1" &&
		ip -n "$1" link set lo up &&
		ip netns exec "$1" sysctl -qw net.core.xfrm_acq_expires=3600 &&
		ip -n "$1" xfrm state allocspi src 10.98.0.2 dst 10.98.0.1 proto esp reqid 4 mode tunnel \
			min "$2" max "$2" >/dev/null
}

# ------------------------------------------------------------------ the package
commit=$(git rev-parse --short=10 HEAD 2>/dev/null || echo unknown)
start=$SECONDS
DEB=$(scripts/build-deb.sh 2>"$WORK/build-deb.log")
if [ -n "$DEB" ] && [ -f "$DEB" ]; then
	pass "build-deb.sh built $(basename "$DEB") in $((SECONDS - start)) s"
else
	fail "build-deb.sh"
	tail -30 "$WORK/build-deb.log" >&2
	finish
fi
STATIC=$(scripts/build-static.sh --quiet 2>/dev/null)
# After the build, so their SAs' lifetimes are fresh when the exporter reads them.
step "namespace hosts with an SA" bash -c "$(declare -f make_host); make_host $NS_A 0x1234 && make_host $NS_B 0x5678"

dpkg-deb -c "$DEB" | awk '{print $NF}' | sed 's|^\./|/|' >"$WORK/contents"
contains_all() {
	local path
	for path in /usr/bin/xfrmdiag /usr/share/man/man1/xfrmdiag.1.gz \
		/usr/share/bash-completion/completions/xfrmdiag /usr/share/zsh/vendor-completions/_xfrmdiag \
		/usr/share/fish/vendor_completions.d/xfrmdiag.fish \
		/usr/lib/systemd/system/xfrmdiag-exporter.service /etc/default/xfrmdiag-exporter \
		/usr/share/doc/xfrmdiag/README.md /usr/share/doc/xfrmdiag/checklists.md \
		/usr/share/doc/xfrmdiag/prometheus.md /usr/share/doc/xfrmdiag/examples/site-to-site-tunnel.toml \
		/usr/share/doc/xfrmdiag/contrib/prometheus/xfrmdiag.rules.yml \
		/usr/share/doc/xfrmdiag/contrib/grafana/xfrmdiag.json; do
		grep -qx "$path" "$WORK/contents" || { echo "missing from the package: $path"; return 1; }
	done
}
step "package holds binary, man page, completions, unit, docs, examples" contains_all

if dpkg -s xfrmdiag >/dev/null 2>&1; then
	dpkg --purge xfrmdiag >/dev/null 2>&1 # a leftover of an interrupted run
fi
INSTALLED_BY_US=1
step "dpkg -i" dpkg -i "$DEB"

version_names_commit() {
	local v
	v=$(/usr/bin/xfrmdiag --version) || return 1
	echo "$v"
	[[ $v == "xfrmdiag "*" (git $commit)" ]]
}
step "installed xfrmdiag --version names the commit ($commit)" version_names_commit
step "installed binary is static" bash -c "file /usr/bin/xfrmdiag | grep -qE 'static(-pie)? linked|statically linked'"
step "man xfrmdiag renders" bash -c "MANPAGER=cat MANWIDTH=80 man xfrmdiag 2>&1 | grep -q 'xfrmdiag - Find where the kernel dropped'"
step "bash completion loads" bash -c "source /usr/share/bash-completion/completions/xfrmdiag && complete -p xfrmdiag"
step "systemd-analyze verify xfrmdiag-exporter.service" \
	bash -c "out=\$(systemd-analyze verify /usr/lib/systemd/system/xfrmdiag-exporter.service 2>&1); echo \"\$out\"; ! grep -q . <<<\"\$out\""

# ------------------------------------------------------------------ the exporter, as its unit runs it
# nobody with only CAP_NET_ADMIN (the unit's DynamicUser + AmbientCapabilities), in host A.
exporter_as() { # exporter_as CAPS PORT: start the installed exporter in NS_A, wait for its page
	local caps=$1 port=$2
	ip netns exec "$NS_A" setpriv --reuid=65534 --regid=65534 --clear-groups \
		--inh-caps="-all$caps" --ambient-caps="-all$caps" --bounding-set="-all$caps" \
		/usr/bin/xfrmdiag watch --interval 1s --prometheus "127.0.0.1:$port" >/dev/null 2>"$WORK/exporter.err" &
	echo $! >"$WORK/exporter.pid" # steps run in subshells: the pid goes through a file
	for _ in $(seq 50); do
		ip netns exec "$NS_A" python3 -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:$port/metrics', timeout=2).read().decode())" >"$WORK/scrape" 2>/dev/null && return 0
		sleep 0.2
	done
	cat "$WORK/exporter.err"
	return 1
}
stop_exporter() {
	[ -s "$WORK/exporter.pid" ] || return 0
	kill "$(cat "$WORK/exporter.pid")" 2>/dev/null
	wait "$(cat "$WORK/exporter.pid")" 2>/dev/null
	rm -f "$WORK/exporter.pid"
}

per_sa_metrics_with_net_admin() {
	exporter_as ",+net_admin" 9717 || { stop_exporter; return 1; }
	stop_exporter
	cp "$WORK/scrape" "$WORK/scrape-full"
	grep -E '^xfrmdiag_sas\{namespace="\(current\)"\} 1$' "$WORK/scrape" &&
		grep -E '^xfrmdiag_snapshot_problems\{namespace="\(current\)"\} 0$' "$WORK/scrape" &&
		python3 - "$WORK/scrape" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r'^xfrmdiag_sa_time_to_hard_expiry_seconds\{namespace="\(current\)",src="10\.98\.0\.2",dst="10\.98\.0\.1",proto="esp",spi="0x00001234",reqid="4",dir=""\} (\S+)$', text, re.M)
assert m, "no hard-expiry sample for SPI 0x1234"
assert 3000 < float(m.group(1)) <= 3600, m.group(1)  # 3600 s from allocspi, minus a few
assert re.search(r'^xfrmdiag_sa_output_sequence_used_ratio\{.*spi="0x00001234".*\} 0$', text, re.M)
assert re.search(r'^# TYPE xfrmdiag_sa_packets_total counter$', text, re.M)
PY
}
step "exporter as nobody + CAP_NET_ADMIN serves per-SA metrics of a real SA" per_sa_metrics_with_net_admin

without_net_admin_no_sas() {
	exporter_as "" 9718 || { stop_exporter; return 1; }
	stop_exporter
	# The SA dump is refused (EPERM): no per-SA samples, and the problem is counted.
	grep -E '^xfrmdiag_snapshot_problems\{namespace="\(current\)"\} [1-9]' "$WORK/scrape" &&
		! grep -q '^xfrmdiag_sa_time_to_hard_expiry_seconds{' "$WORK/scrape" &&
		grep -q '^# TYPE xfrmdiag_sa_time_to_hard_expiry_seconds gauge$' "$WORK/scrape" &&
		grep -q '^xfrmdiag_kernel_counter_total{.*counter="XfrmInNoStates"' "$WORK/scrape"
}
step "without CAP_NET_ADMIN: /proc counters only, SA dump refused (so the unit needs it)" without_net_admin_no_sas

step "grafana dashboard queries only metrics the exporter serves" \
	python3 contrib/grafana/check-dashboard.py contrib/grafana/xfrmdiag.json "$WORK/scrape-full"
step "alert rules use only metrics the exporter serves" \
	python3 contrib/grafana/check-dashboard.py --rules contrib/prometheus/xfrmdiag.rules.yml "$WORK/scrape-full"
step "promtool check rules" promtool check rules contrib/prometheus/xfrmdiag.rules.yml
step "promtool test rules" promtool test rules contrib/prometheus/tests/*.yml

# ------------------------------------------------------------------ sa-lifetime / sa-seq-headroom
cat >"$WORK/sa-health.toml" <<'TOML'
name = "sa-health"
[variables]
peer = "10.98.0.2"
min_remaining = 600

[[check]]
kind = "sa-lifetime"
name = "lifetime left"
src = "${peer}"
include_larval = true
min_remaining_seconds = "${min_remaining}"

[[check]]
kind = "sa-seq-headroom"
name = "sequence space left"
src = "${peer}"
TOML
sa_checks_on_a_real_sa() {
	local out
	out=$(/usr/bin/xfrmdiag -n "$NS_A" check "$WORK/sa-health.toml" --json) || { echo "$out"; return 1; }
	python3 -c 'import json,sys; r=json.loads(sys.argv[1])["results"]; assert [x["status"] for x in r]==["pass","pass"], r' "$out" || return 1
	# The SA has at most 3600 s left: asking for two hours fails, naming it.
	out=$(/usr/bin/xfrmdiag -n "$NS_A" check "$WORK/sa-health.toml" --var min_remaining=7200)
	[ $? -eq 1 ] && grep -q "0x00001234" <<<"$out" || { echo "$out"; return 1; }
}
step "sa-lifetime and sa-seq-headroom checks on a real SA" sa_checks_on_a_real_sa

# ------------------------------------------------------------------ the fleet run
fleet_run() {
	local results=$WORK/results
	cat >"$WORK/inventory.ini" <<INI
[ipsec]
gw-a xfrmdiag_netns=$NS_A
gw-b xfrmdiag_netns=$NS_B

[ipsec:vars]
ansible_connection=local
ansible_python_interpreter=$(command -v python3)
INI
	cat >"$WORK/vars.yml" <<YML
xfrmdiag_binary_src: $STATIC
xfrmdiag_install_dir: /var/tmp/xfrmdiag-$TAG-{{ inventory_hostname }}
xfrmdiag_work_dir: /var/tmp/xfrmdiag-$TAG-{{ inventory_hostname }}
xfrmdiag_checklist: $WORK/sa-health.toml
xfrmdiag_vars: {min_remaining: 60}
xfrmdiag_diagnose: true
xfrmdiag_diagnose_args: "--send udp:127.0.0.1:9 --count 2 --window 500ms --no-trace"
xfrmdiag_results_dir: $results
YML
	ANSIBLE_NOCOLOR=1 ANSIBLE_LOCAL_TEMP=$WORK/ansible-tmp ANSIBLE_RETRY_FILES_ENABLED=0 \
		ansible-playbook -i "$WORK/inventory.ini" -e "@$WORK/vars.yml" contrib/ansible/xfrmdiag-check.yml || return 1
	for host in gw-a gw-b; do
		[ -s "$results/$host/check.xml" ] && [ -s "$results/$host/evidence.json" ] ||
			{ echo "nothing fetched from $host"; return 1; }
	done
	python3 - "$results/merged.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
hosts = sorted(s.get("hostname") for s in root.findall("testsuite"))
assert hosts == ["gw-a", "gw-b"], hosts
assert root.get("tests") == "4" and root.get("failures") == "0", root.attrib
print("merged JUnit names", hosts)
PY
}
step "ansible fleet run on two namespace hosts, JUnit merged naming both" fleet_run
step "junit-merge.py unit tests" python3 -m unittest discover -s contrib/ansible/tests

# ------------------------------------------------------------------ purge leaves nothing
purge_leaves_nothing() {
	dpkg --purge xfrmdiag || return 1
	dpkg -s xfrmdiag >/dev/null 2>&1 && { echo "still known to dpkg"; return 1; }
	local path left=0
	while read -r path; do
		[ "$path" = / ] && continue
		path=${path%/}
		# Shared directories (/usr/bin, /etc/default, ...) stay; ours must go.
		if [ -e "$path" ] && { [ ! -d "$path" ] || [[ $path == */xfrmdiag* ]]; }; then
			echo "left behind: $path"
			left=1
		fi
	done <"$WORK/contents"
	[ "$left" -eq 0 ]
}
step "dpkg --purge leaves none of the package's paths" purge_leaves_nothing
INSTALLED_BY_US=

finish
