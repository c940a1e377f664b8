//! Namespace paths: joined through the descriptor that was checked.
//!
//! libcontainer 0.7 joins `linux.namespaces[].path` by opening the path again in the
//! container's intermediate or init process (plain open: links followed), long after
//! admission compared the path's inode with the host's namespace. A symlink swapped
//! between the two lookups (`podman --network ns:PATH`, a link exchanged with
//! `renameat2(RENAME_EXCHANGE)` for one to `/proc/1/ns/net`) put the container in the
//! host's network namespace.
//!
//! So at create each path is opened once, and the descriptor is what is judged: it must
//! be a namespace (`NS_GET_NSTYPE`) of the entry's type, and not the host's namespace
//! of that type (dev/ino of `/proc/1/ns/<type>`, or bulwark's own where that cannot be
//! read). The effective spec then names `/proc/self/fd/<n>`: libcontainer's processes
//! are clones of bulwark's create process and inherit the descriptor (O_CLOEXEC: no
//! hook or payload keeps it), so the join goes through exactly the verified object.
//! After libcontainer's build returns the saved spec names the engine's paths again
//! (exec joins the init's namespaces through /proc/<pid>/ns, not these paths; exec and
//! update show the spec to the policy).
//!
//! Which namespaces may be joined at all depends on whose they are (issue #15 class 4):
//! a CRI container only its own pod's, those of the sandbox bulwark holds its claim
//! against (crate::engine::binding), never another pod's; other containers any but the
//! host's (Podman's `--network container:`/`ns:` and pods: a rootful Podman user owns
//! every container of the host).

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use libcontainer::oci_spec::runtime::{LinuxNamespaceType, Spec};
use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;

/// ioctl(NS_GET_NSTYPE): the CLONE_NEW* flag of the namespace an nsfs file is.
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
/// ioctl(NS_GET_USERNS): a descriptor for the user namespace owning a namespace.
const NS_GET_USERNS: libc::c_ulong = 0xb701;

/// Why a namespace path cannot be joined; the admission rule's "allowed" text.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NamespacePathError {
    #[error("an existing namespace file (it could not be opened: {0})")]
    Open(Errno),
    #[error("a {expected} namespace file (it is {found}, not a namespace)")]
    NotNamespace {
        expected: &'static str,
        found: &'static str,
    },
    #[error("a {expected} namespace file (it is a {found} namespace)")]
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    #[error("the host's {0} namespace may not be joined; join a pod's namespace or none")]
    Host(&'static str),
    #[error(
        "a namespace bulwark can tell apart from the host's (the host's {0} namespace could not be read)"
    )]
    HostUnknown(&'static str),
    #[error(
        "the {expected} namespace of sandbox init (pid {init}): a CRI container joins only its \
         own pod's sandbox{}", .unreadable.map(|e| format!(" (/proc/{init}/ns unreadable: {e})")).unwrap_or_default()
    )]
    NotTheSandboxs {
        expected: &'static str,
        init: i32,
        unreadable: Option<Errno>,
    },
}

/// Whose namespaces an entry may join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Any but the host's.
    AnyButTheHost,
    /// The namespaces of the sandbox whose init has this pid.
    Sandbox(i32),
}

/// A namespace path of the effective spec, open and verified.
#[derive(Debug)]
pub struct Opened {
    /// Its entry in `linux.namespaces`.
    pub index: usize,
    pub typ: LinuxNamespaceType,
    /// The namespace; the spec names `/proc/self/fd/<fd>` while libcontainer builds.
    pub fd: OwnedFd,
    /// The engine's path, which the saved spec names again after the build.
    pub path: PathBuf,
}

/// A refused entry: its index, path and why.
#[derive(Debug)]
pub struct Refusal {
    pub index: usize,
    pub path: PathBuf,
    pub error: NamespacePathError,
}

/// The OCI name of a namespace type (as in the spec and the admission messages).
pub fn oci_name(typ: LinuxNamespaceType) -> &'static str {
    match typ {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
}

