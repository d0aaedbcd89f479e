#!/bin/sh
# Runs every scenario file in /vmtests/scenarios inside this guest, one after another, each in its
# own pair of namespaces that is deleted afterwards. The file format is described in
# vm-tests/README.md. Every line meant for the host starts with "@@VMT":
#   @@VMT BEGIN <scenario>
#   @@VMT CHECK <scenario> ok|FAIL|pending <what>
#   @@VMT RESULT <scenario> pass|fail [pending=N]
#   @@VMT NOTAPPLICABLE <scenario> <why>
# Checks that need an xfrmdiag command this binary does not have yet are reported `pending`,
# never `ok`; the host (run.sh) fails them under XFRMDIAG_REQUIRE=all.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
XD=/vmtests/bin/xfrmdiag
UDPFLOW=/vmtests/bin/udpflow
KVER=$(uname -r | cut -d. -f1,2)
ONLY=$(sed -n 's/.*vmt_only=\([^ ]*\).*/\1/p' /proc/cmdline)
TRACEFS=/sys/kernel/tracing
# busybox sh runs its own `ip` applet (no xfrm) even when the name is not linked: always call the
# real iproute2 binary, here and in the scenarios' commands
ip() { /usr/sbin/ip "$@"; }
USE_REAL_IP='ip() { /usr/sbin/ip "$@"; }; '

# Fixed topology: namespaces a and b joined by one veth, static neighbours, no DAD, so nothing but
# the test traffic moves counters.
export NS_A=vmt_a NS_B=vmt_b DEV_A=veth_a DEV_B=veth_b
export A4=10.99.0.1 B4=10.99.0.2 A6=fd99::1 B6=fd99::2
MAC_A=02:00:00:00:00:0a MAC_B=02:00:00:00:00:0b

# ---- what this xfrmdiag can do (commands land one by one; until then their checks are pending)
# A command counts as present when it runs without the skeleton's "not implemented" error.
implemented() { # implemented CMD [FLAG]: CMD exists, and its --help mentions FLAG if given
	"$XD" "$1" --help >/tmp/help.txt 2>&1 || return 1
	[ -z "$2" ] || grep -q -- "$2" /tmp/help.txt || return 1
	! "$XD" "$1" --help 2>&1 | grep -qi "not implemented" &&
		! "$XD" -n nonexistent_ns "$1" 2>&1 | grep -qi "not implemented"
}
HAVE_SA=no; implemented sa --show-stats && HAVE_SA=yes
HAVE_POLICY=no; implemented policy && HAVE_POLICY=yes
HAVE_COUNTERS=no; implemented counters --since && HAVE_COUNTERS=yes
HAVE_DIAGNOSE=no; implemented diagnose --send && HAVE_DIAGNOSE=yes
HAVE_TRACE=no; implemented trace --graph && HAVE_TRACE=yes
HAVE_COMPARE=no; implemented compare && [ "$HAVE_DIAGNOSE" = yes ] && HAVE_COMPARE=yes
echo "@@VMT FEATURES sa=$HAVE_SA policy=$HAVE_POLICY counters=$HAVE_COUNTERS diagnose=$HAVE_DIAGNOSE trace=$HAVE_TRACE compare=$HAVE_COMPARE"

# ---- helpers
uptime_s() { cut -d' ' -f1 /proc/uptime; }
phase() { echo "  [$(uptime_s)s] $1"; }
check() { # check ok|FAIL|pending TEXT
	echo "@@VMT CHECK $SCN $1 $2"
	case $1 in
	FAIL) FAILED=$((FAILED + 1)) ;;
	pending) PENDING=$((PENDING + 1)) ;;
	esac
	return 0
}

ns_of() { case $1 in a) echo "$NS_A" ;; b) echo "$NS_B" ;; *) echo "bad-side-$1" ;; esac; }

