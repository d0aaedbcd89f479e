#!/bin/sh
# Sourced by run-scenarios.sh: scenarios with real IKE daemons (scenarios/ike-*.scn). strongSwan's
# charon (or Libreswan's pluto) runs in each namespace with its own config, socket, log and pid
# directory under /run/IKE-NS; charon gets a private /var (tmpfs) because its pid file is fixed
# at /var/run/charon.pid. The scenario file's directives are described in vm-tests/README.md.
# Uses run-scenarios.sh's helpers: check, phase, topology_up/down, ns_of, $XD, $UDPFLOW.

IKE_PSK_DEFAULT=vmtests-psk-5f1d2e7c9a3b4d60
CHARON=/usr/lib/ipsec/charon
SWANCTL=/usr/sbin/swanctl
PLUTO=/usr/libexec/ipsec/pluto
WHACK=/usr/libexec/ipsec/whack
ADDCONN=/usr/libexec/ipsec/addconn

ike_opt() { # ike_opt NAME DEFAULT: the scenario's "NAME VALUE" line
	v=$(sed -n "s/^$1 //p" "$FILE" | head -n 1)
	echo "${v:-$2}"
}

ike_dir() { echo "/run/ike-$(ns_of "$1")"; }

# The side's own and the peer's address.
ike_addrs() { if [ "$1" = a ]; then echo "$A $B"; else echo "$B $A"; fi; }

# ---- strongSwan
swan_conf() { # swan_conf SIDE: strongswan.conf and swanctl.conf in the side's directory
	d=$(ike_dir "$1")
	mkdir -p "$d"
	set -- "$1" $(ike_addrs "$1")
	side=$1 me=$2 peer=$3
	cat >"$d/strongswan.conf" <<-EOC
		charon {
		  load = random nonce aes sha1 sha2 hmac gmp kdf kernel-netlink socket-default vici pem pkcs1 pkcs8 x509 pubkey constraints revocation
		  install_routes = no
		  retransmit_tries = 2
		  retransmit_timeout = 1.0
		  filelog {
		    ike {
		      path = $d/charon.log
		      default = 1
		      ike_name = yes
		      flush_line = yes
		    }
		  }
		  plugins {
		    vici {
		      socket = unix://$d/charon.vici
		    }
		  }
		}
		swanctl {
		  socket = unix://$d/charon.vici
		  load = random nonce aes sha1 sha2 hmac gmp pem pkcs1 pkcs8 x509 pubkey
		}
	EOC
	mode=$(ike_opt mode transport)
	tsport=$(ike_opt ts_port "$(ike_opt port 5555)")
	ikep=$(ike_opt "ike_proposals_$side" "$(ike_opt ike_proposals aes128-sha256-modp2048)")
	espp=$(ike_opt "esp_proposals_$side" "$(ike_opt esp_proposals aes128-sha256)")
	psk=$(ike_opt "psk_$side" "$(ike_opt psk "$IKE_PSK_DEFAULT")")
	rekey=$(ike_opt rekey 3600)
	life=$((rekey + 60))
	[ "$rekey" -lt 3600 ] && life=$((rekey + 3))
	# a sends from any port to b's port: the selectors of a and b mirror each other
	if [ "$mode" = tunnel ]; then l=$me/32 r=$peer/32; else l=dynamic r=dynamic; fi
	if [ "$side" = a ]; then lts="$l[udp]" rts="$r[udp/$tsport]"; else lts="$l[udp/$tsport]" rts="$r[udp]"; fi
	cat >"$d/swanctl.conf" <<-EOC
		connections {
		  host {
		    local_addrs = $me
		    remote_addrs = $peer
		    version = 2
		    proposals = $ikep
		    local { auth = psk
		      id = $me }
		    remote { auth = psk
		      id = $peer }
		    children {
		      flow {
		        mode = $mode
		        local_ts = $lts
		        remote_ts = $rts
		        esp_proposals = $espp
		        rekey_time = ${rekey}s
		        life_time = ${life}s
		      }
		    }
		  }
		}
		secrets {
		  ike-peer {
		    id-1 = $me
		    id-2 = $peer
		    secret = "$psk"
		  }
		}
	EOC
}

# ---- strongSwan with certificates (scenario line `auth cert`)
IKE_PKI=/run/ike-pki

