//! The poststart and poststop hooks, which bulwark runs itself instead of libcontainer.
//!
//! The runtime spec (config.md "POSIX-platform Hooks", runtime.md "Lifecycle" steps 9
//! and 13): "If any poststart hook fails, the runtime MUST log a warning, but the
//! remaining hooks and lifecycle continue as if the hook had succeeded", and the same
//! for poststop. libcontainer 0.7 instead fails `start` after the container is running
//! and skips the remaining hooks (container/container_start.rs:56), and fails `delete`
//! after it removed the cgroup (container/container_delete.rs:101), so a failing
//! poststop hook made the container undeletable and ran again on every retry. Both
//! also hand the hook libcontainer's `bundle`, bulwark's private directory, where the
//! spec's state (runtime.md "State") names the caller's bundle.
//!
//! So `create` takes these two kinds out of the spec libcontainer gets (it never runs
//! them) and keeps them in the container's record; `start` runs poststart after
//! libcontainer started the container, and the removal of a container runs poststop
//! once, after libcontainer's state is gone (the call that removed it is the only one
//! that runs them, so a retried `delete` never runs them twice). Each hook goes through
//! libcontainer's own runner (`hooks::run_hooks`: arg0, env, timeout, the state on
//! stdin), one at a time, so a failure is a warning and the next hook still runs.
//!
//! The prestart, createRuntime and createContainer hooks must run where libcontainer
//! runs them, in the middle of its create (their failure fails the create, and
//! libcontainer destroys the container). Their state's `bundle` comes from
//! libcontainer's (container/init_builder.rs:221, the bundle it read config.json from:
//! bulwark's private directory), which cannot be changed from outside. So each of them
//! runs through bulwark's own binary (`bulwark hook-state <bundle> <path> <argv>...`),
//! which puts the caller's bundle in the state and execs the hook with it on stdin: the
//! same process, so libcontainer's timeout and exit status apply to the hook itself. A
//! startContainer hook's path resolves in the container (config.md "startContainer"),
//! where bulwark's binary is not: it gets libcontainer's state as it is.

