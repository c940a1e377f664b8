#!/bin/sh
# Prints the path of Debian's own amd64 kernel image, fetched once into CACHE_DIR.
#
# The kernel users run (bookworm's linux-image-amd64) is downloaded with
# `apt-get download` and unpacked with `dpkg-deb -x`: it is never installed on this
# host, whose own kernel has no AppArmor and mounts cgroups v1 hybrid. Only vmlinuz is
# kept; the initramfs needs no module (AppArmor, cgroup2, seccomp, namespaces and the
# 8250 serial console are built in: CONFIG_SECURITY_APPARMOR=y, CONFIG_SERIAL_8250=y).
#
# Exit 77 when the kernel cannot be obtained (no apt lists, no network, no cache), so
# the harness can report a skip naming why.
set -eu

CACHE_DIR=${1:?usage: kernel.sh CACHE_DIR}
mkdir -p "$CACHE_DIR"

# linux-image-amd64 is a metapackage; its one dependency names the versioned image.
image=$(apt-cache depends linux-image-amd64 2>/dev/null |
	sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n 1)
if [ -z "$image" ]; then
	# Offline, or apt lists missing: fall back to a kernel fetched earlier.
	cached=$(ls "$CACHE_DIR"/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
	if [ -n "$cached" ]; then
		echo "$cached"
		exit 0
	fi
	echo "kernel.sh: apt-cache cannot resolve linux-image-amd64 and $CACHE_DIR holds no kernel" >&2
	exit 77
fi
release=${image#linux-image-}
vmlinuz="$CACHE_DIR/vmlinuz-$release"
if [ ! -s "$vmlinuz" ]; then
	work=$(mktemp -d "$CACHE_DIR/fetch.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	# apt-get download writes into the current directory; as root it warns that _apt
	# cannot write there, which is harmless.
	if ! (cd "$work" && apt-get download -q "$image" >&2 2>/dev/null); then
		echo "kernel.sh: apt-get download $image failed" >&2
		exit 77
	fi
	dpkg-deb -x "$work"/*.deb "$work/x"
	cp "$work/x/boot/vmlinuz-$release" "$vmlinuz.tmp"
	cp "$work/x/boot/config-$release" "$CACHE_DIR/config-$release"
	mv "$vmlinuz.tmp" "$vmlinuz"
fi
echo "$vmlinuz"
