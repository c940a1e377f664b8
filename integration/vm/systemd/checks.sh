#!/bin/sh
# The systemd guest's checks (issue #17 stage 2), run by bulwark-checks.service once
# D-Bus is up: bulwark with --systemd-cgroup, the way containerd's shim runs it with
# SystemdCgroup = true. One `<key> <value>` line per observation on /dev/ttyS1.
export PATH=/usr/local/sbin:/usr/sbin:/usr/bin
export BULWARK_CONFIG=/etc/bulwark-vm.toml
ROOT=/run/bulwark-vm
mkdir -p "$ROOT"
exec 3>/dev/ttyS1
say() {
	key=$1
	shift
	printf '%s %s\n' "$key" "$(printf '%s' "$*" | tr '\n' ' ')" >&3
}
run() {
	label=$1
	shift
	bulwark --root "$ROOT" --systemd-cgroup "$@" >/tmp/out 2>/tmp/err
	status=$?
	say "$label-exit" "$status"
	say "$label-stderr" "$(head -c 2000 /tmp/err)"
	return $status
}
# What a container leaves behind: its state directories, any cgroup named after it
# (the scope's directory), and any mount under the state root. Empty when nothing is.
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
# A unit's state and the limits systemd holds for it.
unit_props() {
	systemctl show "$1" -p LoadState -p ActiveState -p MemoryMax -p TasksMax -p CPUQuotaPerSecUSec 2>&1 | tr '\n' ' '
}

say kernel "$(uname -r)"
say pid1 "$(cat /proc/1/comm)"
say systemd "$(systemctl --version | head -n 1)"
say cgroup-fs "$(awk '$2 == "/sys/fs/cgroup" { print $3 }' /proc/mounts)"
say apparmor-enabled "$(cat /sys/module/apparmor/parameters/enabled)"
run apparmor-install apparmor install

for id in sd kctr; do
	case $id in
	sd) bundle=/bundles/sleeper ;;
	kctr) bundle=/bundles/kube-sleeper ;;
	esac
	run "$id-create" create --bundle "$bundle" "$id"
	run "$id-start" start "$id"
	pid=$(bulwark --root "$ROOT" state "$id" | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
	cgroup=$(sed -n 's/^0::\(.*\)$/\1/p' /proc/"$pid"/cgroup)
	say "$id-cgroup" "$cgroup"
	unit=$(basename "$cgroup")
	say "$id-unit" "$unit"
	say "$id-unit-props" "$(unit_props "$unit")"
	for file in memory.max pids.max cpu.max; do
		say "$id-cgroup-$file" "$(cat /sys/fs/cgroup"$cgroup"/$file 2>&1)"
	done
	say "$id-attr" "$(cat /proc/"$pid"/attr/current 2>&1)"
	run "$id-exec-report" exec "$id" /probe report
	say "$id-report-exec" "$(cat /tmp/out)"
	# Which of the paths the probe checks for masking this kernel has at all.
	for path in $(grep -o '"masked":{[^}]*}' /tmp/out | grep -o '"/[^"]*"' | tr -d '"'); do
		if [ -e "$path" ]; then say exists "$path 1"; else say exists "$path 0"; fi
	done
	run "$id-update" update --memory 256m --pids-limit 100 "$id"
	say "$id-unit-props-updated" "$(unit_props "$unit")"
	say "$id-cgroup-memory.max-updated" "$(cat /sys/fs/cgroup"$cgroup"/memory.max 2>&1)"
	say "$id-cgroup-pids.max-updated" "$(cat /sys/fs/cgroup"$cgroup"/pids.max 2>&1)"
	run "$id-update-remove" update --memory -1 "$id"
	say "$id-cgroup-memory.max-after-removal" "$(cat /sys/fs/cgroup"$cgroup"/memory.max 2>&1)"
	run "$id-pause" pause "$id"
	say "$id-paused-frozen" "$(sed -n 's/^frozen //p' /sys/fs/cgroup"$cgroup"/cgroup.events 2>&1)"
	run "$id-resume" resume "$id"
	run "$id-kill" kill "$id" KILL
	tries=0
	while [ $tries -lt 100 ] && ! bulwark --root "$ROOT" state "$id" 2>/dev/null | grep -q '"status": *"stopped"'; do
		sleep 0.1
		tries=$((tries + 1))
	done
	run "$id-delete" delete "$id"
	say "$id-unit-after-delete" "$(unit_props "$unit")"
	leftovers "$id"
done
# A create that fails late, in libcontainer, after systemd made the scope.
run late create --bundle /bundles/missing late
say late-unit "$(unit_props bulwark-late.scope)"
leftovers late
say units-left "$(systemctl list-units --all --no-legend 'bulwark-*.scope' 'cri-containerd-*.scope' 2>&1 | tr '\n' ' ')"
say done ok
sync
systemctl poweroff -ff
