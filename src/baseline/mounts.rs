//! The baseline's mount rules: tmpfs, sysfs and cgroupfs options, and the read-only
//! cover over cgroup v1 hierarchies.

use std::path::Path;

use libcontainer::oci_spec::runtime::Mount;
use serde_json::Value;

use super::{record, Baseline, Change};

impl Baseline<'_> {
    /// The flags a mount must have in force, by its type; None for a mount the
    /// baseline leaves as it is (binds, proc, devpts, mqueue).
    pub(super) fn required_mount_flags(&self, mount: &Mount) -> Option<&'static [MountFlag]> {
        Some(match mount.typ().as_deref() {
            // /dev holds the device nodes the container needs: nodev would break them.
            Some("tmpfs") if mount.destination().as_os_str() == "/dev" => &[NOSUID],
            Some("tmpfs") if self.config.tmpfs_noexec => &[NOSUID, NODEV, NOEXEC],
            Some("tmpfs") => &[NOSUID, NODEV],
            // sysfs and cgroupfs are read-only: a writable /sys is a host escape.
            Some("sysfs" | "cgroup" | "cgroup2") => &[RDONLY, NOSUID, NODEV, NOEXEC],
            _ => return None,
        })
    }

    pub(super) fn harden_mount(&self, index: usize, mount: &mut Mount, changes: &mut Vec<Change>) {
        let Some(required) = self.required_mount_flags(mount) else {
            return;
        };
        let before = mount.options().clone();
        let mut options = before.clone().unwrap_or_default();
        // Every option that turns a required flag off goes, not only the plain one:
        // libcontainer applies the options in order and the recursive ones (`rrw`,
        // `rsuid`, ...) last, through mount_setattr, so `["ro", "rrw"]` mounted a
        // writable sysfs (found by the fuzz target spec_admission's invariant).
        options.retain(|o| !required.iter().any(|flag| flag.undoes(o)));
        for flag in required {
            if !options.iter().any(|o| o == flag.set) {
                options.push(flag.set.to_owned());
            }
        }
        // Without size= a tmpfs may fill half the host's memory; admission refuses
        // explicit sizes above admission.resources.max_tmpfs_bytes.
        if mount.typ().as_deref() == Some("tmpfs")
            && !options.iter().any(|o| o.starts_with("size="))
        {
            options.push(format!("size={}", self.config.tmpfs_size_bytes));
        }
        record(
            changes,
            "mount-options",
            &format!("mounts[{index}].options"),
            &before,
            &Some(options.clone()),
            "writable tmpfs mounts are nosuid,nodev and size-bounded; sysfs and cgroupfs are read-only",
        );
        mount.set_options(Some(options));
    }
}

/// CVE-2022-0492: a writable cgroupfs lets a container rewrite its own limits, move
/// processes between cgroups and, at a hierarchy's root, set `release_agent`. On a
/// cgroup v1 (or hybrid) host libcontainer 0.7 ignores a `cgroup` mount's `ro`: it
/// mounts a tmpfs and binds each hierarchy into it `rw` (the named `systemd` hierarchy
/// from its root). bulwark stacks a recursive read-only copy of that tree on it, right
/// after it: a bind of `<rootfs>/<destination>` (resolved in the container's mount
/// namespace while its rootfs is being prepared) with `rro`. Harmless where the
/// cgroup mount already was read-only (cgroup v2).
///
/// The bind source is resolved by path, so it is only added for the usual destination
/// `/sys/fs/cgroup` under an earlier sysfs mount at `/sys` (libcontainer mounts sysfs
/// only on a real directory, and the kernel's sysfs has no links there): a link in the
/// image can never turn the source into a host path.
pub(super) fn read_only_cgroup_v1(
    rootfs: &Path,
    mounts: &mut Vec<Mount>,
    changes: &mut Vec<Change>,
) {
    let mut sysfs_mounted = false;
    let mut index = 0;
    while index < mounts.len() {
        let mount = &mounts[index];
        if mount.typ().as_deref() == Some("sysfs") && mount.destination() == Path::new("/sys") {
            sysfs_mounted = true;
        }
        if mount.typ().as_deref() != Some("cgroup")
            || mount.destination() != Path::new("/sys/fs/cgroup")
            || !sysfs_mounted
        {
            index += 1;
            continue;
        }
        let destination = mounts[index].destination().clone();
        let source = rootfs.join(destination.strip_prefix("/").unwrap_or(&destination));
        let mut cover = Mount::default();
        cover.set_destination(destination);
        cover.set_typ(Some("bind".to_owned()));
        cover.set_source(Some(source));
        cover.set_options(Some(
            ["rbind", "rro", "nosuid", "nodev", "noexec"]
                .map(str::to_owned)
                .to_vec(),
        ));
        changes.push(Change {
            control: "mount-options",
            path: format!("mounts[{}]", index + 1),
            before: Value::Null,
            after: serde_json::to_value(&cover).unwrap_or(Value::Null),
            reason: "cgroupfs is read-only: libcontainer mounts cgroup v1 hierarchies \
                     read-write, so a recursive read-only bind covers them",
        });
        mounts.insert(index + 1, cover);
        index += 2;
    }
}

/// A mount flag as libcontainer 0.7 spells it: the plain option that sets and clears
/// it, and the recursive (mount_setattr) ones.
pub(super) struct MountFlag {
    pub(super) name: &'static str,
    set: &'static str,
    clear: &'static str,
    recursive_set: &'static str,
    recursive_clear: &'static str,
}

pub(super) const RDONLY: MountFlag = MountFlag {
    name: "ro",
    set: "ro",
    clear: "rw",
    recursive_set: "rro",
    recursive_clear: "rrw",
};
pub(super) const NOSUID: MountFlag = MountFlag {
    name: "nosuid",
    set: "nosuid",
    clear: "suid",
    recursive_set: "rnosuid",
    recursive_clear: "rsuid",
};
pub(super) const NODEV: MountFlag = MountFlag {
    name: "nodev",
    set: "nodev",
    clear: "dev",
    recursive_set: "rnodev",
    recursive_clear: "rdev",
};
pub(super) const NOEXEC: MountFlag = MountFlag {
    name: "noexec",
    set: "noexec",
    clear: "exec",
    recursive_set: "rnoexec",
    recursive_clear: "rexec",
};

impl MountFlag {
    /// Whether the flag is in force on a new (non-bind) mount once libcontainer 0.7 has
    /// applied `options` (rootfs/utils.rs parse_mount): the plain options in order, the
    /// last one winning, then the recursive ones through mount_setattr. A recursive
    /// clear counts as winning whatever else is there: the kernel's order between
    /// attr_set and attr_clr is not a thing to lean on.
    pub(super) fn in_force(&self, options: &[String]) -> bool {
        let plain = options
            .iter()
            .rev()
            .find(|o| *o == self.set || *o == self.clear)
            .is_some_and(|o| o == self.set);
        let has = |name: &str| options.iter().any(|o| o == name);
        (plain || has(self.recursive_set)) && !has(self.recursive_clear)
    }

    /// An option that turns the flag off, plain or recursive.
    fn undoes(&self, option: &str) -> bool {
        option == self.clear || option == self.recursive_clear
    }
}
