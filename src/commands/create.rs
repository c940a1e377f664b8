use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container, ContainerStatus, State};
use libcontainer::oci_spec::runtime::Spec;
use libcontainer::syscall::syscall::SyscallType;

use super::{decision, remove_container_after};
use crate::admission::{self, Refused, Violation};
use crate::atomic_file;
use crate::audit::Entry;
use crate::baseline::{user_namespace, Baseline, Change, HostSupport};
use crate::binds;
use crate::cgroups::{self, CgroupPath};
use crate::cli::{Create, CreateOpts, GlobalOpts};
use crate::config::{LoadedConfig, UserNamespaceMode};
use crate::engine::binding;
use crate::executor::HardenedExecutor;
use crate::failpoint;
use crate::hooks;
use crate::identity::{self, Agent};
use crate::image_identity::Identity;
use crate::layout::{ContainerId, ContainerRecord, StateRoot};
use crate::namespace_paths;
use crate::network_prejoin;
use crate::pipeline::{self, Effective, PipelineInput, SpecError};
use crate::policy::input::{Operation, PolicyContext, Subject};
use crate::rootfs_idmap;
use crate::sandboxes::StateRootSandboxes;
use crate::seccomp_filter;
use crate::seccomp_profiles;
use crate::{user_namespace_pool, user_namespace_staging};

pub fn create(global: &GlobalOpts, args: Create) -> Result<()> {
    let id = ContainerId::parse(&args.container_id)?;
    let root = StateRoot::open(&global.root, true)?;
    create_container(global, &root, &id, &args.opts, true)?;
    Ok(())
}

/// Runs the spec pipeline and has libcontainer create the container from the effective
/// spec. On any failure everything created so far is removed again.
pub(super) fn create_container(
    global: &GlobalOpts,
    root: &StateRoot,
    id: &ContainerId,
    opts: &CreateOpts,
    detach: bool,
) -> Result<Container> {
    let bundle = std::fs::canonicalize(&opts.bundle)
        .with_context(|| format!("bundle {}", opts.bundle.display()))?;
    let private = root.claim(id)?;
    let mut handed_over = None;
    let created = build(
        global,
        root,
        id,
        opts,
        detach,
        (&bundle, &private),
        &mut handed_over,
    );
    if created.is_err() {
        // runtime.md "Lifecycle": a create that fails once the container exists (a
        // failing prestart, createRuntime or createContainer hook among others)
        // "continue[s] the lifecycle at step 12": destroyed, then its poststop hooks.
        // libcontainer removes its own state after such a failure
        // (container/builder_impl.rs:226), so the removal gets the state to run them with.
        if let Err(cleanup) = remove_container_after(root, id, handed_over) {
            tracing::error!(%id, error = %format!("{cleanup:#}"), "cleanup after a failed create");
        }
    }
    created
}

