//! The baseline's scratch space: the rootfs is always read-only, so where the engine
//! mounted nothing at a configured scratch directory (`baseline.scratch_dirs`: /tmp,
//! /var/tmp, /run), a bounded tmpfs goes there, with runc's `tmpcopyup` so that the
//! image's files in it stay visible (crate::scratch does the copy-up). Podman's
//! `--read-only` gives the same three; a process that finds no writable /tmp fails in
//! ways far from the cause. Not for a container with a user namespace, where the
//! copy-up cannot be done (crate::scratch): an empty tmpfs would hide what the image
//! keeps there.

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::io::AsRawFd;
use std::path::{Component, Path, PathBuf};

use libcontainer::oci_spec::runtime::{Mount, MountBuilder};
use nix::errno::Errno;
use nix::fcntl::{open, openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;
use serde_json::Value;

use super::Change;
use crate::config::BaselineConfig;
use crate::scratch::TMPCOPYUP;

/// Adds a tmpfs at each scratch directory no mount in `mounts` has as its destination.
/// Each goes as early as it can: right after the last mount at one of its parents (a
/// volume at /var holds /var/tmp), before every other mount. A mount below it would
/// otherwise be covered, and "below" is not a matter of spelling: kubelet binds the
/// service account token at /var/run/secrets/…, which libcontainer resolves through the
/// image's /var/run -> /run link to below /run.
pub(super) fn add(
    config: &BaselineConfig,
    rootfs: &Path,
    mounts: &mut Vec<Mount>,
    changes: &mut Vec<Change>,
) {
    let mut added = Vec::new();
    for dir in &config.scratch_dirs {
        if mounts.iter().any(|m| normal(m.destination()) == *dir) {
            continue;
        }
        if !mountable(rootfs, dir) {
            tracing::debug!(dir = %dir.display(), "no scratch tmpfs: a link on the way dangles in the rootfs");
            continue;
        }
        let at = mounts
            .iter()
            .rposition(|m| dir.starts_with(normal(m.destination())))
            .map_or(0, |parent| parent + 1);
        mounts.insert(at, tmpfs(config, dir));
        added.push(dir);
    }
    // Recorded once all are in place, so each names its index in the finished list.
    for (index, mount) in mounts.iter().enumerate() {
        if !added.iter().any(|dir| mount.destination() == *dir) {
            continue;
        }
        changes.push(Change {
            control: "scratch-dirs",
            path: format!("mounts[{index}]"),
            before: Value::Null,
            after: serde_json::to_value(mount).unwrap_or(Value::Null),
            reason: "the rootfs is read-only: a bounded tmpfs (baseline.tmpfs_size_bytes) \
                     holds the image's contents and the process's writes here \
                     (baseline.scratch_dirs)",
        });
    }
}

/// Whether libcontainer can mount on `dir` in `rootfs`: it resolves there (links
/// followed inside the rootfs, as libpathrs does) to a directory, or is missing with no
/// link on the way, so that libcontainer creates it. Through a link that dangles in the
/// rootfs (`/run -> /host/dir`) libcontainer's mkdir fails and with it the container,
/// which ran before the scratch tmpfs existed: the directory is left read-only instead.
/// An unreadable rootfs is the pipeline's to refuse; here it leaves the decision to
/// libcontainer.
fn mountable(rootfs: &Path, dir: &Path) -> bool {
    let Ok(root) = open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) else {
        return true;
    };
    // SAFETY: open returned a new descriptor that nothing else owns.
    let root = unsafe { OwnedFd::from_raw_fd(root) };
    let relative = dir.strip_prefix("/").unwrap_or(dir);
    let resolve = |extra: ResolveFlag| {
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS | extra);
        openat2(root.as_raw_fd(), relative, how).map(|fd| {
            // SAFETY: openat2 returned a new descriptor that nothing else owns.
            drop(unsafe { OwnedFd::from_raw_fd(fd) })
        })
    };
    match resolve(ResolveFlag::empty()) {
        Ok(()) => true,
        Err(Errno::ENOENT) => resolve(ResolveFlag::RESOLVE_NO_SYMLINKS) == Err(Errno::ENOENT),
        Err(_) => false,
    }
}