swan_pki() { # swan_pki: a CA and one certificate per side (its address as subjectAltName), made now
	[ -e "$IKE_PKI/b.pem" ] && return 0
	mkdir -p "$IKE_PKI"
	cat >"$IKE_PKI/strongswan.conf" <<-EOC
		pki {
		  load = random drbg nonce sha1 sha2 hmac gmp pem pkcs1 pkcs8 x509 pubkey
		}
	EOC
	pki() { STRONGSWAN_CONF=$IKE_PKI/strongswan.conf /usr/bin/pki "$@" 2>>"$IKE_PKI/pki.err"; }
	head -c 32 /dev/urandom >/dev/null
	pki --gen --type rsa --size 2048 --outform pem >"$IKE_PKI/ca.key" &&
		pki --self --ca --lifetime 2 --in "$IKE_PKI/ca.key" --type rsa --dn "CN=vm-tests CA" --outform pem >"$IKE_PKI/ca.pem" || return 1
	for s in a b; do
		set -- $(ike_addrs $s)
		pki --gen --type rsa --size 2048 --outform pem >"$IKE_PKI/$s.key" &&
			pki --pub --in "$IKE_PKI/$s.key" --type rsa >"$IKE_PKI/$s.pub" &&
			pki --issue --lifetime 2 --in "$IKE_PKI/$s.pub" --type pub --cacert "$IKE_PKI/ca.pem" --cakey "$IKE_PKI/ca.key" \
				--dn "CN=$1" --san "$1" --outform pem >"$IKE_PKI/$s.pem" || return 1
	done
}

swan_cert_conf() { # swan_cert_conf SIDE: swanctl.conf with certificates instead of the PSK
	d=$(ike_dir "$1")
	# swanctl loads private keys only from private/ next to the swanctl.conf it is given
	# (secrets.private* only holds passphrases); x509/ and x509ca/ there too
	mkdir -p "$d/private" "$d/x509" "$d/x509ca"
	cp "$IKE_PKI/$1.key" "$d/private/"
	cp "$IKE_PKI/$1.pem" "$d/x509/"
	cp "$IKE_PKI/ca.pem" "$d/x509ca/"
	set -- "$1" $(ike_addrs "$1")
	cat >"$d/swanctl.conf" <<-EOC
		connections {
		  host {
		    local_addrs = $2
		    remote_addrs = $3
		    version = 2
		    proposals = $ikep
		    local { auth = pubkey
		      certs = $1.pem
		      id = $2 }
		    remote { auth = pubkey
		      id = $3 }
		    children {
		      flow {
		        mode = $mode
		        local_ts = $lts
		        remote_ts = $rts
		        esp_proposals = $espp
		        rekey_time = ${rekey}s
		        life_time = ${life}s
		      }
		    }
		  }
		}
	EOC
}

