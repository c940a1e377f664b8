//! The mandatory hardening baseline (seeds: "Mandatory Baseline (always on)").
//!
//! Rewrites the effective spec, and every exec'd process, so that whatever the engine
//! asked for runs hardened: no capabilities (or the host config's short list),
//! no-new-privileges, read-only rootfs, a non-root user, bulwark's seccomp profile (the
//! engine's own stacks on it, see crate::executor), its AppArmor profile, runc's masked
//! and read-only paths, no core dumps. A spec that forgot a control still runs hardened;
//! requests that weaken the baseline on purpose are the admission step's to refuse.
//! Every rewrite is returned as a [`Change`] for the audit record and `bulwark validate`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use libcontainer::oci_spec::runtime::{Linux, LinuxNamespace, LinuxNamespaceType, Spec};
use serde::Serialize;
use serde_json::Value;

use crate::config::{BaselineConfig, SeccompProfileName, UserNamespaceConfig};
use crate::devices;
use crate::image_groups::RootGroups;
use crate::seccomp_profiles::{self, ProfileError};
use crate::user_namespace_share::Joined;

mod mounts;
mod network;
mod process;
mod scratch;
pub mod user_namespace;
mod verify;

pub use mounts::is_own_cgroup_bind;
use mounts::read_only_cgroup_v1;
pub use verify::Unmet;

/// The annotation through which a container selects a stricter seccomp profile.
pub const SECCOMP_PROFILE_ANNOTATION: &str = "bulwark.io/seccomp-profile";

/// runc's default masked paths (libcontainer/specconv), always present.
pub const MASKED_PATHS: [&str; 12] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
];

/// runc's default read-only paths, always present.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// One rewrite the baseline made.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub control: &'static str,
    /// Where in the spec, as a JSON path (`process.user.uid`).
    pub path: String,
    pub before: Value,
    pub after: Value,
    pub reason: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error(
        "baseline.non-root: {path} is 0 and the host config refuses root \
         (baseline.non_root.mode = \"refuse\"); run the process as a non-root user"
    )]
    RootRefused { path: &'static str },
    #[error(
        "baseline.apparmor: this kernel has no AppArmor, so profile {profile:?} cannot be \
         enforced; bulwark refuses to run without it unless the host config sets \
         [baseline.apparmor] allow_missing = true"
    )]
    AppArmorMissing { profile: String },
    #[error(
        "baseline.apparmor: AppArmor profile {profile:?} is not loaded; load it with \
         `bulwark apparmor install`"
    )]
    AppArmorNotLoaded { profile: String },
    #[error(
        "baseline.seccomp: annotation {SECCOMP_PROFILE_ANNOTATION} = {requested:?} is not \
         allowed: the host runs {configured:?} and a container may only select a stricter \
         profile (default < agent)"
    )]
    WeakerSeccomp {
        requested: String,
        configured: &'static str,
    },
    #[error(
        "baseline.seccomp: annotation {SECCOMP_PROFILE_ANNOTATION} = {0:?} names no \
         profile; use \"default\" or \"agent\""
    )]
    UnknownSeccomp(String),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(
        "baseline.user-namespace: baseline.user_namespace.mode = \"auto\" gives the \
         container a user namespace of its own, but linux.namespaces[{index}] joins the \
         {namespace} namespace at its path, which the host's user namespace owns: only the \
         network namespaces it owns can be joined from the container's (bulwark joins \
         them first). Run the container with a {namespace} namespace of its own, or set \
         mode = \"off\""
    )]
    UserNamespaceBesideJoined {
        index: usize,
        namespace: &'static str,
    },
    #[error(
        "baseline.user-namespace: linux.namespaces[{index}] joins the {namespace} \
         namespace at its path, whose user namespace is not one bulwark leased to a running container \
         under this state root (baseline.user_namespace.mode = \"auto\"), or differs \
         from the user namespace the container's other joined namespaces belong to: a \
         container joins only the namespaces of its pod's sandbox, in the sandbox's user \
         namespace"
    )]
    UserNamespaceNotLeased {
        index: usize,
        namespace: &'static str,
    },
    #[error("the spec has no process")]
    NoProcess,
}