/// `handed_over` is set once libcontainer is asked to create the container: the state a
/// failed create's poststop hooks receive.
fn build(
    global: &GlobalOpts,
    root: &StateRoot,
    id: &ContainerId,
    opts: &CreateOpts,
    detach: bool,
    (bundle, private): (&Path, &Path),
    handed_over: &mut Option<State>,
) -> Result<Container> {
    // Overlaps the grace period libcontainer's move into the cgroup waits for with the
    // pipeline below (crate::cgroups::AttachWarmup).
    let attach_warmup = cgroups::AttachWarmup::start();
    let config = LoadedConfig::load()?;
    let host = HostSupport::probe();
    let mut baseline = Baseline::new(&config.config.baseline, &host);
    // Leased before the pipeline: the secrets' owner and the admission of the process's
    // ids are decided on the range the container will have. A container that does not
    // get the user namespace gives it back below; a failed create, in its cleanup.
    let pool = &config.config.baseline.user_namespace;
    let leased = pool.mode == UserNamespaceMode::Auto;
    if leased {
        let lease = user_namespace_pool::lease(root, id, pool)?;
        tracing::debug!(%id, range = lease.index, host_id = lease.host_id, "user namespace range leased");
        baseline = baseline.with_leased_range(lease.host_id);
    }
    let secrets_dir = root.secrets_dir(id);
    let mut audit = decision::entry(Operation::Create, id.as_str(), &config);
    decision::admit_preserved_fds(&config, &mut audit, opts.preserve_fds)?;
    let effective = pipeline::effective_spec(&PipelineInput {
        bundle,
        container_id: id.as_str(),
        systemd_cgroup: global.systemd_cgroup,
        baseline: &baseline,
        admission: &config.config.admission,
        secrets: &config.config.secrets,
        secrets_dir: &secrets_dir,
        sandboxes: &StateRootSandboxes { root },
    });
    let Effective {
        mut spec,
        changes,
        mut context,
        image,
        secrets,
        scratch,
        binds,
        namespaces,
        user_namespace_holder,
        engine_seccomp,
    } = match effective {
        Ok(effective) => effective,
        Err(error) => {
            if let SpecError::Refused(refused) = &error {
                audit.violations(&refused.0);
            }
            return Err(decision::refused_before_policy(
                &config,
                &audit,
                error.into(),
            ));
        }
    };
    if leased && !user_namespace::was_added(&changes) {
        user_namespace_pool::release(root, id)?;
    }
    // A pod member in its sandbox's user namespace holds the sandbox's range with it
    // (the sandbox may be deleted first).
    if let Some(holder) = &user_namespace_holder {
        user_namespace_pool::share(root, id, holder.index, &holder.id)?;
    }
    log_changes(id, &changes);
    audit.context(&context.container, &context.image);
    audit.changes(&changes);
    let profile = baseline.seccomp_profile(&spec)?;
    audit.seccomp_profile_digest(seccomp_profiles::digest(profile));
    context.seccomp_profile = profile.as_str().to_owned();
    let agent = establish_agent(
        &config,
        &mut audit,
        &spec,
        &context,
        &image,
        &secrets.names(),
    )?;
    context.agent = Some(agent);
    identity::withhold_token(&mut spec);
    let process = spec.process().as_ref().ok_or(SpecError::NoProcess)?;
    decision::decide(
        &config,
        audit,
        &Subject {
            operation: Operation::Create,
            context: &context,
            spec: &spec,
            process,
            secrets: &secrets.names(),
        },
    )?;
    failpoint::hit(failpoint::AFTER_DECISION);
    let namespace_root = user_namespace_staging::namespace_root(&spec)?;
    if let Some(namespace_root) = namespace_root {
        if !binds.is_empty() || !secrets.names().is_empty() {
            user_namespace_staging::require_reachable(&root.private_dir(id), namespace_root)?;
        }
    }
    // Names only: a value never reaches a log line.
    secrets.deliver(&secrets_dir)?;
    tracing::debug!(%id, secrets = ?secrets.names(), "secrets delivered");
    failpoint::hit(failpoint::AFTER_SECRETS);
    let binds_dir = pipeline::binds_dir(&secrets_dir);
    binds::stage(&binds, &binds_dir, namespace_root, &mut spec)?;
    // Before libcontainer forks: its processes start in the network namespace joined
    // here, which they could not join from the user namespace (crate::network_prejoin).
    let prejoin = network_prejoin::plan(&spec, &namespaces)?;
    if let Some(prejoin) = &prejoin {
        prejoin.enter()?;
        prejoin.write_sysctls(&spec)?;
        binds::staging_dir(&binds_dir, namespace_root)?;
        prejoin.stage_sysfs(&binds_dir, &mut spec)?;
    }
    let scratch_dir = pipeline::scratch_dir(&secrets_dir);
    let rootfs = spec
        .root()
        .as_ref()
        .map(|r| r.path().clone())
        .unwrap_or_default();
    scratch.stage(&rootfs, &scratch_dir, &mut spec)?;
    let engine_rootfs = rootfs_idmap::stage_if_needed(&changes, &mut spec, private)?;
    // libcontainer joins the namespaces through bulwark's verified descriptors, which
    // its processes inherit; `namespaces` keeps them open until build() returns.
    namespace_paths::point_at_descriptors(&namespaces, &mut spec);
    let post_hooks = hooks::take_post_hooks(&mut spec);
    hooks::route_through_state_shim(&mut spec, bundle, Path::new(hooks::BULWARK_EXE));
    // Before anything is made for libcontainer: a profile that does not compile refuses
    // the create here.
    let filter = seccomp_filter::of_spec(root, &spec)?;
    let spec_path = root.effective_spec_path(id);
    // libcontainer reads this file; the complete spec replaces it once the init exists.
    let mut for_libcontainer = seccomp_filter::without_profile(&spec);
    if let Some(prejoin) = &prejoin {
        for_libcontainer = prejoin.for_libcontainer(for_libcontainer);
    }
    pipeline::write_effective_spec(&for_libcontainer, &spec_path)?;
    // The record names the cgroup before it is made: a create killed between the two
    // leaves a record `delete --force` cleans up by (an rmdir of a cgroup that was never
    // made is nothing), where a cgroup made first was left behind with no record.
    let claimed_cgroup = claim_dir(&spec)?;
    let mut record = ContainerRecord {
        bundle: bundle.to_owned(),
        rootfs,
        policy_context: context,
        claimed_cgroup: Some(claimed_cgroup.clone()),
        claimed_cgroup_inode: None,
        engine_seccomp: engine_seccomp.clone(),
        hooks: post_hooks,
    };
    record.save(root, id)?;
    match cgroups::claim(&claimed_cgroup) {
        // Saved before libcontainer forks anything into it: from here a `delete --force`
        // of an interrupted create kills what is in the cgroup and removes it, whatever
        // libcontainer's state says (issue #22).
        Ok(inode) => {
            record.claimed_cgroup_inode = Some(inode);
            record.save(root, id)?;
        }
        Err(error) => {
            // Not ours (another create has it): the record must not send a cleanup there.
            record.claimed_cgroup = None;
            record.save(root, id)?;
            return Err(error.into());
        }
    }
    if let Err(error) = check_only_sandbox_of_its_pod(root, id, &record) {
        cgroups::release(&claimed_cgroup);
        return Err(error);
    }
    failpoint::hit(failpoint::AFTER_EFFECTIVE_SPEC);
    tracing::debug!(%id, bundle = %bundle.display(), "creating container from the effective spec");
    let mut state = State::new(
        id.as_str(),
        ContainerStatus::Stopped,
        None,
        bundle.to_owned(),
    );
    state.annotations = spec.annotations().clone();
    *handed_over = Some(state);

    attach_warmup.finish();
    let built = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_executor(HardenedExecutor::for_init(filter, engine_seccomp))
        .with_console_socket(opts.console_socket.as_ref())
        .with_root_path(root.path())?
        .with_preserved_fds(opts.preserve_fds)
        .validate_id()?
        .as_init(private)
        .with_systemd(global.systemd_cgroup)
        .with_detach(detach)
        .with_no_pivot(opts.no_pivot)
        .build();
    // The init has cloned the staged binds and scratch tmpfs mounts into its mount
    // namespace (or failed): they leave the host's tree now.
    binds::unstage(&binds_dir)?;
    binds::unstage(&scratch_dir)?;
    rootfs_idmap::unstage(private)?;
    let container = built.with_context(|| format!("cannot create container {id}"))?;
    root.close_container_dir(id)?;
    if oom_killer_disabled(&spec) {
        cgroups::disable_oom_killer(&cgroup_path(&spec)?)?;
    }
    // The init has joined them: the saved spec names the engine's paths again, as exec
    // and update show it to the policy (exec joins the init's own namespaces), and holds
    // `linux.seccomp` again, the profile exec installs.
    namespace_paths::restore_paths(&namespaces, &mut spec);
    rootfs_idmap::restore(&mut spec, engine_rootfs);
    pipeline::write_effective_spec(&spec, &spec_path)?;
    drop(namespaces);
    if let Some(pid_file) = &opts.pid_file {
        let pid = container
            .pid()
            .with_context(|| format!("container {id} has no init pid after create"))?;
        write_pid_file(pid_file, pid.as_raw())?;
    }
    failpoint::hit(failpoint::AFTER_LIBCONTAINER);
    Ok(container)
}

