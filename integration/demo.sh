#!/usr/bin/env bash
# The main job: runs a container from a careless spec through the built bulwark binary
# and shows, from inside, that it runs hardened anyway; shows that an exec'd process
# keeps the hardening; and shows requests bulwark refuses, with their reasons.
# Everything (state root, host config, bundle) lives in a temporary directory that is
# removed at exit; nothing under /etc is read or written.
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

# The host config. On a kernel without AppArmor bulwark refuses every container unless
# the config accepts that explicitly; the demo accepts it (and shows the refusal below).
# The demo plays the orchestrator: it names the image it unpacked in the bulwark.io/image
# annotation, which this config trusts, and approves only its own repository.
config="$work/config.toml"
common='[admission.images]\napproved = ["localhost/bulwark-demo"]\ntrust_annotation = true\n'
# Every decision is appended to the audit log; the demo keeps its own.
common="$common[audit]\npath = \"$work/audit.jsonl\"\n"
if grep -qs '^Y' /sys/module/apparmor/parameters/enabled; then
    printf "$common" > "$config"
    "$bulwark" apparmor install
else
    printf "[baseline.apparmor]\nallow_missing = true\n$common" > "$config"
fi
export BULWARK_CONFIG="$config"
bw() { "$bulwark" --root "$root" "$@"; }

# A distroless bundle (the rootfs holds only the static probe) with a careless spec:
# root user, runc's default capabilities, no seccomp, writable rootfs, no-new-privileges
# off. It has the limits admission requires.
bundle="$work/bundle"
mkdir -p "$bundle/rootfs"/{proc,dev,sys,tmp}
cp "$probe" "$bundle/rootfs/probe"
bw spec --bundle "$bundle"
edit() { jq "$1" "$bundle/config.json" > "$work/edit.json" && mv "$work/edit.json" "$bundle/config.json"; }
edit '.annotations = {"bulwark.io/image": "localhost/bulwark-demo:1.0"}
  | .process.args = ["/probe", "report"]
  | .process.user = {"uid": 0, "gid": 0}
  | .process.noNewPrivileges = false
  | .root.readonly = false
  | .linux.resources = {"memory": {"limit": 134217728}, "cpu": {"quota": 50000}, "pids": {"limit": 64}}'

summary='{uid, gid, no_new_privs, seccomp, caps_effective: .caps.effective,
          caps_bounding: .caps.bounding, root_write: .root_write_errno,
          mount: .syscalls.mount, unshare_user: .syscalls.unshare_user,
          ptrace: .syscalls.ptrace, bpf: .syscalls.bpf, io_uring: .syscalls.io_uring_setup,
          clone3: .syscalls.clone3}'

echo "== $(bw --version | head -1)"
echo "   seccomp profile: $(bw features | jq -r '.annotations["io.github.bulwark.seccomp.profile"]'),"\
     "AppArmor: $(bw features | jq -r '.annotations["io.github.bulwark.apparmor"]')"
echo
echo "== 1. the spec asked for root, capabilities, no seccomp, a writable rootfs;"
echo "      the probe inside the container reports what it got:"
bw run --bundle "$bundle" demo-run | tail -n 1 | jq "$summary"

echo
echo "== 2. an exec'd process (asking for root) runs just as hardened"
jq '.process.args = ["/probe", "sleep", "300"]' "$bundle/config.json" > "$work/sleeper.json"
cp -r "$bundle" "$work/sleeper"
mv "$work/sleeper.json" "$work/sleeper/config.json"
bw run --detach --bundle "$work/sleeper" demo-sleeper >/dev/null
bw exec --user 0 demo-sleeper /probe report | tail -n 1 | jq "$summary"

echo
echo "== 3. refused requests, with their reasons"
refused() { echo "-- $1:"; shift; "$@" 2>&1 >/dev/null | tail -n 1 || true; }
echo "-- a privileged spec (CAP_SYS_ADMIN, the host's / bound in, a token in the"
echo "   environment, no limits), checked with 'bulwark validate' (nothing is created):"
jq '.process.capabilities.bounding += ["CAP_SYS_ADMIN"]
  | .process.env += ["GITHUB_TOKEN=ghp_0123456789abcdefghij0123456789abcdef"]
  | .mounts += [{"destination": "/host", "type": "bind", "source": "/", "options": ["rbind"]}]
  | del(.linux.resources)' "$bundle/config.json" > "$work/privileged.json"
bw validate "$work/privileged.json" || true
mkdir -p "$work/privileged" && cp -r "$bundle/rootfs" "$work/privileged/" && mv "$work/privileged.json" "$work/privileged/config.json"
refused "create of that spec (one line for containerd and podman, every violation in it)" \
    bw create --bundle "$work/privileged" demo-privileged
refused "exec asking for a capability the container does not hold" \
    bw exec --cap CAP_SYS_ADMIN demo-sleeper /probe report
refused "a container id that is a path" bw create --bundle "$bundle" ../escape
jq '.annotations["bulwark.io/image"] = "docker.io/library/busybox:latest"' "$bundle/config.json" > "$work/busybox.json"
mkdir -p "$work/busybox/rootfs/bin" && cp "$probe" "$work/busybox/rootfs/bin/busybox"
ln -s busybox "$work/busybox/rootfs/bin/sh" && mv "$work/busybox.json" "$work/busybox/config.json"
refused "an unapproved image, :latest, whose rootfs holds a shell" \
    bw create --bundle "$work/busybox" demo-busybox
jq '.annotations["bulwark.io/agent"] = "research-agent"' "$bundle/config.json" > "$work/agent.json"
cp -r "$bundle" "$work/agent" && mv "$work/agent.json" "$work/agent/config.json"
refused "an agent whose policy (policies/data.json) does not allow this image, decided by the embedded Rego" \
    bw create --bundle "$work/agent" demo-agent
edit '.annotations += {"bulwark.io/seccomp-profile": "default"}'
printf '[baseline.seccomp]\nprofile = "agent"\n' >> "$config"
refused "a weaker seccomp profile than the host's (host: agent, annotation: default)" \
    bw create --bundle "$bundle" demo-weaker
printf "[baseline.apparmor]\nallow_missing = false\n[baseline.non_root]\nmode = \"refuse\"\n$common" > "$config"
refused "root, on a host whose config refuses root instead of remapping it" \
    env BULWARK_CONFIG="$config" "$bulwark" --root "$root" create --bundle "$bundle" demo-root
if ! grep -qs '^Y' /sys/module/apparmor/parameters/enabled; then
    printf "$common" > "$config"
    refused "any container on this kernel without AppArmor, under the default config" \
        bw create --bundle "$work/sleeper" demo-no-apparmor
fi
bw delete --force demo-sleeper
echo
echo "== 4. the audit log: one line per decision (admission, baseline, embedded policy)"
jq -c '{operation, container_id, verdict, rules: [.rules[].rule], policy: (.policy.backend // null),
        allow: (if .policy.decision then .policy.decision.allow else null end)}' "$work/audit.jsonl"
echo
echo "== state root after cleanup: $(find "$root" -mindepth 2 | wc -l) entries left"
