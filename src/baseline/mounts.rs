//! The baseline's mount rules: tmpfs, sysfs and cgroupfs options, the read-only
//! cover over cgroup v1 hierarchies, and their stand-in where libcontainer cannot mount
//! them (a joined pid namespace).

use std::path::{Path, PathBuf};

use libcontainer::oci_spec::runtime::{LinuxNamespaceType, Mount, Spec};
use serde_json::Value;

use super::{record, Baseline, Change};
use crate::cgroups::CgroupPath;

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
/// `replacement` (see [`Baseline::own_cgroup_v1_mounts`]) takes the `cgroup` mount's
/// place when libcontainer cannot mount it; the cover then follows the replacement.
///
/// The bind source is resolved by path, so it is only added for the usual destination
/// `/sys/fs/cgroup` under an earlier sysfs mount at `/sys` (libcontainer mounts sysfs
/// only on a real directory, and the kernel's sysfs has no links there): a link in the
/// image can never turn the source into a host path.
pub(super) fn read_only_cgroup_v1(
    rootfs: &Path,
    mounts: &mut Vec<Mount>,
    changes: &mut Vec<Change>,
    replacement: Option<&[Mount]>,
) {
    let mut sysfs_mounted = false;
    let mut index = 0;
    while index < mounts.len() {
        let mount = &mounts[index];
        if mount.typ().as_deref() == Some("sysfs") && mount.destination() == Path::new("/sys") {
            sysfs_mounted = true;
        }
        if !is_cgroup_mount_at_its_place(mount) || !sysfs_mounted {
            index += 1;
            continue;
        }
        let destination = mounts[index].destination().clone();
        if let Some(replacement) = replacement.filter(|r| !r.is_empty()) {
            changes.push(Change {
                control: "cgroup-v1-joined-pid",
                path: format!("mounts[{index}]"),
                before: serde_json::to_value(&mounts[index]).unwrap_or(Value::Null),
                after: serde_json::to_value(replacement).unwrap_or(Value::Null),
                reason: "libcontainer 0.7 cannot mount cgroup v1 for a container that \
                         joins a pid namespace; the container's own cgroup of each \
                         hierarchy is bound read-only instead",
            });
            mounts.splice(index..=index, replacement.iter().cloned());
            index += replacement.len() - 1;
        }
        let source = rootfs.join(destination.strip_prefix("/").unwrap_or(&destination));
        let mut cover = Mount::default();
        cover.set_destination(destination);
        cover.set_typ(Some("bind".to_owned()));
        cover.set_source(Some(source));
        cover.set_options(Some(read_only_bind_options()));
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

fn is_cgroup_mount_at_its_place(mount: &Mount) -> bool {
    mount.typ().as_deref() == Some("cgroup") && mount.destination() == Path::new(CGROUP_ROOT)
}

fn read_only_bind_options() -> Vec<String> {
    ["rbind", "rro", "nosuid", "nodev", "noexec"]
        .map(str::to_owned)
        .to_vec()
}

/// Where cgroup hierarchies are mounted, on the host and in the container.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

impl Baseline<'_> {
    /// The mounts that stand in for a `cgroup` mount libcontainer 0.7 cannot make: when
    /// the container joins an existing pid namespace by path (a CRI pod with
    /// `shareProcessNamespace`, a Podman pod) on a cgroup v1 host.
    ///
    /// libcontainer 0.7 rootfs/mount.rs `Mount::mount_cgroup_v1` runs in the container's
    /// init while its rootfs is prepared, before pivot_root, and reads
    /// `Process::new(ppid).cgroups()` from the host's /proc to strip the runtime's own
    /// cgroup prefix. It takes `ppid = getppid()`, and when that is 0 (the parent is
    /// outside the init's pid namespace) `std::process::id()`, which for a new pid
    /// namespace is 1 (the host's init: harmless). In a *joined* pid namespace it is the
    /// init's in-pod pid (11), looked up in the host's pid namespace: "failed to mount
    /// cgroup v1: procfs failed … NotFound(/proc/11)" when no host process has that pid,
    /// and an unrelated host process's cgroups when one does. The lookup runs for every
    /// cgroup v1 mount, with or without a cgroup namespace, so no option avoids it.
    /// (Upstream: the pid to read is the runtime's, which the init could be handed
    /// instead of guessing it from getppid, or /proc/self/cgroup read before the pid
    /// namespace is joined.)
    ///
    /// So the spec gets no `cgroup` mount there: a tmpfs at `/sys/fs/cgroup`, and for
    /// each v1 hierarchy holding a controller libcgroups puts the container in, a
    /// recursive read-only bind of the container's own cgroup directory
    /// (`<hierarchy>/<cgroupsPath>`, made by libcgroups' `add_task` in the intermediate
    /// process before the init prepares its rootfs) at the hierarchy's name, and at each
    /// of its controllers' names where it has several (`cpu,cpuacct` also as `cpu` and
    /// `cpuacct`, which libcontainer makes links). The named `systemd` hierarchy, in which
    /// the container has no cgroup of its own, is left out. [`read_only_cgroup_v1`]'s
    /// cover then makes the tmpfs read-only too. The sources are paths in cgroupfs,
    /// which holds no links; an engine's bind from /sys is refused by `mounts.host-path`
    /// before the baseline runs, so every bind from there is bulwark's.
    ///
    /// None when the container makes its own pid namespace, on cgroup v2 (libcontainer's
    /// v2 mount has no such lookup), or without a cgroupsPath bulwark can read
    /// (admission refuses that container).
    pub(super) fn own_cgroup_v1_mounts(&self, spec: &Spec) -> Option<Vec<Mount>> {
        let linux = spec.linux().as_ref()?;
        let joins_pid_namespace = linux
            .namespaces()
            .iter()
            .flatten()
            .any(|ns| ns.typ() == LinuxNamespaceType::Pid && ns.path().is_some());
        if !joins_pid_namespace || self.host.cgroup_v1_hierarchies.is_empty() {
            return None;
        }
        let path = linux.cgroups_path().as_ref()?;
        let cgroup_dir = CgroupPath::parse(path.to_str()?).ok()?.relative_dir(false);
        let mut tmpfs = Mount::default();
        tmpfs.set_destination(PathBuf::from(CGROUP_ROOT));
        tmpfs.set_typ(Some("tmpfs".to_owned()));
        tmpfs.set_source(Some(PathBuf::from("tmpfs")));
        tmpfs.set_options(Some(
            ["nosuid", "nodev", "noexec", "mode=755", "size=65536"]
                .map(str::to_owned)
                .to_vec(),
        ));
        let mut mounts = vec![tmpfs];
        for hierarchy in &self.host.cgroup_v1_hierarchies {
            let Some(name) = hierarchy.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let mut names = vec![name];
            if name.contains(',') {
                names.extend(name.split(','));
            }
            for name in names {
                let mut bind = Mount::default();
                bind.set_destination(Path::new(CGROUP_ROOT).join(name));
                bind.set_typ(Some("bind".to_owned()));
                bind.set_source(Some(hierarchy.join(&cgroup_dir)));
                bind.set_options(Some(read_only_bind_options()));
                mounts.push(bind);
            }
        }
        Some(mounts)
    }
}

/// Whether `mounts[index]` is a bind the baseline added for cgroup v1: the read-only
/// cover right after the cgroup mount (or after its replacement), or one of the
/// replacement's binds of the container's own cgroups. These are bulwark's, resolved by
/// path inside the container's mount namespace, not an engine's bind to pin.
pub fn is_own_cgroup_bind(mounts: &[Mount], index: usize) -> bool {
    let is_bind = |m: &Mount| m.typ().as_deref() == Some("bind");
    let from_cgroupfs = |m: &Mount| {
        is_bind(m)
            && m.destination().starts_with(CGROUP_ROOT)
            && m.source()
                .as_deref()
                .is_some_and(|s| s.starts_with(CGROUP_ROOT))
    };
    let Some(mount) = mounts.get(index) else {
        return false;
    };
    if from_cgroupfs(mount) {
        return true;
    }
    let after_cgroup = index > 0
        && (is_cgroup_mount_at_its_place(&mounts[index - 1]) || from_cgroupfs(&mounts[index - 1]));
    is_bind(mount) && mount.destination() == Path::new(CGROUP_ROOT) && after_cgroup
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