topology_up() { # three `ip -batch` runs instead of a dozen processes: each costs under TCG
	[ "$TOPOLOGY" = gateways ] && { gateways_up; return; }
	ip netns add "$NS_A" && ip netns add "$NS_B" &&
		ip link add "$DEV_A" address $MAC_A netns "$NS_A" type veth peer name "$DEV_B" address $MAC_B netns "$NS_B" &&
		ip -n "$NS_A" -batch - <<-EOB &&
			addr add $A4/24 dev $DEV_A
			addr add $A6/64 dev $DEV_A nodad
			link set lo up
			link set $DEV_A up
			neigh replace $B4 lladdr $MAC_B dev $DEV_A nud permanent
			neigh replace $B6 lladdr $MAC_B dev $DEV_A nud permanent
		EOB
		ip -n "$NS_B" -batch - <<-EOB
			addr add $B4/24 dev $DEV_B
			addr add $B6/64 dev $DEV_B nodad
			link set lo up
			link set $DEV_B up
			neigh replace $A4 lladdr $MAC_A dev $DEV_B nud permanent
			neigh replace $A6 lladdr $MAC_A dev $DEV_B nud permanent
		EOB
}

topology_down() {
	ip netns del "$NS_A" 2>/dev/null
	ip netns del "$NS_B" 2>/dev/null
	gateways_down
}

# Runs the scenario's side commands ("a CMD", "b CMD", "both CMD") in the namespaces.
setup_sides() {
	rc=0
	while IFS= read -r line; do
		case $line in
		"a "* | "b "* | "both "*) ;;
		*) continue ;;
		esac
		side=${line%% *}
		cmd=${line#* }
		for s in a b; do
			[ "$side" = both ] || [ "$side" = "$s" ] || continue
			if ! out=$(ip netns exec "$(ns_of $s)" sh -c "$USE_REAL_IP$cmd" 2>&1 </dev/null); then
				echo "setup failed on $s: $cmd"
				echo "$out"
				rc=1
			fi
		done
	done <"$FILE"
	return $rc
}

# Every counter of a namespace as "Name value" lines: xfrm_stat and snmp6 as written, snmp and
# netstat as Group.Name.
snapshot() { # snapshot SIDE FILE
	ip netns exec "$(ns_of "$1")" cat /proc/net/xfrm_stat /proc/net/snmp /proc/net/netstat /proc/net/snmp6 2>/dev/null |
		awk '$1 ~ /:$/ { g = substr($1, 1, length($1) - 1)
		                 if (!(g in hdr)) { hdr[g] = $0; next }
		                 n = split(hdr[g], h, " "); for (i = 2; i <= n; i++) print g "." h[i], $i
		                 delete hdr[g]; next }
		     NF == 2 { print $1, $2 }' >"$2"
}

delta() { # delta BEFORE AFTER: the counters that moved, "Name +N"
	awk 'NR == FNR { before[$1] = $2; next } { d = $2 - before[$1]; if (d != 0) print $1, d }' "$1" "$2"
}

counter_delta() { # counter_delta SIDE NAME
	v=$(awk -v n="$2" '$1 == n { print $2 }' "/tmp/delta.$1")
	echo "${v:-0}"
}

compare_value() { # compare_value GOT WANT: WANT is N or >=N
	case $2 in
	">="*) [ "$1" -ge "${2#>=}" ] ;;
	*) [ "$1" -eq "$2" ] ;;
	esac
}

