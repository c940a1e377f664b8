#!/bin/sh
# Stage 2 of the VM lane's init: PID 1 on a tmpfs root, under Debian's kernel with
# AppArmor enabled and cgroup v2 alone. Runs bulwark the way a node does and writes one
# result line per observation to the second serial port (/dev/ttyS1, a file on the
# host), `<key> <value>`, for integration/vm.rs to judge. Nothing here decides pass or
# fail: the harness does, so a failed step is still reported and the run goes on.
export PATH=/sbin:/bin
export BULWARK_CONFIG=/etc/bulwark-vm.toml
ROOT=/run/bulwark-vm

mkdir -p /proc /sys /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t securityfs securityfs /sys/kernel/security
# The unified hierarchy alone, as systemd mounts it on Debian 12 and Ubuntu 22.04+.
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
mkdir -p /tmp /run /var/log /var/cache/apparmor "$ROOT"
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p "$ROOT"

exec 3>/dev/ttyS1
say() {
	key=$1
	shift
	printf '%s %s\n' "$key" "$(printf '%s' "$*" | tr '\n' ' ')" >&3
}

# Controllers are enabled for children of the root cgroup only through the root's
# subtree_control; a node's systemd does this for its slices.
for controller in $(cat /sys/fs/cgroup/cgroup.controllers); do
	echo "+$controller" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
done

say kernel "$(uname -r)"

# busybox stat -f knows no cgroup2 magic; the mount table names the type.
say cgroup-fs "$(awk '$2 == "/sys/fs/cgroup" { print $3 }' /proc/mounts)"
say cgroup-subtree-control "$(cat /sys/fs/cgroup/cgroup.subtree_control)"
say apparmor-enabled "$(cat /sys/module/apparmor/parameters/enabled)"
say lsm "$(cat /sys/kernel/security/lsm)"

# What a container leaves behind: its state directories, any cgroup named after it, and
# any mount under the state root. The value is empty when nothing is left.
leftovers() {
	id=$1
	found=""
	for path in "$ROOT/$id" "$ROOT/@bulwark/$id"; do
		[ -e "$path" ] && found="$found $path"
	done
	found="$found $(find /sys/fs/cgroup -type d -name "*$id*" 2>/dev/null | tr '\n' ' ')"
	found="$found $(grep -F "$ROOT" /proc/self/mountinfo | cut -d' ' -f5 | tr '\n' ' ')"
	say "leftovers-$id" $found
}

# bulwark <args>: runs bulwark, writes its stdout to /tmp/out and stderr to /tmp/err,
# and reports the exit code as `<label>-exit` and stderr as `<label>-stderr`.
run() {
	label=$1
	shift
	bulwark --root "$ROOT" "$@" >/tmp/out 2>/tmp/err
	status=$?
	say "$label-exit" "$status"
	say "$label-stderr" "$(head -c 2000 /tmp/err)"
	return $status
}

# 1. Before the profile is loaded, AppArmor is enabled but bulwark-default is not: a
#    create must be refused, and leave nothing.
run before-load run --bundle /bundles/report refused
leftovers refused

# 2. Load the profile the way an operator does.
run apparmor-install apparmor install
say apparmor-profiles "$(cat /sys/kernel/security/apparmor/profiles)"

# 3. The init process reports its own confinement.
run init-report run --bundle /bundles/report init-report
say report-init "$(cat /tmp/out)"
# Which of the paths the probe checks for masking this kernel has at all (the probe
# reports "absent" for the others, which is right only if the kernel has none).
for path in $(grep -o '"masked":{[^}]*}' /tmp/out | grep -o '"/[^"]*"' | tr -d '"'); do
	if [ -e "$path" ]; then say exists "$path 1"; else say exists "$path 0"; fi
done
leftovers init-report

# 4. A create that fails late, in libcontainer, after the cgroup was made.
run late create --bundle /bundles/missing late
leftovers late

