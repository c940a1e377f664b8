#!/bin/sh
# The VM lane (issue #17): boots Debian's own kernel under qemu with AppArmor enabled
# and cgroup v2 alone, runs checks.sh there against the built bulwark, and leaves
#   OUT_DIR/console.log   the serial console (kernel messages, bulwark's stderr noise)
#   OUT_DIR/results.txt   checks.sh's result lines (`<key> <value>`, second serial port)
# for integration/vm.rs to judge.
#
# usage: run.sh OUT_DIR BUNDLES_DIR BULWARK_CONFIG
#   BUNDLES_DIR holds the OCI bundles checks.sh runs (report/, sleeper/), copied to
#   /bundles in the guest; BULWARK_CONFIG becomes the guest's /etc/bulwark-vm.toml.
# environment: BULWARK (the binary, default target/release/bulwark), VM_CACHE (default
#   target/vm), VM_TIMEOUT (seconds, default 600).
#
# Exit 77 when qemu or the kernel cannot be obtained (the harness skips, naming why);
# otherwise qemu's exit status (124 when VM_TIMEOUT ran out).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
OUT_DIR=${1:?usage: run.sh OUT_DIR BUNDLES_DIR BULWARK_CONFIG}
BUNDLES_DIR=${2:?usage: run.sh OUT_DIR BUNDLES_DIR BULWARK_CONFIG}
CONFIG=${3:?usage: run.sh OUT_DIR BUNDLES_DIR BULWARK_CONFIG}
BULWARK=${BULWARK:-$repo/target/release/bulwark}
VM_CACHE=${VM_CACHE:-$repo/target/vm}
VM_TIMEOUT=${VM_TIMEOUT:-600}

QEMU=$(command -v qemu-system-x86_64 || true)
if [ -z "$QEMU" ]; then
	echo "run.sh: qemu-system-x86_64 not found (make vm-deps installs qemu-system-x86)" >&2
	exit 77
fi
for tool in busybox cpio apparmor_parser; do
	if ! command -v $tool >/dev/null && [ ! -x /usr/sbin/$tool ] && [ ! -x /sbin/$tool ]; then
		echo "run.sh: $tool not found (make vm-deps)" >&2
		exit 1
	fi
done

vmlinuz=$("$here/kernel.sh" "$VM_CACHE/kernel") || exit $?

# ---------------------------------------------------------------- the initramfs
stage="$OUT_DIR/initramfs"
rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/sbin" "$stage/etc" "$stage/bundles"
cp "$(command -v busybox)" "$stage/bin/busybox"
cp "$here/init" "$stage/init"
cp "$here/checks.sh" "$stage/sbin/checks.sh"
cp "$BULWARK" "$stage/sbin/bulwark"
parser=$(command -v apparmor_parser || echo /usr/sbin/apparmor_parser)
cp "$parser" "$stage/sbin/apparmor_parser"
# Shared libraries of the dynamically linked binaries, at the paths ldd names (the
# dynamic loader's among them).
for binary in "$BULWARK" "$parser"; do
	ldd "$binary" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) .*/\1/p'
done | sort -u | while read -r lib; do
	mkdir -p "$stage$(dirname "$lib")"
	cp -L "$lib" "$stage$lib"
done
# apparmor_parser reads its config, the feature set it compiles for, and the tunables
# the profile includes (abstractions too, for any profile that includes one).
mkdir -p "$stage/etc/apparmor" "$stage/etc/apparmor.d" "$stage/usr/share"
cp /etc/apparmor/parser.conf "$stage/etc/apparmor/"
cp -a /etc/apparmor.d/tunables /etc/apparmor.d/abstractions "$stage/etc/apparmor.d/"
cp -a /usr/share/apparmor-features "$stage/usr/share/"
cp "$CONFIG" "$stage/etc/bulwark-vm.toml"
cp -a "$BUNDLES_DIR/." "$stage/bundles/"

initramfs="$OUT_DIR/initramfs.cpio"
(cd "$stage" && find . | cpio -o -H newc --quiet) >"$initramfs"

# ------------------------------------------------------------------------ boot
# TCG: /dev/kvm exists on the CI host but a KVM guest hangs before the kernel prints
# (nested virtualization). -cpu max gives the guest the host's features TCG emulates.
# ttyS0 is the console, ttyS1 the result channel (kept free of kernel messages).
# -no-reboot turns the reboot after a panic (panic=-1: at once) into qemu's exit.
rm -f "$OUT_DIR/results.txt"
status=0
timeout "$VM_TIMEOUT" "$QEMU" -accel tcg -cpu max -smp 2 -m 1024 -nographic -no-reboot \
	-monitor none -serial stdio -serial "file:$OUT_DIR/results.txt" \
	-kernel "$vmlinuz" -initrd "$initramfs" \
	-append "console=ttyS0 apparmor=1 security=apparmor panic=-1" \
	</dev/null >"$OUT_DIR/console.log" 2>&1 || status=$?
rm -rf "$stage"
exit $status
