//! The container's cgroup: confined under the configured parents, new at create, and
//! claimed by bulwark before libcontainer joins it.
//!
//! libcontainer 0.7 joins whatever `linux.cgroupsPath` names, creating it if missing and
//! reusing it if not (libcgroups v1 `add_task`: create_dir_all, then cgroup.procs), and
//! strips only a leading `/` (`join_safely`: `..` climbs out of the hierarchy). Its
//! `delete`, a failed create's cleanup and `kill --all` SIGKILL every process in that
//! cgroup and remove it. So a spec naming `/system.slice/ssh.service` or another
//! container's cgroup would take over its limits and kill it on delete. Admission
//! (`cgroups.path`) confines the path and refuses one that exists; at create bulwark
//! makes the leaf itself with an exclusive `mkdir`, so of two racing creates naming the
//! same cgroup one is refused, and every cgroup libcontainer later kills or removes is
//! one bulwark created for this container.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

mod attach_warmup;
mod reap;

pub use attach_warmup::AttachWarmup;
pub use reap::reap;

/// Where cgroup hierarchies are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cannot read the host's cgroup mounts: {0}")]
    Mounts(io::Error),
    #[error(
        "cgroup {path} already exists: a container gets a new cgroup of its own; \
         choose another linux.cgroupsPath"
    )]
    Exists { path: PathBuf },
    #[error("cannot create cgroup {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error(
        "linux.resources.memory.disableOOMKiller: cannot disable the OOM killer in {path}: \
         {reason}"
    )]
    OomControl { path: PathBuf, reason: String },
    #[error("cannot read the container's OOM kill count from {path}: {reason}")]
    OomKills { path: PathBuf, reason: String },
    #[error("cannot remove the container's cgroup {path}: {reason}")]
    Reap { path: PathBuf, reason: String },
}

/// Which cgroup version the host runs libcontainer's manager on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// v1 controllers (alone or hybrid with a unified hierarchy beside them).
    V1,
    /// The unified hierarchy only.
    V2,
}

/// The host's cgroup version, as libcgroups 0.7 decides it (unified only at
/// /sys/fs/cgroup is v2, anything else v1).
pub fn version() -> Result<Version, CgroupError> {
    Ok(if unified_only(&hierarchies()?) {
        Version::V2
    } else {
        Version::V1
    })
}

/// A `linux.cgroupsPath`, parsed by form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupPath {
    /// The cgroupfs driver's absolute path (`/kubepods/burstable/pod<uid>/<id>`).
    Cgroupfs(PathBuf),
    /// The systemd driver's `slice:prefix:name` (`kubepods-burstable.slice:cri-containerd:<id>`).
    Systemd {
        slice: String,
        prefix: String,
        name: String,
    },
}

impl CgroupPath {
    /// Parses a cgroupsPath; the error says what is wrong with it. `..`, `.`, empty
    /// components, a relative path and the empty path (which libcontainer reads as
    /// bulwark's own cgroup) are refused.
    pub fn parse(path: &str) -> Result<Self, &'static str> {
        if let Some(relative) = path.strip_prefix('/') {
            // Split by hand: Path::components folds "." and "//" away.
            let plain = relative
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..");
            if !plain {
                return Err("an absolute path without \".\", \"..\" or empty components");
            }
            return Ok(Self::Cgroupfs(PathBuf::from(path)));
        }
        let parts: Vec<&str> = path.split(':').collect();
        let [slice, prefix, name] = parts[..] else {
            return Err("an absolute path (cgroupfs) or slice:prefix:name (systemd)");
        };
        let unit_part = |s: &str| {
            !s.is_empty() && !s.contains('/') && s != "." && s != ".." && !s.contains("..")
        };
        if !slice.ends_with(".slice") || !unit_part(slice) || !unit_part(prefix) || !unit_part(name)
        {
            return Err("slice:prefix:name with a .slice and no \"/\" or \"..\"");
        }
        Ok(Self::Systemd {
            slice: slice.to_owned(),
            prefix: prefix.to_owned(),
            name: name.to_owned(),
        })
    }

    /// Whether the cgroup lies strictly below one of the allowed parents: a cgroupfs
    /// path under one of `parents`, a systemd slice that is one of `slices` or below
    /// one (systemd nests `a-b.slice` in `a.slice`).
    pub fn is_confined(&self, parents: &[PathBuf], slices: &[String]) -> bool {
        match self {
            Self::Cgroupfs(path) => parents.iter().any(|p| path.starts_with(p) && path != p),
            Self::Systemd { slice, .. } => slices.iter().any(|allowed| {
                let stem = allowed.trim_end_matches(".slice");
                slice == allowed || slice.starts_with(&format!("{stem}-"))
            }),
        }
    }

    /// The cgroup's directory relative to a hierarchy's root, as libcontainer makes it:
    /// on cgroup v1 (every driver: libcgroups 0.7 uses its v1 manager there) and for
    /// cgroupfs paths the path itself, for systemd on v2 the slice's nesting and
    /// `<prefix>-<name>.scope`.
    pub fn relative_dir(&self, unified: bool) -> PathBuf {
        match self {
            Self::Cgroupfs(path) => path.strip_prefix("/").unwrap_or(path).to_owned(),
            Self::Systemd {
                slice,
                prefix,
                name,
            } => {
                if !unified {
                    return PathBuf::from(format!("{slice}:{prefix}:{name}"));
                }
                let mut dir = PathBuf::new();
                let stem = slice.trim_end_matches(".slice");
                if stem != "-" {
                    let mut nested = String::new();
                    for part in stem.split('-') {
                        if !nested.is_empty() {
                            nested.push('-');
                        }
                        nested.push_str(part);
                        dir.push(format!("{nested}.slice"));
                    }
                }
                dir.push(format!("{prefix}-{name}.scope"));
                dir
            }
        }
    }
}

