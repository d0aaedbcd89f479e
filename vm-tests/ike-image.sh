# shellcheck shell=bash
# Sourced by run.sh: the IKE daemons of the guest image — strongSwan 5.9 (charon, swanctl, the
# plugins the scenarios load) and Libreswan 4 (pluto, whack, addconn, NSS's certutil and its
# run-time-loaded modules) — from Debian's registry (apt-get download + dpkg -x), cached under
# $CACHE/ike, with the ldd closure of every binary and plugin (staged libraries first, then the
# host's: both are Debian bookworm).

IKE_PACKAGES=(libstrongswan strongswan-libcharon strongswan-charon strongswan-swanctl
	libreswan libnss3 libnspr4 libnss3-tools libldns3 libevent-2.1-7 libevent-pthreads-2.1-7
	libunbound8 libcap-ng0 libgmp10)
# Without kdf IKE_SA_INIT fails; without sha1 charon refuses to start; pem/pkcs1/x509/pubkey
# read certificates and keys.
IKE_SWAN_PLUGINS="random nonce aes sha1 sha2 hmac gmp kdf kernel-netlink socket-default vici pem pkcs1 pkcs8 x509 pubkey constraints revocation"

# fetch_ike_root: prints the directory the packages are unpacked in (downloaded once).
fetch_ike_root() {
	local dir=$CACHE/ike key
	key=$(printf '%s\n' "${IKE_PACKAGES[@]}" | sha256sum | cut -c1-12)
	if [ -e "$dir/root-$key/.complete" ]; then
		echo "$dir/root-$key"
		return 0
	fi
	rm -rf "$dir" && mkdir -p "$dir/debs" "$dir/root-$key"
	if ! (cd "$dir/debs" && apt-get download "${IKE_PACKAGES[@]}" >/dev/null 2>"$dir/download.err"); then
		apt_update_once >&2 || return 1
		(cd "$dir/debs" && apt-get download "${IKE_PACKAGES[@]}" >/dev/null 2>"$dir/download.err") || { cat "$dir/download.err" >&2; return 1; }
	fi
	local deb
	for deb in "$dir"/debs/*.deb; do dpkg -x "$deb" "$dir/root-$key"; done
	touch "$dir/root-$key/.complete"
	echo "$dir/root-$key"
}

# add_ike_daemons STAGE: copies the daemons and their closure into the image being built.
add_ike_daemons() {
	local stage=$1 root files=() f lib
	root=$(fetch_ike_root) || return 1
	files+=(usr/lib/ipsec/charon usr/sbin/swanctl usr/lib/ipsec/libcharon.so.0 usr/lib/ipsec/libstrongswan.so.0 usr/lib/ipsec/libvici.so.0)
	for p in $IKE_SWAN_PLUGINS; do files+=("usr/lib/ipsec/plugins/libstrongswan-$p.so"); done
	files+=(usr/libexec/ipsec/pluto usr/libexec/ipsec/whack usr/libexec/ipsec/addconn usr/bin/certutil)
	# NSS loads its soft token with dlopen (ldd cannot see it), and the token its freebl; the
	# builtin root-CA module (libnssckbi, 0.6 MB) is left out: a PSK needs no CA
	for f in libsoftokn3.so libfreeblpriv3.so libfreebl3.so; do
		files+=("usr/lib/x86_64-linux-gnu/$f")
	done
	for f in "${files[@]}"; do
		[ -e "$root/$f" ] || { echo "vm-tests: $f is not in the IKE packages" >&2; return 1; }
		mkdir -p "$stage/$(dirname "$f")"
		cp -L "$root/$f" "$stage/$f"
	done
	local libpath=$root/usr/lib/ipsec:$root/usr/lib/x86_64-linux-gnu:$root/usr/lib/x86_64-linux-gnu/nss:$root/lib/x86_64-linux-gnu
	# glibc dlopen()s libgcc_s for thread cancellation: without it every swanctl call aborts
	for lib in $(for f in "${files[@]}"; do LD_LIBRARY_PATH=$libpath ldd "$root/$f"; done | grep -oE '=> /[^ ]+' | cut -c4- | sort -u) \
		/lib/x86_64-linux-gnu/libgcc_s.so.1; do
		local dest=${lib#"$root"}
		case $dest in /usr/lib/ipsec/*) continue ;; esac
		[ -e "$stage$dest" ] && continue
		mkdir -p "$stage$(dirname "$dest")"
		cp -L "$lib" "$stage$dest"
	done
	if LD_LIBRARY_PATH=$libpath ldd "$root/usr/libexec/ipsec/pluto" "$root/usr/lib/ipsec/charon" | grep -q 'not found'; then
		echo "vm-tests: IKE daemons have unresolved libraries:" >&2
		LD_LIBRARY_PATH=$libpath ldd "$root/usr/libexec/ipsec/pluto" "$root/usr/lib/ipsec/charon" | grep 'not found' >&2
		return 1
	fi
	# selectors name protocols ([udp/5555]); charon and pluto read /etc/protocols and /etc/services
	cp /etc/protocols /etc/services "$stage/etc/" 2>/dev/null || true
	add_swan_pki "$stage" || return 1
}

# strongSwan's `pki`, for the certificate scenario (ike-swan-cert-healthy): certificates and keys
# are made in the guest at test time. Its own packages, cached apart from the daemons' (pki links
# libtls, which Debian ships in libcharon-extra-plugins; nothing else of that package is used).
IKE_PKI_PACKAGES=(strongswan-pki libcharon-extra-plugins)

# add_swan_pki STAGE: /usr/bin/pki and libtls (it uses libstrongswan and the plugins
# add_ike_daemons copies)
add_swan_pki() {
	local stage=$1 dir key root
	key=$(printf '%s\n' "${IKE_PKI_PACKAGES[@]}" | sha256sum | cut -c1-12)
	dir=$CACHE/ike-pki root=$CACHE/ike-pki/root-$key
	if [ ! -e "$root/.complete" ]; then
		rm -rf "$dir" && mkdir -p "$dir/debs" "$root"
		if ! (cd "$dir/debs" && apt-get download "${IKE_PKI_PACKAGES[@]}" >/dev/null 2>"$dir/download.err"); then
			apt_update_once >&2 || return 1
			(cd "$dir/debs" && apt-get download "${IKE_PKI_PACKAGES[@]}" >/dev/null 2>"$dir/download.err") || { cat "$dir/download.err" >&2; return 1; }
		fi
		local deb
		for deb in "$dir"/debs/*.deb; do dpkg -x "$deb" "$root"; done
		touch "$root/.complete"
	fi
	local f
	for f in usr/bin/pki usr/lib/ipsec/libtls.so.0; do
		[ -e "$root/$f" ] || { echo "vm-tests: $f is not in ${IKE_PKI_PACKAGES[*]}" >&2; return 1; }
		mkdir -p "$stage/$(dirname "$f")"
		cp -L "$root/$f" "$stage/$f"
	done
	# pki's RSA key generation needs a DRBG (charon's plugin list has none)
	local swan
	swan=$(fetch_ike_root) || return 1
	cp -L "$swan/usr/lib/ipsec/plugins/libstrongswan-drbg.so" "$stage/usr/lib/ipsec/plugins/" || return 1
	# everything else they link (libstrongswan, libc) is charon's, already in the image
	if LD_LIBRARY_PATH=$stage/usr/lib/ipsec:$stage/usr/lib/x86_64-linux-gnu:$stage/lib/x86_64-linux-gnu \
		ldd "$stage/usr/bin/pki" "$stage/usr/lib/ipsec/libtls.so.0" | grep 'not found' >&2; then
		echo "vm-tests: pki has unresolved libraries (above)" >&2
		return 1
	fi
}
