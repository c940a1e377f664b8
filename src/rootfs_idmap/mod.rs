//! The rootfs of a container in a user namespace bulwark gave it
//! (`baseline.user_namespace.mode = "auto"`, issue #19 Phase 1), seen through an
//! idmapped, read-only mount.
//!
//! The engine unpacked the image for the host's ids: a file of the image's user 65532 is
//! owned by host uid 65532. In auto mode the container's 65532 is another host uid (its
//! leased range), so without a mapped view every file shows as the overflow id and the
//! image user's own 0700 files are closed to it (EACCES). An idmapped mount
//! (mount_setattr(2) `MOUNT_ATTR_IDMAP`, Linux 5.12) shows the engine's files through the
//! container's mapping: host uid n appears as container uid n, the files keep their
//! owners and modes, and the engine's rootfs is not chowned (Podman's `--userns=auto`
//! copies or chowns the image instead).
//!
//! [`stage`] opens the rootfs once (no link followed), decides on that descriptor what
//! it is (statx mount id → its mountinfo line, fstatfs), and attaches the view at
//! `<root>/@bulwark/<id>/rootfs`, which the effective spec then names as `root.path`:
//! - a directory on a filesystem that supports idmapped mounts (ext4, xfs, btrfs, tmpfs
//!   from 6.3): `open_tree(OPEN_TREE_CLONE | AT_RECURSIVE)` of the descriptor, then
//!   `mount_setattr(MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY)`, as libcontainer's own bind
//!   of the rootfs is recursive (rootfs/rootfs.rs:69);
//! - the root of an overlay: rebuilt read-only from idmapped layers (see `overlay`).
//!
//! Read-only from the start, where the baseline's `root.readonly` only remounts it at the
//! end of libcontainer's setup: the mount points the image lacks are made in the
//! engine's rootfs first, as libcontainer makes them without a user namespace (see
//! `mount_points`). Where the kernel or the filesystem cannot idmap, the create is
//! refused naming the rootfs, its filesystem and what is needed: the container would
//! otherwise run with files it cannot read, or its ids would have to be shared again.
//!
//! The view leaves the host's tree once libcontainer's init has cloned it into the
//! container's mount namespace ([`unstage`], after build, as staged binds), and
//! `delete --force` after a create killed at any point removes it too.

mod mount_points;
mod overlay;
mod userns;

use std::fs::{self, DirBuilder};
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use libcontainer::oci_spec::runtime::{LinuxIdMapping, Mount, Spec};
use libcontainer::syscall::linux::{LinuxSyscall, MountAttr, MOVE_MOUNT_F_EMPTY_PATH};
use libcontainer::syscall::{Syscall, SyscallError};
use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::mount::{mount, MsFlags};

use crate::baseline::{user_namespace, Change};
use crate::binds::{self, StageError};
use crate::user_namespace_staging::{self, StagingError};