/// A cgroup filesystem mounted under /sys/fs/cgroup, from /proc/self/mountinfo.
struct CgroupMount {
    mount_point: PathBuf,
    /// `cgroup2` for the unified hierarchy.
    v1: bool,
    /// The v1 controllers (and `name=` of a named hierarchy) it holds.
    super_options: String,
}

/// The host's cgroup mounts under /sys/fs/cgroup, in mountinfo order, read once per
/// process: create reads them for the baseline's host support, the cgroup version and
/// admission's unapplied resources, and no command mounts or unmounts a hierarchy. One
/// read of /proc/self/mountinfo grows with the host's mounts (hundreds on a Kubernetes
/// node).
fn cgroup_mounts() -> Result<&'static [CgroupMount], CgroupError> {
    static MOUNTS: OnceLock<Vec<CgroupMount>> = OnceLock::new();
    if let Some(mounts) = MOUNTS.get() {
        return Ok(mounts);
    }
    let read = read_cgroup_mounts()?;
    Ok(MOUNTS.get_or_init(|| read))
}

fn read_cgroup_mounts() -> Result<Vec<CgroupMount>, CgroupError> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").map_err(CgroupError::Mounts)?;
    Ok(mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mut fields = right.split_whitespace();
            let fstype = fields.next()?;
            let super_options = fields.nth(1).unwrap_or_default().to_owned();
            let mount_point = PathBuf::from(left.split_whitespace().nth(4)?);
            matches!(fstype, "cgroup" | "cgroup2")
                .then_some(CgroupMount {
                    mount_point,
                    v1: fstype == "cgroup",
                    super_options,
                })
                .filter(|m| m.mount_point.starts_with(CGROUP_ROOT))
        })
        .collect())
}

/// The mount points of the host's cgroup hierarchies (v1 controllers and named
/// hierarchies, and the unified one), from /proc/self/mountinfo.
pub fn hierarchies() -> Result<Vec<PathBuf>, CgroupError> {
    Ok(cgroup_mounts()?
        .iter()
        .map(|m| m.mount_point.clone())
        .collect())
}

/// The controllers libcgroups 0.7's v1 manager puts a container in (`CONTROLLERS` in
/// libcgroups src/v1/controller_type.rs, private there): its `add_task` makes the
/// container's directory in each hierarchy holding one of them, before the init runs.
const V1_MANAGED_CONTROLLERS: [&str; 12] = [
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "hugetlb",
    "memory",
    "pids",
    "perf_event",
    "blkio",
    "net_prio",
    "net_cls",
    "freezer",
];

/// The mount points of the host's cgroup v1 hierarchies that hold a controller
/// libcgroups manages (so not the named `systemd` one, nor the unified one of a hybrid
/// host): where a container has a cgroup directory of its own. Empty on cgroup v2.
pub fn v1_managed_hierarchies() -> Result<Vec<PathBuf>, CgroupError> {
    Ok(cgroup_mounts()?
        .iter()
        .filter(|m| {
            m.v1 && m
                .super_options
                .split(',')
                .any(|o| V1_MANAGED_CONTROLLERS.contains(&o))
        })
        .map(|m| m.mount_point.clone())
        .collect())
}

fn unified_only(hierarchies: &[PathBuf]) -> bool {
    hierarchies.len() == 1 && hierarchies[0] == Path::new(CGROUP_ROOT)
}

/// The directories of `path` that already exist, in any hierarchy.
pub fn existing(path: &CgroupPath) -> Result<Vec<PathBuf>, CgroupError> {
    let hierarchies = hierarchies()?;
    let relative = path.relative_dir(unified_only(&hierarchies));
    Ok(hierarchies
        .iter()
        .map(|h| h.join(&relative))
        .filter(|dir| fs::symlink_metadata(dir).is_ok())
        .collect())
}