swan_cert_secrets() { # the private keys' base64 lines: none may appear in any output
	[ -d "$IKE_PKI" ] || return 0
	cat "$IKE_PKI"/*.key 2>/dev/null | grep -v -- '-----' | grep -E '^.{40,}$'
}

swan_start() { # swan_start SIDE: charon in the side's namespace, its config loaded
	d=$(ike_dir "$1")
	ns=$(ns_of "$1")
	swan_conf "$1"
	if [ "$(ike_opt auth psk)" = cert ]; then
		swan_pki || { sed 's/^/    pki: /' "$IKE_PKI/pki.err"; return 1; }
		swan_cert_conf "$1"
	fi
	# a killed charon leaves its socket and pid file behind
	rm -f "$d/charon.vici" "$d/charon.pid"
	# charon's first read of kernel randomness may block for seconds: do it before
	head -c 32 /dev/urandom >/dev/null
	ip netns exec "$ns" sh -c "mount -t tmpfs tmpfs /var && ln -s $d /var/run &&
		STRONGSWAN_CONF=$d/strongswan.conf exec $CHARON" >"$d/charon.out" 2>&1 </dev/null &
	echo $! >"$d/launcher.pid"
	tries=0
	while [ ! -S "$d/charon.vici" ] && [ $tries -lt 100 ]; do sleep 0.1; tries=$((tries + 1)); done
	if ! STRONGSWAN_CONF=$d/strongswan.conf $SWANCTL --load-all --file "$d/swanctl.conf" >"$d/load.out" 2>&1; then
		sed 's/^/    load: /' "$d/load.out"
		return 1
	fi
	# a config that fails to load makes the responder answer NO_PROPOSAL_CHOSEN: never let it pass
	if grep -q "^loading .* failed" "$d/load.out" || ! grep -q "successfully loaded 1 connections" "$d/load.out"; then
		grep -v "^plugin\|opening directory" "$d/load.out" | sed 's/^/    load: /'
		return 1
	fi
	return 0
}

swan_initiate() { # swan_initiate SIDE: returns swanctl's status
	d=$(ike_dir "$1")
	STRONGSWAN_CONF=$d/strongswan.conf timeout 20 $SWANCTL --initiate --child flow --timeout 10 >"$d/initiate.out" 2>&1
}

charon_pid() { cat "$(ike_dir "$1")/charon.pid" 2>/dev/null; }

# ---- Libreswan
# pluto takes every path it uses as an option (run dir with pluto.ctl and pluto.pid, NSS db,
# config, secrets, log), so no mount tricks. --config must come first: reading the config applies
# its defaults, including nssdir, over the options given before it. pluto runs addconn itself
# (auto=add) at start; whack talks to its socket with --ctlsocket.
pluto_conf() { # pluto_conf SIDE: ipsec.conf and ipsec.secrets in the side's directory
	d=$(ike_dir "$1")
	mkdir -p "$d"
	set -- "$1" $(ike_addrs "$1")
	side=$1 me=$2 peer=$3
	mode=$(ike_opt mode transport)
	tsport=$(ike_opt ts_port "$(ike_opt port 5555)")
	ikep=$(ike_opt "ike_proposals_$side" "$(ike_opt ike_proposals aes128-sha256-modp2048)")
	espp=$(ike_opt "esp_proposals_$side" "$(ike_opt esp_proposals aes128-sha256)")
	psk=$(ike_opt "psk_$side" "$(ike_opt psk "$IKE_PSK_DEFAULT")")
	# a sends from any port to b's port: the selectors of a and b mirror each other
	if [ "$side" = a ]; then lpp=udp rpp=udp/$tsport; else lpp=udp/$tsport rpp=udp; fi
	subnets=""
	[ "$mode" = tunnel ] && subnets="leftsubnet=$me/32
  rightsubnet=$peer/32"
	# no updown script (the guest has no `ipsec` wrapper); one try, no revival loop
	cat >"$d/ipsec.conf" <<-EOC
		config setup
		  logfile=$d/pluto.log
		  plutodebug=none
		conn host
		  left=$me
		  right=$peer
		  leftid=$me
		  rightid=$peer
		  authby=secret
		  ikev2=insist
		  type=$mode
		  $subnets
		  leftprotoport=$lpp
		  rightprotoport=$rpp
		  ike=$ikep
		  esp=$espp
		  leftupdown=%disabled
		  keyingtries=1
		  auto=add
	EOC
	sed -i '/^ *$/d' "$d/ipsec.conf"
	echo "$me $peer : PSK \"$psk\"" >"$d/ipsec.secrets"
}

pluto_start() { # pluto_start SIDE: pluto in the side's namespace, its connection loaded
	d=$(ike_dir "$1")
	ns=$(ns_of "$1")
	pluto_conf "$1"
	rm -rf "$d/nss" "$d/pluto.ctl" "$d/pluto.pid"
	mkdir -p "$d/nss"
	# pluto cannot create its NSS database: an empty one, as `ipsec initnss` makes it
	certutil -N -d "sql:$d/nss" --empty-password >"$d/initnss.out" 2>&1 || { sed 's/^/    initnss: /' "$d/initnss.out"; return 1; }
	head -c 32 /dev/urandom >/dev/null
	# pluto forks into the background; its pid file is $d/pluto.pid
	ip netns exec "$ns" $PLUTO --config "$d/ipsec.conf" --rundir "$d" --nssdir "$d/nss" \
		--secretsfile "$d/ipsec.secrets" --ipsecdir "$d" --dumpdir "$d" --logfile "$d/pluto.log" \
		>"$d/pluto.out" 2>&1 </dev/null
	tries=0
	while ! grep -q 'added IKEv2 connection\|FATAL' "$d/pluto.log" 2>/dev/null && [ $tries -lt 100 ]; do sleep 0.1; tries=$((tries + 1)); done
	# a connection that fails to load makes the responder refuse everything: never let it pass
	# (whack's output to a file: a reader that stops early makes pluto log "Broken pipe")
	$WHACK --ctlsocket "$d/pluto.ctl" --status >"$d/status.out" 2>&1
	if [ ! -S "$d/pluto.ctl" ] || ! grep -q '^[0-9 ]*"host": ' "$d/status.out"; then
		echo "    pluto did not start or did not load its connection; files: $(ls "$d" | tr '\n' ' ')"
		grep -v '^[^:]*:[^:]*:[^:]*:   \|testing\|RFC\|CAVP' "$d/pluto.log" 2>/dev/null | tail -n 12 | sed 's/^/    pluto: /'
		sed 's/^/    pluto: /' "$d/pluto.out"
		return 1
	fi
	return 0
}

# whack --initiate returns 0 when the IKE SA comes up even if the Child SA is refused: established
# means a Child SA in --trafficstatus.
pluto_initiate() { # pluto_initiate SIDE
	d=$(ike_dir "$1")
	timeout 20 $WHACK --ctlsocket "$d/pluto.ctl" --name host --initiate >"$d/initiate.out" 2>&1
	$WHACK --ctlsocket "$d/pluto.ctl" --trafficstatus >"$d/traffic.out" 2>&1
	grep -q 'type=ESP' "$d/traffic.out"
}

# pluto_capture SIDE: whack --status and --trafficstatus, and pluto's log without its start-up
# self-tests, as @@WHACKCAP base64 lines (for the parser's test fixtures). No secret is in them:
# the scenario's secret check reads them too.
pluto_capture() {
	d=$(ike_dir "$1")
	$WHACK --ctlsocket "$d/pluto.ctl" --status >/tmp/whack.status 2>&1
	$WHACK --ctlsocket "$d/pluto.ctl" --trafficstatus >/tmp/whack.traffic 2>&1
	sed -n '/added IKEv2 connection/,$p' "$d/pluto.log" >/tmp/whack.log
	# what pluto put in the kernel: policies, and the SAs without their key lines
	{
		ip -n "$(ns_of "$1")" xfrm policy
		ip -n "$(ns_of "$1")" xfrm state | grep -vE "^[[:space:]]*(auth|enc|aead|comp)"
	} >/tmp/whack.kernel 2>&1
	for w in status traffic log kernel; do
		echo "@@WHACKCAP $SCN-$KVER-$1-$w $(base64 -w0 </tmp/whack.$w)"
	done
	cat /tmp/whack.status /tmp/whack.traffic /tmp/whack.log /tmp/whack.kernel >>/tmp/ike.whackcap
}

# ---- per scenario
# The daemon of a side: `daemon_a`/`daemon_b` lines (a mixed pair), else the `daemon` line.
ike_daemon() { ike_opt "daemon_$1" "$DAEMON"; }

# diagnose's one --ike for both sides: the daemon's name, or auto (found by socket) for a mixed pair
ike_diag_kind() { if [ "$(ike_daemon a)" = "$(ike_daemon b)" ]; then ike_daemon a; else echo auto; fi; }

ike_start() { # ike_start SIDE
	if [ "$(ike_daemon "$1")" = libreswan ]; then pluto_start "$1"; else swan_start "$1"; fi
}

ike_initiate() {
	if [ "$(ike_daemon "$1")" = libreswan ]; then pluto_initiate "$1"; else swan_initiate "$1"; fi
}

ike_socket() { if [ "$(ike_daemon "$1")" = libreswan ]; then echo "$(ike_dir "$1")/pluto.ctl"; else echo "$(ike_dir "$1")/charon.vici"; fi; }
ike_log() { if [ "$(ike_daemon "$1")" = libreswan ]; then echo "$(ike_dir "$1")/pluto.log"; else echo "$(ike_dir "$1")/charon.log"; fi; }

ike_stop_all() { # stops every daemon this harness started, then removes the namespaces
	for s in a b; do
		d=$(ike_dir $s)
		for f in "$d/charon.pid" "$d/pluto.pid"; do
			[ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null
		done
	done
	sleep 0.3
	for s in a b; do
		d=$(ike_dir $s)
		for f in "$d/charon.pid" "$d/pluto.pid"; do
			[ -e "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
		done
	done
	topology_down
}

ike_xfrmdiag() { # ike_xfrmdiag SIDE OUT: `xfrmdiag ike` about the flow a -> b:PORT, JSON then the table
	flow="--flow udp:$B:$(ike_opt port 5555) --flow-src $A"
	# shellcheck disable=SC2086 # $flow is two options
	"$XD" -n "$(ns_of "$1")" ike --ike "$(ike_daemon "$1")" --socket "$(ike_socket "$1")" --log "$(ike_log "$1")" \
		$flow --json </dev/null >"$2" 2>&1
	echo $? >"$2.rc"
	# shellcheck disable=SC2086
	"$XD" -n "$(ns_of "$1")" ike --ike "$(ike_daemon "$1")" --socket "$(ike_socket "$1")" --log "$(ike_log "$1")" \
		$flow </dev/null >"$2.txt" 2>&1
}

ike_send() { # ike_send ROUNDS COUNT: sums what udpflow got over ROUNDS sends of COUNT, 0.5 s apart
	total=0
	r=0
	while [ $r -lt "$1" ]; do
		$UDPFLOW --from "/run/netns/$NS_A" --to "/run/netns/$NS_B" --dst "$B" --port "$(ike_opt port 5555)" --count "$2" >/tmp/flow.out 2>&1
		got=$(sed -n 's/.* received=\([0-9]*\).*/\1/p' /tmp/flow.out)
		total=$((total + ${got:-0}))
		r=$((r + 1))
		[ $r -lt "$1" ] && sleep 0.5
	done
	echo "$total"
}