# 5. A long-running container: its cgroup v2 limits, the label of its init seen from
#    outside, and an exec'd process's own report.
run create create --bundle /bundles/sleeper sleeper
run start start sleeper
pid=$(bulwark --root "$ROOT" state sleeper | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
say sleeper-pid "$pid"
say sleeper-attr "$(cat /proc/"$pid"/attr/current 2>&1)"
cgroup=$(sed -n 's/^0::\(.*\)$/\1/p' /proc/"$pid"/cgroup)
say sleeper-cgroup "$cgroup"
for file in memory.max pids.max cpu.max; do
	say "cgroup-$file" "$(cat /sys/fs/cgroup"$cgroup"/$file 2>&1)"
done
run events-stats events --stats sleeper
say events-stats "$(cat /tmp/out)"
run exec-report exec sleeper /probe report
say report-exec "$(cat /tmp/out)"
run self-cgroup exec sleeper /probe cat /proc/self/cgroup
say self-cgroup "$(cat /tmp/out)"
# The escapes that go through cgroups and /proc: the container's own limits and
# cgroup.procs (cgroup2 mounted read-only), the kernel's tunables (/proc/sys read-only),
# the SysRq trigger (read-only, and denied by the profile), and the v1 release_agent /
# notify_on_release files CVE-2022-0492 wrote, which cgroup v2 does not have at all.
run escape-write exec sleeper /probe write-each 1 /sys/fs/cgroup/pids.max \
	/sys/fs/cgroup/memory.max /sys/fs/cgroup/cgroup.procs /sys/fs/cgroup/cgroup.subtree_control \
	/sys/fs/cgroup/release_agent /sys/fs/cgroup/notify_on_release \
	/proc/sys/kernel/core_pattern /proc/sysrq-trigger
say escape-write "$(cat /tmp/out)"
say cgroup-pids.max-after-escape "$(cat /sys/fs/cgroup"$cgroup"/pids.max 2>&1)"
# OOM on v2: a process past memory.max is killed, memory.events counts it, and
# `events` reports it, the streaming form as an `oom` event the way runc does.
bulwark --root "$ROOT" events --interval 1s sleeper >/tmp/events-stream 2>/tmp/events-stream-err &
events_pid=$!
run oom exec sleeper /probe alloc 512
say memory.events "$(cat /sys/fs/cgroup"$cgroup"/memory.events 2>&1)"
run events-after-oom events --stats sleeper
say events-after-oom "$(cat /tmp/out)"
sleep 2
kill "$events_pid"
wait "$events_pid"
say events-stream-types "$(grep -o '"type": *"[a-z]*"' /tmp/events-stream | sort -u)"
say events-stream-stderr "$(head -c 2000 /tmp/events-stream-err)"
say sleeper-alive-after-oom "$( [ -d /proc/"$pid" ] && echo yes || echo no)"
# pause/resume through cgroup v2's freezer: cgroup.freeze, and the kernel's own
# account of it in cgroup.events.
freezer() {
	say "$1-freeze" "$(cat /sys/fs/cgroup"$cgroup"/cgroup.freeze 2>&1)"
	say "$1-frozen" "$(sed -n 's/^frozen //p' /sys/fs/cgroup"$cgroup"/cgroup.events 2>&1)"
	say "$1-status" "$(bulwark --root "$ROOT" state sleeper | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p')"
}
run pause pause sleeper
freezer paused
run resume resume sleeper
freezer resumed
# AppArmor's own denial, told from seccomp's and DAC's: /proc/kcore and /proc/timer_list
# are both masked by a bind of /dev/null (mode 0666) and opened by the same openat, which
# seccomp allows; only the profile's `deny @{PROC}/kcore rwklx` tells them apart.
run read-kcore exec sleeper /probe cat /proc/kcore
run read-timer-list exec sleeper /probe cat /proc/timer_list
# update on v2: a raise within the host's ceiling reaches memory.max, removing the
# limit is refused and changes nothing.
run update-raise update --memory 256m sleeper
say cgroup-memory.max-raised "$(cat /sys/fs/cgroup"$cgroup"/memory.max 2>&1)"
run update-remove update --memory -1 sleeper
say cgroup-memory.max-after-removal "$(cat /sys/fs/cgroup"$cgroup"/memory.max 2>&1)"
run update-unified-lift update --resources /bundles/unified-lift.json sleeper
say cgroup-memory.max-after-unified "$(cat /sys/fs/cgroup"$cgroup"/memory.max 2>&1)"
run kill kill sleeper KILL
# The container's init is gone once the state says stopped; a process exit has no event
# bulwark could wait on.
tries=0
while [ $tries -lt 100 ] && ! bulwark --root "$ROOT" state sleeper 2>/dev/null | grep -q '"status": *"stopped"'; do
	sleep 0.1
	tries=$((tries + 1))
done
run delete delete sleeper
leftovers sleeper
say cgroup-after-delete "$( [ -e /sys/fs/cgroup"$cgroup" ] && echo present || echo absent)"

# linux.resources.unified on v2: a key that lifts no limit (memory.oom.group, which
# kubelet sets) is written to the container's cgroup; keys that would lift a limit are
# refused before anything exists.
run unified-ok create --bundle /bundles/unified-ok unified-ok
unified_pid=$(bulwark --root "$ROOT" state unified-ok | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
unified_cgroup=$(sed -n 's/^0::\(.*\)$/\1/p' /proc/"$unified_pid"/cgroup)
say unified-memory.oom.group "$(cat /sys/fs/cgroup"$unified_cgroup"/memory.oom.group 2>&1)"
run unified-ok-delete delete --force unified-ok
leftovers unified-ok
run unified-lift create --bundle /bundles/unified-lift unified-lift
leftovers unified-lift

# baseline.user_namespace.mode = "auto" on this kernel: the guest's root is a tmpfs,
# which Linux 6.1 cannot idmap (tmpfs from 6.3), so the rootfs cannot get the view its
# files need; the create is refused with the reason, leaving nothing and no lease.
cp /etc/bulwark-vm.toml /tmp/bulwark-auto.toml
printf '[baseline.user_namespace]\nmode = "auto"\n' >>/tmp/bulwark-auto.toml
export BULWARK_CONFIG=/tmp/bulwark-auto.toml
run auto-tmpfs run --bundle /bundles/report auto-tmpfs
leftovers auto-tmpfs
say auto-leases "$(ls -A "$ROOT/@userns" 2>/dev/null)"
export BULWARK_CONFIG=/etc/bulwark-vm.toml

say done ok
sync
poweroff -f