/// What the host offers that the baseline depends on.
#[derive(Debug, Clone)]
pub struct HostSupport {
    pub apparmor_enabled: bool,
    /// Names of the AppArmor profiles loaded in the kernel.
    pub apparmor_profiles: BTreeSet<String>,
    /// The cgroup v1 hierarchies a container gets a cgroup of its own in (empty on v2).
    pub cgroup_v1_hierarchies: Vec<PathBuf>,
    /// Whether the host runs the unified cgroup hierarchy alone (cgroup v2).
    pub cgroup_v2: bool,
}

impl HostSupport {
    pub fn probe() -> Self {
        let apparmor_enabled = crate::host::apparmor_enabled();
        let apparmor_profiles = if apparmor_enabled {
            crate::host::loaded_apparmor_profiles()
        } else {
            BTreeSet::new()
        };
        // Unreadable mountinfo leaves libcontainer's own cgroup mount (and its cover).
        let cgroup_v1_hierarchies = crate::cgroups::v1_managed_hierarchies().unwrap_or_default();
        let cgroup_v2 = crate::cgroups::version().is_ok_and(|v| v == crate::cgroups::Version::V2);
        Self {
            apparmor_enabled,
            apparmor_profiles,
            cgroup_v1_hierarchies,
            cgroup_v2,
        }
    }
}

pub struct Baseline<'a> {
    config: &'a BaselineConfig,
    host: &'a HostSupport,
    /// First host id of the range a container given a user namespace gets
    /// (`baseline.user_namespace`): the one `create` leased, else the pool's first.
    user_namespace_host_id: u32,
}

impl<'a> Baseline<'a> {
    pub fn new(config: &'a BaselineConfig, host: &'a HostSupport) -> Self {
        Self {
            config,
            host,
            user_namespace_host_id: config.user_namespace.first_host_id,
        }
    }

    /// The baseline for a container that holds the range at `host_id`.
    pub fn with_leased_range(mut self, host_id: u32) -> Self {
        self.user_namespace_host_id = host_id;
        self
    }

    /// The pool of host id ranges the baseline's user namespaces come from.
    pub fn user_namespace_pool(&self) -> &UserNamespaceConfig {
        &self.config.user_namespace
    }

    /// Hardens a whole spec that joins no namespace by path.
    pub fn apply_to_spec(&self, spec: &mut Spec) -> Result<Vec<Change>, BaselineError> {
        self.apply_to_spec_joining(spec, &Joined::Nothing)
    }