# Raw tracing around the test send, in a private instance, independent of xfrmdiag: which
# xfrm_audit_* functions ran (the kernel's own "why" markers inside xfrm_input, which gives no
# drop reason of its own) and every skb:kfree_skb (drop reason and location).
ftrace_start() {
	FT=$TRACEFS/instances/vmtests
	mkdir "$FT" 2>/dev/null || return 1
	echo 'xfrm_audit_*' >"$FT/set_ftrace_filter" 2>/dev/null &&
		echo function >"$FT/current_tracer" 2>/dev/null &&
		echo 1 >"$FT/events/skb/kfree_skb/enable" &&
		echo 1 >"$FT/tracing_on"
}
ftrace_stop() { # writes /tmp/ftrace.out (distinct functions hit) and /tmp/drops.out ("N REASON LOCATION")
	echo 0 >"$FT/tracing_on" 2>/dev/null
	grep -v '^#' "$FT/trace" >/tmp/trace.raw 2>/dev/null
	sed -n 's/.*: \([a-z_0-9]*\) <-.*/\1/p' /tmp/trace.raw | sort -u >/tmp/ftrace.out
	sed -n 's/.*kfree_skb:.* location=\([^ ]*\).* reason: \([A-Z_0-9]*\).*/\2 \1/p' /tmp/trace.raw |
		sort | uniq -c >/tmp/drops.addr
	# only 6.1 prints raw addresses; reading kallsyms costs seconds under TCG, so only then
	if grep -qE ' (0x)?[0-9a-f]{16}$' /tmp/drops.addr; then symbolize </tmp/drops.addr; else cat /tmp/drops.addr; fi |
		awk '{ sub(/\/.*/, "", $3); print $1, $2, $3 }' >/tmp/drops.out
	echo 0 >"$FT/events/skb/kfree_skb/enable" 2>/dev/null
	echo nop >"$FT/current_tracer" 2>/dev/null
	rmdir "$FT" 2>/dev/null
}

