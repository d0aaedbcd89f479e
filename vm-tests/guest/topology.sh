# Sourced by run-scenarios.sh: the site-to-site topology for scenarios that say `topology gateways`.
#
#   hostL (vmt_a) --lan0-- gwL (vmt_gl) --wan0-- gwR (vmt_gr) --lan0-- hostR (vmt_b)
#   10.1.0.1        10.1.0.254 | 192.0.2.1    192.0.2.2 | 10.2.0.254      10.2.0.1
#   fd01::1         fd01::fe   | fdaa::1      fdaa::2   | fd02::fe        fd02::1
#
# The test flow still runs a → b (hostL → hostR), so every a/b directive keeps its meaning. The
# gateways take their own side commands: `gl CMD`, `gr CMD`, `gws CMD` (both gateways), run before
# the hosts' lines; `expect counter gl|gr NAME N`, `expect quiet gl|gr`, `expect sa_packets gl|gr N`
# work as for a and b. Forwarding is on, neighbours are static, addresses `nodad`.
#
# Variables for the scenarios: $LAN_L $LAN_R (the two site prefixes), $GL_WAN $GR_WAN,
# $GL_LAN $GR_LAN, and the IPv6 ones with a 6 suffix ($LAN_L6, $GL_WAN6, …).

export NS_GL=vmt_gl NS_GR=vmt_gr
export LAN_L=10.1.0.0/24 LAN_R=10.2.0.0/24 GL_LAN=10.1.0.254 GR_LAN=10.2.0.254
export GL_WAN=192.0.2.1 GR_WAN=192.0.2.2
export LAN_L6=fd01::/64 LAN_R6=fd02::/64 GL_LAN6=fd01::fe GR_LAN6=fd02::fe
export GL_WAN6=fdaa::1 GR_WAN6=fdaa::2
TOPOLOGY=pair

# topology_vars: called at the start of each scenario; sets TOPOLOGY and the end hosts' addresses.
topology_vars() {
	TOPOLOGY=$(sed -n 's/^topology //p' "$FILE" | head -n 1)
	[ -n "$TOPOLOGY" ] || TOPOLOGY=pair
	if [ "$TOPOLOGY" = gateways ]; then
		export A4=10.1.0.1 B4=10.2.0.1 A6=fd01::1 B6=fd02::1 DEV_A=lan0 DEV_B=lan0
	else
		export A4=10.99.0.1 B4=10.99.0.2 A6=fd99::1 B6=fd99::2 DEV_A=veth_a DEV_B=veth_b
	fi
}

# The sides this topology has, for snapshots and checks.
topology_sides() {
	if [ "$TOPOLOGY" = gateways ]; then echo "a gl gr b"; else echo "a b"; fi
}

ns_of() { case $1 in a) echo "$NS_A" ;; b) echo "$NS_B" ;; gl) echo "$NS_GL" ;; gr) echo "$NS_GR" ;; *) echo "bad-side-$1" ;; esac; }

# link_pair NS1 DEV1 MAC1 NS2 DEV2 MAC2: a veth between two namespaces with fixed MACs.
link_pair() {
	ip link add "$2" address "$3" netns "$1" type veth peer name "$5" address "$6" netns "$4"
}

# Modules the gateway scenarios use, loaded once (the base image's /init loads only IPsec's).
GATEWAY_MODULES_LOADED=no
load_gateway_modules() {
	[ "$GATEWAY_MODULES_LOADED" = yes ] && return 0
	for m in xfrm_interface ip_vti ip6_vti nf_tables nft_chain_nat nf_nat nft_masq nft_ct \
		nft_reject_inet nft_xfrm nf_conntrack; do
		modprobe "$m" 2>/dev/null || echo "  (module $m not loaded)"
	done
	GATEWAY_MODULES_LOADED=yes
}

