//! Host mounts (seeds: "Block any config that attempts to mount host filesystem"; PSS:
//! no hostPath volumes). A bind mount's source must be a path the engine manages for
//! this very container or pod, or on the host config's allowlist, and never a path from
//! which the host can be taken over.

use std::path::{Component, Path};

use serde_json::Value;

use super::{show, Findings, Input};
use crate::binds;
use crate::config::AdmissionConfig;
use crate::engine::Engine;

pub const HOST_PATH: &str = "mounts.host-path";
pub const PROPAGATION: &str = "mounts.propagation";
pub const WRITABLE_KERNEL_FS: &str = "privileged.writable-sysfs";
pub const DISK: &str = "resources.disk";

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
        let verdict = admit_bind_source(
            &input.bundle.join(source),
            &input.engine,
            input.container_id,
            input.config,
        );
        if let Err(allowed) = verdict {
            out.push(path, show(&mount["source"]), allowed);
        }
    }
}

/// The verdict on one bind source (absolute; relative ones are joined to the bundle
/// first, runc's rule): the source, open (see crate::binds), or what is allowed
/// instead. Admission calls it on the engine's document; create calls it again on
/// the effective spec and mounts the very descriptor it returns.
pub fn admit_bind_source(
    source: &Path,
    engine: &Engine,
    container_id: &str,
    config: &AdmissionConfig,
) -> Result<binds::Source, String> {
    let opened = binds::open_source(source).map_err(|e| e.to_string())?;
    if let Some(reason) = forbidden(&opened.path) {
        return Err(format!("{reason}; bind only engine-managed paths of this container or admission.mounts.allowed_host_paths"));
    }
    let allowed = engine_managed(&opened.path, engine, container_id)
        || config
            .mounts
            .allowed_host_paths
            .iter()
            .any(|a| opened.path.starts_with(a));
    if !allowed {
        return Err("host paths may not be mounted; bind only engine-managed paths of this container or pod, or admission.mounts.allowed_host_paths".to_owned());
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
fn engine_managed(resolved: &Path, engine: &Engine, container_id: &str) -> bool {
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
        Engine::Podman => has(&["overlay-containers", container_id, "userdata"]),
        Engine::Cri {
            sandbox_id,
            pod_uid,
            ..
        } => {
            has(&["io.containerd.grpc.v1.cri", "sandboxes", sandbox_id])
                || pod_uid
                    .as_deref()
                    .is_some_and(|uid| has(&["kubelet", "pods", uid]))
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
