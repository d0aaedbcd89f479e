#!/usr/bin/env bash
# vm-tests: real ESP, real counters and the function tracer, in QEMU guests running Debian's 6.1
# and 6.12 cloud kernels (the host kernel has no ESP and refuses the function tracer).
#
#   vm-tests/run.sh [--kernel 6.1|6.12]... [--only SUBSTRING]
#
# Installs what it needs from Debian's registry, downloads the kernels, builds a cached guest image
# under target/vm-tests/, builds xfrmdiag statically, boots one guest per kernel that runs every
# scenario of vm-tests/scenarios/ in turn, and reports pass/fail per scenario and kernel. Console
# logs of failing scenarios are kept in target/vm-tests/logs/. Exit status: 0 all passed, 1 any
# failure — including "no guest could boot at all", which is never a silent pass.
# The closing line "vm-tests: N passed, N failed" is read by CI. Checks that could not run are
# `pending`; with XFRMDIAG_REQUIRE=all (CI) a scenario with a pending check fails, and with
# XFRMDIAG_SKIP_LOG=FILE each pending check is appended to FILE (scripts/test-all.sh counts them).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VT=$ROOT/vm-tests
CACHE=${VMT_CACHE:-$ROOT/target/vm-tests}
# The meta packages that name "the current 6.1 cloud kernel" and "the current 6.12 one"; the exact
# package is resolved at run time, so a version that leaves the archive does not break the suite.
KERNEL_METAS=(linux-image-cloud-amd64 linux-image-6.12-cloud-amd64)
# Debian packages the host side needs, as "command-or-file:package".
HOST_NEEDS=(
	/usr/bin/qemu-system-x86_64:qemu-system-x86
	/bin/busybox:busybox-static
	/usr/bin/cpio:cpio
	/sbin/depmod:kmod
	/usr/bin/xz:xz-utils
	/usr/sbin/ip:iproute2
	/usr/bin/gcc:gcc
	/usr/include/stdio.h:libc6-dev
	/usr/bin/file:file
	/usr/sbin/nft:nftables
)
# One guest runs every scenario of its kernel in turn (about 16 minutes with the IKE and gateway
# scenarios on an idle 2-core machine): the bound is for a hung guest, not a slow one.
BOOT_TIMEOUT=${VMT_BOOT_TIMEOUT:-1800}
# strongSwan and Libreswan for the ike-* scenarios (add_ike_daemons, part of the base image)
# shellcheck source=vm-tests/ike-image.sh
. "$VT/ike-image.sh"

KERNEL_FILTER=()
ONLY=""
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) KERNEL_FILTER+=("$2"); shift 2 ;;
	--only) ONLY=$2; shift 2 ;;
	-h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "vm-tests: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done

T_START=$(date +%s)
say() { echo "vm-tests: $*"; }
# Whatever stops this script early, CI must see a failure with the closing line it reads.
FINISHED=no
APT_STAMP=$CACHE/tmp/apt-updated.$$
trap 'rm -f "$APT_STAMP"; [ $FINISHED = yes ] || { echo "vm-tests: FAILED: the harness stopped early (see the error above)" >&2; echo "vm-tests: 0 passed, 1 failed"; }' EXIT
# A run that cannot boot a guest must fail, loudly, with the closing line CI reads.
fail_loud() {
	FINISHED=yes
	echo "vm-tests: FAILED: $*" >&2
	say "0 passed, 1 failed"
	exit 1
}

# ---------------------------------------------------------------- host packages
# A stamp file rather than a variable: fetch_kernel runs in a subshell ($(...)).
apt_update_once() {
	[ -e "$APT_STAMP" ] && return 0
	say "apt-get update"
	apt-get update -qq >"$CACHE/apt-update.log" 2>&1 || { tail -n 20 "$CACHE/apt-update.log" >&2; return 1; }
	touch "$APT_STAMP"
}

