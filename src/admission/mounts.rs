//! Host mounts (seeds: "Block any config that attempts to mount host filesystem"; PSS:
//! no hostPath volumes). A bind mount's source must be a path the engine manages for
//! this very container or pod, or on the host config's allowlist, and never a path from
//! which the host can be taken over.

use std::path::{Component, Path};

use serde_json::Value;

use super::podman_binds::{podman_init, podman_volume};
use super::{show, Findings, Input};
use crate::binds;
use crate::config::AdmissionConfig;
use crate::engine::binding::{Binding, PodmanRecord};
use crate::engine::Engine;

pub const HOST_PATH: &str = "mounts.host-path";
pub const PROPAGATION: &str = "mounts.propagation";
pub const WRITABLE_KERNEL_FS: &str = "privileged.writable-sysfs";
pub const KERNEL_FS: &str = "mounts.kernel-fs";
pub const DISK: &str = "resources.disk";
pub const OPTIONS: &str = "mounts.options";

/// Never a bind source, nor an ancestor of one, whatever the allowlist says.
const FORBIDDEN: [&str; 16] = [
    "/",
    "/proc",
    "/sys",
    "/dev",
    "/etc",
    "/boot",
    "/root",
    "/run",
    "/var/run",
    "/var/lib/docker",
    "/var/lib/containerd",
    "/var/lib/containers",
    "/var/lib/kubelet/pki",
    "/run/containerd",
    "/run/containers",
    "/usr",
];

fn mounts(spec: &Value) -> impl Iterator<Item = (usize, &Value)> {
    spec["mounts"].as_array().into_iter().flatten().enumerate()
}

fn options(mount: &Value) -> Vec<&str> {
    mount["options"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

fn is_bind(mount: &Value) -> bool {
    mount["type"] == "bind" || options(mount).iter().any(|o| *o == "bind" || *o == "rbind")
}

pub fn host_paths(input: &Input, out: &mut Findings) {
    for (index, mount) in mounts(input.spec).filter(|(_, m)| is_bind(m)) {
        let path = format!("mounts[{index}].source");
        let Some(source) = mount["source"].as_str() else {
            out.push(path, "unset", "a bind mount needs a source".to_owned());
            continue;
        };
        let source = input.bundle.join(source);
        let bind = Bind {
            source: &source,
            read_only: options(mount).contains(&"ro"),
            engine: &input.engine,
            binding: input.binding.as_ref().ok(),
            container_id: input.container_id,
        };
        if let Err(allowed) = admit_bind_source(&bind, input.config) {
            out.push(path, show(&mount["source"]), allowed);
        }
    }
}

/// One bind mount, and what its container was recognised as.
pub struct Bind<'a> {
    /// Absolute; relative ones are joined to the bundle first (runc's rule).
    pub source: &'a Path,
    /// Its options hold `ro`.
    pub read_only: bool,
    pub engine: &'a Engine,
    /// The engine's claim, where it held (crate::engine::binding).
    pub binding: Option<&'a Binding>,
    pub container_id: &'a str,
}

/// The verdict on one bind source: the source, open (see crate::binds), or what is
/// allowed instead. Admission calls it on the engine's document; create calls it again
/// on the effective spec and mounts the very descriptor it returns.
pub fn admit_bind_source(bind: &Bind, config: &AdmissionConfig) -> Result<binds::Source, String> {
    let record = match bind.binding {
        Some(Binding::Podman { record, .. }) => Some(record),
        _ => None,
    };
    if let Some(init) = config.mounts.podman_init_path.as_deref() {
        if record.is_some() && bind.source == init {
            return podman_init(init, bind.read_only);
        }
    }
    let opened = binds::open_source(bind.source).map_err(|e| e.to_string())?;
    if let Some(reason) = forbidden(&opened.path) {
        return Err(format!("{reason}; bind only engine-managed paths of this container or admission.mounts.allowed_host_paths"));
    }
    if let Some(volume) =
        record.and_then(|r| r.volumes.iter().find(|v| v.mount_point == opened.path))
    {
        podman_volume(volume, &opened, config)?;
        return Ok(opened);
    }
    let allowed = engine_managed(&opened.path, bind.engine, bind.container_id, record)
        || config
            .mounts
            .allowed_host_paths
            .iter()
            .any(|a| opened.path.starts_with(a));
    if !allowed {
        return Err("host paths may not be mounted; bind only engine-managed paths of this container or pod, a Podman named volume (admission.mounts.podman_volumes), or admission.mounts.allowed_host_paths".to_owned());
    }
    Ok(opened)
}

fn forbidden(resolved: &Path) -> Option<String> {
    if ["/proc", "/sys", "/dev"]
        .iter()
        .any(|k| resolved.starts_with(k))
    {
        return Some(format!(
            "{} is inside a kernel filesystem",
            resolved.display()
        ));
    }
    FORBIDDEN
        .iter()
        .map(Path::new)
        .any(|root| resolved == root || root.starts_with(resolved))
        .then(|| format!("{} holds or is a host system path", resolved.display()))
}

/// Paths the engine creates for this container or pod only: Podman's userdata
/// directories (`.../overlay-containers/<id>/userdata/...`), containerd CRI's sandbox
/// directories (`.../io.containerd.grpc.v1.cri/sandboxes/<sandbox id>/...`) and
/// kubelet's pod directory (`.../kubelet/pods/<pod uid>/...`).
fn engine_managed(
    resolved: &Path,
    engine: &Engine,
    container_id: &str,
    record: Option<&PodmanRecord>,
) -> bool {
    let parts: Vec<&str> = resolved
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => part.to_str(),
            _ => None,
        })
        .collect();
    let has = |sequence: &[&str]| {
        !sequence.iter().any(|s| s.is_empty())
            && parts.windows(sequence.len()).any(|w| w == sequence)
    };
    match engine {
        // A pod member binds its infra container's /dev/shm (the pod shares one IPC
        // namespace), that directory only: the infra's userdata holds its secrets too.
        Engine::Podman => {
            has(&["overlay-containers", container_id, "userdata"])
                || record
                    .and_then(|r| r.pod_infra.as_deref())
                    .is_some_and(|infra| {
                        parts.ends_with(&["overlay-containers", infra, "userdata", "shm"])
                    })
        }
        // A sandbox (pause) container is its pod's first: kubelet binds nothing of the
        // pod's directory into it, so a spec typed `sandbox` gets none.
        Engine::Cri {
            sandbox_id,
            pod_uid,
            sandbox,
        } => {
            has(&["io.containerd.grpc.v1.cri", "sandboxes", sandbox_id])
                || (!sandbox
                    && pod_uid
                        .as_deref()
                        .is_some_and(|uid| has(&["kubelet", "pods", uid])))
        }
        Engine::Other => false,
    }
}