/// Where the container's cgroup is claimed: in the hierarchy libcontainer counts its
/// processes in (the v1 `devices` controller, which `kill --all` walks; the unified
/// root on v2). Nothing is created.
pub fn claim_dir(path: &CgroupPath) -> Result<PathBuf, CgroupError> {
    let hierarchies = hierarchies()?;
    let unified = unified_only(&hierarchies);
    let hierarchy = if unified {
        PathBuf::from(CGROUP_ROOT)
    } else {
        hierarchies
            .iter()
            .find(|h| {
                h.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.split(',').any(|c| c == "devices"))
            })
            .cloned()
            .ok_or_else(|| {
                CgroupError::Mounts(io::Error::other("no devices controller hierarchy"))
            })?
    };
    Ok(hierarchy.join(path.relative_dir(unified)))
}

/// Claims `dir` (from [`claim_dir`]) with a plain `mkdir` of the leaf: it fails if the
/// directory exists, so exactly one create gets it. Parents are made as needed (an
/// engine's pod parent). [`release`] undoes it if the create fails before libcontainer
/// owns it. Returns the directory's inode: the proof, kept in bulwark's record, that a
/// cgroup found at this path later is the one this mkdir made ([`reap`] acts on
/// nothing else).
pub fn claim(dir: &Path) -> Result<u64, CgroupError> {
    let create_err = |source| CgroupError::Create {
        path: dir.to_owned(),
        source,
    };
    if let Some(parent) = dir.parent() {
        fs::create_dir_all(parent).map_err(create_err)?;
    }
    if version()? == Version::V2 {
        delegate_controllers(dir);
    }
    match fs::create_dir(dir) {
        Ok(()) => Ok(fs::symlink_metadata(dir).map_err(create_err)?.ino()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(CgroupError::Exists {
            path: dir.to_owned(),
        }),
        Err(e) => Err(create_err(e)),
    }
}

/// cgroup v2: enables, in the `cgroup.subtree_control` of the unified root and of every
/// ancestor of `dir`, each controller that level has, so the leaf gets the interface
/// files (`memory.max`, `cpu.max`, `pids.max`) the spec's limits are written to.
///
/// libcgroups 0.7 does this only when it makes the leaf itself (v2/manager.rs:118
/// `create_unified_cgroup`); its `add_task` (manager.rs:208) just joins a leaf that
/// exists, and [`claim`] made it first. Without this a fresh parent such as `/bulwark`
/// delegates nothing and libcontainer fails opening `<leaf>/cpu.max`.
///
/// Best effort, as in libcgroups: a controller the kernel refuses to enable (a level
/// with processes of its own, a threaded subtree) leaves the limit file missing, and
/// applying that limit then fails the create, so nothing runs unlimited.
fn delegate_controllers(dir: &Path) {
    let Ok(relative) = dir.strip_prefix(CGROUP_ROOT) else {
        return;
    };
    let mut level = PathBuf::from(CGROUP_ROOT);
    let mut ancestors = relative.components().peekable();
    loop {
        let controllers = fs::read_to_string(level.join("cgroup.controllers")).unwrap_or_default();
        for controller in controllers.split_whitespace() {
            let control = level.join("cgroup.subtree_control");
            if let Err(error) = fs::write(&control, format!("+{controller}")) {
                tracing::debug!(?control, controller, %error, "cannot enable cgroup controller");
            }
        }
        match ancestors.next() {
            // The last component is the leaf: enabling controllers in it would forbid
            // it to hold the container's processes (cgroup v2's no-internal-process rule).
            Some(component) if ancestors.peek().is_some() => level.push(component),
            _ => return,
        }
    }
}

/// Disables the OOM killer of the container's v1 memory cgroup (`memory.oom_control`,
/// as runc does for `disableOOMKiller`) and reads it back. libcontainer 0.7 writes 0
/// there whatever the spec says (container_intermediate_process.rs:341 passes
/// `disable_oom_killer: false`), so this runs after it applied the resources and before
/// the init is started. cgroup v2 has no such knob: admission refuses the field there.
pub fn disable_oom_killer(path: &CgroupPath) -> Result<(), CgroupError> {
    let memory = v1_memory_hierarchy()?.ok_or_else(|| CgroupError::OomControl {
        path: PathBuf::from(CGROUP_ROOT),
        reason: "the host has no cgroup v1 memory controller".to_owned(),
    })?;
    let file = memory
        .join(path.relative_dir(false))
        .join("memory.oom_control");
    let failed = |reason: String| CgroupError::OomControl {
        path: file.clone(),
        reason,
    };
    fs::write(&file, "1").map_err(|e| failed(e.to_string()))?;
    let shown = fs::read_to_string(&file).map_err(|e| failed(e.to_string()))?;
    if !shown.lines().any(|l| l.trim() == "oom_kill_disable 1") {
        return Err(failed(format!(
            "the kernel shows {:?} after writing 1",
            shown.lines().next().unwrap_or_default()
        )));
    }
    Ok(())
}

/// The mount point of the v1 memory controller, if the host has one.
fn v1_memory_hierarchy() -> Result<Option<PathBuf>, CgroupError> {
    Ok(hierarchies()?.into_iter().find(|h| {
        h.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.split(',').any(|c| c == "memory"))
    }))
}