install_host_packages() {
	local missing=() need
	for need in "${HOST_NEEDS[@]}"; do
		[ -e "${need%%:*}" ] || missing+=("${need#*:}")
	done
	# busybox may be the dynamic one; the guest needs the static build
	if [ -e /bin/busybox ] && ! file -L /bin/busybox | grep -q 'statically linked'; then missing+=(busybox-static); fi
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" = 0 ] || fail_loud "missing ${missing[*]} and not root to apt-get install them"
	apt_update_once || fail_loud "apt-get update failed (is Debian's package registry reachable?)"
	say "apt-get install ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
		>"$CACHE/apt-install.log" 2>&1 || { tail -n 20 "$CACHE/apt-install.log" >&2; fail_loud "apt-get install ${missing[*]} failed"; }
}

# ---------------------------------------------------------------- kernels
# resolve_kernel META: the exact linux-image package META depends on today.
resolve_kernel() {
	apt-cache depends "$1" 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }'
}

# fetch_kernel META: prints the directory holding vmlinuz, version and lib/modules/VER (pruned to
# what the guest loads). Cached per exact package, so a new kernel upload is picked up by itself.
fetch_kernel() {
	local meta=$1 pkg dir tmp deb
	pkg=$(resolve_kernel "$meta")
	if [ -n "$pkg" ] && [ -e "$CACHE/kernels/$pkg/.complete" ]; then
		echo "$CACHE/kernels/$pkg"
		return 0
	fi
	# not cached: download it; when the package lists are missing or stale (the resolved
	# version left the archive), update them once and resolve again
	tmp=$CACHE/tmp/download-$meta
	rm -rf "$tmp" && mkdir -p "$tmp"
	# apt-get download writes into the current directory; _apt cannot write there as root-owned
	# 0755, which only costs a warning, so silence it
	if [ -z "$pkg" ] || ! (cd "$tmp" && apt-get download "$pkg" >/dev/null 2>&1); then
		apt_update_once >&2 || return 1
		pkg=$(resolve_kernel "$meta")
		[ -n "$pkg" ] || { echo "vm-tests: cannot resolve $meta with apt-cache depends" >&2; return 1; }
		if [ ! -e "$CACHE/kernels/$pkg/.complete" ]; then
			(cd "$tmp" && apt-get download "$pkg" >/dev/null 2>"$tmp/download.err") || { cat "$tmp/download.err" >&2; return 1; }
		fi
	fi
	dir=$CACHE/kernels/$pkg
	if [ -e "$dir/.complete" ]; then
		rm -rf "$tmp"
	else
		echo "vm-tests: downloaded $pkg" >&2
		rm -rf "$dir" && mkdir -p "$dir"
		deb=$(ls "$tmp"/*.deb)
		dpkg -x "$deb" "$tmp/x"
		local ver
		ver=$(ls "$tmp/x/lib/modules")
		cp "$tmp/x/boot/vmlinuz-$ver" "$dir/vmlinuz"
		echo "$ver" >"$dir/version"
		local src=$tmp/x/lib/modules/$ver dst=$dir/lib/modules/$ver
		mkdir -p "$dst/kernel/drivers/net"
		cp -a "$src/kernel/net" "$src/kernel/crypto" "$src/kernel/lib" "$dst/kernel/"
		cp -a "$src"/kernel/drivers/net/veth.ko* "$dst/kernel/drivers/net/"
		cp -a "$src"/modules.order "$src"/modules.builtin* "$dst/" 2>/dev/null || true
		# 6.12 ships .ko.xz; busybox modprobe loads only plain .ko
		find "$dst" -name '*.ko.xz' -exec xz -d {} +
		rm -rf "$tmp"
		touch "$dir/.complete"
	fi
	echo "$dir"
}

# ---------------------------------------------------------------- guest image
# The image is two concatenated initramfs archives (the kernel unpacks both):
#  - base: busybox, the real `ip` with its libraries, the kernel's modules. Cached, keyed by the
#    kernel version and a hash of everything that goes in (and of this function's own text).
#  - overlay: /init, the guest scripts, scenarios, udpflow and xfrmdiag. Rebuilt every run (small).
build_base() {
	local kdir=$1 out=$2 ver stage
	ver=$(cat "$kdir/version")
	stage=$CACHE/tmp/base-$ver
	rm -rf "$stage" && mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,var,etc,lib/modules}
	ln -s ../run "$stage/var/run"
	cp /bin/busybox "$stage/bin/busybox"
	local applet
	# busybox's own `ip` has no xfrm, and busybox sh prefers its applets: leave all ip* out
	for applet in $(/bin/busybox --list-full); do
		case ${applet##*/} in ip | ipaddr | iplink | ipneigh | iproute | iprule | iptunnel | busybox) continue ;; esac
		mkdir -p "$stage/$(dirname "$applet")"
		ln -sf /bin/busybox "$stage/$applet"
	done
	# the crypto layer runs /sbin/modprobe through request_module
	ln -sf /bin/busybox "$stage/sbin/modprobe"
	cp /usr/sbin/ip "$stage/usr/sbin/ip"
	local lib
	for lib in $(ldd /usr/sbin/ip | grep -oE '/[^ ]+'); do
		mkdir -p "$stage$(dirname "$lib")"
		cp -L "$lib" "$stage$lib"
	done
	cp -a "$kdir/lib/modules/$ver" "$stage/lib/modules/"
	depmod -b "$stage" "$ver"
	add_ike_daemons "$stage" || return 1
	mknod -m 600 "$stage/dev/console" c 5 1
	mknod -m 666 "$stage/dev/null" c 1 3
	(cd "$stage" && find . | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$out.tmp"
	mv "$out.tmp" "$out"
	rm -rf "$stage"
}

