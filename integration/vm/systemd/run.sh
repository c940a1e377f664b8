#!/bin/sh
# The VM lane's systemd guest (issue #17 stage 2): a small Debian root (debootstrap
# minbase + systemd, D-Bus, AppArmor; built once into VM_CACHE/debian-root) booting
# systemd as PID 1 under Debian's kernel, where checks.sh runs bulwark --systemd-cgroup.
# Leaves OUT_DIR/console.log and OUT_DIR/results.txt like ../run.sh.
#
# usage: run.sh OUT_DIR BUNDLES_DIR BULWARK_CONFIG
# environment: BULWARK, VM_CACHE, VM_TIMEOUT as ../run.sh.
# Exit 77 when qemu, debootstrap, the mirror or the kernel are missing.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
OUT_DIR=${1:?usage: run.sh OUT_DIR BUNDLES_DIR BULWARK_CONFIG}
BUNDLES_DIR=${2:?usage: run.sh OUT_DIR BUNDLES_DIR BULWARK_CONFIG}
CONFIG=${3:?usage: run.sh OUT_DIR BUNDLES_DIR BULWARK_CONFIG}
BULWARK=${BULWARK:-$repo/target/release/bulwark}
VM_CACHE=${VM_CACHE:-$repo/target/vm}
VM_TIMEOUT=${VM_TIMEOUT:-900}

QEMU=$(command -v qemu-system-x86_64 || true)
if [ -z "$QEMU" ]; then
	echo "run.sh: qemu-system-x86_64 not found (make vm-deps)" >&2
	exit 77
fi
vmlinuz=$("$here/../kernel.sh" "$VM_CACHE/kernel") || exit $?

# ------------------------------------------------------------- the Debian root
root="$VM_CACHE/debian-root"
if [ ! -x "$root/lib/systemd/systemd" ]; then
	if ! command -v debootstrap >/dev/null && [ ! -x /usr/sbin/debootstrap ]; then
		echo "run.sh: debootstrap not found (make vm-deps)" >&2
		exit 77
	fi
	rm -rf "$root.tmp"
	if ! /usr/sbin/debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,apparmor \
		bookworm "$root.tmp" http://deb.debian.org/debian >"$VM_CACHE/debootstrap.log" 2>&1; then
		echo "run.sh: debootstrap failed (see $VM_CACHE/debootstrap.log)" >&2
		exit 77
	fi
	# What a booted test never reads: documentation, locales, apt's caches.
	rm -rf "$root.tmp"/usr/share/doc "$root.tmp"/usr/share/man "$root.tmp"/usr/share/locale \
		"$root.tmp"/usr/share/info "$root.tmp"/var/cache/apt/* "$root.tmp"/var/lib/apt/lists/*
	mv "$root.tmp" "$root"
fi

# ---------------------------------------------------------------- the initramfs
stage="$OUT_DIR/initramfs"
rm -rf "$stage"
cp -a "$root" "$stage"
cp "$here/init" "$stage/init"
mkdir -p "$stage/usr/local/sbin" "$stage/bundles"
cp "$here/checks.sh" "$stage/usr/local/sbin/checks.sh"
cp "$BULWARK" "$stage/usr/local/sbin/bulwark"
cp "$here/bulwark-checks.service" "$stage/etc/systemd/system/"
ln -sf /etc/systemd/system/bulwark-checks.service \
	"$stage/etc/systemd/system/multi-user.target.wants/bulwark-checks.service"
# No login prompt on the console, no root password to ask for.
ln -sf /dev/null "$stage/etc/systemd/system/serial-getty@ttyS0.service"
ln -sf /dev/null "$stage/etc/systemd/system/getty@tty1.service"
for binary in "$BULWARK"; do
	ldd "$binary" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p'
done | sort -u | while read -r lib; do
	[ -e "$stage$lib" ] || cp -L "$lib" "$stage$lib"
done
cp "$CONFIG" "$stage/etc/bulwark-vm.toml"
cp -a "$BUNDLES_DIR/." "$stage/bundles/"

initramfs="$OUT_DIR/initramfs.cpio"
(cd "$stage" && find . | cpio -o -H newc --quiet) >"$initramfs"
rm -rf "$stage"

rm -f "$OUT_DIR/results.txt"
status=0
timeout "$VM_TIMEOUT" "$QEMU" -accel tcg -cpu max -smp 2 -m 2048 -nographic -no-reboot \
	-monitor none -serial stdio -serial "file:$OUT_DIR/results.txt" \
	-kernel "$vmlinuz" -initrd "$initramfs" \
	-append "console=ttyS0 apparmor=1 security=apparmor panic=-1 rdinit=/init systemd.show_status=0" \
	</dev/null >"$OUT_DIR/console.log" 2>&1 || status=$?
rm -f "$initramfs"
exit $status
