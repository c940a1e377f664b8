use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::oci_spec::runtime::{LinuxNamespaceType, Spec};
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::wait::waitpid;

use super::{decision, load_container, open};
use crate::atomic_file;
use crate::baseline::{Baseline, HostSupport};
use crate::cgroups;
use crate::cli::Exec;
use crate::config::LoadedConfig;
use crate::exec_process::{self, ExecError, ExecRefused};
use crate::executor::HardenedExecutor;
use crate::image_groups::RootGroups;
use crate::layout::ContainerRecord;
use crate::pipeline;
use crate::policy::input::{Operation, Subject};
use crate::seccomp_filter;
use crate::user_namespace_join::UserNamespaceJoin;

/// Runs a process in a running container under the container's security context (see
/// `exec_process` and `executor`). Returns the process's exit code, or 0 with --detach.
pub fn exec(root: &Path, args: Exec) -> Result<i32> {
    let (root, id) = open(root, &args.container_id)?;
    // Fail early with runc's message for a missing container, before reading anything.
    let container = load_container(&root, &id)?;
    // Overlaps the grace period libcontainer's move into the container's cgroup waits
    // for with the admission and decision below (crate::cgroups::AttachWarmup).
    let attach_warmup = cgroups::AttachWarmup::start();
    if let Some(sub) = &args.cgroup {
        // libcontainer 0.7 creates a missing sub-cgroup for the process (tenant
        // builder add_task) and never removes it, so the container's delete failed on
        // the cgroup forever; runc only joins one that exists, on cgroup v2.
        bail!(
            "exec --cgroup {sub:?} is not supported: exec'd processes run in the \
             container's own cgroup; drop --cgroup"
        );
    }
    let spec: Spec = pipeline::read_json(&root.effective_spec_path(&id))
        .with_context(|| format!("cannot read the effective spec of container {id}"))?;
    let init = spec.process().as_ref().ok_or(ExecError::NoInitProcess)?;
    let config = LoadedConfig::load()?;
    let record = ContainerRecord::load(&root, &id)?;
    let mut audit = decision::entry_for_container(
        Operation::Exec,
        id.as_str(),
        &config,
        &record.policy_context,
    );
    decision::admit_preserved_fds(&config, &mut audit, args.preserve_fds)?;
    // The exec'd process gets the same baseline as the init process: an exec may not
    // run as root or regain what the init process was stripped of.
    let host = HostSupport::probe();
    let baseline = Baseline::new(&config.config.baseline, &host);
    // The effective spec's root.path is absolute (the pipeline resolved it at create).
    let root_groups = RootGroups::of_root_path(spec.root().as_ref().map(|r| r.path().as_path()));
    // The profile the init runs under (create restores it in this file once the init
    // exists); without it the exec is refused, never run unfiltered. A profile with
    // SCMP_ACT_NOTIFY, whose listener handshake libcontainer does only for an init, does
    // not compile here (crate::seccomp_filter::compile).
    let filter = seccomp_filter::of_spec(&root, &spec)?;
    let admitted = exec_process::derive(init, &args, true)
        .map_err(ExecRefused::from)
        .and_then(|process| {
            exec_process::admit(process, &config.config.admission, &baseline, &root_groups)
        });
    let (process, changes) = match admitted {
        Ok(admitted) => admitted,
        Err(error) => {
            if let ExecRefused::Admission(refused) = &error {
                audit.violations(&refused.0);
            }
            return Err(decision::refused_before_policy(
                &config,
                &audit,
                error.into(),
            ));
        }
    };
    super::create::log_changes(&id, &changes);
    audit.changes(&changes);
    decision::decide(
        &config,
        audit,
        &Subject {
            operation: Operation::Exec,
            context: &record.policy_context,
            spec: &spec,
            process: &process,
            secrets: &[],
        },
    )?;

    // After the policy decided on the real process: libcontainer gets a stand-in that
    // can join the user namespace, the executor makes it the decided process.
    let user_namespace = joins_a_user_namespace(&spec)
        .then(|| {
            let pid = container
                .pid()
                .context("the container's state names no init pid")?;
            UserNamespaceJoin::open(pid, &process)
                .with_context(|| format!("cannot exec in container {id}"))
        })
        .transpose()?;
    let handed = user_namespace
        .as_ref()
        .map_or_else(|| process.clone(), UserNamespaceJoin::stand_in);
    let process_file = exec_process::process_file(&root.private_dir(&id));
    atomic_file::write(&process_file, &serde_json::to_vec(&handed)?, 0o600)
        .with_context(|| format!("cannot write {}", process_file.display()))?;
    attach_warmup.finish();
    let built = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_executor(HardenedExecutor::for_exec(
            filter,
            record.engine_seccomp,
            user_namespace,
        ))
        .with_root_path(root.path())
        .map(|b| {
            b.with_console_socket(args.console_socket.as_ref())
                .with_preserved_fds(args.preserve_fds)
        })
        .and_then(|b| b.validate_id())
        .and_then(|b| {
            b.as_tenant()
                .with_detach(args.detach)
                .with_process(Some(&process_file))
                .with_ignore_paused(args.ignore_paused)
                .build()
        });
    // libcontainer has read the file by the time build returns, success or not.
    let _ = fs::remove_file(&process_file);
    let pid = built.with_context(|| format!("cannot exec in container {id}"))?;
    if let Some(pid_file) = &args.pid_file {
        // Written here, not by libcontainer (which only warns when it cannot): an
        // engine waiting for the pid file must get it, or an error and no process.
        if let Err(err) = super::create::write_pid_file(pid_file, pid.as_raw()) {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            if !args.detach {
                let _ = waitpid(pid, None);
            }
            return Err(err);
        }
    }

    if args.detach {
        return Ok(0);
    }
    let status = waitpid(pid, None).context("waitpid for the exec'd process")?;
    Ok(super::run::exit_code(status))
}

/// The container has a user namespace of its own (made at create, or joined by path):
/// libcontainer's tenant builder does not join it (crate::user_namespace_join).
fn joins_a_user_namespace(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::User))
}