    /// Hardens a whole spec (create and run) whose joined namespaces stand to a user
    /// namespace as `joined` says (crate::user_namespace_share).
    pub fn apply_to_spec_joining(
        &self,
        spec: &mut Spec,
        joined: &Joined,
    ) -> Result<Vec<Change>, BaselineError> {
        let mut changes = Vec::new();
        // First: what follows (scratch dirs, unprivileged ports) depends on it.
        user_namespace::add(
            &self.config.user_namespace,
            self.user_namespace_host_id,
            joined,
            spec,
            &mut changes,
        )?;
        let mut process = spec.process().clone().ok_or(BaselineError::NoProcess)?;
        let root_groups =
            RootGroups::of_root_path(spec.root().as_ref().map(|r| r.path().as_path()));
        changes.extend(self.apply_to_process(&mut process, &root_groups)?);
        spec.set_process(Some(process));

        if let Some(mut root) = spec.root().clone() {
            let before = root.readonly();
            root.set_readonly(Some(true));
            record(
                &mut changes,
                "read-only-rootfs",
                "root.readonly",
                &before,
                &root.readonly(),
                "the rootfs is always read-only; writable space comes from tmpfs mounts",
            );
            spec.set_root(Some(root));
        }

        let own_cgroup_v1 = self.own_cgroup_v1_mounts(spec);
        let mut mounts = spec.mounts().clone().unwrap_or_default();
        for (index, mount) in mounts.iter_mut().enumerate() {
            self.harden_mount(index, mount, &mut changes);
        }
        let rootfs = spec.root().as_ref().map(|r| r.path().clone());
        if let Some(rootfs) = rootfs.as_ref().filter(|p| p.is_absolute()) {
            read_only_cgroup_v1(rootfs, &mut mounts, &mut changes, own_cgroup_v1.as_deref());
        }
        // Only with a root to make read-only (every spec the pipeline passes has one).
        if let Some(rootfs) = rootfs.filter(|_| !crate::id_mapping::has_user_namespace(spec)) {
            scratch::add(self.config, &rootfs, &mut mounts, &mut changes);
        }
        if !mounts.is_empty() || spec.mounts().is_some() {
            spec.set_mounts(Some(mounts));
        }
        network::unprivileged_ports(spec, &mut changes);

        let seccomp_profile = self.seccomp_profile(spec)?;
        let linux = spec.linux_mut().get_or_insert_with(Default::default);
        let profile = seccomp_profiles::load(seccomp_profile)?;
        let before = linux.seccomp().clone();
        if before.as_ref() != Some(&profile) {
            changes.push(Change {
                control: "seccomp",
                path: "linux.seccomp".into(),
                before: summarize_seccomp(before.is_some()),
                after: Value::String(format!(
                    "bulwark profile {:?}{}",
                    seccomp_profile.as_str(),
                    if before.is_some() {
                        ", the engine's loaded after it as a second filter"
                    } else {
                        ""
                    }
                )),
                reason: "bulwark's seccomp profile is always loaded; an engine's own profile \
                         can only add denials to it (the kernel takes the stricter answer)",
            });
        }
        linux.set_seccomp(Some(profile));

        let masked = union(linux.masked_paths().as_deref(), &MASKED_PATHS);
        record(
            &mut changes,
            "masked-paths",
            "linux.maskedPaths",
            linux.masked_paths(),
            &Some(masked.clone()),
            "runc's default masked paths are always present",
        );
        linux.set_masked_paths(Some(masked));
        let readonly = union(linux.readonly_paths().as_deref(), &READONLY_PATHS);
        record(
            &mut changes,
            "readonly-paths",
            "linux.readonlyPaths",
            linux.readonly_paths(),
            &Some(readonly.clone()),
            "runc's default read-only paths are always present",
        );
        linux.set_readonly_paths(Some(readonly));

        if self.host.cgroup_v2 {
            add_cgroup_namespace(linux, &mut changes);
        }

        let mut resources = linux.resources().clone().unwrap_or_default();
        let rules = devices::cgroup_rules();
        record(
            &mut changes,
            "devices",
            "linux.resources.devices",
            resources.devices(),
            &Some(rules.clone()),
            "the device cgroup denies every device but the standard character devices",
        );
        resources.set_devices(Some(rules));
        linux.set_resources(Some(resources));

        Ok(changes)
    }

    /// The seccomp profile `spec` runs under: the configured one, or a stricter one its
    /// annotation selects.
    pub fn seccomp_profile(&self, spec: &Spec) -> Result<SeccompProfileName, BaselineError> {
        let configured = self.config.seccomp.profile;
        let Some(requested) = spec
            .annotations()
            .as_ref()
            .and_then(|a| a.get(SECCOMP_PROFILE_ANNOTATION))
        else {
            return Ok(configured);
        };
        let name = SeccompProfileName::parse(requested)
            .ok_or_else(|| BaselineError::UnknownSeccomp(requested.clone()))?;
        if name < configured {
            return Err(BaselineError::WeakerSeccomp {
                requested: requested.clone(),
                configured: configured.as_str(),
            });
        }
        Ok(name)
    }
}

fn record<T: Serialize + PartialEq>(
    changes: &mut Vec<Change>,
    control: &'static str,
    path: &str,
    before: &T,
    after: &T,
    reason: &'static str,
) {
    if before != after {
        changes.push(Change {
            control,
            path: path.to_owned(),
            before: serde_json::to_value(before).unwrap_or(Value::Null),
            after: serde_json::to_value(after).unwrap_or(Value::Null),
            reason,
        });
    }
}

fn summarize_seccomp(present: bool) -> Value {
    Value::String(if present {
        "the engine's profile".into()
    } else {
        "none".into()
    })
}

