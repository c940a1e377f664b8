//! The process an `exec` runs, derived from the container's effective init process.
//!
//! libcontainer 0.7's tenant builder, given only flags, runs the new process as uid 0
//! with no capability sets from the spec; given a process.json, it trusts every field.
//! bulwark always builds the complete process itself and hands libcontainer a
//! process.json. The security context comes from the container's init process: the
//! capability sets, no-new-privileges, the AppArmor profile and the rlimits. An exec may
//! choose its arguments, environment, working directory, terminal and user (runc
//! semantics; the baseline decides which users are acceptable), but it cannot add a
//! capability or swap the profile.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use libcontainer::oci_spec::runtime::{Capability, Process, User};

use crate::admission::{self, Refused};
use crate::baseline::{Baseline, BaselineError, Change};
use crate::cli::Exec;
use crate::config::AdmissionConfig;
use crate::image_groups::RootGroups;
use crate::pipeline::{self, SpecError};

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Read(#[from] SpecError),
    #[error("no command given: pass the command after the container id, or --process")]
    NoCommand,
    /// By position only: an entry without `=` is often the value alone (`--env ghp_…`),
    /// and an error reaches stderr, the engine's log and the audit log.
    #[error(
        "--env entry {0} (counting from 1) is not NAME=value with a non-empty NAME; \
         its text is withheld, as it may be a secret"
    )]
    InvalidEnv(usize),
    #[error("--user {0:?} is not uid[:gid] (numeric)")]
    InvalidUser(String),
    #[error("cwd {0:?} must be an absolute path inside the container")]
    RelativeCwd(PathBuf),
    #[error("{0:?} is not a capability name")]
    UnknownCapability(String),
    #[error(
        "exec may not add capabilities the container's init process does not hold: {0}; \
         the container holds {1}"
    )]
    CapabilityNotHeld(String, String),
    #[error(
        "exec asks for AppArmor profile {requested:?}, the container runs under {container:?}; \
         an exec'd process always runs under the container's profile"
    )]
    ApparmorMismatch {
        requested: String,
        container: Option<String>,
    },
    #[error("the container's effective spec has no process")]
    NoInitProcess,
}