/// Mount propagation into the host: a shared mount lets the container's mounts appear
/// on the host (and the other way round).
pub fn propagation(input: &Input, out: &mut Findings) {
    for (index, mount) in mounts(input.spec) {
        let shared: Vec<&str> = options(mount)
            .into_iter()
            .filter(|o| matches!(*o, "shared" | "rshared"))
            .collect();
        if !shared.is_empty() {
            out.push(
                format!("mounts[{index}].options"),
                format!("{shared:?}"),
                "private or slave propagation only (no shared, rshared)".to_owned(),
            );
        }
    }
    if let Some(value) = input
        .spec
        .pointer("/linux/rootfsPropagation")
        .and_then(Value::as_str)
    {
        if matches!(value, "shared" | "rshared") {
            out.push(
                "linux.rootfsPropagation",
                format!("{value:?}"),
                "private, rprivate, slave or rslave".to_owned(),
            );
        }
    }
}

/// sysfs and cgroupfs mounted read-write are a host escape (CVE-2022-0492 release_agent).
pub fn writable_kernel_fs(input: &Input, out: &mut Findings) {
    for (index, mount) in mounts(input.spec) {
        if matches!(mount["type"].as_str(), Some("sysfs" | "cgroup" | "cgroup2"))
            && !options(mount).contains(&"ro")
        {
            out.push(
                format!("mounts[{index}].options"),
                show(&mount["options"]),
                format!(
                    "{} must be mounted read-only (\"ro\")",
                    mount["type"].as_str().unwrap_or_default()
                ),
            );
        }
    }
}

