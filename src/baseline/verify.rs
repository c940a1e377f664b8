//! The baseline's promises, checked independently of the rewrites that make them.

use libcontainer::oci_spec::runtime::{
    LinuxNamespaceType, LinuxSeccompAction, PosixRlimitType, Process, Spec,
};
use serde::Serialize;

use super::{Baseline, MASKED_PATHS, READONLY_PATHS};
use crate::devices;
use crate::seccomp_profiles;

/// A promise of the baseline that an effective spec or process breaks: what
/// [`Baseline::unmet_in_spec`] reports. Never expected in practice: it is the
/// independent check the fuzz targets and tests hold the rewrites above to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unmet {
    pub control: &'static str,
    /// Where in the spec, as a JSON path.
    pub path: String,
    /// What is there instead.
    pub found: String,
}

impl Unmet {
    fn new(control: &'static str, path: &str, found: String) -> Self {
        Self {
            control,
            path: path.to_owned(),
            found,
        }
    }
}

impl std::fmt::Display for Unmet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}: {}", self.control, self.path, self.found)
    }
}

/// Namespaces every container gets its own of (admission's `namespaces.required`;
/// joining another container's is admitted, the host's is not).
pub(super) const REQUIRED_NAMESPACES: [LinuxNamespaceType; 5] = [
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Mount,
];

