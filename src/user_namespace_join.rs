//! `exec` into a container that has its own user namespace (issue #19 Phase 0 item 1).
//!
//! libcontainer 0.7's tenant builder joins the init's namespaces listed in
//! `NAMESPACE_TYPES` (container/tenant_builder.rs:35: ipc, uts, net, pid, mnt, cgroup,
//! time; `get_namespaces`, tenant_builder.rs:544), never `user`, and
//! `UserNamespaceConfig::new` (tenant_builder.rs:261, user_ns.rs:147) then sees no user
//! namespace in the tenant's spec. The exec'd process ran in the host's user
//! namespace, as host uid 65532 instead of the container's mapped uid: outside the
//! id mapping the container was admitted with, sharing a host uid with every other
//! container. runc joins it (nsenter, `CLONE_NEWUSER` first).
//!
//! bulwark does not carry a modified libcontainer, so the join happens in bulwark's
//! executor (crate::executor), the last step libcontainer runs in the new process
//! before execve:
//! - here, before the build, the init's user namespace is opened once through a pidfd
//!   (the descriptor belongs to the process that had the init's pid, not to one that
//!   took the pid over), and the process libcontainer is handed is a stand-in of the
//!   decided one: host uid 0 with `CAP_SYS_ADMIN` only, which setns(2) needs in the
//!   target namespace (kernel/user_namespace.c `userns_install`; host root, its owner,
//!   has it there). No `CAP_SETUID`/`CAP_SETGID`: the join itself grants the full set
//!   inside the namespace (`set_cred_user_ns`), where the ids are set. The other
//!   conditions of the join hold in libcontainer's process: one thread, and an fs
//!   struct of its own (process/fork.rs clones without `CLONE_FS`);
//! - in the executor: a check that the mount namespace libcontainer joined belongs to
//!   that user namespace (both come from the same container), setns, the decided
//!   groups and ids, the decided capability sets (setns grants the full set inside the
//!   namespace, and a setresuid from a uid that is not the namespace's root clears
//!   nothing, so every set is written explicitly), no-new-privileges; then the
//!   container's seccomp filter and the executor's checks against the decided process,
//!   which fail the exec before execve if anything differs.
//!
//! The descriptor is `O_CLOEXEC` and survives libcontainer's fd cleanup, which marks
//! fds close-on-exec rather than closing them (syscall/linux.rs:893, `close_range` with
//! `CLOSE_RANGE_CLOEXEC`). libcontainer loads no seccomp filter in the tenant (it keeps
//! only namespaces, cgroupsPath, personality and timeOffsets of `linux`,
//! tenant_builder.rs:459-473), so nothing filters setns before the executor
//! (process/init/process.rs:428 calls it).
//!
//! Upstream fix (libcontainer): add `"user"` to `NAMESPACE_TYPES` and join it first,
//! in the intermediate process, as `UserNamespaceConfig` does for a path (setns, then
//! `set_id(0, 0)` as container_intermediate_process.rs:108-122 does after unshare); the
//! tenant then sets the process's ids and capabilities inside the namespace as init
//! does. The rlimits stay set before the join, as host root, as today.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;

use libcontainer::oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities, Process, User};
use nix::errno::Errno;
use nix::sched::{setns, CloneFlags};
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Pid, Uid};

use crate::namespace_paths::{self, identity};

/// ioctl(NS_GET_NSTYPE): the CLONE_NEW* flag of the namespace an nsfs file is.
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

#[derive(Debug, thiserror::Error)]
pub enum UserNamespaceJoinError {
    #[error("cannot open a pidfd for the container's init (pid {pid}): {errno}")]
    Pidfd { pid: i32, errno: Errno },
    #[error("cannot open the user namespace of the container's init (pid {pid}): {source}")]
    Open { pid: i32, source: io::Error },
    #[error(
        "the container's init (pid {pid}) exited while its user namespace was opened; \
         the exec is not run"
    )]
    InitGone { pid: i32 },
    #[error("/proc/{pid}/ns/user is not a user namespace")]
    NotUserNamespace { pid: i32 },
    #[error(
        "the container's spec declares a user namespace, but its init (pid {pid}) runs in \
         bulwark's own; the exec is not run"
    )]
    NotTheContainers { pid: i32 },
}