fn tmpfs(config: &BaselineConfig, dir: &Path) -> Mount {
    let mut options = vec!["nosuid".to_owned(), "nodev".to_owned()];
    if config.tmpfs_noexec {
        options.push("noexec".to_owned());
    }
    options.push(format!("size={}", config.tmpfs_size_bytes));
    options.push(TMPCOPYUP.to_owned());
    MountBuilder::default()
        .destination(dir)
        .typ("tmpfs")
        .source("tmpfs")
        .options(options)
        .build()
        .expect("every field of a scratch mount is set")
}

/// A destination as the comparison needs it: without `.` components, repeated or
/// trailing slashes. (`..` is kept: libcontainer resolves it in the rootfs, so such a
/// destination is never taken for a scratch directory.)
fn normal(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(destination: &str, typ: &str) -> Mount {
        MountBuilder::default()
            .destination(destination)
            .typ(typ)
            .source(typ)
            .build()
            .unwrap()
    }

    #[test]
    fn scratch_dirs_go_where_the_engine_mounted_nothing_before_all_but_their_parents() {
        let config = BaselineConfig::default();
        let mut mounts = vec![
            mount("/proc", "proc"),
            mount("/tmp/", "tmpfs"),
            mount("/var", "bind"),
            mount("/var/run/secrets/kubernetes.io/serviceaccount", "bind"),
            mount("/run/.containerenv", "bind"),
        ];
        let mut changes = Vec::new();
        add(
            &config,
            Path::new("/nonexistent"),
            &mut mounts,
            &mut changes,
        );
        let destinations: Vec<_> = mounts
            .iter()
            .map(|m| m.destination().to_str().unwrap())
            .collect();
        assert_eq!(
            destinations,
            [
                "/run",
                "/proc",
                "/tmp/",
                "/var",
                "/var/tmp",
                "/var/run/secrets/kubernetes.io/serviceaccount",
                "/run/.containerenv"
            ]
        );
        assert_eq!(
            changes.iter().map(|c| c.path.as_str()).collect::<Vec<_>>(),
            ["mounts[0]", "mounts[4]"]
        );
        assert_eq!(
            mounts[0].options().as_ref().unwrap(),
            &["nosuid", "nodev", "size=67108864", "tmpcopyup"]
        );
    }

    #[test]
    fn no_scratch_tmpfs_through_a_link_that_dangles_in_the_rootfs() {
        let rootfs = tempfile::tempdir().unwrap();
        let host = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(host.path(), rootfs.path().join("run")).unwrap();
        std::fs::create_dir(rootfs.path().join("var")).unwrap();
        std::os::unix::fs::symlink("/var/tmp", rootfs.path().join("tmp")).unwrap();
        let mut mounts = Vec::new();
        add(
            &BaselineConfig::default(),
            rootfs.path(),
            &mut mounts,
            &mut Vec::new(),
        );
        let destinations: Vec<_> = mounts
            .iter()
            .map(|m| m.destination().to_str().unwrap())
            .collect();
        // /var/tmp is missing with no link on the way: libcontainer makes it.
        assert_eq!(destinations, ["/var/tmp"]);
    }

    #[test]
    fn no_scratch_dirs_adds_nothing() {
        let config = BaselineConfig {
            scratch_dirs: Vec::new(),
            ..BaselineConfig::default()
        };
        let mut mounts = vec![mount("/proc", "proc")];
        let mut changes = Vec::new();
        add(
            &config,
            Path::new("/nonexistent"),
            &mut mounts,
            &mut changes,
        );
        assert_eq!((mounts.len(), changes.len()), (1, 0));
    }
}