impl Baseline<'_> {
    /// Every promise of the baseline an effective spec breaks (empty: none): the
    /// process's (see [`Self::unmet_in_process`]), a read-only rootfs, bulwark's seccomp
    /// profile (whose default action denies), runc's masked and read-only paths, a
    /// namespace of its own of each required type, and hardened tmpfs, sysfs and
    /// cgroupfs mounts, their options read as libcontainer applies them. Written
    /// independently of [`Self::apply_to_spec`], which it checks.
    pub fn unmet_in_spec(&self, spec: &Spec) -> Vec<Unmet> {
        let mut unmet = Vec::new();
        let mut push =
            |control, path: &str, found: String| unmet.push(Unmet::new(control, path, found));
        match spec.process() {
            Some(process) => {
                for mut item in self.unmet_in_process(process) {
                    item.path = format!("process.{}", item.path);
                    push(item.control, &item.path, item.found);
                }
            }
            None => push("process", "process", "missing".into()),
        }
        let readonly = spec.root().as_ref().and_then(|r| r.readonly());
        if readonly != Some(true) {
            push("read-only-rootfs", "root.readonly", format!("{readonly:?}"));
        }

        let Some(linux) = spec.linux() else {
            push("linux", "linux", "missing".into());
            return unmet;
        };
        match linux.seccomp() {
            None => push("seccomp", "linux.seccomp", "missing".into()),
            Some(seccomp) => {
                let action = seccomp.default_action();
                if matches!(
                    action,
                    LinuxSeccompAction::ScmpActAllow
                        | LinuxSeccompAction::ScmpActLog
                        | LinuxSeccompAction::ScmpActNotify
                        | LinuxSeccompAction::ScmpActTrace
                ) {
                    push(
                        "seccomp",
                        "linux.seccomp.defaultAction",
                        format!("{action:?} does not deny"),
                    );
                }
                let expected = self
                    .seccomp_profile(spec)
                    .map_err(|e| e.to_string())
                    .and_then(|name| seccomp_profiles::load(name).map_err(|e| e.to_string()));
                match expected {
                    Ok(profile) if &profile == seccomp => {}
                    Ok(_) => push("seccomp", "linux.seccomp", "not bulwark's profile".into()),
                    Err(error) => push("seccomp", "linux.seccomp", error),
                }
            }
        }
        for (control, path, present, required) in [
            (
                "masked-paths",
                "linux.maskedPaths",
                linux.masked_paths(),
                &MASKED_PATHS[..],
            ),
            (
                "readonly-paths",
                "linux.readonlyPaths",
                linux.readonly_paths(),
                &READONLY_PATHS[..],
            ),
        ] {
            let present = present.as_deref().unwrap_or_default();
            let lacking: Vec<&str> = required
                .iter()
                .copied()
                .filter(|p| !present.iter().any(|q| q == p))
                .collect();
            if !lacking.is_empty() {
                push(control, path, format!("lacks {lacking:?}"));
            }
        }
        let rules = linux
            .resources()
            .as_ref()
            .and_then(|r| r.devices().as_ref());
        if rules != Some(&devices::cgroup_rules()) {
            push(
                "devices",
                "linux.resources.devices",
                format!("{rules:?}: not deny-all and the standard devices"),
            );
        }
        let namespaces = linux.namespaces().as_deref().unwrap_or_default();
        for typ in REQUIRED_NAMESPACES {
            if !namespaces.iter().any(|ns| ns.typ() == typ) {
                push(
                    "namespaces",
                    "linux.namespaces",
                    format!("no {typ} namespace: the host's"),
                );
            }
        }
        if self.host.cgroup_v2
            && !namespaces
                .iter()
                .any(|ns| ns.typ() == LinuxNamespaceType::Cgroup)
        {
            push(
                "cgroup-namespace",
                "linux.namespaces",
                "no cgroup namespace on cgroup v2: the whole hierarchy in view".into(),
            );
        }

        for (index, mount) in spec.mounts().iter().flatten().enumerate() {
            let options = mount.options().as_deref().unwrap_or_default();
            let Some(flags) = self.required_mount_flags(mount) else {
                continue;
            };
            let path = format!("mounts[{index}].options");
            for flag in flags {
                if !flag.in_force(options) {
                    push(
                        "mount-options",
                        &path,
                        format!("{options:?}: not {}", flag.name),
                    );
                }
            }
            if mount.typ().as_deref() == Some("tmpfs")
                && !options.iter().any(|o| o.starts_with("size="))
            {
                push("mount-options", &path, format!("{options:?}: no size="));
            }
        }
        unmet
    }

    /// Every promise of the baseline a process (the init process, or an exec'd one)
    /// breaks: capability sets within the host config's allowed list, no-new-privileges,
    /// a non-root uid and gid and no supplementary group 0, the AppArmor profile this
    /// host runs, core dumps off and no OOM shield. Paths are relative to the process.
    pub fn unmet_in_process(&self, process: &Process) -> Vec<Unmet> {
        let mut unmet = Vec::new();
        let mut push =
            |control, path: &str, found: String| unmet.push(Unmet::new(control, path, found));
        let allowed = self.allowed_capability_set();
        match process.capabilities() {
            // libcontainer leaves the capabilities it was started with when the spec
            // names none: bulwark's own, as root.
            None => push("capabilities", "capabilities", "missing".into()),
            Some(caps) => {
                let sets = [
                    ("bounding", caps.bounding()),
                    ("effective", caps.effective()),
                    ("permitted", caps.permitted()),
                    ("inheritable", caps.inheritable()),
                    ("ambient", caps.ambient()),
                ];
                for (name, set) in sets {
                    let path = format!("capabilities.{name}");
                    match set {
                        None => push("capabilities", &path, "missing".into()),
                        Some(set) if !set.is_subset(&allowed) => {
                            let mut extra: Vec<String> = set
                                .difference(&allowed)
                                .map(|c| format!("CAP_{c}"))
                                .collect();
                            extra.sort();
                            push("capabilities", &path, format!("holds {extra:?}"));
                        }
                        Some(_) => {}
                    }
                }
            }
        }
        if process.no_new_privileges() != Some(true) {
            push(
                "no-new-privileges",
                "noNewPrivileges",
                format!("{:?}", process.no_new_privileges()),
            );
        }
        let user = process.user();
        if user.uid() == 0 {
            push("non-root", "user.uid", "0".into());
        }
        if user.gid() == 0 {
            push("non-root", "user.gid", "0".into());
        }
        if user.additional_gids().iter().flatten().any(|g| *g == 0) {
            push("non-root", "user.additionalGids", "holds 0".into());
        }
        match self.apparmor_profile() {
            Ok(expected) if &expected == process.apparmor_profile() => {}
            Ok(expected) => push(
                "apparmor",
                "apparmorProfile",
                format!("{:?}, not {expected:?}", process.apparmor_profile()),
            ),
            Err(error) => push("apparmor", "apparmorProfile", error.to_string()),
        }
        let core: Vec<_> = process
            .rlimits()
            .iter()
            .flatten()
            .filter(|r| r.typ() == PosixRlimitType::RlimitCore)
            .collect();
        if core.is_empty() || core.iter().any(|r| r.soft() != 0 || r.hard() != 0) {
            push("core-dumps", "rlimits", "RLIMIT_CORE is not 0".into());
        }
        if let Some(adj) = process.oom_score_adj().filter(|adj| *adj < 0) {
            push("oom-score", "oomScoreAdj", adj.to_string());
        }
        unmet
    }
}
