//! Last-moment hardening inside the container, right before execve.
//!
//! libcontainer calls `Executor::validate` inside the new process after it has set the
//! ids, dropped capabilities and changed to the working directory, before it reports the
//! process ready (libcontainer-0.7.0 src/process/init/process.rs:428). bulwark uses that
//! point for what libcontainer 0.7 leaves to the caller, or does too slowly:
//! - bulwark's seccomp filter, precompiled (crate::seccomp_filter), is installed here for
//!   the init and every exec'd process. libcontainer would load `linux.seccomp` at
//!   process.rs:401-412, compiling it with libseccomp in every init (15-20 ms of CPU for
//!   the baseline's profile); the spec it is given has none, and this is the same point:
//!   after no-new-privileges (process.rs:78) and the capability drop, with only the
//!   HOME default (process.rs:418) in between. For an exec the tenant builder keeps only
//!   namespaces/cgroupsPath/personality/timeOffsets of `linux`, so without this an
//!   exec'd process would run unfiltered;
//! - the engine's own seccomp profile is loaded as a second filter, after bulwark's
//!   (libcontainer 0.7 loads only `linux.seccomp`): with several filters the kernel
//!   returns the action of highest precedence (seccomp(2)), so the engine's denials hold
//!   beside bulwark's and nothing in it can allow what bulwark's denies. bulwark's is
//!   loaded first so that a broken engine profile can fail the process but never leave
//!   it with the engine's filter alone;
//! - an `exec`'d process joins the container's user namespace, when it has one, and
//!   takes the decided ids and capabilities there (crate::user_namespace_join: the
//!   tenant builder never joins `user`);
//! - it proves the controls the spec asks for are in force (no-new-privileges, seccomp
//!   mode, ids, no capability beyond the spec's) and fails the create/exec otherwise:
//!   libcontainer ignores a failed PR_SET_NO_NEW_PRIVS, and a control bulwark cannot
//!   prove is a control it refuses to run without.

use std::collections::{HashMap, HashSet};

use caps::{CapSet, Capability as KernelCapability};
use libcontainer::capabilities::CapabilityExt;
use libcontainer::oci_spec::runtime::{Capabilities, LinuxSeccomp, Process, Spec};
use libcontainer::workload::{
    default, Executor, ExecutorError, ExecutorSetEnvsError, ExecutorValidationError,
};
use nix::unistd::{getegid, geteuid, getgid, getuid};

use crate::seccomp_filter::Program;
use crate::user_namespace_join::UserNamespaceJoin;

/// Seccomp mode reported by PR_GET_SECCOMP for a filtered process.
const SECCOMP_MODE_FILTER: i32 = 2;

#[derive(Clone)]
pub struct HardenedExecutor {
    /// bulwark's profile, compiled (crate::seccomp_filter::of_spec): the container's
    /// filter, for the init and exec'd processes alike.
    filter: Program,
    /// The engine's own profile (crate::pipeline::Effective::engine_seccomp), loaded
    /// last, as a second filter.
    engine_seccomp: Option<LinuxSeccomp>,
    /// For an exec into a container with its own user namespace: the namespace and the
    /// decided process, which the spec's process only stands in for until the join.
    user_namespace: Option<UserNamespaceJoin>,
}

impl HardenedExecutor {
    pub fn for_init(filter: Program, engine_seccomp: Option<LinuxSeccomp>) -> Self {
        Self {
            filter,
            engine_seccomp,
            user_namespace: None,
        }
    }

    pub fn for_exec(
        filter: Program,
        engine_seccomp: Option<LinuxSeccomp>,
        user_namespace: Option<UserNamespaceJoin>,
    ) -> Self {
        Self {
            filter,
            engine_seccomp,
            user_namespace,
        }
    }
}