/// The container's agent (crate::identity), before the policy is asked: a token that
/// does not verify, or does not bind this container, is refused and recorded as such.
fn establish_agent(
    config: &LoadedConfig,
    audit: &mut Entry,
    spec: &Spec,
    context: &PolicyContext,
    image: &Identity,
    secrets: &[String],
) -> Result<Agent> {
    let annotations = spec.annotations().clone().unwrap_or_default();
    let request = identity::Request {
        annotations: &annotations,
        engine: context.engine(),
        sandbox: context.container["type"] == "sandbox",
        image,
        secrets,
    };
    identity::establish(
        &request,
        &config.config.identity,
        &config.config.policy.trusted_agent_engines,
    )
    .map_err(|violation| {
        let violations = vec![violation];
        audit.violations(&violations);
        decision::refused_before_policy(config, audit, Refused(violations).into())
    })
}

/// A CRI sandbox's pod uid was checked against the live sandboxes at admission
/// (`engine.identity`); two creates racing for one pod both passed that check. Each
/// checks again once its own record is saved, so of two racing creates at least one
/// sees the other (both may, and both are refused: kubelet retries).
fn check_only_sandbox_of_its_pod(
    root: &StateRoot,
    id: &ContainerId,
    record: &ContainerRecord,
) -> Result<()> {
    let container = &record.policy_context.container;
    if container["engine"] != "cri" || container["type"] != "sandbox" {
        return Ok(());
    }
    let Some(uid) = container["pod_uid"].as_str() else {
        return Ok(());
    };
    match binding::other_sandbox_of_pod(&StateRootSandboxes { root }, uid, id.as_str()) {
        None => Ok(()),
        Some(other) => Err(Refused(vec![Violation {
            rule: admission::ENGINE_IDENTITY,
            path: binding::POD_UID_FIELD.to_owned(),
            value: format!("{uid:?}"),
            allowed: format!(
                "a pod uid no other live sandbox has: sandbox {other} is being created for \
                 pod {uid} at the same time"
            ),
        }])
        .into()),
    }
}