ike_secrets() { # every secret of the scenario: PSKs and the keys the kernel holds
	echo "$IKE_PSK_DEFAULT"
	sed -n 's/^psk[_ab]* //p' "$FILE"
	for s in a b; do
		ip -n "$(ns_of $s)" xfrm state 2>/dev/null | grep -oE '0x[0-9a-f]{16,}' | sed 's/^0x//'
	done
	swan_cert_secrets
}

ike_diag_reasons() { # ike_diag_reasons DIAG_JSON: the scenario's `expect diag_reason REASON` lines
	for want in $(sed -n "s/^expect diag_reason //p" "$FILE"); do
		if tr -d '\n' <"$1" | grep -qE "\"summary\": *\"[^\"]*daemon's log says $want"; then
			check ok "diagnose gives the daemon's reason $want"
		else
			check FAIL "diagnose lacks the daemon's reason $want: $(grep -m 3 '"summary"' "$1" | head -c 400)"
		fi
	done
}

ike_capture_logs() { # prints each side's daemon log as `@@IKELOG SCN-KVER-SIDE BASE64`
	for s in a b; do
		[ -e "$(ike_log $s)" ] && echo "@@IKELOG $SCN-$KVER-$s $(base64 -w0 <"$(ike_log $s)")"
	done
}