impl Executor for HardenedExecutor {
    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        // First: the join needs the capability the stand-in holds, and the container's
        // filter (which denies setns) must not be in force yet.
        if let Some(join) = &self.user_namespace {
            join.enter().map_err(refusal)?;
        }
        // A filter that cannot be installed fails the create or exec: the process never
        // runs without it.
        self.filter.install().map_err(|err| {
            refusal(format!(
                "cannot install the container's seccomp filter (bulwark's profile): {err}"
            ))
        })?;
        let process = match &self.user_namespace {
            Some(join) => join.decided(),
            None => spec
                .process()
                .as_ref()
                .ok_or_else(|| refusal("the spec has no process".into()))?,
        };
        verify_controls_in_force(process).map_err(refusal)?;
        match with_empty_path_for_a_path_executable(spec) {
            Some(spec) => default::get_executor().validate(&spec),
            None => default::get_executor().validate(spec),
        }?;
        // Last, so that bulwark's own checks above run under bulwark's filter only. Here
        // rather than in `exec`, so that a profile the kernel or libseccomp refuses fails
        // the create (or exec) with its reason instead of an init that dies after start;
        // libcontainer's few steps left before execve (the ready message, the start
        // socket) then run under it, as runc's exec fifo does under the engine's filter.
        if let Some(seccomp) = &self.engine_seccomp {
            libcontainer::seccomp::initialize_seccomp(seccomp).map_err(|err| {
                refusal(format!(
                    "cannot load the engine's seccomp filter (linux.seccomp of its \
                     config.json, stacked on bulwark's): {}",
                    with_sources(&err)
                ))
            })?;
        }
        Ok(())
    }

    fn setup_envs(&self, mut envs: HashMap<String, String>) -> Result<(), ExecutorSetEnvsError> {
        if let Some(join) = &self.user_namespace {
            join.home(&mut envs);
        }
        default::get_executor().setup_envs(envs)
    }

    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        default::get_executor().exec(spec)
    }
}

/// libcontainer 0.7's validation refuses a process whose environment has no `PATH`,
/// even when `args[0]` is a path, which runc (and execvp) run without a PATH lookup.
/// Images built `FROM scratch` often set no `Env`, and containerd's CRI passes only the
/// image's environment, so such a pause or app container would fail with "PATH
/// environment variable is not set". For a path executable, validation gets a copy of
/// the spec with an empty `PATH` (libcontainer then checks the path itself exists and is
/// executable); the process's environment is untouched. A bare name without PATH is
/// still refused, as in runc.
fn with_empty_path_for_a_path_executable(spec: &Spec) -> Option<Spec> {
    let process = spec.process().as_ref()?;
    let executable = process.args().as_ref()?.first()?;
    let env = process.env().clone().unwrap_or_default();
    if !executable.contains('/') || env.iter().any(|e| e.starts_with("PATH=")) {
        return None;
    }
    let mut process = process.clone();
    process.set_env(Some(env.into_iter().chain(["PATH=".to_owned()]).collect()));
    let mut spec = spec.clone();
    spec.set_process(Some(process));
    Some(spec)
}

