#!/usr/bin/env bash
# Build a distroless OCI image around one static binary and export it as a
# docker-archive tarball that `podman load -i` (or `ctr images import`) accepts.
#
# Usage: integration/build-image.sh <static-binary> <out.tar> <image-name:tag>
#                                   [--user UID:GID] [--cmd ARG] [--add DIR]
#
# The image's rootfs holds only the binary at /probe, the empty mount points a
# runtime expects, and a minimal /etc/passwd + /etc/group (root and nonroot
# 65532), so a test container has no shell or package manager to fall back on.
# Entrypoint ["/probe"], cmd [ARG] from --cmd (default "report"; catatonit as a
# pause image takes "-P"), user from --user (default 0:0). --add DIR copies
# DIR's tree into the rootfs as it is (modes, owners, symbolic links as links),
# for tests that need files in the image.
#
# No registry is needed: umoci builds the layout and skopeo converts it. All
# work happens in a private temporary directory removed at exit; the output
# file is written atomically, so re-running is safe and never leaves a
# half-written tarball behind. Timestamps are pinned, so the same binary gives
# the same image ID on every run.
set -euo pipefail

prog=${0##*/}

die() {
	printf '%s: error: %s\n' "$prog" "$*" >&2
	exit 1
}

usage() {
	printf 'usage: %s <static-binary> <out.tar> <image-name:tag> [--user UID:GID] [--cmd ARG] [--add DIR]\n' "$prog" >&2
	exit 2
}

[[ $# -ge 3 ]] || usage
binary=$1
out=$2
name=$3
shift 3
user=0:0
cmd=report
add=
while [[ $# -gt 0 ]]; do
	[[ $# -ge 2 ]] || usage
	case $1 in
	--user) user=$2 ;;
	--cmd) cmd=$2 ;;
	--add) add=$2 ;;
	*) usage ;;
	esac
	shift 2
done

[[ $user =~ ^[0-9]+:[0-9]+$ ]] || die "--user must be numeric UID:GID, got '$user'"
[[ -f $binary ]] || die "binary '$binary' does not exist or is not a regular file"
[[ -x $binary ]] || die "binary '$binary' is not executable"
[[ -z $add || -d $add ]] || die "--add '$add' is not a directory"
# A dynamically linked binary would fail inside the image with a confusing
# "no such file or directory" from the loader, so refuse it here.
if command -v file >/dev/null 2>&1; then
	if file -L "$binary" | grep -q 'dynamically linked'; then
		die "binary '$binary' is dynamically linked; the image has no libc, build it with crt-static"
	fi
fi
# The tag goes into a docker-archive reference, which needs name:tag.
[[ $name == *:* && $name != *: && $name != :* ]] || die "image name must be name:tag, got '$name'"
out_dir=$(dirname -- "$out")
[[ -d $out_dir ]] || die "output directory '$out_dir' does not exist"

for tool in umoci skopeo; do
	command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found in PATH (apt-get install -y $tool)"
done

tmp_out=
work=$(mktemp -d "${TMPDIR:-/tmp}/bulwark-image.XXXXXX")
cleanup() {
	rm -rf -- "$work"
	if [[ -n $tmp_out ]]; then
		rm -f -- "$tmp_out"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

layout=$work/layout
bundle=$work/bundle
tag=probe
# Fixed timestamp for the config, the history and every file in the layer.
epoch=1970-01-01T00:00:00Z

# umoci needs --rootless to unpack/repack without CAP_CHOWN/mknod.
rootless=()
if [[ $(id -u) -ne 0 ]]; then
	rootless=(--rootless)
fi

umoci init --layout "$layout" || die "umoci init failed"
umoci new --image "$layout:$tag" || die "umoci new failed"
umoci unpack "${rootless[@]}" --image "$layout:$tag" "$bundle" || die "umoci unpack failed"

rootfs=$bundle/rootfs
# Mount points and writable scratch dirs; the runtime mounts over most of them.
install -d -m 0755 "$rootfs"/{proc,sys,dev,run,etc}
install -d -m 1777 "$rootfs/tmp"
install -m 0755 -- "$binary" "$rootfs/probe"
# Named users let `--user nonroot` resolve and let podman find a home dir
# without adding passwd entries of its own. No login shell exists.
cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/:/sbin/nologin
nonroot:x:65532:65532:nonroot:/:/sbin/nologin
EOF
cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
nonroot:x:65532:
EOF
chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group"
if [[ -n $add ]]; then
	cp -a -- "$add"/. "$rootfs"/ || die "cannot copy '$add' into the rootfs"
fi
find "$rootfs" -exec touch -h -d "$epoch" {} +

umoci repack "${rootless[@]}" --image "$layout:$tag" \
	--history.created "$epoch" --history.created_by "build-image.sh" \
	"$bundle" || die "umoci repack failed"
umoci config --image "$layout:$tag" \
	--created "$epoch" \
	--config.entrypoint /probe \
	--config.cmd="$cmd" \
	--config.user "$user" \
	--config.workingdir / \
	--no-history || die "umoci config failed"
# Drop the blobs the config rewrite left unreferenced; skopeo only copies
# what the manifest names, this just keeps the layout tidy for debugging.
umoci gc --layout "$layout" || die "umoci gc failed"

# skopeo would otherwise read the host's /etc/containers/policy.json; a
# private policy keeps this script independent of host configuration.
policy=$work/policy.json
printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$policy"

# skopeo refuses to overwrite an existing docker-archive, so write a fresh
# file next to the target and rename it into place.
tmp_out=$(mktemp "$out_dir/.build-image.XXXXXX.tar")
rm -f -- "$tmp_out"
skopeo --policy "$policy" copy --quiet "oci:$layout:$tag" "docker-archive:$tmp_out:$name" ||
	die "skopeo copy to docker-archive failed"
mv -f -- "$tmp_out" "$out"
tmp_out=
printf '%s: wrote %s as %s (user %s)\n' "$prog" "$out" "$name" "$user" >&2