/// cgroup v2: a cgroup namespace of the container's own where the spec has none, as
/// Docker, Podman and containerd's CRI give on v2 by default. Without one, libcontainer
/// 0.7 (like runc) mounts the whole unified hierarchy for a `cgroup` mount, read-only but
/// showing every other container's cgroup, limits and process counts, and
/// /proc/self/cgroup names the host's path (`/bulwark/<id>`). On v1 its mount binds the
/// container's own cgroup directories, so the v1 view is already the container's own.
/// A spec joining a cgroup namespace by path keeps it.
fn add_cgroup_namespace(linux: &mut Linux, changes: &mut Vec<Change>) {
    let before = linux.namespaces().clone();
    let mut namespaces = before.clone().unwrap_or_default();
    if namespaces
        .iter()
        .any(|ns| ns.typ() == LinuxNamespaceType::Cgroup)
    {
        return;
    }
    let mut cgroup = LinuxNamespace::default();
    cgroup.set_typ(LinuxNamespaceType::Cgroup);
    namespaces.push(cgroup);
    record(
        changes,
        "cgroup-namespace",
        "linux.namespaces",
        &before,
        &Some(namespaces.clone()),
        "on cgroup v2 a container sees only its own cgroup",
    );
    linux.set_namespaces(Some(namespaces));
}