/// Where the view is attached in the container's private directory.
const VIEW: &str = "rootfs";
/// Where an overlay's idmapped layers are attached while the new overlay is mounted.
const LAYERS: &str = "rootfs-layers";
/// mount(2) copies at most one page of filesystem options.
const MOUNT_DATA_MAX: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum IdmapError {
    #[error("baseline.user-namespace: cannot open the rootfs {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error(
        "baseline.user-namespace: baseline.user_namespace.mode = \"auto\" runs the \
         container on a host id range of its own, and the image's files keep their owners \
         only through an idmapped view of its rootfs; the rootfs {path} ({fstype}) cannot \
         have one: {reason}. Needed: Linux 5.12 or later and a filesystem that supports \
         idmapped mounts (ext4, xfs, btrfs; tmpfs from Linux 6.3; an overlay is rebuilt \
         from its idmapped layers, from Linux 5.19), or mode = \"off\""
    )]
    Unsupported {
        path: PathBuf,
        fstype: String,
        reason: String,
    },
    #[error(transparent)]
    Staging(#[from] StagingError),
    #[error("baseline.user-namespace: {0}")]
    Detach(#[from] StageError),
    #[error("baseline.user-namespace: cannot {action} {path} for the rootfs view: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> IdmapError + 'a {
    move |source| IdmapError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

fn errno_of(error: SyscallError) -> io::Error {
    match error {
        SyscallError::Nix(errno) => errno.into(),
        SyscallError::IO(error) => error,
        other => io::Error::other(other),
    }
}

/// Stages the view for a container the baseline gave its user namespace, its own or
/// its pod sandbox's (`changes`),
/// in its private directory `private`, and points `root.path` at it. Returns the
/// engine's rootfs, which [`restore`] puts back once libcontainer has built the
/// container; `None` for a container without one of bulwark's user namespaces (an
/// engine that brings its own maps the rootfs itself, as Podman's `--userns` does).
pub fn stage_if_needed(
    changes: &[Change],
    spec: &mut Spec,
    private: &Path,
) -> Result<Option<PathBuf>, IdmapError> {
    if !user_namespace::is_bulwarks(changes) {
        return Ok(None);
    }
    // libcontainer's init resolves `root.path` as the namespace's root.
    if let Some(root) = user_namespace_staging::namespace_root(spec)? {
        user_namespace_staging::require_reachable(private, root)?;
    }
    stage(spec, private).map(Some)
}

fn stage(spec: &mut Spec, private: &Path) -> Result<PathBuf, IdmapError> {
    let rootfs = spec
        .root()
        .as_ref()
        .map(|r| r.path().clone())
        .unwrap_or_default();
    let linux = spec.linux().clone().unwrap_or_default();
    let namespace = userns::with_mappings(
        linux.uid_mappings().as_deref().unwrap_or_default(),
        linux.gid_mappings().as_deref().unwrap_or_default(),
    )
    .map_err(io_err(
        "make a user namespace with the container's mappings",
        &rootfs,
    ))?;
    let view = private.join(VIEW);
    let mounts = spec.mounts().clone().unwrap_or_default();
    attach_view(&rootfs, &mounts, namespace.as_fd(), private)?;
    tracing::debug!(rootfs = %rootfs.display(), view = %view.display(), "idmapped rootfs view staged");
    // The baseline's own binds from inside the rootfs (the cgroup v1 read-only cover,
    // crate::baseline::mounts) are resolved in the container's mount namespace, where
    // the view is the rootfs libcontainer mounted on: under the engine's path they
    // would bind the engine's directory, unmapped and without the mounts made there.
    move_root(spec, &rootfs, &view);
    Ok(rootfs)
}

/// Names the engine's rootfs in the spec again: the view is gone after build, and exec
/// (libcontainer's tenant builder canonicalizes `root.path`) reads the saved spec.
pub fn restore(spec: &mut Spec, rootfs: Option<PathBuf>) {
    let Some(rootfs) = rootfs else {
        return;
    };
    let view = spec
        .root()
        .as_ref()
        .map(|r| r.path().clone())
        .unwrap_or_default();
    move_root(spec, &view, &rootfs);
}

/// Points `root.path` from `from` to `to`, and every mount source under `from` to the
/// same place under `to`.
fn move_root(spec: &mut Spec, from: &Path, to: &Path) {
    for mount in spec.mounts_mut().iter_mut().flatten() {
        let moved = mount
            .source()
            .as_ref()
            .and_then(|source| source.strip_prefix(from).ok())
            .map(|relative| to.join(relative));
        if let Some(moved) = moved {
            mount.set_source(Some(moved));
        }
    }
    if let Some(root) = spec.root_mut() {
        root.set_path(to.to_owned());
    }
}

/// Opens `rootfs` with no link followed on the way: the path was canonical when the
/// pipeline resolved it, so a link now is a swap since.
fn open_rootfs(rootfs: &Path) -> Result<OwnedFd, IdmapError> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = openat2(libc::AT_FDCWD, rootfs, how).map_err(|errno| IdmapError::Open {
        path: rootfs.to_owned(),
        source: errno.into(),
    })?;
    // SAFETY: openat2 returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The mount id of the mount `fd` is on, and whether `fd` is that mount's root.
fn mount_of(fd: &OwnedFd) -> io::Result<(u64, bool)> {
    // SAFETY: statx fills the zeroed struct it is given; the path is a C string.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    let ret = unsafe {
        libc::statx(
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            libc::STATX_MNT_ID,
            &mut stx,
        )
    };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    if stx.stx_mask & libc::STATX_MNT_ID == 0 {
        return Err(io::Error::other(
            "the kernel reports no mount id (statx, Linux 5.8)",
        ));
    }
    let is_root = stx.stx_attributes & libc::STATX_ATTR_MOUNT_ROOT as u64 != 0;
    Ok((stx.stx_mnt_id, is_root))
}

fn is_overlay(fd: &OwnedFd) -> io::Result<bool> {
    // SAFETY: fstatfs fills the zeroed struct it is given.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatfs(fd.as_raw_fd(), &mut fs) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fs.f_type == libc::OVERLAYFS_SUPER_MAGIC)
}

/// Attaches the view of `rootfs` at `<private>/rootfs`.
fn attach_view(
    rootfs: &Path,
    mounts_of_spec: &[Mount],
    namespace: std::os::fd::BorrowedFd<'_>,
    private: &Path,
) -> Result<(), IdmapError> {
    let fd = open_rootfs(rootfs)?;
    let (mount_id, is_mount_root) = mount_of(&fd).map_err(io_err("inspect", rootfs))?;
    let mounts = overlay::mounts().map_err(io_err(
        "read the mounts of",
        Path::new("/proc/self/mountinfo"),
    ))?;
    let info = mounts
        .iter()
        .find(|m| m.id == mount_id)
        .ok_or_else(|| io_err("find the mount of", rootfs)(io::ErrorKind::NotFound.into()))?;
    let unsupported = |reason: String| IdmapError::Unsupported {
        path: rootfs.to_owned(),
        fstype: info.fstype.clone(),
        reason,
    };
    let view = private.join(VIEW);
    DirBuilder::new()
        .mode(0o700)
        .create(&view)
        .map_err(io_err("create", &view))?;
    // The mount points are made once the rootfs is known to get its view: a refused
    // create leaves the engine's rootfs as it was.
    if !is_overlay(&fd).map_err(io_err("inspect", rootfs))? {
        let tree = idmapped_clone(&fd, namespace, true).map_err(unsupported)?;
        mount_points::make_missing(&fd, mounts_of_spec);
        return attach(&tree, &view);
    }
    if !is_mount_root || info.root != "/" {
        return Err(unsupported(
            "it is a directory inside an overlay mount, and only a whole overlay can be \
             rebuilt from idmapped layers"
                .to_owned(),
        ));
    }
    if let Some(child) = mounts.iter().find(|m| m.parent == mount_id) {
        return Err(unsupported(format!(
            "{} is mounted inside it, which the rebuilt overlay would not show",
            child.mount_point.display()
        )));
    }
    let layers = overlay::layers(&info.super_options).map_err(unsupported)?;
    // Before the layers are cloned: overlayfs does not expect its layers to change
    // under a mounted overlay.
    mount_points::make_missing(&fd, mounts_of_spec);
    let layers_dir = private.join(LAYERS);
    let rebuilt = rebuild_overlay(&layers, info, namespace, &layers_dir, &view);
    // The overlay holds private clones of its layers (overlayfs clone_private_mount):
    // the attached ones leave the host's tree whether it was mounted or not.
    let detached = binds::unstage(&layers_dir);
    rebuilt.map_err(|reason| match reason {
        Rebuild::Unsupported(reason) => unsupported(reason),
        Rebuild::Io(error) => error,
    })?;
    Ok(detached?)
}

enum Rebuild {
    Unsupported(String),
    Io(IdmapError),
}

fn rebuild_overlay(
    layers: &overlay::Layers,
    info: &overlay::MountInfo,
    namespace: std::os::fd::BorrowedFd<'_>,
    layers_dir: &Path,
    view: &Path,
) -> Result<(), Rebuild> {
    DirBuilder::new()
        .mode(0o700)
        .create(layers_dir)
        .map_err(|e| Rebuild::Io(io_err("create", layers_dir)(e)))?;
    let mut lowerdir = Vec::new();
    for (n, layer) in layers.top_first.iter().enumerate() {
        // A layer is a directory of the engine's storage, which only root can change;
        // its name comes from the kernel's record of the overlay, not from the spec.
        let how = OpenHow::new().flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC);
        let fd = openat2(libc::AT_FDCWD, layer, how)
            .map(|fd| {
                // SAFETY: openat2 returned a new descriptor that nothing else owns.
                unsafe { OwnedFd::from_raw_fd(fd) }
            })
            .map_err(|errno| Rebuild::Io(io_err("open the overlay layer", layer)(errno.into())))?;
        let tree = idmapped_clone(&fd, namespace, false).map_err(|reason| {
            Rebuild::Unsupported(format!("layer {}: {reason}", layer.display()))
        })?;
        let point = layers_dir.join(n.to_string());
        DirBuilder::new()
            .mode(0o700)
            .create(&point)
            .map_err(|e| Rebuild::Io(io_err("create", &point)(e)))?;
        attach(&tree, &point).map_err(Rebuild::Io)?;
        lowerdir.push(point.display().to_string());
    }
    let mut data = format!("lowerdir={}", lowerdir.join(":"));
    for option in &layers.keep {
        data.push(',');
        data.push_str(option);
    }
    if data.len() >= MOUNT_DATA_MAX {
        return Err(Rebuild::Unsupported(format!(
            "its {} layers do not fit in one page of mount options",
            lowerdir.len()
        )));
    }
    let flags = MsFlags::MS_RDONLY | overlay::kept_flags(&info.mount_options);
    mount(
        Some("overlay"),
        view,
        Some("overlay"),
        flags,
        Some(data.as_str()),
    )
    .map_err(|errno| {
        Rebuild::Unsupported(format!(
            "the kernel refuses an overlay of its idmapped layers ({errno})"
        ))
    })
}