base_key() { # base_key KERNEL_DIR: what the cached base image depends on
	{
		cat "$1/version"
		# shellcheck disable=SC2046 # one path per word
		sha256sum /bin/busybox /usr/sbin/ip $(ldd /usr/sbin/ip | grep -oE '/[^ ]+') | cut -d' ' -f1
		declare -f build_base add_ike_daemons fetch_ike_root
		declare -f add_swan_pki 2>/dev/null && echo "${IKE_PKI_PACKAGES[*]}"
		echo "${IKE_PACKAGES[*]} $IKE_SWAN_PLUGINS"
	} | sha256sum | cut -c1-16
}

# expected_fingerprints SCENARIO: "SIDE ALGORITHM FINGERPRINT" for every key in its side commands,
# computed here as the project defines it (first 12 hex of SHA-256(algorithm name ‖ key bytes)),
# so the guest can check that `xfrmdiag sa` shows exactly these and never the key.
expected_fingerprints() {
	local side rest alg hex
	while read -r side rest; do
		case $side in a | b | both) ;; *) continue ;; esac
		while read -r alg hex; do
			[ -n "$hex" ] || continue
			alg=${alg#\'}
			alg=${alg%\'}
			# shellcheck disable=SC2001 # sed: insert \x before every byte pair
			fp=$({ printf '%s' "$alg"; printf '%b' "$(echo "${hex#0x}" | sed 's/../\\x&/g')"; } | sha256sum | cut -c1-12)
			echo "$side $alg $fp"
		done < <(echo "$rest" | grep -oE "(auth-trunc|auth|enc|aead) '[^']+' 0x[0-9a-fA-F]+" | cut -d' ' -f2-)
	done <"$1"
}

build_overlay() {
	local out=$1 stage=$CACHE/tmp/overlay
	rm -rf "$stage" && mkdir -p "$stage/vmtests/bin" "$stage/vmtests/guest" "$stage/vmtests/scenarios"
	cp "$VT/guest/init" "$stage/init"
	cp "$VT"/guest/*.sh "$stage/vmtests/guest/"
	cp "${VMT_SCENARIOS:-$VT/scenarios}"/*.scn "$stage/vmtests/scenarios/"
	local scn
	for scn in "$stage"/vmtests/scenarios/*.scn; do
		expected_fingerprints "$scn" >"${scn%.scn}.fingerprints"
	done
	cp "$XFRMDIAG" "$UDPFLOW" "$stage/vmtests/bin/"
	add_nftables "$stage"
	chmod +x "$stage/init" "$stage"/vmtests/guest/*.sh
	(cd "$stage" && find . | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$out"
	rm -rf "$stage"
}

# nft with its libraries (~1 MB packed) for the gateway scenarios' firewall and NAT rules, and the
# protocol/service names it (and selectors like `[udp/6000]`) resolve.
add_nftables() {
	local stage=$1 lib
	mkdir -p "$stage/usr/sbin" "$stage/etc"
	cp /usr/sbin/nft "$stage/usr/sbin/nft"
	for lib in $(ldd /usr/sbin/nft | grep -oE '/[^ ]+'); do
		mkdir -p "$stage$(dirname "$lib")"
		cp -L "$lib" "$stage$lib"
	done
	cp /etc/protocols /etc/services "$stage/etc/" 2>/dev/null || true
}

# ---------------------------------------------------------------- programs that run in the guest
build_programs() {
	if [ -n "${VMT_XFRMDIAG:-}" ]; then
		# a prebuilt binary (e.g. from another branch) instead of this tree's
		XFRMDIAG=$VMT_XFRMDIAG
		say "using xfrmdiag $XFRMDIAG"
	else
		say "building xfrmdiag (static) and udpflow"
		XFRMDIAG=$("$ROOT/scripts/build-static.sh" --quiet) || fail_loud "static build of xfrmdiag failed"
	fi
	# the guest has no libraries for it: make sure it really is static
	if ! file "$XFRMDIAG" | grep -qE 'static(-pie)? linked|statically linked' ||
		! ldd "$XFRMDIAG" 2>&1 | grep -qE 'statically linked|not a dynamic'; then
		fail_loud "$XFRMDIAG is not statically linked: $(file "$XFRMDIAG")"
	fi
	UDPFLOW=$CACHE/udpflow
	gcc -static -O2 -Wall -Wextra -Werror -o "$UDPFLOW" "$VT/guest/udpflow.c" || fail_loud "building udpflow failed"
}

# ---------------------------------------------------------------- run
boot_guest() { # boot_guest KERNEL_DIR INITRD LOG
	timeout "$BOOT_TIMEOUT" qemu-system-x86_64 -accel tcg -m 1024 -smp 1 -nodefaults -display none \
		-no-reboot -nic none -serial "file:$3" -kernel "$1/vmlinuz" -initrd "$2" \
		-append "console=ttyS0 quiet panic=-1 no_hash_pointers random.trust_cpu=on vmt_only=${ONLY:-all}" \
		</dev/null >"$3.qemu" 2>&1
}

mkdir -p "$CACHE"/{kernels,images,logs,tmp}
install_host_packages
build_programs
[ "$ONLY" = "" ] || say "only scenarios matching '$ONLY'"

PASSED=0
FAILED=0
PENDING=0
BOOTED=0
TIMING=()
GAPS=()
KVERS=()
declare -A KDIR INITRD T_IMAGE BOOT_PID BOOT_RC T_BOOT
for meta in "${KERNEL_METAS[@]}"; do
	t0=$(date +%s)
	kdir=$(fetch_kernel "$meta") || { say "FAIL cannot get the kernel for $meta"; FAILED=$((FAILED + 1)); continue; }
	kver=$(cat "$kdir/version")
	short=$(echo "$kver" | cut -d. -f1,2)
	if [ ${#KERNEL_FILTER[@]} -gt 0 ] && ! printf '%s\n' "${KERNEL_FILTER[@]}" | grep -qx "$short"; then continue; fi
	base=$CACHE/images/base-$kver-$(base_key "$kdir").cpio.gz
	if [ ! -e "$base" ]; then
		say "building guest image for $kver"
		rm -f "$CACHE"/images/base-"$kver"-*.cpio.gz
		build_base "$kdir" "$base" || { say "FAIL building the image for $kver"; FAILED=$((FAILED + 1)); continue; }
	fi
	initrd=$CACHE/images/initrd-$kver.gz
	build_overlay "$CACHE/tmp/overlay.cpio.gz"
	cat "$base" "$CACHE/tmp/overlay.cpio.gz" >"$initrd"
	KVERS+=("$kver")
	KDIR[$kver]=$kdir
	INITRD[$kver]=$initrd
	T_IMAGE[$kver]=$(($(date +%s) - t0))
done

# One guest per kernel, all at once: each is one vCPU (TCG), so they share the host's cores
# without waiting for each other. (Two vCPUs per guest also crashed 6.12 once: an int3 oops in
# text patching while a tracefs instance was removed — cross-CPU code patching under TCG.)
# VMT_PARALLEL=0 boots them one after another.
t_boot0=$(date +%s)
for kver in "${KVERS[@]}"; do
	say "booting $kver"
	log=$CACHE/logs/$kver.console.log
	if [ "${VMT_PARALLEL:-1}" = 0 ]; then
		rc=0
		boot_guest "${KDIR[$kver]}" "${INITRD[$kver]}" "$log" || rc=$?
		BOOT_RC[$kver]=$rc
		T_BOOT[$kver]=$(($(date +%s) - t_boot0))
	else
		boot_guest "${KDIR[$kver]}" "${INITRD[$kver]}" "$log" &
		BOOT_PID[$kver]=$!
	fi
done
for kver in "${KVERS[@]}"; do
	[ -n "${BOOT_PID[$kver]:-}" ] || continue
	rc=0
	wait "${BOOT_PID[$kver]}" || rc=$?
	BOOT_RC[$kver]=$rc
	T_BOOT[$kver]=$(($(date +%s) - t_boot0))
done

for kver in "${KVERS[@]}"; do
	short=$(echo "$kver" | cut -d. -f1,2)
	log=$CACHE/logs/$kver.console.log
	rc=${BOOT_RC[$kver]}
	# markers may share a line with firmware output: match them anywhere; drop serial CRs
	tr -d '\r' <"$log" | grep -o '@@VMT .*' >"$log.markers" || true
	rm -f "$log.markers.pending"
	if ! grep -q '^@@VMT BOOT' "$log.markers"; then
		say "FAIL $short: the guest did not boot (qemu exit $rc); console and qemu output:"
		tail -n 30 "$log" "$log.qemu" | sed 's/^/    /'
		FAILED=$((FAILED + 1))
		continue
	fi
	BOOTED=$((BOOTED + 1))
	grep '^@@VMT MODPROBE-FAILED' "$log.markers" | sed 's/^@@VMT /    /' || true
	grep '^@@VMT FEATURES' "$log.markers" | sed "s/^@@VMT FEATURES/    xfrmdiag commands in this build:/" || true
	mkdir -p "$CACHE/logs/$kver"
	rm -f "$CACHE/logs/$kver"/*.log
	for scn in $(sed -n 's/^@@VMT BEGIN //p' "$log.markers"); do
		result=$(sed -n "s/^@@VMT RESULT $scn //p" "$log.markers")
		npending=$(grep -c "^@@VMT CHECK $scn pending" "$log.markers" || true)
		PENDING=$((PENDING + npending))
		# a pending check is a check that did not run: logged like a skipped test, and a failure
		# under XFRMDIAG_REQUIRE=all (CI)
		if [ -n "${XFRMDIAG_SKIP_LOG:-}" ]; then
			sed -n "s/^@@VMT CHECK $scn pending /vm-tests $short $scn: pending: /p" "$log.markers" >>"$XFRMDIAG_SKIP_LOG"
		fi
		# (any other non-empty value forbids too, as in the test harness: a typo must not allow)
		if [ "$npending" != 0 ] && [ "${result%% *}" = pass ] && [ -n "${XFRMDIAG_REQUIRE:-}" ]; then
			result="fail: $npending checks pending, and XFRMDIAG_REQUIRE=${XFRMDIAG_REQUIRE} forbids checks that did not run"
			sed -n "s/^@@VMT CHECK $scn pending /@@VMT CHECK $scn FAIL pending: /p" "$log.markers" >>"$log.markers.pending"
		fi
		# known gaps of xfrmdiag (scenario's known_gap line): shown every time, counted apart
		while IFS= read -r gap; do
			GAPS+=("$short $scn: $gap")
		done < <(sed -n "s/^@@VMT CHECK $scn gap //p" "$log.markers")
		secs=$(echo "$result" | sed -n 's/.*secs=\([0-9.]*\).*/\1/p')
		if [ "${result%% *}" = pass ]; then
			PASSED=$((PASSED + 1))
			ngap=$(grep -c "^@@VMT CHECK $scn gap" "$log.markers" || true)
			say "PASS $short $scn (${secs}s$([ "$npending" = 0 ] || echo ", $npending checks pending")$([ "$ngap" = 0 ] || echo ", $ngap known gap"))"
		else
			FAILED=$((FAILED + 1))
			[ -n "$result" ] || result="did not finish (guest crashed or timed out)"
			say "FAIL $short $scn: ${result}"
			cat "$log.markers" "$log.markers.pending" 2>/dev/null | grep "^@@VMT CHECK $scn FAIL" | sed 's/^@@VMT CHECK [^ ]* FAIL /    failed: /' || true
			# the scenario's part of the console, kept for later and its tail shown now
			# (no early exit in awk: tr would die of SIGPIPE, and pipefail would end the run)
			tr -d '\r' <"$log" | awk -v s="$scn" 'index($0, "@@VMT BEGIN " s) { on = 1 } on && !done { print } index($0, "@@VMT RESULT " s) { done = 1 }' \
				>"$CACHE/logs/$kver/$scn.log"
			say "console of $scn (tail; whole: ${CACHE#"$ROOT"/}/logs/$kver/$scn.log):"
			tail -n 25 "$CACHE/logs/$kver/$scn.log" | sed 's/^/    | /'
		fi
	done
	if ! grep -q '^@@VMT DONE' "$log.markers"; then
		say "FAIL $short: the guest stopped before running every scenario (qemu exit $rc); console tail:"
		tr -d '\r' <"$log" | tail -n 25 | sed 's/^/    | /'
		FAILED=$((FAILED + 1))
	fi
	boot_s=$(sed -n 's/^@@VMT BOOT .*uptime=\([0-9.]*\).*/\1/p' "$log.markers")
	done_s=$(sed -n 's/^@@VMT DONE .*uptime=\([0-9.]*\).*/\1/p' "$log.markers")
	guest_s=$(awk -v b="${boot_s:-0}" -v d="${done_s:-0}" 'BEGIN { if (d > 0) printf "%.1f", d - b; else print "?" }')
	TIMING+=("$short: image ${T_IMAGE[$kver]}s, guest done after ${T_BOOT[$kver]}s wall (kernel up in ${boot_s}s, scenarios ${guest_s}s)")
done

[ $BOOTED -gt 0 ] || fail_loud "no guest could boot (see above); nothing was tested"
# shellcheck disable=SC2016 # it does expand: the quotes are inside a double-quoted string
[ $((PASSED + FAILED)) -gt 0 ] || fail_loud "no scenario ran${ONLY:+ (none matches '$ONLY')}"
say "timing: ${TIMING[*]}; whole run $(($(date +%s) - T_START))s"
[ $PENDING -eq 0 ] || say "$PENDING checks pending (they need xfrmdiag commands or flags that have not landed yet)"
for gap in "${GAPS[@]}"; do say "KNOWN GAP $gap"; done
FINISHED=yes
say "$PASSED passed, $FAILED failed"
[ $FAILED -eq 0 ]