/// How many processes of the container's cgroup the OOM killer has killed: the
/// `oom_kill` count of `memory.events` on v2 (what runc's OOM notifier reads there,
/// libcontainer/notify_v2_linux.go), of `memory.oom_control` on v1 (kernel 4.13+).
/// libcgroups 0.7's stats carry only memory.events' `oom` (limit reached), as the
/// memory fail count.
pub fn oom_kills(path: &CgroupPath) -> Result<u64, CgroupError> {
    let file = match version()? {
        Version::V2 => Path::new(CGROUP_ROOT)
            .join(path.relative_dir(true))
            .join("memory.events"),
        Version::V1 => v1_memory_hierarchy()?
            .ok_or_else(|| CgroupError::OomKills {
                path: PathBuf::from(CGROUP_ROOT),
                reason: "the host has no cgroup v1 memory controller".to_owned(),
            })?
            .join(path.relative_dir(false))
            .join("memory.oom_control"),
    };
    let failed = |reason: String| CgroupError::OomKills {
        path: file.clone(),
        reason,
    };
    let text = fs::read_to_string(&file).map_err(|e| failed(e.to_string()))?;
    text.lines()
        .find_map(|line| line.strip_prefix("oom_kill "))
        .ok_or_else(|| failed("no oom_kill line".to_owned()))?
        .trim()
        .parse()
        .map_err(|e| failed(format!("oom_kill: {e}")))
}

/// Removes a claimed cgroup that libcontainer never took over. `rmdir` only: it fails
/// on a cgroup with processes or children, so nothing is ever killed here.
pub fn release(dir: &Path) {
    match fs::remove_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(path = %dir.display(), error = %e, "cannot remove a claimed cgroup")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_parsed_by_form_and_tricks_refused() {
        assert_eq!(
            CgroupPath::parse("/bulwark/c1"),
            Ok(CgroupPath::Cgroupfs("/bulwark/c1".into()))
        );
        for bad in [
            "",
            "/",
            "bulwark/c1",
            "/bulwark/../system.slice",
            "/bulwark/./c1",
            "/bulwark//c1",
            "/bulwark/c1/",
            "system.slice:a",
            "system.slice:a:b:c",
            "system:a:b",
            "system.slice:..:b",
            "system.slice:a:b/c",
        ] {
            assert!(CgroupPath::parse(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            CgroupPath::parse("kubepods-burstable.slice:cri-containerd:abc"),
            Ok(CgroupPath::Systemd { .. })
        ));
    }

    #[test]
    fn confinement_is_strictly_below_a_parent() {
        let parents = [PathBuf::from("/bulwark")];
        let slices = ["kubepods.slice".to_owned()];
        let confined = |p: &str| CgroupPath::parse(p).unwrap().is_confined(&parents, &slices);
        assert!(confined("/bulwark/c1"));
        assert!(confined("/bulwark/pod/c1"));
        assert!(!confined("/bulwark"));
        assert!(!confined("/bulwarkx/c1"));
        assert!(!confined("/system.slice/ssh.service"));
        assert!(confined("kubepods.slice:cri-containerd:c1"));
        assert!(confined("kubepods-burstable-podx.slice:cri-containerd:c1"));
        assert!(!confined("kubepodsx.slice:cri-containerd:c1"));
        assert!(!confined("system.slice:bulwark:c1"));
    }

    #[test]
    fn systemd_paths_nest_their_slices_on_v2() {
        let path = CgroupPath::parse("kubepods-burstable-pod1.slice:cri-containerd:c1").unwrap();
        assert_eq!(
            path.relative_dir(true),
            Path::new(
                "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-c1.scope"
            )
        );
        assert_eq!(
            path.relative_dir(false),
            Path::new("kubepods-burstable-pod1.slice:cri-containerd:c1")
        );
        let path = CgroupPath::parse("/bulwark/c1").unwrap();
        assert_eq!(path.relative_dir(true), Path::new("bulwark/c1"));
    }
}
