#!/usr/bin/env bash
# The main job: runs a container through the built bulwark binary and shows, from
# inside, the security context it got; shows that an exec'd process keeps it; and shows
# requests bulwark refuses, with their reasons. Everything lives in a temporary
# directory (state root included) that is removed at exit.
#
# Usage: integration/demo.sh <bulwark-binary> <static-probe-binary>
set -euo pipefail

bulwark=$(realpath "${1:?usage: demo.sh <bulwark> <probe>}")
probe=$(realpath "${2:?usage: demo.sh <bulwark> <probe>}")
work=$(mktemp -d /tmp/bulwark-demo.XXXXXX)
root="$work/state"
cleanup() {
    "$bulwark" --root "$root" delete --force demo-sleeper >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

bw() { "$bulwark" --root "$root" "$@"; }

# A distroless bundle: the rootfs holds only the static probe.
bundle="$work/bundle"
mkdir -p "$bundle/rootfs"/{proc,dev,sys,tmp}
cp "$probe" "$bundle/rootfs/probe"
bw spec --bundle "$bundle"
# The starter spec, run as the distroless nonroot user, with limits and a seccomp
# filter that denies keyctl (the mandatory baseline profile arrives with the baseline).
jq '.process.args = ["/probe", "report"]
  | .process.user = {"uid": 65532, "gid": 65532}
  | .process.capabilities.ambient = [] | .process.capabilities.inheritable = []
  | .linux.resources = {"memory": {"limit": 134217728}, "pids": {"limit": 64}}
  | .linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["keyctl", "add_key", "request_key"], "action": "SCMP_ACT_ERRNO"}]}' \
    "$bundle/config.json" > "$work/config.json"
mv "$work/config.json" "$bundle/config.json"

summary='{uid, gid, no_new_privs, seccomp, caps_effective: .caps.effective,
          caps_bounding: .caps.bounding, root_write: .root_write_errno,
          keyctl: .syscalls.keyctl, kcore: .masked["/proc/kcore"]}'

echo "== bulwark $(bw --version | head -1)"
echo
echo "== 1. a container, as seen from inside by the probe"
bw run --bundle "$bundle" demo-run | tail -n 1 | jq "$summary"

echo
echo "== 2. an exec'd process keeps the container's seccomp filter and user"
jq '.process.args = ["/probe", "sleep", "300"]' "$bundle/config.json" > "$work/sleeper.json"
cp -r "$bundle" "$work/sleeper"
mv "$work/sleeper.json" "$work/sleeper/config.json"
bw run --detach --bundle "$work/sleeper" demo-sleeper >/dev/null
bw exec demo-sleeper /probe report | tail -n 1 | jq "$summary"

echo
echo "== 3. refused requests, with their reasons"
echo "-- exec asking for a capability the container does not hold:"
bw exec --cap CAP_SYS_ADMIN demo-sleeper /probe report 2>&1 >/dev/null | tail -n 1 || true
echo "-- a container id that is a path:"
bw create --bundle "$bundle" ../escape 2>&1 | tail -n 1 || true
if ! grep -qs '^Y' /sys/module/apparmor/parameters/enabled; then
    echo "-- an AppArmor profile on this kernel, which has no AppArmor:"
    jq '.process.apparmorProfile = "docker-default"' "$bundle/config.json" > "$work/aa.json"
    mv "$work/aa.json" "$bundle/config.json"
    bw create --bundle "$bundle" demo-apparmor 2>&1 | tail -n 1 || true
fi
bw delete --force demo-sleeper
echo
echo "== state root after cleanup: $(find "$root" -mindepth 2 | wc -l) entries left"