fn clone_flag(typ: LinuxNamespaceType) -> libc::c_int {
    match typ {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        // CLONE_NEWTIME (not in every libc version).
        LinuxNamespaceType::Time => 0x80,
    }
}

fn name_of_flag(flag: libc::c_int) -> &'static str {
    [
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Cgroup,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::User,
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Time,
    ]
    .into_iter()
    .find(|typ| clone_flag(*typ) == flag)
    .map_or("unknown", oci_name)
}

fn errno_of(error: &io::Error) -> Errno {
    Errno::from_raw(error.raw_os_error().unwrap_or(0))
}

/// Opens `path` once and verifies the descriptor is a namespace of type `typ` that is
/// not the host's. The path is first opened O_PATH (a FIFO or device is never opened
/// for reading) and must be a regular file, as nsfs files are; the readable descriptor
/// is reopened from that one through /proc/self/fd, so it is the same inode.
pub fn open_verified(typ: LinuxNamespaceType, path: &Path) -> Result<OwnedFd, NamespacePathError> {
    let expected = oci_name(typ);
    let raw = open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(NamespacePathError::Open)?;
    // SAFETY: open returned a new descriptor that nothing else owns.
    let pinned = unsafe { OwnedFd::from_raw_fd(raw) };
    let by_fd = format!("/proc/self/fd/{}", pinned.as_raw_fd());
    let metadata = fs::metadata(&by_fd).map_err(|e| NamespacePathError::Open(errno_of(&e)))?;
    let kind = metadata.file_type();
    if !kind.is_file() {
        let found = if kind.is_dir() {
            "a directory"
        } else {
            "a special file"
        };
        return Err(NamespacePathError::NotNamespace { expected, found });
    }
    let raw = open(
        by_fd.as_str(),
        OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY,
        Mode::empty(),
    )
    .map_err(NamespacePathError::Open)?;
    // SAFETY: as above.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the descriptor.
    let nstype = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE) };
    if nstype < 0 {
        return Err(NamespacePathError::NotNamespace {
            expected,
            found: "a regular file",
        });
    }
    if nstype != clone_flag(typ) {
        return Err(NamespacePathError::WrongType {
            expected,
            found: name_of_flag(nstype),
        });
    }
    let target = fs::metadata(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map_err(|e| NamespacePathError::Open(errno_of(&e)))?;
    let proc_name = crate::host::proc_ns_name(expected);
    let host = fs::metadata(format!("/proc/1/ns/{proc_name}"))
        .or_else(|_| fs::metadata(format!("/proc/self/ns/{proc_name}")))
        .map_err(|_| NamespacePathError::HostUnknown(expected))?;
    if host.dev() == target.dev() && host.ino() == target.ino() {
        return Err(NamespacePathError::Host(expected));
    }
    Ok(fd)
}

/// The namespace of type `typ` of process `init` is the one `fd` is.
fn is_namespace_of(fd: &OwnedFd, typ: LinuxNamespaceType, init: i32) -> Result<bool, Errno> {
    let proc_name = crate::host::proc_ns_name(oci_name(typ));
    let theirs = fs::metadata(format!("/proc/{init}/ns/{proc_name}")).map_err(|e| errno_of(&e))?;
    let target =
        fs::metadata(format!("/proc/self/fd/{}", fd.as_raw_fd())).map_err(|e| errno_of(&e))?;
    Ok(theirs.dev() == target.dev() && theirs.ino() == target.ino())
}