/// The kernel's own filesystems: the one place each may be mounted, and why nowhere
/// else.
const KERNEL_FS_PLACES: [(&str, &str, &str); 4] = [
    (
        "proc",
        "/proc",
        "linux.maskedPaths and linux.readonlyPaths cover /proc alone, so a procfs \
         elsewhere has no masked or read-only path",
    ),
    (
        "sysfs",
        "/sys",
        "linux.maskedPaths cover /sys alone, so a sysfs elsewhere shows /sys/firmware",
    ),
    ("cgroup", CGROUPFS_PLACE, CGROUPFS_WHY),
    ("cgroup2", CGROUPFS_PLACE, CGROUPFS_WHY),
];
const CGROUPFS_PLACE: &str = "/sys/fs/cgroup";
const CGROUPFS_WHY: &str = "libcontainer 0.7 binds cgroup v1 hierarchies read-write (the \
     named systemd one from the host's root) and the baseline covers them read-only \
     only at /sys/fs/cgroup under a sysfs at /sys";

/// One procfs at /proc, one sysfs at /sys, one cgroupfs at /sys/fs/cgroup after the
/// sysfs: anywhere else the masked and read-only paths miss them, and a cgroup v1
/// mount stays read-write (CVE-2022-0492 needs no more). Destinations are compared
/// lexically normalised (`/proc/`, `//proc`, `/proc/.` are /proc, as libcontainer
/// resolves them); one with `..` is refused, not resolved. The type decides, bind
/// options or not.
pub fn kernel_fs(input: &Input, out: &mut Findings) {
    let mut first_at_place: Vec<(&str, usize)> = Vec::new();
    let mut sysfs_at_sys = false;
    for (index, mount) in mounts(input.spec) {
        let Some(&(kind, place, why)) = KERNEL_FS_PLACES
            .iter()
            .find(|(kind, _, _)| mount["type"].as_str() == Some(*kind))
        else {
            continue;
        };
        let at_place = mount["destination"]
            .as_str()
            .and_then(lexically_normal)
            .is_some_and(|destination| destination == place);
        let family = if place == CGROUPFS_PLACE {
            "cgroupfs"
        } else {
            kind
        };
        let (field, allowed) = if !at_place {
            (
                "destination",
                format!("{kind} only at {place}, spelled without \"..\": {why}"),
            )
        } else if place == CGROUPFS_PLACE && !sysfs_at_sys {
            (
                "destination",
                format!("{kind} at {place} only after a sysfs mount at /sys: {why}"),
            )
        } else if let Some((_, first)) = first_at_place.iter().find(|(f, _)| *f == family) {
            (
                "type",
                format!("one {family} mount, at {place}: mounts[{first}] is one already"),
            )
        } else {
            first_at_place.push((family, index));
            sysfs_at_sys |= kind == "sysfs";
            continue;
        };
        out.push(
            format!("mounts[{index}].{field}"),
            show(&mount[field]),
            allowed,
        );
    }
}