/// A detached, idmapped, read-only clone of the mount at `fd` (with its submounts when
/// `recursive`), or why the kernel refuses it.
fn idmapped_clone(
    fd: &OwnedFd,
    namespace: std::os::fd::BorrowedFd<'_>,
    recursive: bool,
) -> Result<OwnedFd, String> {
    let syscall = LinuxSyscall;
    let recursive_flag = if recursive {
        libc::AT_RECURSIVE as u32
    } else {
        0
    };
    let tree = syscall
        .open_tree(
            fd.as_raw_fd(),
            None,
            libc::OPEN_TREE_CLONE
                | libc::OPEN_TREE_CLOEXEC
                | libc::AT_EMPTY_PATH as u32
                | recursive_flag,
        )
        .map_err(|e| format!("open_tree: {}", errno_of(e)))?;
    let attr = MountAttr {
        attr_set: libc::MOUNT_ATTR_IDMAP | libc::MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: namespace.as_raw_fd() as u64,
    };
    syscall
        .mount_setattr(
            tree.as_fd(),
            Path::new(""),
            libc::AT_EMPTY_PATH as u32 | recursive_flag,
            &attr,
            std::mem::size_of::<MountAttr>(),
        )
        .map_err(|e| match errno_of(e).raw_os_error().map(Errno::from_raw) {
            Some(Errno::ENOSYS) => "the kernel has no mount_setattr(2) (ENOSYS)".to_owned(),
            Some(Errno::EINVAL) => {
                "the kernel refuses to idmap a mount of this filesystem (mount_setattr: EINVAL)"
                    .to_owned()
            }
            Some(errno) => format!("mount_setattr: {errno}"),
            None => "mount_setattr failed".to_owned(),
        })?;
    Ok(tree)
}