# ike_compare: each side diagnosed on its own (b listens, a sends), each reading its own daemon,
# then `xfrmdiag compare a b`: its IKE cross-check must line up every CHILD_SA SPI with the
# peer daemon's and both kernels' ("ok: …" lines only).
ike_compare() {
	port=$(ike_opt port 5555)
	rm -f /tmp/cmp.a /tmp/cmp.b /tmp/cmp.b.err /tmp/cmp.out
	"$XD" -n "$NS_B" diagnose --listen "udp:$port" --count 3 --window 8s --announce-ready \
		--ike "$(ike_daemon b)" --ike-socket "$(ike_socket b)" --json </dev/null >/tmp/cmp.b 2>/tmp/cmp.b.err &
	lpid=$!
	tries=0
	while ! grep -q xfrmdiag-ready /tmp/cmp.b.err 2>/dev/null && [ $tries -lt 100 ]; do sleep 0.1; tries=$((tries + 1)); done
	"$XD" -n "$NS_A" diagnose --send "udp:$B:$port" --count 3 \
		--ike "$(ike_daemon a)" --ike-socket "$(ike_socket a)" --json </dev/null >/tmp/cmp.a 2>&1
	wait $lpid
	"$XD" compare /tmp/cmp.a /tmp/cmp.b --json </dev/null >/tmp/cmp.out 2>&1
	nok=$(grep -c '"ok: [^"]*CHILD_SA' /tmp/cmp.out)
	nbad=$(grep -c '"differs: [^"]*CHILD_SA' /tmp/cmp.out)
	grep -E '"(ok|differs): [^"]*CHILD_SA' /tmp/cmp.out | sed 's/^ */  compare: /'
	# each side's CHILD_SA out SPI is checked from its own side: one line per side
	if [ "$nok" -ge 2 ] && [ "$nbad" = 0 ]; then
		check ok "compare lines up $nok CHILD_SA SPIs with the peer's daemon and both kernels"
	else
		check FAIL "compare's IKE cross-check: $nok ok, $nbad differ: $(head -c 300 /tmp/cmp.out)"
	fi
	cat /tmp/cmp.a /tmp/cmp.b /tmp/cmp.out >>/tmp/ike.compare
}