/// Where the container's cgroup (admitted by `cgroups.path`, or bulwark's default) is
/// claimed before libcontainer joins it: the exclusive mkdir there refuses a cgroup
/// another create got first.
fn claim_dir(spec: &Spec) -> Result<PathBuf> {
    Ok(cgroups::claim_dir(&cgroup_path(spec)?)?)
}

/// The effective spec's `linux.cgroupsPath`, parsed.
fn cgroup_path(spec: &Spec) -> Result<CgroupPath> {
    let path = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .context("the effective spec has no cgroupsPath")?;
    let text = path.to_string_lossy();
    CgroupPath::parse(&text).map_err(|form| anyhow::anyhow!("linux.cgroupsPath {text:?}: {form}"))
}

/// Whether the spec asks for `linux.resources.memory.disableOOMKiller` (admitted only
/// where bulwark can apply it: cgroup v1).
fn oom_killer_disabled(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.memory().as_ref())
        .and_then(|m| m.disable_oom_killer())
        .unwrap_or(false)
}

/// Writes the init's pid for the engine, atomically (runc's way: a reader never sees a
/// partial pid). bulwark writes it, not libcontainer: libcontainer 0.7 only logs a
/// warning when the write fails, and the engine would then wait for a pid file that
/// never comes. Here the failure fails the create, whose cleanup kills the init that is
/// already waiting for `start`.
pub(super) fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    atomic_file::write(path, pid.to_string().as_bytes(), 0o644).with_context(|| {
        format!(
            "cannot write the pid file {}; choose a writable --pid-file location",
            path.display()
        )
    })
}

/// The baseline's rewrites, one debug line each (the audit record carries them too).
pub(super) fn log_changes(id: &ContainerId, changes: &[Change]) {
    for change in changes {
        tracing::debug!(
            %id,
            control = change.control,
            path = %change.path,
            before = %change.before,
            after = %change.after,
            "baseline rewrite"
        );
    }
}