gateways_up() {
	load_gateway_modules
	for ns in "$NS_A" "$NS_GL" "$NS_GR" "$NS_B"; do ip netns add "$ns" || return 1; done
	link_pair "$NS_A" lan0 02:00:00:00:01:01 "$NS_GL" lan0 02:00:00:00:01:fe &&
		link_pair "$NS_GL" wan0 02:00:00:00:aa:01 "$NS_GR" wan0 02:00:00:00:aa:02 &&
		link_pair "$NS_GR" lan0 02:00:00:00:02:fe "$NS_B" lan0 02:00:00:00:02:01 || return 1
	ip -n "$NS_A" -batch - <<-EOB || return 1
		addr add 10.1.0.1/24 dev lan0
		addr add fd01::1/64 dev lan0 nodad
		link set lo up
		link set lan0 up
		route add default via $GL_LAN
		route add default via $GL_LAN6
		neigh replace $GL_LAN lladdr 02:00:00:00:01:fe dev lan0 nud permanent
		neigh replace $GL_LAN6 lladdr 02:00:00:00:01:fe dev lan0 nud permanent
	EOB
	ip -n "$NS_B" -batch - <<-EOB || return 1
		addr add 10.2.0.1/24 dev lan0
		addr add fd02::1/64 dev lan0 nodad
		link set lo up
		link set lan0 up
		route add default via $GR_LAN
		route add default via $GR_LAN6
		neigh replace $GR_LAN lladdr 02:00:00:00:02:fe dev lan0 nud permanent
		neigh replace $GR_LAN6 lladdr 02:00:00:00:02:fe dev lan0 nud permanent
	EOB
	ip -n "$NS_GL" -batch - <<-EOB || return 1
		addr add $GL_LAN/24 dev lan0
		addr add $GL_LAN6/64 dev lan0 nodad
		addr add $GL_WAN/24 dev wan0
		addr add $GL_WAN6/64 dev wan0 nodad
		link set lo up
		link set lan0 up
		link set wan0 up
		route add $LAN_R via $GR_WAN
		route add $LAN_R6 via $GR_WAN6
		neigh replace 10.1.0.1 lladdr 02:00:00:00:01:01 dev lan0 nud permanent
		neigh replace fd01::1 lladdr 02:00:00:00:01:01 dev lan0 nud permanent
		neigh replace $GR_WAN lladdr 02:00:00:00:aa:02 dev wan0 nud permanent
		neigh replace $GR_WAN6 lladdr 02:00:00:00:aa:02 dev wan0 nud permanent
	EOB
	ip -n "$NS_GR" -batch - <<-EOB || return 1
		addr add $GR_LAN/24 dev lan0
		addr add $GR_LAN6/64 dev lan0 nodad
		addr add $GR_WAN/24 dev wan0
		addr add $GR_WAN6/64 dev wan0 nodad
		link set lo up
		link set lan0 up
		link set wan0 up
		route add $LAN_L via $GL_WAN
		route add $LAN_L6 via $GL_WAN6
		neigh replace 10.2.0.1 lladdr 02:00:00:00:02:01 dev lan0 nud permanent
		neigh replace fd02::1 lladdr 02:00:00:00:02:01 dev lan0 nud permanent
		neigh replace $GL_WAN lladdr 02:00:00:00:aa:01 dev wan0 nud permanent
		neigh replace $GL_WAN6 lladdr 02:00:00:00:aa:01 dev wan0 nud permanent
	EOB
	for ns in "$NS_GL" "$NS_GR"; do
		ip netns exec "$ns" sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward; echo 1 >/proc/sys/net/ipv6/conf/all/forwarding' || return 1
	done
	gateway_sides
}

# Runs the scenario's gateway lines ("gl CMD", "gr CMD", "gws CMD").
gateway_sides() {
	rc=0
	while IFS= read -r line; do
		case $line in
		"gl "* | "gr "* | "gws "*) ;;
		*) continue ;;
		esac
		side=${line%% *}
		cmd=${line#* }
		for s in gl gr; do
			[ "$side" = gws ] || [ "$side" = "$s" ] || continue
			if ! out=$(ip netns exec "$(ns_of $s)" sh -c "$USE_REAL_IP$cmd" 2>&1 </dev/null); then
				echo "setup failed on $s: $cmd"
				echo "$out"
				rc=1
			fi
		done
	done <"$FILE"
	return $rc
}

gateways_down() {
	ip netns del "$NS_GL" 2>/dev/null
	ip netns del "$NS_GR" 2>/dev/null
	unload_tunnel_modules
	return 0
}

# ip_vti and xfrm_interface register IPIP handlers (tunnel4): while they are loaded, a tunnel-mode
# packet decrypted by a transport SA goes back into xfrm_input (XfrmInNoStates) instead of dying
# as IP_NOPROTO (measured on 6.1 and 6.12). Later scenarios expect the kernel as /init left it.
unload_tunnel_modules() {
	local try
	for try in 1 2 3 4 5; do
		modprobe -r ip_vti ip6_vti xfrm_interface 2>/dev/null && break
		sleep 1 # the namespaces' devices go away asynchronously
	done
	lsmod 2>/dev/null | grep -qE '^(ip_vti|ip6_vti|xfrm_interface) ' && echo "  (tunnel modules still loaded after try $try)"
	GATEWAY_MODULES_LOADED=no
}

# Checks only this topology has: the gateways' SAs and policies through xfrmdiag, with no key hex
# in what it prints.
gateway_checks() {
	[ "$TOPOLOGY" = gateways ] || return 0
	[ "$HAVE_SA" = yes ] || return 0
	for s in gl gr; do
		ns=$(ns_of $s)
		{
			"$XD" -n "$ns" sa
			"$XD" -n "$ns" sa --json
			"$XD" -n "$ns" sa --show-stats
			"$XD" -n "$ns" policy
		} </dev/null >/tmp/sa.$s 2>&1
		assert_no_keys "xfrmdiag sa/policy on $s" /tmp/sa.$s
	done
}