fn union(present: Option<&[String]>, required: &[&str]) -> Vec<String> {
    let mut paths: Vec<String> = present.unwrap_or_default().to_vec();
    for path in required {
        if !paths.iter().any(|p| p == path) {
            paths.push((*path).to_owned());
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::mounts::{NODEV, NOEXEC, NOSUID, RDONLY};
    use super::verify::REQUIRED_NAMESPACES;
    use super::*;
    use crate::config::NonRootMode;
    use libcontainer::oci_spec::runtime::{Capabilities, Capability};

    /// The controls the baseline changes (and finds unmet) in `root_spec()`.
    const CONTROLS_OF_A_ROOT_SPEC: [&str; 11] = [
        "capabilities",
        "no-new-privileges",
        "non-root",
        "read-only-rootfs",
        "seccomp",
        "masked-paths",
        "readonly-paths",
        "core-dumps",
        "oom-score",
        "mount-options",
        "devices",
    ];

    fn host(apparmor: bool) -> HostSupport {
        HostSupport {
            apparmor_enabled: apparmor,
            apparmor_profiles: ["bulwark-default".to_owned()].into_iter().collect(),
            cgroup_v1_hierarchies: Vec::new(),
            cgroup_v2: false,
        }
    }

    /// Without scratch directories: these tests look at the spec's own mounts by index
    /// (scratch::tests covers the scratch tmpfs).
    fn permissive() -> BaselineConfig {
        let mut config = BaselineConfig::default();
        config.apparmor.allow_missing = true;
        config.scratch_dirs.clear();
        config
    }

    fn spec(value: serde_json::Value) -> Spec {
        serde_json::from_value(value).unwrap()
    }

    fn root_spec() -> Spec {
        spec(serde_json::json!({
            "ociVersion": "1.0.2",
            "process": {
                "args": ["/probe"], "cwd": "/",
                "user": {"uid": 0, "gid": 0, "additionalGids": [0, 10]},
                "capabilities": {"bounding": ["CAP_SYS_ADMIN", "CAP_NET_BIND_SERVICE"],
                                 "effective": ["CAP_SYS_ADMIN", "CAP_NET_BIND_SERVICE"]},
                "oomScoreAdj": -999,
                "rlimits": [{"type": "RLIMIT_CORE", "hard": 100, "soft": 100}]
            },
            "root": {"path": "/rootfs"},
            "mounts": [
                {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
                {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["rw"]}
            ],
            "linux": {"maskedPaths": ["/custom"]}
        }))
    }

    #[test]
    fn a_spec_that_forgot_every_control_comes_out_hardened() {
        let config = permissive();
        let host = host(false);
        let mut spec = root_spec();
        let changes = Baseline::new(&config, &host)
            .apply_to_spec(&mut spec)
            .unwrap();
        let process = spec.process().as_ref().unwrap();
        let caps = process.capabilities().as_ref().unwrap();
        for set in [
            caps.bounding(),
            caps.effective(),
            caps.permitted(),
            caps.inheritable(),
            caps.ambient(),
        ] {
            assert_eq!(set, &Some(Capabilities::new()));
        }
        assert_eq!(process.no_new_privileges(), Some(true));
        assert_eq!((process.user().uid(), process.user().gid()), (65532, 65532));
        // root.path names no readable image: none of root's groups is known, none is kept.
        assert_eq!(process.user().additional_gids(), &Some(vec![]));
        assert_eq!(process.oom_score_adj(), Some(0));
        let core = process.rlimits().as_ref().unwrap();
        assert_eq!(core.len(), 1);
        assert_eq!((core[0].soft(), core[0].hard()), (0, 0));
        assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(true));
        let mounts = spec.mounts().as_ref().unwrap();
        assert_eq!(
            mounts[0].options().as_ref().unwrap(),
            &["size=1m", "nosuid", "nodev"]
        );
        // A tmpfs without a size gets the configured one.
        assert_eq!(
            mounts[1].options().as_ref().unwrap(),
            &["nosuid", "size=67108864"]
        );
        assert!(mounts[2]
            .options()
            .as_ref()
            .unwrap()
            .contains(&"ro".to_owned()));
        assert!(!mounts[2]
            .options()
            .as_ref()
            .unwrap()
            .contains(&"rw".to_owned()));
        let linux = spec.linux().as_ref().unwrap();
        let masked = linux.masked_paths().as_ref().unwrap();
        assert!(
            masked.contains(&"/custom".to_owned()) && masked.contains(&"/proc/kcore".to_owned())
        );
        assert!(linux.seccomp().is_some());
        let controls: BTreeSet<_> = changes.iter().map(|c| c.control).collect();
        for control in CONTROLS_OF_A_ROOT_SPEC {
            assert!(
                controls.contains(control),
                "{control} missing from {controls:?}"
            );
        }
    }

    #[test]
    fn allowed_capabilities_are_kept_in_every_set() {
        let mut config = permissive();
        config.allowed_capabilities = vec!["CAP_NET_BIND_SERVICE".into()];
        let host = host(false);
        let mut spec = root_spec();
        Baseline::new(&config, &host)
            .apply_to_spec(&mut spec)
            .unwrap();
        let caps = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .clone()
            .unwrap();
        let expected: Capabilities = [Capability::NetBindService].into_iter().collect();
        assert_eq!(caps.effective(), &Some(expected.clone()));
        assert_eq!(caps.ambient(), &Some(expected));
    }

    #[test]
    fn refuse_mode_refuses_root() {
        let mut config = permissive();
        config.non_root.mode = NonRootMode::Refuse;
        let host = host(false);
        let err = Baseline::new(&config, &host)
            .apply_to_spec(&mut root_spec())
            .unwrap_err();
        assert!(err.to_string().contains("process.user.uid"), "{err}");
    }

    #[test]
    fn apparmor_is_required_unless_the_config_accepts_its_absence() {
        let config = BaselineConfig::default();
        let without = host(false);
        let err = Baseline::new(&config, &without)
            .apply_to_spec(&mut root_spec())
            .unwrap_err();
        assert!(
            matches!(err, BaselineError::AppArmorMissing { .. }),
            "{err}"
        );

        let with = host(true);
        let mut spec = root_spec();
        Baseline::new(&config, &with)
            .apply_to_spec(&mut spec)
            .unwrap();
        assert_eq!(
            spec.process()
                .as_ref()
                .unwrap()
                .apparmor_profile()
                .as_deref(),
            Some("bulwark-default")
        );

        let not_loaded = HostSupport {
            apparmor_enabled: true,
            apparmor_profiles: BTreeSet::new(),
            cgroup_v1_hierarchies: Vec::new(),
            cgroup_v2: false,
        };
        let err = Baseline::new(&config, &not_loaded)
            .apply_to_spec(&mut root_spec())
            .unwrap_err();
        assert!(
            err.to_string().contains("bulwark apparmor install"),
            "{err}"
        );
    }

    #[test]
    fn only_stricter_seccomp_profiles_may_be_selected() {
        let mut config = permissive();
        let host = host(false);
        let mut spec = root_spec();
        spec.set_annotations(Some(
            [(SECCOMP_PROFILE_ANNOTATION.to_owned(), "agent".to_owned())]
                .into_iter()
                .collect(),
        ));
        let changes = Baseline::new(&config, &host)
            .apply_to_spec(&mut spec.clone())
            .unwrap();
        assert!(
            changes
                .iter()
                .any(|c| c.after == "bulwark profile \"agent\""),
            "{changes:?}"
        );

        config.seccomp.profile = SeccompProfileName::Agent;
        spec.set_annotations(Some(
            [(SECCOMP_PROFILE_ANNOTATION.to_owned(), "default".to_owned())]
                .into_iter()
                .collect(),
        ));
        let err = Baseline::new(&config, &host)
            .apply_to_spec(&mut spec.clone())
            .unwrap_err();
        assert!(matches!(err, BaselineError::WeakerSeccomp { .. }), "{err}");

        spec.set_annotations(Some(
            [(
                SECCOMP_PROFILE_ANNOTATION.to_owned(),
                "unconfined".to_owned(),
            )]
            .into_iter()
            .collect(),
        ));
        assert!(Baseline::new(&config, &host)
            .apply_to_spec(&mut spec)
            .is_err());
    }

    #[test]
    fn a_hardened_spec_meets_every_promise_and_a_raw_one_none() {
        let config = permissive();
        let host = host(false);
        let baseline = Baseline::new(&config, &host);
        let mut spec = root_spec();
        spec.linux_mut().as_mut().unwrap().set_namespaces(Some(
            REQUIRED_NAMESPACES
                .iter()
                .map(|typ| {
                    let mut ns = libcontainer::oci_spec::runtime::LinuxNamespace::default();
                    ns.set_typ(*typ);
                    ns
                })
                .collect(),
        ));
        let raw = spec.clone();
        baseline.apply_to_spec(&mut spec).unwrap();
        assert_eq!(baseline.unmet_in_spec(&spec), vec![]);

        let controls: BTreeSet<_> = baseline
            .unmet_in_spec(&raw)
            .iter()
            .map(|u| u.control)
            .collect();
        for control in CONTROLS_OF_A_ROOT_SPEC {
            assert!(controls.contains(control), "{control} not in {controls:?}");
        }
        let mut no_namespaces = spec.clone();
        no_namespaces
            .linux_mut()
            .as_mut()
            .unwrap()
            .set_namespaces(None);
        assert_eq!(baseline.unmet_in_spec(&no_namespaces).len(), 5);
    }

    #[test]
    fn an_allowed_capability_is_met_and_apparmor_must_match_the_host() {
        let mut config = permissive();
        config.allowed_capabilities = vec!["CAP_NET_BIND_SERVICE".into()];
        let without = host(false);
        let mut spec = root_spec();
        let baseline = Baseline::new(&config, &without);
        baseline.apply_to_spec(&mut spec).unwrap();
        let process = spec.process().clone().unwrap();
        assert_eq!(baseline.unmet_in_process(&process), vec![]);
        // The same process on a host with AppArmor lacks the profile.
        let config = BaselineConfig::default();
        let with = host(true);
        let unmet = Baseline::new(&config, &with).unmet_in_process(&process);
        let controls: Vec<_> = unmet.iter().map(|u| u.control).collect();
        assert_eq!(
            controls,
            ["capabilities"; 5]
                .iter()
                .copied()
                .chain(["apparmor"])
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn options_that_undo_a_required_flag_are_dropped() {
        // libcontainer applies `rrw` after `ro` (mount_setattr, recursively): the
        // baseline kept it, and the sysfs was writable.
        let config = permissive();
        let host = host(false);
        let baseline = Baseline::new(&config, &host);
        let mut spec = root_spec();
        spec.set_mounts(Some(
            serde_json::from_value(serde_json::json!([
                {"destination": "/sys", "type": "sysfs", "source": "sysfs",
                 "options": ["ro", "rrw", "rw", "rsuid", "exec"]},
                {"destination": "/sys/fs/cgroup", "type": "cgroup2", "source": "cgroup",
                 "options": ["rro", "rrw"]},
                {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                 "options": ["nosuid", "suid", "rdev", "size=1m"]}
            ]))
            .unwrap(),
        ));
        baseline.apply_to_spec(&mut spec).unwrap();
        let options = |i: usize| {
            spec.mounts().as_ref().unwrap()[i]
                .options()
                .clone()
                .unwrap()
        };
        assert_eq!(options(0), ["ro", "nosuid", "nodev", "noexec"]);
        assert_eq!(options(1), ["rro", "ro", "nosuid", "nodev", "noexec"]);
        assert_eq!(options(2), ["nosuid", "size=1m", "nodev"]);
        let unmet: Vec<_> = baseline
            .unmet_in_spec(&spec)
            .into_iter()
            .filter(|u| u.control == "mount-options")
            .collect();
        assert_eq!(unmet, vec![]);
    }

    #[test]
    fn mount_flags_are_read_in_libcontainers_order() {
        let options = |list: &[&str]| list.iter().map(|o| (*o).to_owned()).collect::<Vec<_>>();
        assert!(RDONLY.in_force(&options(&["ro"])));
        assert!(RDONLY.in_force(&options(&["rw", "ro"])));
        assert!(RDONLY.in_force(&options(&["rw", "rro"])));
        assert!(!RDONLY.in_force(&options(&[])));
        assert!(!RDONLY.in_force(&options(&["ro", "rw"])));
        assert!(!RDONLY.in_force(&options(&["ro", "rrw"])));
        assert!(!RDONLY.in_force(&options(&["rro", "rrw"])));
        assert!(NOSUID.in_force(&options(&["suid", "nosuid"])));
        assert!(!NOSUID.in_force(&options(&["nosuid", "suid"])));
        assert!(!NODEV.in_force(&options(&["nodev", "rdev"])));
        assert!(!NOEXEC.in_force(&options(&["noexec", "exec"])));
    }

    #[test]
    fn a_joined_pid_namespace_on_cgroup_v1_gets_its_own_cgroups_bound_read_only() {
        let config = permissive();
        let mut host = host(false);
        host.cgroup_v1_hierarchies = vec![
            "/sys/fs/cgroup/memory".into(),
            "/sys/fs/cgroup/cpu,cpuacct".into(),
        ];
        let baseline = Baseline::new(&config, &host);
        let pod = |pid: serde_json::Value| {
            spec(serde_json::json!({
                "ociVersion": "1.0.2",
                "process": {"args": ["/probe"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
                "root": {"path": "/rootfs"},
                "mounts": [
                    {"destination": "/sys", "type": "sysfs", "source": "sysfs"},
                    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                     "options": ["ro"]}
                ],
                "linux": {"cgroupsPath": "/bulwark/c1", "namespaces": [pid]}
            }))
        };
        let mut joined = pod(serde_json::json!({"type": "pid", "path": "/proc/42/ns/pid"}));
        let changes = baseline.apply_to_spec(&mut joined).unwrap();
        assert!(changes.iter().any(|c| c.control == "cgroup-v1-joined-pid"));
        let mounts = joined.mounts().clone().unwrap();
        let shape: Vec<(&str, &str, &str)> = mounts
            .iter()
            .map(|m| {
                (
                    m.typ().as_deref().unwrap(),
                    m.destination().to_str().unwrap(),
                    m.source().as_deref().unwrap().to_str().unwrap(),
                )
            })
            .collect();
        let own = "/sys/fs/cgroup/cpu,cpuacct/bulwark/c1";
        assert_eq!(
            shape,
            [
                ("sysfs", "/sys", "sysfs"),
                ("tmpfs", "/sys/fs/cgroup", "tmpfs"),
                (
                    "bind",
                    "/sys/fs/cgroup/memory",
                    "/sys/fs/cgroup/memory/bulwark/c1"
                ),
                ("bind", "/sys/fs/cgroup/cpu,cpuacct", own),
                ("bind", "/sys/fs/cgroup/cpu", own),
                ("bind", "/sys/fs/cgroup/cpuacct", own),
                ("bind", "/sys/fs/cgroup", "/rootfs/sys/fs/cgroup"),
            ]
        );
        for index in 2..mounts.len() {
            assert!(is_own_cgroup_bind(&mounts, index), "{:?}", mounts[index]);
            assert!(mounts[index]
                .options()
                .as_ref()
                .unwrap()
                .contains(&"rro".to_owned()));
        }
        assert!(!is_own_cgroup_bind(&mounts, 1));
        let unmet: Vec<_> = baseline
            .unmet_in_spec(&joined)
            .into_iter()
            .filter(|u| u.control == "mount-options")
            .collect();
        assert_eq!(unmet, vec![]);

        // Its own pid namespace: libcontainer's cgroup mount, under the cover.
        let mut own = pod(serde_json::json!({"type": "pid"}));
        baseline.apply_to_spec(&mut own).unwrap();
        let mounts = own.mounts().clone().unwrap();
        assert_eq!(mounts.len(), 3);
        assert_eq!(mounts[1].typ().as_deref(), Some("cgroup"));
        assert!(is_own_cgroup_bind(&mounts, 2));
    }

    #[test]
    fn on_cgroup_v2_a_container_gets_its_own_cgroup_namespace() {
        let config = permissive();
        let mut v2 = host(true);
        v2.cgroup_v2 = true;
        let baseline = Baseline::new(&config, &v2);
        let mut spec = root_spec();
        let changes = baseline.apply_to_spec(&mut spec).unwrap();
        assert!(changes.iter().any(|c| c.control == "cgroup-namespace"));
        let cgroup: Vec<_> = spec
            .linux()
            .as_ref()
            .unwrap()
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .filter(|ns| ns.typ() == LinuxNamespaceType::Cgroup)
            .collect();
        assert_eq!(cgroup.len(), 1);
        assert!(cgroup[0].path().is_none());
        let unmet_namespace = |spec: &Spec| {
            baseline
                .unmet_in_spec(spec)
                .iter()
                .any(|u| u.control == "cgroup-namespace")
        };
        assert!(!unmet_namespace(&spec));
        assert!(unmet_namespace(&root_spec()));

        // One the spec joins by path is kept; on v1 none is added.
        let mut joined = root_spec();
        let mut ns = LinuxNamespace::default();
        ns.set_typ(LinuxNamespaceType::Cgroup);
        ns.set_path(Some(PathBuf::from("/proc/1234/ns/cgroup")));
        joined
            .linux_mut()
            .as_mut()
            .unwrap()
            .namespaces_mut()
            .get_or_insert_with(Vec::new)
            .push(ns.clone());
        let changes = baseline.apply_to_spec(&mut joined).unwrap();
        assert!(!changes.iter().any(|c| c.control == "cgroup-namespace"));
        let namespaces = joined
            .linux()
            .as_ref()
            .unwrap()
            .namespaces()
            .clone()
            .unwrap();
        assert_eq!(
            namespaces
                .iter()
                .filter(|n| n.typ() == LinuxNamespaceType::Cgroup)
                .count(),
            1
        );
        assert!(namespaces.contains(&ns));

        let v1 = host(true);
        let mut spec = root_spec();
        Baseline::new(&config, &v1)
            .apply_to_spec(&mut spec)
            .unwrap();
        let namespaces = spec
            .linux()
            .as_ref()
            .unwrap()
            .namespaces()
            .clone()
            .unwrap_or_default();
        assert!(!namespaces
            .iter()
            .any(|n| n.typ() == LinuxNamespaceType::Cgroup));
    }

    #[test]
    fn an_already_hardened_spec_records_no_process_changes() {
        let config = permissive();
        let host = host(false);
        let mut spec = root_spec();
        let baseline = Baseline::new(&config, &host);
        baseline.apply_to_spec(&mut spec).unwrap();
        let mut process = spec.process().clone().unwrap();
        assert_eq!(
            baseline
                .apply_to_process(&mut process, &RootGroups::default())
                .unwrap(),
            vec![]
        );
    }
}