/// Why an exec is refused before the policy engine is asked.
#[derive(Debug, thiserror::Error)]
pub enum ExecRefused {
    #[error(transparent)]
    Derive(#[from] ExecError),
    #[error(transparent)]
    Admission(#[from] Refused),
    #[error(transparent)]
    Baseline(#[from] BaselineError),
    #[error("cannot render the exec'd process for admission: {0}")]
    Render(serde_json::Error),
}

/// Builds the exec'd process from the request and the container's init process.
/// `seccomp_filtered`: the container has a seccomp filter the process must run under.
pub fn derive(
    init: &Process,
    request: &Exec,
    seccomp_filtered: bool,
) -> Result<Process, ExecError> {
    let requested = match &request.process {
        Some(path) => {
            let raw: serde_json::Value = pipeline::read_json(path)?;
            pipeline::env_is_strings(&raw, path, "env")?;
            Some(
                serde_json::from_value::<Process>(raw).map_err(|source| SpecError::Parse {
                    path: path.clone(),
                    source,
                })?,
            )
        }
        None => None,
    };
    derive_from(init, requested, request, seccomp_filtered)
}

/// [`derive`] with the `--process` file already parsed (`requested`; None: the process
/// comes from the flags). The fuzz target `exec_process` starts here.
pub fn derive_from(
    init: &Process,
    requested: Option<Process>,
    request: &Exec,
    seccomp_filtered: bool,
) -> Result<Process, ExecError> {
    let mut process = match requested {
        Some(process) => process,
        None => from_flags(init, request)?,
    };

    // Fields an exec cannot choose: they come from the init process.
    process.set_capabilities(init.capabilities().clone());
    process.set_rlimits(init.rlimits().clone());
    let requested_nnp = process.no_new_privileges().unwrap_or(false) || request.no_new_privs;
    // libcontainer's tenant path drops capabilities before bulwark can install the
    // container's seccomp filter, and the kernel lets a process without CAP_SYS_ADMIN
    // install one only under no-new-privileges: a filtered exec always gets it.
    let nnp = init.no_new_privileges().unwrap_or(false) || requested_nnp || seccomp_filtered;
    process.set_no_new_privileges(Some(nnp));

    let requested_profile = request
        .apparmor
        .clone()
        .or_else(|| process.apparmor_profile().clone());
    if let Some(requested) = requested_profile {
        if Some(&requested) != init.apparmor_profile().as_ref() {
            return Err(ExecError::ApparmorMismatch {
                requested,
                container: init.apparmor_profile().clone(),
            });
        }
    }
    process.set_apparmor_profile(init.apparmor_profile().clone());

    check_added_capabilities(init, &request.cap)?;

    if !process.cwd().is_absolute() {
        return Err(ExecError::RelativeCwd(process.cwd().clone()));
    }
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(ExecError::NoCommand);
    }
    Ok(process)
}

/// The steps after [`derive`], shared by `exec` and the fuzz target: admission's process
/// rules (cwd, environment) on the derived process, then the baseline, whose rewrites
/// are returned for the log and the audit record.
pub fn admit(
    mut process: Process,
    admission: &AdmissionConfig,
    baseline: &Baseline,
    root_groups: &RootGroups,
) -> Result<(Process, Vec<Change>), ExecRefused> {
    let rendered = serde_json::to_value(&process).map_err(ExecRefused::Render)?;
    let violations = admission::admit_exec(&rendered, admission);
    if !violations.is_empty() {
        return Err(Refused(violations).into());
    }
    let changes = baseline.apply_to_process(&mut process, root_groups)?;
    Ok((process, changes))
}

fn from_flags(init: &Process, request: &Exec) -> Result<Process, ExecError> {
    if request.command.is_empty() {
        return Err(ExecError::NoCommand);
    }
    let mut process = init.clone();
    process.set_args(Some(request.command.clone()));
    process.set_terminal(Some(request.tty));
    process.set_console_size(None);
    process.set_env(Some(merge_env(
        init.env().as_deref().unwrap_or_default(),
        &request.env,
    )?));
    if let Some(cwd) = &request.cwd {
        process.set_cwd(cwd.clone());
    }
    if let Some(user) = &request.user {
        let (uid, gid) = parse_user(user)?;
        let mut spec_user = User::default();
        spec_user.set_uid(uid);
        spec_user.set_gid(gid.unwrap_or(init.user().gid()));
        process.set_user(spec_user);
    }
    if !request.additional_gids.is_empty() {
        let mut user = process.user().clone();
        user.set_additional_gids(Some(request.additional_gids.clone()));
        process.set_user(user);
    }
    Ok(process)
}

/// runc's rule: the container's environment, with `--env` entries replacing same-named
/// variables and new ones appended in order.
fn merge_env(base: &[String], overrides: &[String]) -> Result<Vec<String>, ExecError> {
    let mut replacements: HashMap<&str, &str> = HashMap::new();
    let mut order = Vec::new();
    for (index, entry) in overrides.iter().enumerate() {
        let (name, _) = entry
            .split_once('=')
            .filter(|(name, _)| !name.is_empty())
            .ok_or(ExecError::InvalidEnv(index + 1))?;
        if replacements.insert(name, entry).is_none() {
            order.push(name);
        }
    }
    let mut env: Vec<String> = base
        .iter()
        .filter(|entry| {
            let name = entry.split_once('=').map_or(entry.as_str(), |(n, _)| n);
            !replacements.contains_key(name)
        })
        .cloned()
        .collect();
    env.extend(order.iter().map(|name| replacements[name].to_owned()));
    Ok(env)
}

fn parse_user(user: &str) -> Result<(u32, Option<u32>), ExecError> {
    let invalid = || ExecError::InvalidUser(user.to_owned());
    match user.split_once(':') {
        Some((uid, gid)) => Ok((
            uid.parse().map_err(|_| invalid())?,
            Some(gid.parse().map_err(|_| invalid())?),
        )),
        None => Ok((user.parse().map_err(|_| invalid())?, None)),
    }
}

fn check_added_capabilities(init: &Process, requested: &[String]) -> Result<(), ExecError> {
    if requested.is_empty() {
        return Ok(());
    }
    let held = init
        .capabilities()
        .as_ref()
        .and_then(|c| c.bounding().clone())
        .unwrap_or_default();
    let mut missing = Vec::new();
    for name in requested {
        let upper = name.to_ascii_uppercase();
        // oci-spec parses the name without its CAP_ prefix ("KILL").
        let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
        let cap: Capability = bare
            .parse()
            .map_err(|_| ExecError::UnknownCapability(name.clone()))?;
        if !held.contains(&cap) {
            missing.push(format!("CAP_{bare}"));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let mut held: Vec<String> = held.iter().map(|c| format!("CAP_{c}")).collect();
    held.sort();
    let held = if held.is_empty() {
        "none".to_owned()
    } else {
        held.join(", ")
    };
    Err(ExecError::CapabilityNotHeld(missing.join(", "), held))
}

/// Where the derived process.json is written for libcontainer to read.
pub fn process_file(private_dir: &Path) -> PathBuf {
    private_dir.join(format!("exec-{}.json", std::process::id()))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn init_process() -> Process {
        serde_json::from_value(serde_json::json!({
            "args": ["/probe", "sleep", "100"],
            "cwd": "/work",
            "env": ["PATH=/bin", "A=1"],
            "user": {"uid": 1000, "gid": 1000, "additionalGids": [5]},
            "noNewPrivileges": true,
            "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
        }))
        .unwrap()
    }

    fn exec_args(args: &[&str]) -> Exec {
        let argv = ["bulwark", "exec"].iter().chain(args).copied();
        match Cli::parse_from(argv).command {
            Command::Exec(exec) => exec,
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn flags_inherit_the_init_security_context() {
        let process = derive(
            &init_process(),
            &exec_args(&["c1", "/probe", "report"]),
            false,
        )
        .unwrap();
        assert_eq!(process.user().uid(), 1000);
        assert_eq!(process.user().gid(), 1000);
        assert_eq!(process.no_new_privileges(), Some(true));
        assert_eq!(process.capabilities(), init_process().capabilities());
        assert_eq!(process.cwd(), Path::new("/work"));
        assert_eq!(
            process.args().as_ref().unwrap(),
            &vec!["/probe".to_string(), "report".to_string()]
        );
    }

    #[test]
    fn a_filtered_exec_gets_no_new_privileges() {
        let mut init = init_process();
        init.set_no_new_privileges(Some(false));
        let process = derive(&init, &exec_args(&["c1", "/probe"]), true).unwrap();
        assert_eq!(process.no_new_privileges(), Some(true));
        let process = derive(&init, &exec_args(&["c1", "/probe"]), false).unwrap();
        assert_eq!(process.no_new_privileges(), Some(false));
    }

    #[test]
    fn env_overrides_replace_and_append() {
        let process = derive(
            &init_process(),
            &exec_args(&["-e", "A=2", "--env=B=3", "c1", "/probe"]),
            false,
        )
        .unwrap();
        assert_eq!(
            process.env().as_ref().unwrap(),
            &vec!["PATH=/bin".to_string(), "A=2".into(), "B=3".into()]
        );
    }

    #[test]
    fn a_malformed_env_flag_is_named_by_position_never_by_text() {
        for bad in ["ghp_notavariable0123456789", "=ghp_notavariable0123456789"] {
            let err = derive(
                &init_process(),
                &exec_args(&["-e", "A=2", "-e", bad, "c1", "/probe"]),
                false,
            )
            .unwrap_err();
            assert!(matches!(err, ExecError::InvalidEnv(2)), "{err:?}");
            assert!(!err.to_string().contains("notavariable"), "{err}");
        }
    }

    #[test]
    fn user_flag_sets_ids() {
        let process = derive(
            &init_process(),
            &exec_args(&["--user", "7:8", "c1", "/probe"]),
            false,
        )
        .unwrap();
        assert_eq!((process.user().uid(), process.user().gid()), (7, 8));
        assert!(derive(
            &init_process(),
            &exec_args(&["-u", "root", "c1", "x"]),
            false
        )
        .is_err());
    }

    #[test]
    fn process_json_cannot_raise_capabilities_or_drop_nnp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("process.json");
        std::fs::write(
            &path,
            serde_json::json!({
                "args": ["/probe"], "cwd": "/", "user": {"uid": 0, "gid": 0},
                "noNewPrivileges": false,
                "capabilities": {"bounding": ["CAP_SYS_ADMIN"], "effective": ["CAP_SYS_ADMIN"]}
            })
            .to_string(),
        )
        .unwrap();
        let request = exec_args(&["--process", path.to_str().unwrap(), "c1"]);
        let process = derive(&init_process(), &request, false).unwrap();
        assert_eq!(process.capabilities(), init_process().capabilities());
        assert_eq!(process.no_new_privileges(), Some(true));
        assert_eq!(process.rlimits(), init_process().rlimits());
    }

    #[test]
    fn cap_flag_beyond_the_container_is_refused() {
        let err = derive(
            &init_process(),
            &exec_args(&["--cap", "CAP_SYS_ADMIN", "c1", "/probe"]),
            false,
        )
        .unwrap_err();
        assert!(err.to_string().contains("CAP_SYS_ADMIN"), "{err}");
        derive(
            &init_process(),
            &exec_args(&["--cap", "kill", "c1", "/probe"]),
            false,
        )
        .unwrap();
    }

    #[test]
    fn relative_cwd_and_missing_command_are_refused() {
        assert!(matches!(
            derive(
                &init_process(),
                &exec_args(&["--cwd", "rel", "c1", "/probe"]),
                false
            ),
            Err(ExecError::RelativeCwd(_))
        ));
        assert!(matches!(
            derive(&init_process(), &exec_args(&["c1"]), false),
            Err(ExecError::NoCommand)
        ));
    }
}