/// The init's user namespace and the process the policy decided on, carried into the
/// executor. Clone: libcontainer clones its executor.
#[derive(Clone)]
pub struct UserNamespaceJoin {
    namespace: Arc<OwnedFd>,
    decided: Process,
}

impl UserNamespaceJoin {
    /// Opens the user namespace of the container's init `pid`, to run `decided` in.
    pub fn open(pid: Pid, decided: &Process) -> Result<Self, UserNamespaceJoinError> {
        let raw = pid.as_raw();
        // SAFETY: pidfd_open takes a pid and flags; the result is a new descriptor.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, raw, 0) };
        if pidfd < 0 {
            return Err(UserNamespaceJoinError::Pidfd {
                pid: raw,
                errno: Errno::last(),
            });
        }
        // SAFETY: pidfd_open returned a descriptor nothing else owns.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
        let namespace: OwnedFd = File::open(format!("/proc/{raw}/ns/user"))
            .map_err(|source| UserNamespaceJoinError::Open { pid: raw, source })?
            .into();
        // Signal 0 through the pidfd: the process the pidfd was opened for still runs,
        // so the pid was not reused between the two opens and the namespace is its.
        // SAFETY: pidfd_send_signal with signal 0 and no siginfo only checks.
        let alive = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                pidfd.as_raw_fd(),
                0,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if alive != 0 {
            return Err(UserNamespaceJoinError::InitGone { pid: raw });
        }
        // SAFETY: NS_GET_NSTYPE takes no argument.
        let kind = unsafe { libc::ioctl(namespace.as_raw_fd(), NS_GET_NSTYPE) };
        if kind != libc::CLONE_NEWUSER {
            return Err(UserNamespaceJoinError::NotUserNamespace { pid: raw });
        }
        let own = std::fs::metadata("/proc/self/ns/user")
            .map_err(|source| UserNamespaceJoinError::Open { pid: raw, source })?;
        if identity(&namespace).ok() == Some((own.dev(), own.ino())) {
            return Err(UserNamespaceJoinError::NotTheContainers { pid: raw });
        }
        Ok(Self {
            namespace: Arc::new(namespace),
            decided: decided.clone(),
        })
    }

    /// The process the executor's checks hold the exec'd process to.
    pub fn decided(&self) -> &Process {
        &self.decided
    }

    /// What libcontainer runs up to the executor: the decided process as host uid 0
    /// with `CAP_SYS_ADMIN` only (setns(2) into a user namespace). `HOME` is held by a
    /// placeholder when the decided environment has none: libcontainer would look it
    /// up for uid 0 in the container's /etc/passwd, with that capability; the executor
    /// looks it up for the decided uid once inside ([`Self::home`]).
    pub fn stand_in(&self) -> Process {
        let mut process = self.decided.clone();
        let mut user = User::default();
        user.set_uid(0);
        user.set_gid(0);
        user.set_umask(self.decided.user().umask());
        process.set_user(user);
        let admin: Capabilities = [Capability::SysAdmin].into_iter().collect();
        let mut caps = LinuxCapabilities::default();
        caps.set_bounding(Some(admin.clone()))
            .set_effective(Some(admin.clone()))
            .set_permitted(Some(admin))
            .set_inheritable(Some(Capabilities::new()))
            .set_ambient(Some(Capabilities::new()));
        process.set_capabilities(Some(caps));
        if !self.decided_home_is_set() {
            let mut env = process.env().clone().unwrap_or_default();
            env.retain(|entry| !entry.starts_with("HOME="));
            env.push("HOME=/".to_owned());
            process.set_env(Some(env));
        }
        process
    }

