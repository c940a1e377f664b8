//! A user namespace descriptor carrying a container's id mappings, for
//! `mount_setattr(MOUNT_ATTR_IDMAP)`.
//!
//! The kernel takes an idmapped mount's mapping from a user namespace, named by a
//! descriptor (mount_setattr(2)). The container's own namespace does not exist yet when
//! the rootfs is staged (libcontainer makes it in the init), so a child is cloned into a
//! new user namespace, bulwark writes the container's maps for it as runc's and
//! Podman's `newuidmap` paths do, keeps `/proc/<child>/ns/user` open, and lets the child
//! go: the namespace lives as long as the descriptor (and the mounts idmapped by it).

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};

use libcontainer::oci_spec::runtime::LinuxIdMapping;
use nix::sys::wait::waitpid;
use nix::unistd::{pipe2, Pid};

/// A user namespace with these uid and gid mappings.
pub fn with_mappings(
    uids: &[LinuxIdMapping],
    gids: &[LinuxIdMapping],
) -> Result<OwnedFd, io::Error> {
    let (wait_end, release_end) = pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let flags = (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: clone without CLONE_VM and with no new stack has fork's semantics; the
    // child only makes raw system calls (close, read, _exit), which are
    // async-signal-safe in a copy of a multithreaded process.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    if pid == 0 {
        // SAFETY: see above; the child waits for the parent to close the pipe, then exits
        // without running any destructor of the parent's state.
        unsafe {
            libc::close(release_end.as_raw_fd());
            let mut byte = 0u8;
            libc::read(wait_end.as_raw_fd(), (&raw mut byte).cast(), 1);
            libc::_exit(0);
        }
    }
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    let child = Pid::from_raw(pid as libc::pid_t);
    drop(wait_end);
    let namespace = write_maps(child, uids, gids)
        .and_then(|()| File::open(format!("/proc/{child}/ns/user")).map(OwnedFd::from));
    // Closing the pipe lets the child exit; it is reaped before returning.
    drop(release_end);
    waitpid(child, None)?;
    namespace
}

fn write_maps(
    child: Pid,
    uids: &[LinuxIdMapping],
    gids: &[LinuxIdMapping],
) -> Result<(), io::Error> {
    for (file, mappings) in [("uid_map", uids), ("gid_map", gids)] {
        // One write(2): the kernel accepts a map file's contents only once, whole.
        let text: String = mappings
            .iter()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect();
        fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/{child}/{file}"))?
            .write_all(text.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use libcontainer::oci_spec::runtime::LinuxIdMappingBuilder;

    #[test]
    fn the_namespace_carries_the_mappings() {
        let range = |host: u32| {
            LinuxIdMappingBuilder::default()
                .container_id(0u32)
                .host_id(host)
                .size(65536u32)
                .build()
                .unwrap()
        };
        let fd = with_mappings(&[range(1 << 30)], &[range(1 << 29)]).unwrap();
        let own = fs::read_link("/proc/self/ns/user").unwrap();
        let made = fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
        assert_ne!(own, made);
    }
}