use std::ffi::OsString;
use std::io::{self, Read, Seek, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use nix::sys::memfd::{memfd_create, MemFdCreateFlag};

use libcontainer::container::{ContainerStatus, State};
use libcontainer::hooks::run_hooks;
use libcontainer::oci_spec::runtime::{Hook, Hooks, Spec};

/// Removes the poststart and poststop hooks from `spec` (what libcontainer gets) and
/// returns them, or `None` when it has neither.
pub fn take_post_hooks(spec: &mut Spec) -> Option<Hooks> {
    let hooks = spec.hooks().clone()?;
    if hooks.poststart().is_none() && hooks.poststop().is_none() {
        return None;
    }
    let mut rest = hooks.clone();
    rest.set_poststart(None).set_poststop(None);
    spec.set_hooks(Some(rest));
    let mut post = Hooks::default();
    post.set_poststart(hooks.poststart().clone())
        .set_poststop(hooks.poststop().clone());
    Some(post)
}

/// The hidden subcommand the create-time hooks run through.
const HOOK_STATE: &str = "hook-state";

/// The binary the create-time hooks run through: the running bulwark, resolved by the
/// process that executes the hook (libcontainer's create process or its init, both
/// bulwark). `create` runs from a sealed copy (main.rs, CVE-2019-5736) that has no
/// path of its own, and a binary replaced on disk meanwhile is not the one running.
pub const BULWARK_EXE: &str = "/proc/self/exe";

/// The largest state bulwark's shim reads: the state is a few fields and the spec's
/// annotations, which are small; a hook is not fed an unbounded stream.
const STATE_LIMIT: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum HookStateError {
    #[error("cannot read the hook state from stdin")]
    Read(#[source] io::Error),
    #[error("the hook state on stdin is not a JSON object of at most {STATE_LIMIT} bytes")]
    Parse,
    #[error("cannot pass the hook state to the hook")]
    Pass(#[source] io::Error),
    #[error("cannot execute hook {path}")]
    Exec {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// Routes the prestart, createRuntime and createContainer hooks of `spec` through
/// `bulwark hook-state`, so they receive `bundle` (the caller's) in their state.
#[allow(deprecated)] // prestart: deprecated by the spec, still run by runtimes.
pub fn route_through_state_shim(spec: &mut Spec, bundle: &Path, bulwark: &Path) {
    let Some(mut hooks) = spec.hooks().clone() else {
        return;
    };
    let route = |list: &Option<Vec<Hook>>| {
        list.as_ref().map(|list| {
            list.iter()
                .map(|h| through_shim(h, bundle, bulwark))
                .collect()
        })
    };
    let prestart = route(hooks.prestart());
    let create_runtime = route(hooks.create_runtime());
    let create_container = route(hooks.create_container());
    hooks
        .set_prestart(prestart)
        .set_create_runtime(create_runtime)
        .set_create_container(create_container);
    spec.set_hooks(Some(hooks));
}

fn through_shim(hook: &Hook, bundle: &Path, bulwark: &Path) -> Hook {
    let path = hook.path().to_string_lossy().into_owned();
    let mut args = vec![
        "bulwark".to_owned(),
        HOOK_STATE.to_owned(),
        bundle.to_string_lossy().into_owned(),
        path.clone(),
    ];
    // config.md "POSIX-platform Hooks": without `args` the hook's argv is its path.
    args.extend(hook.args().clone().unwrap_or_else(|| vec![path]));
    let mut routed = hook.clone();
    routed.set_path(bulwark.to_owned()).set_args(Some(args));
    routed
}

/// `bulwark hook-state`: reads the state libcontainer wrote to stdin, sets its `bundle`
/// and executes the hook (`argv[0]` as its arg0) with that state on stdin. Returns only
/// on failure, which fails the hook.
pub fn exec_with_state_bundle(bundle: &Path, path: &Path, argv: &[OsString]) -> HookStateError {
    match state_with_bundle(bundle) {
        Ok(stdin) => {
            let mut command = Command::new(path);
            if let Some((arg0, args)) = argv.split_first() {
                command.arg0(arg0).args(args);
            }
            HookStateError::Exec {
                path: path.display().to_string(),
                source: command.stdin(stdin).exec(),
            }
        }
        Err(err) => err,
    }
}

/// The state from stdin with the caller's bundle, in a memory file at
/// offset 0 (a pipe would block past its buffer before the hook runs).
fn state_with_bundle(bundle: &Path) -> Result<Stdio, HookStateError> {
    let mut input = Vec::new();
    io::stdin()
        .take(STATE_LIMIT + 1)
        .read_to_end(&mut input)
        .map_err(HookStateError::Read)?;
    let mut state: serde_json::Value = match serde_json::from_slice(&input) {
        Ok(state @ serde_json::Value::Object(_)) if input.len() as u64 <= STATE_LIMIT => state,
        _ => return Err(HookStateError::Parse),
    };
    state["bundle"] = bundle.to_string_lossy().into_owned().into();
    let fd = memfd_create(c"bulwark-hook-state", MemFdCreateFlag::MFD_CLOEXEC)
        .map_err(|errno| HookStateError::Pass(errno.into()))?;
    let mut file = std::fs::File::from(fd);
    file.write_all(state.to_string().as_bytes())
        .and_then(|()| file.rewind())
        .map_err(HookStateError::Pass)?;
    Ok(Stdio::from(file))
}

/// The executable a process runs, by device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Executable(u64, u64);

impl Executable {
    pub fn of(pid: i32) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(format!("/proc/{pid}/exe")).ok()?;
        Some(Self(meta.dev(), meta.ino()))
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "a startContainer hook failed: the container's init exited before running its \
     program (the hook's error is in the log); the container is stopped, delete it"
)]
pub struct StartContainerFailed;

/// config.md "startContainer": "If any startContainer hook fails, the runtime MUST
/// generate an error, stop the container". libcontainer runs them in the init after
/// `start` returned (process/init/process.rs:463) and the init exits when one fails,
/// so `start` reported success for a container that never ran its program. Waits
/// until the init, which ran `before` when start was called, either runs another
/// executable (its program: every hook passed) or is gone (one failed). As long as
/// the hooks run, so does this (their `timeout` bounds both).
pub fn wait_for_start_container_hooks(
    pid: i32,
    before: Executable,
) -> Result<(), StartContainerFailed> {
    loop {
        // An exiting process loses its exe link before it is a zombie: only a zombie
        // (or no process) is a failed hook, which `state` then reports stopped.
        if has_exited(pid) {
            return Err(StartContainerFailed);
        }
        if Executable::of(pid).is_some_and(|now| now != before) {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn has_exited(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // The state follows the parenthesised command name, which may hold spaces.
            let (_, rest) = stat.rsplit_once(") ")?;
            rest.chars().next()
        })
        .is_none_or(|state| state == 'Z' || state == 'X')
}

/// Runs the poststart hooks with the state of the started container.
pub fn poststart(hooks: Option<&Hooks>, state: &State, bundle: &Path) {
    if let Some(list) = hooks.and_then(|h| h.poststart().as_ref()) {
        run_warning("poststart", list, state, ContainerStatus::Running, bundle);
    }
}

/// Runs the poststop hooks with the state of the removed container (runtime.md
/// "Lifecycle" step 13, after the container was destroyed).
pub fn poststop(hooks: Option<&Hooks>, state: &State, bundle: &Path) {
    if let Some(list) = hooks.and_then(|h| h.poststop().as_ref()) {
        run_warning("poststop", list, state, ContainerStatus::Stopped, bundle);
    }
}

/// Each hook in turn; a failure is logged as a warning and the next one runs.
fn run_warning(kind: &str, hooks: &[Hook], state: &State, status: ContainerStatus, bundle: &Path) {
    let mut state = state.clone();
    state.status = status;
    state.bundle = bundle.to_owned();
    for (index, hook) in hooks.iter().enumerate() {
        let one = vec![hook.clone()];
        if let Err(err) = run_hooks(Some(&one), Some(&state), None, None, None) {
            tracing::warn!(
                id = %state.id,
                path = %hook.path().display(),
                error = %err,
                "{kind} hook {index} failed; continuing as the runtime spec requires"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libcontainer::oci_spec::runtime::{HookBuilder, HooksBuilder};

    fn hook(path: &str) -> Hook {
        HookBuilder::default().path(path).build().unwrap()
    }

    #[test]
    fn post_hooks_leave_the_spec_and_the_others_stay() {
        let mut spec = Spec::default();
        spec.set_hooks(Some(
            HooksBuilder::default()
                .create_runtime(vec![hook("/a")])
                .poststart(vec![hook("/b")])
                .poststop(vec![hook("/c")])
                .build()
                .unwrap(),
        ));
        let taken = take_post_hooks(&mut spec).unwrap();
        assert_eq!(
            taken.poststart().as_ref().unwrap()[0].path(),
            Path::new("/b")
        );
        assert_eq!(
            taken.poststop().as_ref().unwrap()[0].path(),
            Path::new("/c")
        );
        let left = spec.hooks().as_ref().unwrap();
        assert!(left.poststart().is_none() && left.poststop().is_none());
        assert_eq!(
            left.create_runtime().as_ref().unwrap()[0].path(),
            Path::new("/a")
        );
    }

    #[test]
    fn a_spec_without_post_hooks_is_unchanged() {
        let mut spec = Spec::default();
        let before = spec.clone();
        assert!(take_post_hooks(&mut spec).is_none());
        assert_eq!(spec, before);
    }
}