# ike_check SIDE WANT: `xfrmdiag check` with an ike-connection check for the scenario's
# connection on that side (read through its own socket); WANT pass (exit 0) or fail (exit 1).
ike_check() {
	cat >/tmp/ike-check.toml <<-EOC
		name = "ike"
		[[check]]
		kind = "ike-connection"
		connection = "host"
		ike = "$(ike_daemon "$1")"
		socket = "$(ike_socket "$1")"
		log = "$(ike_log "$1")"
	EOC
	if "$XD" -n "$(ns_of "$1")" check /tmp/ike-check.toml </dev/null >/tmp/ike-check.out 2>&1; then rc=0; else rc=$?; fi
	sed 's/^/  check '"$1"': /' /tmp/ike-check.out | head -n 4
	case "$2:$rc" in
	pass:0 | fail:1) check ok "check ike-connection on $1: $2 (exit $rc)" ;;
	*) check FAIL "check ike-connection on $1: want $2, got exit $rc: $(head -c 300 /tmp/ike-check.out)" ;;
	esac
	cat /tmp/ike-check.out >>/tmp/ike.compare
}

run_ike_scenario() {
	FILE=$1
	SCN=$(basename "$FILE" .scn)
	FAILED=0
	PENDING=0
	kernels=$(sed -n 's/^kernels //p' "$FILE")
	if [ -n "$kernels" ] && ! echo " $kernels " | grep -q " $KVER "; then
		echo "@@VMT NOTAPPLICABLE $SCN kernel $KVER not in: $kernels"
		return
	fi
	export A=$A4 B=$B4
	DAEMON=$(ike_opt daemon strongswan)
	echo "@@VMT BEGIN $SCN"
	T0=$(uptime_s)
	sed -n 's/^# */  | /p' "$FILE" | head -n 3
	topology_down
	rm -rf /run/ike-*
	if ! topology_up || ! ike_start b || ! ike_start a; then
		check FAIL "setup: daemons started and configs loaded"
		ike_stop_all
		echo "@@VMT RESULT $SCN fail"
		return
	fi
	phase "$DAEMON up in both namespaces; initiating from a"
	established=no
	ike_initiate a && established=yes
	sed 's/^/  initiate: /' "$(ike_dir a)/initiate.out" | tail -n 4
	want=$(ike_opt "expect established" yes)
	if [ "$established" = "$want" ]; then check ok "established: $established"; else check FAIL "established: want $want, got $established"; fi

	fault=$(ike_opt fault none)
	if [ "$fault" = kill-b ]; then
		# a crash on b: its SAs and policies stay in the kernel; then it starts again, knowing nothing
		phase "SIGKILL charon on b, then start it again"
		kill -9 "$(charon_pid b)"
		sleep 0.3
		if "$XD" -n "$NS_B" ike --ike "$DAEMON" --socket "$(ike_socket b)" </dev/null >/tmp/ike.dead 2>&1; then rc=0; else rc=$?; fi
		if [ $rc = 2 ] && [ "$(wc -l </tmp/ike.dead)" = 1 ]; then check ok "ike with the daemon dead: one line, exit 2"; else check FAIL "ike with the daemon dead: want exit 2 and one line, got $rc: $(head -c 200 /tmp/ike.dead)"; fi
		swan_start b || check FAIL "charon restarted on b"
	fi

	phase "sending"
	rounds=$(ike_opt rounds 1)
	count=$(ike_opt count 5)
	got=$(ike_send "$rounds" "$count")
	want=$(ike_opt "expect received" "$((rounds * count))")
	echo "  flow: received $got of $((rounds * count))"
	if compare_value "$got" "$want"; then check ok "received $got"; else check FAIL "received: want $want, got $got"; fi
	# proof that ESP carried it (or did not)
	pk=$(ip -s -n "$NS_B" xfrm state </dev/null | awk '/lifetime current:/ { getline; if (match($0, /[0-9]+\(packets\)/)) s += substr($0, RSTART, RLENGTH - 9) } END { print s + 0 }')
	echo "  b's SAs processed $pk packets"
	want=$(ike_opt "expect esp" "")
	case $want in
	yes) if [ "$pk" -gt 0 ]; then check ok "ESP carried the flow ($pk packets on b)"; else check FAIL "ESP did not carry the flow"; fi ;;
	no) if [ "$pk" = 0 ]; then check ok "no ESP for the flow (sent in clear)"; else check FAIL "ESP packets on b: $pk"; fi ;;
	esac

	phase "xfrmdiag ike on both sides"
	for s in a b; do
		ike_xfrmdiag $s /tmp/ike.$s
		rc=$(cat /tmp/ike.$s.rc)
		flat=$(tr -d ' \n\t' </tmp/ike.$s)
		causes=$(echo "$flat" | grep -oE '"cause":"[^"]*"' | sed 's/.*:"\(.*\)"/\1/' | sort -u | tr '\n' ' ')
		echo "  ike $s: exit $rc, findings: ${causes:-none}"
		sed 's/^/  ike '"$s"': /' /tmp/ike.$s.txt | head -n 30
		for want in $(sed -n "s/^expect ike $s //p" "$FILE"); do
			if [ "$want" = none ]; then
				if [ -z "$causes" ] && [ "$rc" = 0 ]; then check ok "ike $s: no finding"; else check FAIL "ike $s: want no finding, got ${causes:-none} (exit $rc)"; fi
			elif echo " $causes " | grep -q " $want "; then
				check ok "ike $s names $want"
			else
				check FAIL "ike $s: want $want, got ${causes:-none} (exit $rc): $(head -c 300 /tmp/ike.$s)"
			fi
		done
		for want in $(sed -n "s/^expect ike_reason $s //p" "$FILE"); do
			if echo "$flat" | grep -q "\"reason\":\"$want\""; then check ok "ike $s gives the daemon's reason $want"; else check FAIL "ike $s lacks reason $want"; fi
		done
		if grep -q "^expect ike_matched $s" "$FILE"; then
			# every CHILD_SA next to its kernel SAs (both while INSTALLED, the inbound one once
			# REKEYED), and its policies
			n=$(echo "$flat" | grep -o '"child_sa":' | wc -l)
			nok=$(echo "$flat" | grep -o '"in_kernel":true' | wc -l)
			nin=$(echo "$flat" | grep -o '"kernel_sa_in":' | wc -l)
			if [ "$n" -gt 0 ] && [ "$n" = "$nok" ] && [ "$n" = "$nin" ] && echo "$flat" | grep -q '"kernel_policies":\[{'; then
				check ok "ike $s: $n CHILD_SA(s), each with its kernel SAs and policies"
			else
				check FAIL "ike $s: $n CHILD_SAs, $nok with all their kernel SAs, $nin with the inbound one"
			fi
		fi
	done

	# the verdict of diagnose for the same flow, while the daemons still run
	want_verdict=$(ike_opt "expect verdict" "")
	if [ -n "$want_verdict" ]; then
		phase "diagnose"
		# each side's daemon joins the evidence (its socket is per namespace, not the default)
		"$XD" -n "$NS_A" diagnose --send "udp:$B:$(ike_opt port 5555)" --count 3 --peer-netns "$NS_B" \
			--ike "$(ike_diag_kind)" --ike-socket "$(ike_socket a)" --peer-ike-socket "$(ike_socket b)" \
			--ike-log "$(ike_log a)" --peer-ike-log "$(ike_log b)" \
			--json </dev/null >/tmp/diag.out 2>&1
		got=$(report_verdict /tmp/diag.out)
		# both sides' daemons are in the evidence (for a mixed pair: each found by its socket)
		for s in a b; do
			if grep -q "\"daemon\": *\"$(ike_daemon $s)\"" /tmp/diag.out && ! grep -q 'IKE daemon:' /tmp/diag.out; then
				check ok "diagnose read $(ike_daemon $s) on $s"
			else
				check FAIL "diagnose did not read $(ike_daemon $s) on $s: $(grep -o 'IKE daemon:[^"]*' /tmp/diag.out | head -n 2)"
			fi
		done
		gap=$(ike_opt known_gap "")
		if [ "$got" = "$want_verdict" ]; then
			check ok "diagnose verdict $got${gap:+ (the known_gap line can go)}"
		elif [ -n "$gap" ]; then
			check gap "diagnose verdict: want $want_verdict, got ${got:-nothing}: $gap"
		else
			check FAIL "diagnose verdict: want $want_verdict, got ${got:-nothing} ($(head -c 300 /tmp/diag.out))"
		fi
		ike_diag_reasons /tmp/diag.out
	fi

	rm -f /tmp/ike.compare
	for s in a b; do
		want=$(sed -n "s/^expect check_ike $s //p" "$FILE")
		[ -n "$want" ] && ike_check $s "$want"
	done
	if grep -q '^expect compare_ike' "$FILE"; then
		phase "diagnose on each side alone, then compare"
		ike_compare
	fi

	# a captured vici stream, for the unit-test fixtures (only where the scenario asks)
	if grep -q '^capture_vici' "$FILE"; then
		"$XD" -n "$NS_A" ike --ike strongswan --socket "$(ike_socket a)" --capture-vici /tmp/cap.vici </dev/null >/dev/null 2>&1
		echo "@@IKECAP $SCN-$KVER $(base64 -w0 </tmp/cap.vici)"
	fi

	# pluto's own words, for the parser's fixtures (only where the scenario asks)
	rm -f /tmp/ike.whackcap
	if grep -q '^capture_whack' "$FILE"; then
		for s in a b; do [ "$(ike_daemon $s)" = libreswan ] && pluto_capture $s; done
	fi

	# the daemons' logs, for the log reader's fixtures (only where the scenario asks)
	grep -q '^capture_log' "$FILE" && ike_capture_logs

	# no secret anywhere: PSKs from the configs, and every key the kernel holds
	ike_secrets | sort -u >/tmp/ike.secrets
	cat /tmp/ike.a /tmp/ike.a.txt /tmp/ike.b /tmp/ike.b.txt /tmp/diag.out /tmp/ike.whackcap /tmp/ike.compare 2>/dev/null >/tmp/ike.all
	for s in a b; do "$XD" -n "$(ns_of $s)" sa --json </dev/null >>/tmp/ike.all 2>&1; done
	leaked=""
	nsec=0
	while read -r k; do
		[ -n "$k" ] || continue
		nsec=$((nsec + 1))
		grep -qiF "$k" /tmp/ike.all && leaked="$leaked ${k%"${k#??????}"}..."
	done </tmp/ike.secrets
	if [ -n "$leaked" ]; then check FAIL "secrets in xfrmdiag output:$leaked"; else check ok "none of $nsec secrets (PSKs, kernel keys) in xfrmdiag output"; fi
	rm -f /tmp/diag.out

	if [ $FAILED -gt 0 ]; then
		for s in a b; do
			echo "  files of $s: $(ls "$(ike_dir $s)" | tr '\n' ' ')"
			grep -v "^plugin\|opening dir" "$(ike_dir $s)/charon.out" "$(ike_log $s)" 2>/dev/null | tail -n 8 | sed "s/^/  log $s: /"
		done
	fi
	ike_stop_all
	# every daemon and namespace gone
	sleep 0.2
	left=$(ps -o pid,args 2>/dev/null | grep -E 'charon|pluto' | grep -v grep)
	if [ -z "$left" ]; then check ok "no daemon left"; else check FAIL "daemons left: $left"; fi
	if ip netns list | grep -q vmt_; then check FAIL "namespaces left: $(ip netns list | tr '\n' ' ')"; else check ok "no namespace left"; fi
	rm -rf /run/ike-*

	secs=$(awk -v a="$T0" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }')
	if [ $FAILED -eq 0 ]; then verdict=pass; else verdict=fail; fi
	echo "@@VMT RESULT $SCN $verdict pending=$PENDING secs=$secs"
}