# symbolize: "N REASON LOCATION" lines with LOCATION as "func+0xoff", the way 6.12 prints it. 6.1
# prints a raw address (real, thanks to no_hash_pointers). Scanning /proc/kallsyms costs seconds
# under TCG, so it is read once, for the functions the scenarios expect drops in: their start and
# the next symbol's address (kallsyms lists the kernel's own symbols in address order). Addresses
# are compared as 16-digit hex strings: awk numbers would lose 64-bit precision.
symbolize() {
	if [ ! -e /tmp/ksyms.wanted ]; then
		# nft_do_chain lives in the nf_tables module: load it before the one read of kallsyms, or a
		# drop seen before the first nft use (ND noise in an early scenario) leaves it out of the
		# cache for the whole run (seen in a CI run on 6.1). Without tables it hooks nothing.
		modprobe nf_tables 2>/dev/null
		names=$(sed -n 's/^expect drop [^ ]* //p' /vmtests/scenarios/*.scn | sort -u | tr '\n' ' ')
		awk -v names=" $names " 'want { print start, $1, name; want = 0 }
			$2 ~ /^[tT]$/ && index(names, " " $3 " ") { want = 1; start = $1; name = $3 }' /proc/kallsyms >/tmp/ksyms.wanted
	fi
	awk 'function hex(s,   i, n) { n = 0; for (i = 1; i <= length(s); i++) n = n * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1; return n }
	     FNR == NR { n++; from[n] = $1; to[n] = $2; name[n] = $3; next }
	     { a = tolower($3); sub(/^0x/, "", a)
	       if (a ~ /^[0-9a-f]+$/) { while (length(a) < 16) a = "0" a
	         for (i = 1; i <= n; i++) if (a >= from[i] && a < to[i]) $3 = sprintf("%s+0x%x", name[i], hex(substr(a, 9)) - hex(substr(from[i], 9))) }
	       print }' /tmp/ksyms.wanted -
}

tracefs_state() { # what "leave tracefs as found" compares
	ls "$TRACEFS/instances"
	cat "$TRACEFS/current_tracer" "$TRACEFS/tracing_on" "$TRACEFS/set_event" "$TRACEFS/set_ftrace_filter" 2>/dev/null
}

udpflow_args() { # the scenario's "send" line as udpflow options
	# shellcheck disable=SC2046 # the send line is space-separated words
	set -- $(sed -n 's/^send //p' "$FILE" | head -n 1)
	args="--from /run/netns/$NS_A --to /run/netns/$NS_B --dst $B"
	for kv in "$@"; do
		case $kv in
		df | probe | tcp) args="$args --$kv" ;;
		*=*) args="$args --${kv%%=*} ${kv#*=}" ;;
		esac
	done
	echo "$args"
}

# Hex key material written in the scenario's side commands: none of it may appear in any output.
scenario_keys() {
	grep -E '^(a|b|both|gl|gr|gws) ' "$FILE" | grep -oE '0x[0-9a-fA-F]{16,}' | sed 's/^0x//' | sort -u
}

assert_no_keys() { # assert_no_keys WHAT FILE
	leaked=""
	for k in $(scenario_keys); do
		grep -qi "$k" "$2" && leaked="$leaked ${k%"${k#????????}"}..."
	done
	if [ -n "$leaked" ]; then check FAIL "no key hex in $1 (found:$leaked)"; else check ok "no key hex in $1"; fi
}

# More topologies than a/b (site-to-site gateways): topology.sh
. /vmtests/guest/topology.sh

# ---- one scenario
run_scenario() {
	FILE=$1
	SCN=$(basename "$FILE" .scn)
	FAILED=0
	PENDING=0
	kernels=$(sed -n 's/^kernels //p' "$FILE")
	if [ -n "$kernels" ] && ! echo " $kernels " | grep -q " $KVER "; then
		echo "@@VMT NOTAPPLICABLE $SCN kernel $KVER not in: $kernels"
		return
	fi
	family=$(sed -n 's/^family //p' "$FILE")
	topology_vars
	if [ "$family" = 6 ]; then export A=$A6 B=$B6; else export A=$A4 B=$B4; fi
	echo "@@VMT BEGIN $SCN"
	T0=$(uptime_s)
	sed -n 's/^# */  | /p' "$FILE" | head -n 3

	# Phase 1: the kernel's own view — send with udpflow, counters from /proc, raw ftrace.
	topology_down
	if ! topology_up || ! setup_sides; then
		check FAIL "setup"
		topology_down
		echo "@@VMT RESULT $SCN fail"
		return
	fi
	want_ftrace=$(sed -n 's/^expect ftrace //p' "$FILE")
	phase "set up; sending"
	for s in $(topology_sides); do snapshot $s /tmp/before.$s; done
	if [ "$HAVE_COUNTERS" = yes ]; then
		for s in $(topology_sides); do "$XD" -n "$(ns_of $s)" counters --save /tmp/xd.$s >/dev/null 2>&1; done
	fi
	traced=no
	ftrace_start && traced=yes
	# shellcheck disable=SC2046
	$UDPFLOW $(udpflow_args) >/tmp/flow.out 2>&1
	if [ $traced = yes ]; then ftrace_stop; fi
	for s in $(topology_sides); do
		snapshot $s /tmp/after.$s
		delta /tmp/before.$s /tmp/after.$s >/tmp/delta.$s
	done
	sed 's/^/  flow: /' /tmp/flow.out
	[ $traced = yes ] && sed 's/^/  dropped: /' /tmp/drops.out && sed 's/^/  audit: /' /tmp/ftrace.out
	for s in $(topology_sides); do echo "  moved in $s: $(tr '\n' ' ' </tmp/delta.$s)"; done
	summary=$(grep '^udpflow:' /tmp/flow.out)
	field() { echo "$summary" | sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

	while read -r kw what a1 a2 a3; do
		[ "$kw" = expect ] || continue
		case $what in
		received | sent_ok)
			got=$(field "$what")
			if [ -n "$got" ] && compare_value "$got" "$a1"; then check ok "$what $got"; else check FAIL "$what: want $a1, got ${got:-nothing}"; fi ;;
		send_errors)
			got=$(field errors)
			if [ "$got" = "$a1" ]; then check ok "send errors $got"; else check FAIL "send errors: want $a1, got ${got:-nothing}"; fi ;;
		counter)
			got=$(counter_delta "$a1" "$a2")
			if compare_value "$got" "$a3"; then check ok "$a1 $a2 +$got"; else check FAIL "$a1 $a2: want +$a3, got +$got"; fi
			if [ "$HAVE_COUNTERS" = yes ]; then
				"$XD" -n "$(ns_of "$a1")" counters --since "/tmp/xd.$a1" --json </dev/null >/tmp/xdc.out 2>&1
				# JSON {"delta": {"Name": {"increased": N}, ...}} (docs/json/counters.md): a counter
				# that moved must be there with /proc's value, one that did not must be absent
				flat=$(tr -d ' \n\t' </tmp/xdc.out)
				if { [ "$got" = 0 ] && ! echo "$flat" | grep -q "\"$a2\":{\"increased\""; } ||
					echo "$flat" | grep -q "\"$a2\":{\"increased\":$got}"; then
					check ok "xfrmdiag counters --since agrees on $a1 $a2"
				else
					check FAIL "xfrmdiag counters --since on $a1 lacks $a2=$got: $(head -c 300 /tmp/xdc.out)"
				fi
			else
				check pending "xfrmdiag counters --since agrees on $a1 $a2"
			fi ;;
		quiet)
			moved=$(grep '^Xfrm' "/tmp/delta.$a1" | tr '\n' ' ')
			if [ -z "$moved" ]; then check ok "no xfrm_stat counter moved on $a1"; else check FAIL "xfrm_stat counters moved on $a1: $moved"; fi ;;
		sa_count)
			got=$(ip -n "$(ns_of "$a1")" xfrm state count </dev/null | sed -n 's/.*count \([0-9]*\).*/\1/p')
			if [ "$got" = "$a2" ]; then check ok "$a1 has $got SAs"; else check FAIL "$a1 SAs: want $a2, got $got"; fi ;;
		sa_failed)
			got=$(ip -s -n "$(ns_of "$a1")" xfrm state </dev/null | sed -n 's/.* failed \([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
			if compare_value "$got" "$a2"; then check ok "$a1 SA stats failed $got"; else check FAIL "$a1 SA stats failed: want $a2, got $got"; fi ;;
		sa_packets)
			# packets the SAs of that side processed ("lifetime current:" of ip -s xfrm state):
			# proves the datagrams really went through ESP
			got=$(ip -s -n "$(ns_of "$a1")" xfrm state </dev/null | awk '/lifetime current:/ { getline; if (match($0, /[0-9]+\(packets\)/)) s += substr($0, RSTART, RLENGTH - 9) } END { print s + 0 }')
			if compare_value "$got" "$a2"; then check ok "$a1 SAs processed $got packets"; else check FAIL "$a1 SAs processed: want $a2 packets, got $got"; fi ;;
		ftrace)
			if [ $traced != yes ]; then
				check FAIL "function tracer unusable in a tracefs instance"
			elif [ "$a1" = none ]; then
				hit=$(tr '\n' ' ' </tmp/ftrace.out)
				if [ -z "$hit" ]; then check ok "no xfrm_audit function ran"; else check FAIL "xfrm_audit functions ran: $hit"; fi
			elif grep -qx "$a1" /tmp/ftrace.out; then
				check ok "function tracer saw $a1"
			else
				check FAIL "function tracer did not see $a1 (saw: $(tr '\n' ' ' </tmp/ftrace.out))"
			fi ;;
		drop)
			# "expect drop REASON FUNCTION": a skb:kfree_skb with that reason at FUNCTION+offset
			if [ $traced != yes ]; then
				check FAIL "skb:kfree_skb unusable in a tracefs instance"
			elif grep -qE "^[0-9]+ $a1 $a2\+" /tmp/drops.out; then
				check ok "dropped with $a1 at $a2"
			else
				check FAIL "no drop $a1 at $a2 (drops: $(tr '\n' ';' </tmp/drops.out))"
			fi ;;
		verdict | graph | compare) ;; # phases 2 and 3
		*) check FAIL "unknown expectation: $what" ;;
		esac
	done <"$FILE"

	# Keys never appear in what xfrmdiag prints about these SAs.
	phase "checking xfrmdiag output for keys"
	if [ "$HAVE_SA" = yes ]; then
		for s in a b; do
			ns=$(ns_of $s)
			# a side without SAs has no key to leak (the end hosts of the gateway topology): each
			# xfrmdiag run costs about half a second under TCG, and the vm run has a time budget
			[ -n "$(ip -n "$ns" xfrm state </dev/null)" ] || continue
			{
				"$XD" -n "$ns" sa
				"$XD" -n "$ns" sa --json
				"$XD" -n "$ns" sa --show-stats
			} </dev/null >/tmp/sa.$s 2>&1
			assert_no_keys "xfrmdiag output on $s" /tmp/sa.$s
			# every SPI of this side's SAs shows up in sa --json, with a fingerprint
			for spi in $(ip -n "$ns" xfrm state | sed -n 's/.* spi \(0x[0-9a-f]*\).*/\1/p'); do
				if grep -q "\"$spi\"" /tmp/sa.$s; then check ok "sa --json on $s lists SPI $spi"; else check FAIL "sa --json on $s lacks SPI $spi"; fi
			done
			# the fingerprints run.sh computed from the scenario's keys are the ones shown
			while read -r side alg fp; do
				[ "$side" = both ] || [ "$side" = "$s" ] || continue
				if grep -q "$fp" /tmp/sa.$s; then check ok "sa on $s shows $alg key fingerprint $fp"; else check FAIL "sa on $s lacks $alg key fingerprint $fp"; fi
			done <"${FILE%.scn}.fingerprints"
		done
	else
		check pending "no key hex in xfrmdiag sa/policy/counters output"
	fi
	gateway_checks
	topology_down

	# Phase 2: xfrmdiag's diagnosis of the same fault on a fresh setup.
	want_verdict=$(sed -n 's/^expect verdict //p' "$FILE")
	if [ -n "$want_verdict" ]; then
		if [ "$HAVE_DIAGNOSE" = yes ]; then
			phase "diagnose"
			# xfrmdiag sends its own test traffic, shaped like the scenario's send line, or what
			# the scenario's "diagnose" line says
			# shellcheck disable=SC2046 # the send line is space-separated words
			set -- $(sed -n 's/^send //p' "$FILE" | head -n 1)
			count=5 port=5555 size=64 encap="" proto=udp bytes=65536
			for kv in "$@"; do
				case $kv in
				count=*) count=${kv#*=} ;; port=*) port=${kv#*=} ;; size=*) size=${kv#*=} ;; encap-socket=*) encap=${kv#*=} ;;
				tcp) proto=tcp ;; bytes=*) bytes=${kv#*=} ;;
				esac
			done
			case $B in *:*) dst="[$B]" ;; *) dst=$B ;; esac
			dargs=$(sed -n 's/^diagnose //p' "$FILE")
			if [ -z "$dargs" ] && [ $proto = tcp ]; then dargs="--send tcp:$dst:$port --bytes $bytes --peer-netns $NS_B"; fi
			[ -n "$dargs" ] || dargs="--send udp:$dst:$port --count $count --size $size --peer-netns $NS_B"
			# a flag this xfrmdiag lacks makes the check pending (say which), not failed
			missing=""
			"$XD" diagnose --help >/tmp/help.txt 2>&1
			eval "set -- $dargs"
			for w in "$@"; do
				case $w in --*) grep -q -- "$w" /tmp/help.txt || missing="$missing $w" ;; esac
			done
			if [ -n "$missing" ]; then
				check pending "diagnose verdict $want_verdict (diagnose has no$missing)"
			elif topology_up && setup_sides; then
				holder=""
				if [ -n "$encap" ]; then
					# the receiver's NAT-T socket, as its IKE daemon would hold it
					: >/tmp/holder.out
					$UDPFLOW --from x --to "/run/netns/$NS_B" --dst "$B" --encap-socket "$encap" --hold-ms 60000 >/tmp/holder.out 2>&1 &
					holder=$!
					tries=0
					while ! grep -q holding /tmp/holder.out && [ $tries -lt 100 ]; do sleep 0.05; tries=$((tries + 1)); done
				fi
				echo "  diagnose: xfrmdiag -n $NS_A diagnose $dargs --json"
				eval "\"\$XD\" -n \"\$NS_A\" diagnose $dargs --json" </dev/null >/tmp/diag.out 2>&1
				[ -z "$holder" ] || kill "$holder"
				flat=$(tr -d ' \n\t' </tmp/diag.out)
				got=$(report_verdict /tmp/diag.out)
				echo "  diagnose: verdict $got causes $(echo "$flat" | grep -oE '"cause":"[^"]*"' | sort -u | tr '\n' ' ')"
				echo "  diagnose: counters moved $(echo "$flat" | grep -oE '"[A-Za-z0-9_.:]+":\{"increased":[0-9]+\}' | sed 's/:{"increased":/ +/; s/}$//' | sort -u | tr -d '"' | tr '\n' ' ')"
				# "known_gap TEXT": the verdict is known to be wrong today (a gap in diagnose, named in
				# TEXT): reported as a gap, neither passed nor failed, until diagnose gets it right
				gap=$(sed -n 's/^known_gap //p' "$FILE")
				if [ "$got" = "$want_verdict" ]; then
					check ok "diagnose verdict $got${gap:+ (the known_gap line can go)}"
				elif [ -n "$gap" ]; then
					check gap "diagnose verdict: want $want_verdict, got ${got:-nothing}: $gap"
				else
					check FAIL "diagnose verdict: want $want_verdict, got ${got:-nothing} ($(head -c 300 /tmp/diag.out))"
				fi
				assert_no_keys "diagnose --json" /tmp/diag.out
			else
				check FAIL "setup for diagnose"
			fi
			topology_down
		else
			check pending "diagnose verdict $want_verdict"
		fi
	fi

	# Phase 2b: the two-host workflow. Each side diagnoses on its own (receiver listening first,
	# as on two hosts), then `xfrmdiag compare` cross-checks the two reports: for a key mismatch
	# it must name the cause and show both sides' key fingerprints (the ones run.sh computed).
	want_compare=$(sed -n 's/^expect compare //p' "$FILE")
	if [ -n "$want_compare" ] && [ "$HAVE_COMPARE" != yes ]; then
		check pending "xfrmdiag compare names $want_compare"
	elif [ -n "$want_compare" ]; then
		phase "diagnose on each side, then compare"
		if topology_up && setup_sides; then
			: >/tmp/listen.err
			"$XD" -n "$NS_B" diagnose --listen udp:5555 --count 5 --window 3s --announce-ready --json </dev/null >/tmp/side-b.json 2>/tmp/listen.err &
			listener=$!
			tries=0
			while ! grep -q xfrmdiag-ready /tmp/listen.err && [ $tries -lt 200 ]; do sleep 0.05; tries=$((tries + 1)); done
			"$XD" -n "$NS_A" diagnose --send "udp:$B:5555" --count 5 --json </dev/null >/tmp/side-a.json 2>&1
			wait $listener
			"$XD" compare /tmp/side-a.json /tmp/side-b.json --json </dev/null >/tmp/compare.out 2>&1
			"$XD" compare /tmp/side-a.json /tmp/side-b.json </dev/null >>/tmp/compare.out 2>&1
			flat=$(tr -d ' \n\t' </tmp/compare.out)
			got=$(echo "$flat" | grep -oE '"verdict":"[^"]*"' | head -n 1 | sed 's/.*:"\([^"]*\)"$/\1/')
			echo "  compare: verdict $got"
			if [ "$got" = "$want_compare" ]; then check ok "compare verdict $got"; else check FAIL "compare verdict: want $want_compare, got ${got:-nothing} ($(head -c 300 /tmp/compare.out))"; fi
			# both sides' auth key fingerprints are in the comparison
			while read -r side alg fp; do
				case $alg in hmac*) ;; *) continue ;; esac
				if grep -q "$fp" /tmp/compare.out; then check ok "compare shows $side's $alg key fingerprint $fp"; else check FAIL "compare lacks $side's $alg key fingerprint $fp"; fi
			done <"${FILE%.scn}.fingerprints"
			cat /tmp/side-a.json /tmp/side-b.json >>/tmp/compare.out
			assert_no_keys "diagnose (each side) and compare" /tmp/compare.out
		else
			check FAIL "setup for compare"
		fi
		topology_down
	fi

	# Phase 3: xfrmdiag trace shows the drops (reason, location) and, with the function tracer,
	# the xfrm function that marks the cause; plain and --graph; tracefs left as found.
	modes=""
	grep -q '^expect drop ' "$FILE" && modes=plain
	if [ -n "$want_ftrace" ] && [ "$want_ftrace" != none ]; then modes=plain; fi
	# function_graph is the slowest capture under TCG: only where a scenario asks for it
	grep -q '^expect graph' "$FILE" && modes="$modes graph"
	if [ -n "$modes" ] && [ "$HAVE_TRACE" != yes ]; then
		check pending "xfrmdiag trace (function tracer, --graph) shows the drops and audit function; tracefs left as found"
		modes=""
	fi
	for mode in $modes; do
		graph=""
		[ "$mode" = graph ] && graph=--graph
		what="xfrmdiag trace${graph:+ $graph}"
		phase "$what"
		if ! topology_up || ! setup_sides; then
			check FAIL "setup for trace"
			topology_down
			continue
		fi
		tracefs_state >/tmp/tracefs.before
		# shellcheck disable=SC2046 # everything after --exec is the command and its arguments
		"$XD" trace $graph --exec $UDPFLOW $(udpflow_args) </dev/null >/tmp/trace.out 2>&1
		tracefs_state >/tmp/tracefs.after
		topology_down
		sed -n '/^udpflow:/,$p' /tmp/trace.out | head -n 24 | sed 's/^/  trace: /'
		if [ -n "$want_ftrace" ] && [ "$want_ftrace" != none ]; then
			# the call path into the drop: xfrm_input and the audit function that names the cause
			for fn in xfrm_input "$want_ftrace"; do
				if grep -q "$fn" /tmp/trace.out; then check ok "$what shows $fn"; else check FAIL "$what lacks $fn: $(tail -c 400 /tmp/trace.out)"; fi
			done
		fi
		while read -r kw what2 reason fn; do
			[ "$kw $what2" = "expect drop" ] || continue
			if grep "$reason" /tmp/trace.out | grep -q "$fn+"; then check ok "$what shows drop $reason at $fn"; else check FAIL "$what lacks drop $reason at $fn"; fi
		done <"$FILE"
		if cmp -s /tmp/tracefs.before /tmp/tracefs.after; then check ok "tracefs as found after $what"; else check FAIL "tracefs changed by $what: $(diff /tmp/tracefs.before /tmp/tracefs.after | tr '\n' ' ')"; fi
		assert_no_keys "$what" /tmp/trace.out
	done

	secs=$(awk -v a="$T0" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }')
	if [ $FAILED -eq 0 ]; then verdict=pass; else verdict=fail; fi
	echo "@@VMT RESULT $SCN $verdict pending=$PENDING secs=$secs"
}

# report_verdict FILE: the verdict of a `diagnose --json` report: its top-level key (two spaces
# in), not the "verdict" of a firewall rule in a side's evidence.
report_verdict() {
	grep -E '^  "verdict" *: *"' "$1" | head -n 1 | sed 's/.*"\([^"]*\)",*$/\1/'
}

# scenarios with real IKE daemons (ike-*.scn) have their own runner
. /vmtests/guest/ike.sh
run_any() { case $(basename "$1") in ike-*) run_ike_scenario "$1" ;; *) run_scenario "$1" ;; esac; }
for f in /vmtests/scenarios/*.scn; do
	case $ONLY in
	"" | all) run_any "$f" ;;
	*) case $(basename "$f" .scn) in *"$ONLY"*) run_any "$f" ;; esac ;;
	esac
done
