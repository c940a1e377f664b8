//! CVE-2019-5736: a process in the container can open the runtime's binary through
//! `/proc/<pid>/exe` while the runtime joins the container, and overwrite it on the host.
//! The runtime must run from a copy nothing can write.
//!
//! pentacle copies the whole binary (16 MB) into a sealed memfd and re-executes from it:
//! 12-15 ms of CPU for every create, run and exec (issue #20). runc >= 1.2 first tries a
//! read-only overlayfs view of its own binary instead (libcontainer/dmz in runc), and so
//! does bulwark: a detached overlay mount (fsopen/fsmount, attached to no mount
//! namespace, so no one else sees it) whose lower layers are the binary's directory and
//! an empty private tmpfs, mounted read-only. Opening the binary through it for writing
//! fails with EROFS, whatever the path. Building it costs about 0.1 ms. Where the kernel
//! cannot (no new mount API, no `lowerdir+`, which is Linux 6.8, no overlayfs), or the
//! file found by path is not the one running, bulwark falls back to pentacle's copy.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOUNT_ATTR_RDONLY: libc::c_uint = 1;

/// Returns once this process runs from a binary nothing can write (a read-only overlay
/// view or pentacle's sealed memfd); otherwise re-executes itself from one, and returns
/// only the error of a re-execution that failed.
pub fn ensure() -> io::Result<()> {
    let exe = File::open("/proc/self/exe")?;
    if pentacle::is_sealed() || on_read_only_overlay(&exe)? {
        return Ok(());
    }
    match read_only_view(&exe) {
        Ok(view) => {
            let mut args = std::env::args_os();
            let arg0 = args.next().unwrap_or_else(|| OsString::from("bulwark"));
            // The descriptor is close-on-exec: execve opens the path first.
            let error = Command::new(format!("/proc/self/fd/{}", view.as_raw_fd()))
                .arg0(arg0)
                .args(args)
                .exec();
            Err(error)
        }
        // Logging is not set up yet, and the fallback is as safe: no message.
        Err(_) => pentacle::ensure_sealed(),
    }
}

/// Whether `exe` lies on a read-only overlay mount: the view [`ensure`] re-executed from.
fn on_read_only_overlay(exe: &File) -> io::Result<bool> {
    // SAFETY: fstatfs/fstatvfs fill the zeroed structs they are given.
    let (fs, vfs) = unsafe {
        let mut fs: libc::statfs = std::mem::zeroed();
        let mut vfs: libc::statvfs = std::mem::zeroed();
        if libc::fstatfs(exe.as_raw_fd(), &mut fs) != 0
            || libc::fstatvfs(exe.as_raw_fd(), &mut vfs) != 0
        {
            return Err(io::Error::last_os_error());
        }
        (fs, vfs)
    };
    Ok(fs.f_type == libc::OVERLAYFS_SUPER_MAGIC && vfs.f_flag & libc::ST_RDONLY != 0)
}

/// The running binary, opened through a new read-only overlay of its directory.
fn read_only_view(exe: &File) -> io::Result<File> {
    let path = std::fs::read_link("/proc/self/exe")?;
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::other("the binary's path has no directory"));
    };
    // The second lower layer: overlayfs needs two without an upper one, and they may not
    // overlap; an empty tmpfs of this process's own is neither the host's nor shared.
    let empty = detached_mount(c"tmpfs", &[])?;
    let empty_path = format!("/proc/self/fd/{}", empty.as_raw_fd());
    let overlay = detached_mount(c"overlay", &[dir, Path::new(&empty_path)])?;
    let name = CString::new(name.as_bytes()).map_err(io::Error::other)?;
    // SAFETY: `name` is NUL-terminated; the result is checked.
    let fd = unsafe {
        libc::openat(
            overlay.as_raw_fd(),
            name.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor nothing else owns.
    let view = unsafe { File::from_raw_fd(fd) };
    // The path may name another file by now: run only the one already running.
    let (running, found) = (exe.metadata()?, view.metadata()?);
    let same = running.size() == found.size()
        && running.mtime() == found.mtime()
        && running.mtime_nsec() == found.mtime_nsec()
        && running.ctime() == found.ctime()
        && running.ctime_nsec() == found.ctime_nsec();
    if !same || !on_read_only_overlay(&view)? {
        return Err(io::Error::other(
            "the binary at its path is not the one running",
        ));
    }
    Ok(view)
}

/// A new read-only mount of `fstype`, attached nowhere, with `lower` layers (overlayfs).
fn detached_mount(fstype: &std::ffi::CStr, lower: &[&Path]) -> io::Result<OwnedFd> {
    let check = |result: libc::c_long| -> io::Result<libc::c_long> {
        if result < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(result)
        }
    };
    // SAFETY: fsopen takes a NUL-terminated name; the result is checked.
    let context =
        check(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) })?;
    // SAFETY: a new descriptor nothing else owns.
    let context = unsafe { OwnedFd::from_raw_fd(context as RawFd) };
    for layer in lower {
        let layer = CString::new(layer.as_os_str().as_bytes()).map_err(io::Error::other)?;
        // SAFETY: key and value are NUL-terminated and outlive the call.
        check(unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                context.as_raw_fd(),
                FSCONFIG_SET_STRING,
                c"lowerdir+".as_ptr(),
                layer.as_ptr(),
                0,
            )
        })?;
    }
    // SAFETY: FSCONFIG_CMD_CREATE takes no key or value.
    check(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            context.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    })?;
    // SAFETY: fsmount on the configured context; the result is checked.
    let mount = check(unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            context.as_raw_fd(),
            FSMOUNT_CLOEXEC,
            MOUNT_ATTR_RDONLY,
        )
    })?;
    // SAFETY: a new descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(mount as RawFd) })
}