fn attach(tree: &OwnedFd, point: &Path) -> Result<(), IdmapError> {
    let (parent, name) = match (point.parent(), point.file_name().and_then(|n| n.to_str())) {
        (Some(parent), Some(name)) => (parent, name),
        _ => {
            return Err(io_err("attach at", point)(
                io::ErrorKind::InvalidInput.into(),
            ))
        }
    };
    let parent_fd: OwnedFd = fs::OpenOptions::new()
        .read(true)
        // A directory, never a link to one.
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(parent)
        .map_err(io_err("open", parent))?
        .into();
    LinuxSyscall
        .move_mount(
            tree.as_fd(),
            None,
            parent_fd.as_fd(),
            Some(name),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
        .map_err(|e| io_err("attach the view at", point)(errno_of(e)))
}

/// Removes the view of the container whose private directory is `private`, and any
/// layer a killed create left attached. Nothing staged is not an error: `delete
/// --force` after a create killed at any point calls this.
pub fn unstage(private: &Path) -> Result<(), IdmapError> {
    binds::unstage(&private.join(LAYERS))?;
    Ok(binds::detach(&private.join(VIEW))?)
}

/// Whether this host can idmap a mount of the filesystem holding `path`, for `doctor`:
/// an idmapped clone is made with a throwaway mapping and dropped unattached.
pub fn check_host(path: &Path) -> Result<String, String> {
    let mapping = libcontainer::oci_spec::runtime::LinuxIdMappingBuilder::default()
        .container_id(0u32)
        .host_id(1u32 << 30)
        .size(65536u32)
        .build()
        .map_err(|e| e.to_string())?;
    let ranges: [LinuxIdMapping; 1] = [mapping];
    let namespace = userns::with_mappings(&ranges, &ranges)
        .map_err(|e| format!("cannot make a user namespace with a mapping: {e}"))?;
    let fd = open_rootfs(path).map_err(|e| e.to_string())?;
    let (mount_id, _) = mount_of(&fd).map_err(|e| e.to_string())?;
    let fstype = overlay::mounts()
        .ok()
        .and_then(|mounts| mounts.into_iter().find(|m| m.id == mount_id))
        .map_or_else(|| "unknown".to_owned(), |m| m.fstype);
    idmapped_clone(&fd, namespace.as_fd(), false)
        .map(|_| fstype.clone())
        .map_err(|reason| format!("{} ({fstype}): {reason}", path.display()))
}