/// `path` lexically normalised (`//sys/./fs/` is `/sys/fs`); None unless it is absolute
/// and free of `..`, whose meaning depends on links in the image.
fn lexically_normal(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return None;
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            part => parts.push(part),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

/// Filesystems a container may mount besides binds: the kernel's pseudo-filesystems
/// and tmpfs. Anything else (ext4 from a block device, nfs, overlay, fuse...) would
/// give it storage outside the size limits or reach the host's disks.
const MOUNT_TYPES: [&str; 7] = [
    "proc", "sysfs", "cgroup", "cgroup2", "tmpfs", "devpts", "mqueue",
];

/// Disk (seeds: "missing ... disk limits"): the rootfs is read-only (baseline), so a
/// container writes only to tmpfs mounts, whose size must be bounded, or to binds of
/// engine-managed paths (mounts.host-path). A tmpfs without `size=` gets the
/// baseline's size.
pub fn disk(input: &Input, out: &mut Findings) {
    let max = input.config.resources.max_tmpfs_bytes;
    for (index, mount) in mounts(input.spec).filter(|(_, m)| !is_bind(m)) {
        let kind = mount["type"].as_str().unwrap_or_default();
        if !MOUNT_TYPES.contains(&kind) {
            out.push(
                format!("mounts[{index}].type"),
                show(&mount["type"]),
                format!("one of {} or a bind mount", MOUNT_TYPES.join(", ")),
            );
            continue;
        }
        if kind != "tmpfs" {
            continue;
        }
        for option in options(mount) {
            let Some((key, value)) = option.split_once('=') else {
                continue;
            };
            let refusal = match (key, tmpfs_size_bytes(value)) {
                ("nr_blocks", _) => Some("size=<bytes>, not nr_blocks".to_owned()),
                ("size", None) => Some(
                    "an absolute size (bytes, or a k, m, g or t suffix); a percentage of host memory is no bound"
                        .to_owned(),
                ),
                // size=0 means unlimited to tmpfs.
                ("size", Some(0)) => Some(format!("a size between 1 and {max} bytes (0 means unlimited)")),
                ("size", Some(bytes)) if bytes > max => Some(format!(
                    "at most {max} bytes (admission.resources.max_tmpfs_bytes)"
                )),
                _ => None,
            };
            if let Some(allowed) = refusal {
                out.push(
                    format!("mounts[{index}].options"),
                    format!("{option:?}"),
                    allowed,
                );
            }
        }
    }
}

/// The parameters the kernel's tmpfs takes (mm/shmem.c `shmem_fs_parameters`).
const TMPFS_PARAMETERS: [&str; 20] = [
    "size",
    "nr_blocks",
    "nr_inodes",
    "mode",
    "uid",
    "gid",
    "huge",
    "mpol",
    "inode32",
    "inode64",
    "noswap",
    "quota",
    "usrquota",
    "grpquota",
    "usrquota_block_hardlimit",
    "usrquota_inode_hardlimit",
    "grpquota_block_hardlimit",
    "grpquota_inode_hardlimit",
    "casefold",
    "strict_encoding",
];

/// Mount options libcontainer 0.7 would lose or pass on to the kernel: a container
/// must not be created with less than it asked for, nor fail with an EINVAL from deep
/// inside rootfs preparation. `idmap`/`ridmap` (Podman's `--volume …:idmap`) are
/// dropped without a word by libcontainer's `parse_mount` (rootfs/utils.rs), and
/// `idmap=…` goes to the kernel as data. On a tmpfs, a word libcontainer does not take
/// for a mount flag (`MountOption`, `MountRecursive`) reaches tmpfs as a parameter
/// (fsconfig), which answers EINVAL for any it does not know. runc's `tmpcopyup` and
/// `notmpcopyup` and crun's `copy-symlink` are bulwark's to handle (crate::scratch).
pub fn known_options(input: &Input, out: &mut Findings) {
    use libcontainer::syscall::linux::{MountOption, MountRecursive};
    use std::str::FromStr;
    for (index, mount) in mounts(input.spec) {
        let tmpfs = mount["type"] == "tmpfs";
        for (position, option) in options(mount).into_iter().enumerate() {
            let key = option.split_once('=').map_or(option, |(key, _)| key);
            let allowed = if matches!(key, "idmap" | "ridmap") {
                "no idmap: libcontainer 0.7 cannot make id-mapped mounts; ids are mapped by \
                 the container's user namespace (linux.uidMappings, linux.gidMappings)"
                    .to_owned()
            } else if tmpfs
                && !option.contains('=')
                && (MountOption::from_str(option).is_ok()
                    || MountRecursive::from_str(option).is_ok()
                    || crate::scratch::EXTENSIONS.contains(&option))
            {
                continue;
            } else if tmpfs && !TMPFS_PARAMETERS.contains(&key) {
                format!(
                    "a mount flag, tmpcopyup, notmpcopyup or a tmpfs parameter ({})",
                    TMPFS_PARAMETERS.join(", ")
                )
            } else {
                continue;
            };
            out.push(
                format!("mounts[{index}].options[{position}]"),
                format!("{option:?}"),
                allowed,
            );
        }
    }
}

/// tmpfs's `size=` value in bytes: a number with an optional k, m, g or t suffix
/// (Documentation/filesystems/tmpfs.rst); None for a percentage or garbage.
pub fn tmpfs_size_bytes(value: &str) -> Option<u64> {
    let (digits, shift) = match value.as_bytes().last()? {
        b'k' | b'K' => (&value[..value.len() - 1], 10),
        b'm' | b'M' => (&value[..value.len() - 1], 20),
        b'g' | b'G' => (&value[..value.len() - 1], 30),
        b't' | b'T' => (&value[..value.len() - 1], 40),
        _ => (value, 0),
    };
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::lexically_normal;
    use crate::admission::{fragment, run_rules, MOUNTS_KERNEL_FS};
    use crate::config::AdmissionConfig;

    /// mounts.kernel-fs's (path, value) pairs for a spec with `mounts`.
    fn kernel_fs(mounts: Value) -> Vec<(String, String)> {
        let config = AdmissionConfig::default();
        let spec = json!({ "mounts": mounts });
        run_rules(&fragment(&spec, &config), &[MOUNTS_KERNEL_FS])
            .into_iter()
            .map(|v| (v.path, v.value))
            .collect()
    }

    fn mount(kind: &str, destination: &str) -> Value {
        json!({"type": kind, "source": kind, "destination": destination})
    }

    #[test]
    fn destinations_are_normalised_lexically_and_dotdot_is_refused() {
        for (path, normal) in [
            ("/proc", Some("/proc")),
            ("/proc/", Some("/proc")),
            ("//proc", Some("/proc")),
            ("/proc/.", Some("/proc")),
            ("//sys/./fs//cgroup/", Some("/sys/fs/cgroup")),
            ("/", Some("/")),
            ("/proc/..", None),
            ("/mnt/../proc", None),
            ("proc", None),
            ("", None),
        ] {
            assert_eq!(lexically_normal(path).as_deref(), normal, "{path:?}");
        }
    }

    #[test]
    fn the_standard_kernel_mounts_are_admitted_however_spelled() {
        for (proc, sys, cgroup, kind) in [
            ("/proc", "/sys", "/sys/fs/cgroup", "cgroup"),
            ("//proc/.", "/sys/", "/sys/fs/cgroup/", "cgroup2"),
        ] {
            let mounts = json!([
                mount("proc", proc),
                mount("tmpfs", "/dev"),
                mount("sysfs", sys),
                mount(kind, cgroup),
            ]);
            assert_eq!(kernel_fs(mounts), [], "{proc} {sys} {cgroup} {kind}");
        }
        // Neither is required.
        assert_eq!(kernel_fs(json!([mount("tmpfs", "/tmp")])), []);
    }

    #[test]
    fn kernel_filesystems_elsewhere_twice_or_before_sysfs_are_refused() {
        let destination =
            |i: usize, value: &str| (format!("mounts[{i}].destination"), format!("{value:?}"));
        let cases = [
            (
                json!([mount("proc", "/proc"), mount("proc", "/mnt/proc")]),
                vec![destination(1, "/mnt/proc")],
            ),
            (
                json!([mount("proc", "/proc/../mnt")]),
                vec![destination(0, "/proc/../mnt")],
            ),
            (json!([mount("proc", "proc")]), vec![destination(0, "proc")]),
            (
                json!([mount("sysfs", "/sys"), mount("sysfs", "/mnt")]),
                vec![destination(1, "/mnt")],
            ),
            (
                json!([mount("sysfs", "/sys"), mount("cgroup2", "/mnt/cg")]),
                vec![destination(1, "/mnt/cg")],
            ),
            // The cgroup mount before the sysfs, or with none.
            (
                json!([mount("cgroup", "/sys/fs/cgroup"), mount("sysfs", "/sys")]),
                vec![destination(0, "/sys/fs/cgroup")],
            ),
            (
                json!([mount("cgroup", "/sys/fs/cgroup")]),
                vec![destination(0, "/sys/fs/cgroup")],
            ),
            // The type decides, bind options or not.
            (
                json!([{"type": "proc", "source": "proc", "destination": "/mnt/p", "options": ["rbind"]}]),
                vec![destination(0, "/mnt/p")],
            ),
            // A second one at its place: the type is named.
            (
                json!([mount("proc", "/proc"), mount("proc", "/proc/")]),
                vec![("mounts[1].type".to_owned(), "\"proc\"".to_owned())],
            ),
            (
                json!([
                    mount("sysfs", "/sys"),
                    mount("cgroup", "/sys/fs/cgroup"),
                    mount("cgroup2", "/sys/fs/cgroup")
                ]),
                vec![("mounts[2].type".to_owned(), "\"cgroup2\"".to_owned())],
            ),
        ];
        for (mounts, expected) in cases {
            assert_eq!(kernel_fs(mounts.clone()), expected, "{mounts}");
        }
    }
}