    /// Runs in the exec'd process, in the executor: joins the namespace and becomes the
    /// decided user with the decided capability sets and no-new-privileges.
    pub fn enter(&self) -> Result<(), String> {
        self.check_mount_namespace_owner()?;
        setns(self.namespace.as_fd(), CloneFlags::CLONE_NEWUSER)
            .map_err(|e| format!("cannot join the container's user namespace: {e}"))?;
        let user = self.decided.user();
        let groups: Vec<Gid> = user
            .additional_gids()
            .iter()
            .flatten()
            .map(|gid| Gid::from_raw(*gid))
            .collect();
        // Also with no additional gids: the process must not keep host root's groups.
        setgroups(&groups).map_err(|e| {
            format!(
                "cannot set the supplementary groups {groups:?} in the container's user \
                 namespace (its /proc/<pid>/setgroups may say deny): {e}"
            )
        })?;
        let (uid, gid) = (Uid::from_raw(user.uid()), Gid::from_raw(user.gid()));
        setresgid(gid, gid, gid).map_err(|e| format!("cannot set gid {gid}: {e}"))?;
        setresuid(uid, uid, uid).map_err(|e| format!("cannot set uid {uid}: {e}"))?;
        let syscall = libcontainer::syscall::syscall::create_syscall();
        libcontainer::capabilities::drop_privileges(&self.capability_sets(), &*syscall)
            .map_err(|e| format!("cannot set the capability sets: {e}"))?;
        if self.decided.no_new_privileges() == Some(true) {
            // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only.
            if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
                return Err(format!("cannot set no-new-privileges: {}", Errno::last()));
            }
        }
        Ok(())
    }

    /// The environment's `HOME` for the decided user when the decided process sets
    /// none (see [`Self::stand_in`]): looked up as libcontainer does
    /// (process/init/process.rs:1044), from inside the namespace as the decided uid.
    pub fn home(&self, envs: &mut HashMap<String, String>) {
        if self.decided_home_is_set() {
            return;
        }
        envs.remove("HOME");
        let home = libcontainer::utils::get_user_home(self.decided.user().uid());
        if let Some(home) = home.as_deref().and_then(|h| h.to_str()) {
            envs.insert("HOME".to_owned(), home.to_owned());
        }
    }

    fn decided_home_is_set(&self) -> bool {
        self.decided
            .env()
            .iter()
            .flatten()
            .any(|entry| entry.strip_prefix("HOME=").is_some_and(|v| !v.is_empty()))
    }

    /// Every set written, a missing one as empty: after setns every set is full.
    fn capability_sets(&self) -> LinuxCapabilities {
        let decided = self.decided.capabilities().clone().unwrap_or_default();
        let set = |s: &Option<Capabilities>| Some(s.clone().unwrap_or_default());
        let mut caps = LinuxCapabilities::default();
        caps.set_bounding(set(decided.bounding()))
            .set_effective(set(decided.effective()))
            .set_permitted(set(decided.permitted()))
            .set_inheritable(set(decided.inheritable()))
            .set_ambient(set(decided.ambient()));
        caps
    }

    /// libcontainer joined the init's mount namespace by path (/proc/<pid>/ns/mnt,
    /// opened again in the new process); the container's mount namespace was made
    /// inside its user namespace, so it must be owned by the one opened here. A
    /// mismatch means the pid named another process by then.
    fn check_mount_namespace_owner(&self) -> Result<(), String> {
        let mount = File::open("/proc/self/ns/mnt")
            .map_err(|e| format!("cannot open /proc/self/ns/mnt in the container: {e}"))?;
        let owner =
            namespace_paths::owning_user_namespace(&OwnedFd::from(mount)).map_err(|errno| {
                format!(
                "cannot find the user namespace owning the container's mount namespace: {errno}"
            )
            })?;
        let (owner, target) = (identity(&owner), identity(&self.namespace));
        match (owner, target) {
            (Ok(owner), Ok(target)) if owner == target => Ok(()),
            (owner, target) => Err(format!(
                "the container's mount namespace belongs to user namespace {owner:?}, not \
                 to the init's {target:?}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decided() -> Process {
        let mut process = Process::default();
        let mut user = User::default();
        user.set_uid(65532);
        user.set_gid(65532);
        user.set_additional_gids(Some(vec![65532]));
        process.set_user(user);
        process.set_env(Some(vec!["PATH=/bin".into()]));
        process.set_no_new_privileges(Some(true));
        let none = Some(Capabilities::new());
        let mut caps = LinuxCapabilities::default();
        caps.set_bounding(none.clone())
            .set_effective(none.clone())
            .set_permitted(none.clone())
            .set_inheritable(None)
            .set_ambient(None);
        process.set_capabilities(Some(caps));
        process
    }

    fn join_with(decided: Process) -> UserNamespaceJoin {
        let file: OwnedFd = File::open("/dev/null").unwrap().into();
        UserNamespaceJoin {
            namespace: Arc::new(file),
            decided,
        }
    }

    #[test]
    fn the_stand_in_is_uid_0_with_cap_sys_admin_only_and_no_groups() {
        let stand_in = join_with(decided()).stand_in();
        assert_eq!((stand_in.user().uid(), stand_in.user().gid()), (0, 0));
        assert_eq!(stand_in.user().additional_gids(), &None);
        let caps = stand_in.capabilities().as_ref().unwrap();
        let admin: Capabilities = [Capability::SysAdmin].into_iter().collect();
        assert_eq!(caps.bounding(), &Some(admin.clone()));
        assert_eq!(caps.effective(), &Some(admin.clone()));
        assert_eq!(caps.permitted(), &Some(admin));
        assert_eq!(caps.inheritable(), &Some(Capabilities::new()));
        assert_eq!(caps.ambient(), &Some(Capabilities::new()));
        assert_eq!(stand_in.no_new_privileges(), Some(true));
        assert_eq!(stand_in.args(), decided().args());
    }

    #[test]
    fn home_is_a_placeholder_only_where_the_decided_process_sets_none() {
        let env_of = |p: Process| p.env().clone().unwrap();
        assert_eq!(
            env_of(join_with(decided()).stand_in()),
            ["PATH=/bin", "HOME=/"]
        );
        let mut with_home = decided();
        with_home.set_env(Some(vec!["HOME=/work".into(), "PATH=/bin".into()]));
        assert_eq!(
            env_of(join_with(with_home.clone()).stand_in()),
            ["HOME=/work", "PATH=/bin"]
        );
        let mut envs = HashMap::from([("HOME".to_owned(), "/work".to_owned())]);
        join_with(with_home).home(&mut envs);
        assert_eq!(envs["HOME"], "/work");
    }

    /// Fails closed before any id changes: a descriptor that is not the owner of the
    /// mount namespace the process is in is refused before setns, and a join the
    /// kernel refuses (re-entering one's own user namespace) is an error, not a no-op.
    #[test]
    fn enter_refuses_a_namespace_that_does_not_own_the_mount_namespace() {
        let uid = nix::unistd::getuid();
        let err = join_with(decided()).enter().unwrap_err();
        assert!(err.contains("not to the init's"), "{err}");
        let own: OwnedFd = File::open("/proc/self/ns/user").unwrap().into();
        let join = UserNamespaceJoin {
            namespace: Arc::new(own),
            decided: decided(),
        };
        let err = join.enter().unwrap_err();
        assert!(
            err.contains("cannot join the container's user namespace"),
            "{err}"
        );
        assert_eq!(nix::unistd::getuid(), uid);
    }

    #[test]
    fn every_capability_set_is_written_a_missing_one_as_empty() {
        let caps = join_with(decided()).capability_sets();
        for set in [
            caps.bounding(),
            caps.effective(),
            caps.permitted(),
            caps.inheritable(),
            caps.ambient(),
        ] {
            assert_eq!(set, &Some(Capabilities::new()));
        }
    }
}