/// libcontainer's seccomp errors name the step and keep libseccomp's reason as source.
fn with_sources(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

fn refusal(reason: String) -> ExecutorValidationError {
    ExecutorValidationError::ArgValidationError(format!("bulwark: {reason}"))
}

/// Checks, from inside the process, that what the spec asks for took effect.
fn verify_controls_in_force(process: &Process) -> Result<(), String> {
    if process.no_new_privileges() == Some(true) {
        // SAFETY: PR_GET_NO_NEW_PRIVS takes no pointer arguments.
        let nnp = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) };
        if nnp != 1 {
            return Err(format!(
                "no-new-privileges is not in force (PR_GET_NO_NEW_PRIVS returned {nnp})"
            ));
        }
    }
    // SAFETY: PR_GET_SECCOMP takes no pointer arguments.
    let mode = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
    if mode != SECCOMP_MODE_FILTER {
        return Err(format!(
            "the seccomp filter is not in force (PR_GET_SECCOMP returned {mode})"
        ));
    }

    let user = process.user();
    let ids = [
        ("uid", getuid().as_raw(), user.uid()),
        ("euid", geteuid().as_raw(), user.uid()),
        ("gid", getgid().as_raw(), user.gid()),
        ("egid", getegid().as_raw(), user.gid()),
    ];
    for (name, actual, expected) in ids {
        if actual != expected {
            return Err(format!(
                "the process runs with {name} {actual}, the spec asks for {expected}"
            ));
        }
    }

    if let Some(spec_caps) = process.capabilities() {
        let sets = [
            ("bounding", CapSet::Bounding, spec_caps.bounding()),
            ("effective", CapSet::Effective, spec_caps.effective()),
            ("permitted", CapSet::Permitted, spec_caps.permitted()),
            ("inheritable", CapSet::Inheritable, spec_caps.inheritable()),
            ("ambient", CapSet::Ambient, spec_caps.ambient()),
        ];
        for (name, set, allowed) in sets {
            let held = caps::read(None, set)
                .map_err(|e| format!("cannot read the {name} capability set: {e}"))?;
            let extra = beyond_allowed(&held, allowed.as_ref());
            if !extra.is_empty() {
                return Err(format!(
                    "the {name} capability set holds {extra:?}, which the spec does not grant"
                ));
            }
        }
    }
    Ok(())
}

/// Capabilities held but not granted. A subset is fine: the kernel may not know every
/// capability a spec names, and holding less is never a weaker control.
fn beyond_allowed(
    held: &HashSet<KernelCapability>,
    allowed: Option<&Capabilities>,
) -> Vec<KernelCapability> {
    let allowed: HashSet<KernelCapability> = allowed
        .map(|set| set.iter().map(|c| c.to_cap()).collect())
        .unwrap_or_default();
    let mut extra: Vec<_> = held.difference(&allowed).copied().collect();
    extra.sort_by_key(|c| c.index());
    extra
}

#[cfg(test)]
mod tests {
    use libcontainer::oci_spec::runtime::Capability as SpecCapability;

    use super::*;

    #[test]
    fn capabilities_beyond_the_spec_are_reported() {
        let held: HashSet<_> = [KernelCapability::CAP_CHOWN, KernelCapability::CAP_SYS_ADMIN]
            .into_iter()
            .collect();
        let allowed: Capabilities = [SpecCapability::Chown, SpecCapability::Kill]
            .into_iter()
            .collect();
        assert_eq!(
            beyond_allowed(&held, Some(&allowed)),
            vec![KernelCapability::CAP_SYS_ADMIN]
        );
        assert_eq!(beyond_allowed(&HashSet::new(), None), vec![]);
        assert_eq!(beyond_allowed(&held, None).len(), 2);
    }

    #[test]
    fn only_a_path_executable_without_path_gets_an_empty_path_for_validation() {
        let spec_with = |args: &[&str], env: &[&str]| {
            let mut process = Process::default();
            process.set_args(Some(args.iter().map(|a| (*a).to_owned()).collect()));
            process.set_env(Some(env.iter().map(|e| (*e).to_owned()).collect()));
            let mut spec = Spec::default();
            spec.set_process(Some(process));
            spec
        };
        let env_of = |spec: Spec| spec.process().as_ref().unwrap().env().clone().unwrap();
        let patched = with_empty_path_for_a_path_executable(&spec_with(&["/pause"], &["A=1"]));
        assert_eq!(env_of(patched.unwrap()), ["A=1", "PATH="]);
        assert!(with_empty_path_for_a_path_executable(&spec_with(&["pause"], &[])).is_none());
        let with_path = spec_with(&["/pause"], &["PATH=/bin"]);
        assert!(with_empty_path_for_a_path_executable(&with_path).is_none());
    }
}