/// Opens and verifies every namespace path of `spec`, in order, each a namespace of
/// `owner`'s.
pub fn open_all(spec: &Spec, owner: Owner) -> Result<Vec<Opened>, Refusal> {
    let namespaces = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_deref())
        .unwrap_or_default();
    let mut opened = Vec::new();
    for (index, ns) in namespaces.iter().enumerate() {
        let Some(path) = ns.path() else {
            continue;
        };
        let refusal = |error| Refusal {
            index,
            path: path.clone(),
            error,
        };
        let fd = open_verified(ns.typ(), path).map_err(refusal)?;
        if let Owner::Sandbox(init) = owner {
            let not_theirs = |unreadable| NamespacePathError::NotTheSandboxs {
                expected: oci_name(ns.typ()),
                init,
                unreadable,
            };
            match is_namespace_of(&fd, ns.typ(), init) {
                Ok(true) => {}
                Ok(false) => return Err(refusal(not_theirs(None))),
                Err(errno) => return Err(refusal(not_theirs(Some(errno)))),
            }
        }
        opened.push(Opened {
            index,
            typ: ns.typ(),
            fd,
            path: path.clone(),
        });
    }
    Ok(opened)
}

/// The user namespace that owns the namespace `fd` is (ioctl NS_GET_USERNS): whose
/// capabilities a join of it needs (setns(2)).
pub fn owning_user_namespace(fd: &OwnedFd) -> Result<OwnedFd, Errno> {
    // SAFETY: NS_GET_USERNS takes no argument and returns a new descriptor.
    let owner = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_USERNS) };
    if owner < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the ioctl returned a descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(owner) })
}

/// The (device, inode) of an nsfs file: the namespace's identity.
pub fn identity(fd: &OwnedFd) -> Result<(u64, u64), Errno> {
    let stat = nix::sys::stat::fstat(fd.as_raw_fd())?;
    Ok((stat.st_dev, stat.st_ino))
}

/// Whether the user namespace `fd` is the one bulwark runs in: the engine's, which owns
/// the namespaces the engine made (a CNI network namespace).
pub fn is_own_user_namespace(fd: &OwnedFd) -> Result<bool, Errno> {
    let own = fs::metadata("/proc/self/ns/user").map_err(|e| errno_of(&e))?;
    Ok(identity(fd)? == (own.dev(), own.ino()))
}

/// Points each opened entry of `spec` at its descriptor (`/proc/self/fd/<n>`).
pub fn point_at_descriptors(opened: &[Opened], spec: &mut Spec) {
    set_paths(opened, spec, |o| {
        PathBuf::from(format!("/proc/self/fd/{}", o.fd.as_raw_fd()))
    });
}

/// Gives each opened entry of `spec` the engine's path again.
pub fn restore_paths(opened: &[Opened], spec: &mut Spec) {
    set_paths(opened, spec, |o| o.path.clone());
}

fn set_paths(opened: &[Opened], spec: &mut Spec, path: impl Fn(&Opened) -> PathBuf) {
    let Some(namespaces) = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.namespaces_mut().as_mut())
    else {
        return;
    };
    for entry in opened {
        if let Some(ns) = namespaces.get_mut(entry.index) {
            ns.set_path(Some(path(entry)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_namespaces_of_another_type_are_refused() {
        let file = tempfile::NamedTempFile::new().unwrap();
        assert_eq!(
            open_verified(LinuxNamespaceType::Network, file.path()).unwrap_err(),
            NamespacePathError::NotNamespace {
                expected: "network",
                found: "a regular file"
            }
        );
        assert!(matches!(
            open_verified(LinuxNamespaceType::Network, Path::new("/dev/null")).unwrap_err(),
            NamespacePathError::NotNamespace { .. }
        ));
        assert_eq!(
            open_verified(LinuxNamespaceType::Network, Path::new("/proc/self/ns/uts")).unwrap_err(),
            NamespacePathError::WrongType {
                expected: "network",
                found: "uts"
            }
        );
        // bulwark's own network namespace is the host's (or /proc/1's, in a sandbox).
        assert!(matches!(
            open_verified(LinuxNamespaceType::Network, Path::new("/proc/1/ns/net")).unwrap_err(),
            NamespacePathError::Host("network") | NamespacePathError::Open(_)
        ));
        assert!(matches!(
            open_verified(LinuxNamespaceType::Network, Path::new("/nonexistent")).unwrap_err(),
            NamespacePathError::Open(Errno::ENOENT)
        ));
    }
}
