//! The supplementary groups an image gives root, so that a process bulwark remaps from
//! uid 0 does not keep them (issue #16 item 9).
//!
//! Engines fill `process.user.additionalGids` from the image's `/etc/group` for the
//! user the process runs as (containerd's `WithAdditionalGIDs`, Podman's user lookup):
//! for root in busybox that is `wheel`. When the baseline turns uid 0 into the
//! configured non-root user, those groups are root's, not that user's; the groups the
//! caller asked for by number (Kubernetes `supplementalGroups` and `fsGroup`, Podman
//! `--group-add`) stay.
//!
//! `/etc/group` is looked up with openat2(RESOLVE_IN_ROOT), so a link in the image
//! resolves as it would inside the container and never reaches the host's file, and it
//! is read with a size limit. When the file exists but cannot be read as a group file,
//! bulwark cannot tell root's groups from the caller's and every supplementary group of
//! the remapped process is dropped (fewer groups, never more).

use std::collections::BTreeSet;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{open, openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

use crate::bounded_read::read_bounded;

/// Larger than any real image's group file; a bigger one is not read.
const GROUP_FILE_LIMIT: u64 = 1 << 20;

/// openat2 answers EAGAIN when a rename on the host raced a lookup that crossed `..`
/// (openat2(2)); the lookup is retried for this long.
const RACE_RETRY_FOR: Duration = Duration::from_millis(250);

/// The member name whose memberships are root's. Every image bulwark has seen names
/// uid 0 `root`; an image that names it otherwise simply has no groups listed here.
const ROOT_NAME: &str = "root";

/// What the image says about root's supplementary groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootGroups {
    /// The gids of the groups whose member list names root (none without a group file).
    Listed(BTreeSet<u32>),
    /// The group file exists but could not be read (why): every group is dropped.
    Unknown(String),
}

impl Default for RootGroups {
    /// No image to consult: nothing beyond gid 0 is known to be root's.
    fn default() -> Self {
        Self::Listed(BTreeSet::new())
    }
}

impl RootGroups {
    /// Root's groups in the image at `rootfs`.
    pub fn of_rootfs(rootfs: &Path) -> Self {
        match read_group_file(rootfs) {
            Ok(Some(text)) => Self::Listed(parse_root_groups(&text)),
            Ok(None) => Self::default(),
            Err(reason) => Self::Unknown(format!(
                "{}/etc/group cannot be read ({reason})",
                rootfs.display()
            )),
        }
    }

    /// Root's groups in the image at a spec's `root.path` (`None`: the spec has none);
    /// without an absolute path there is no image to consult, and no group is kept.
    pub fn of_root_path(rootfs: Option<&Path>) -> Self {
        match rootfs {
            Some(rootfs) if rootfs.is_absolute() => Self::of_rootfs(rootfs),
            _ => Self::Unknown("root.path is not an absolute path".to_owned()),
        }
    }

    /// Whether a remapped root keeps supplementary group `gid`.
    pub fn keeps(&self, gid: u32) -> bool {
        match self {
            Self::Listed(root_groups) => gid != 0 && !root_groups.contains(&gid),
            Self::Unknown(_) => false,
        }
    }
}

/// The image's `/etc/group`, or None when the image has none (distroless images often
/// have no group file, and then gave root no groups).
fn read_group_file(rootfs: &Path) -> Result<Option<String>, String> {
    let root = match open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        // SAFETY: open returned a new descriptor that nothing else owns.
        Ok(fd) => unsafe { OwnedFd::from_raw_fd(fd) },
        Err(errno) => return Err(format!("the rootfs: {errno}")),
    };
    // O_PATH first: opening a device node the image holds could act on the device.
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let deadline = Instant::now() + RACE_RETRY_FOR;
    let handle = loop {
        match openat2(root.as_raw_fd(), "etc/group", how) {
            // SAFETY: openat2 returned a new descriptor that nothing else owns.
            Ok(fd) => break File::from(unsafe { OwnedFd::from_raw_fd(fd) }),
            Err(Errno::ENOENT) => return Ok(None),
            Err(Errno::EAGAIN) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(errno) => return Err(errno.to_string()),
        }
    };
    match handle.metadata() {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => return Err("not a regular file".to_owned()),
        Err(e) => return Err(e.to_string()),
    }
    // Reopened through the handle: the file that was checked is the file read.
    let file =
        File::open(format!("/proc/self/fd/{}", handle.as_raw_fd())).map_err(|e| e.to_string())?;
    let bytes = read_bounded(file, GROUP_FILE_LIMIT).map_err(|e| e.to_string())?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| "not UTF-8".to_owned())
}

/// The gids of `group(5)` lines (`name:password:gid:member,member`) that list root as a
/// member. Lines that do not parse name no group of root's.
fn parse_root_groups(text: &str) -> BTreeSet<u32> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let (_name, _password) = (fields.next()?, fields.next()?);
            let gid = fields.next()?.trim().parse::<u32>().ok()?;
            let members = fields.next()?;
            members
                .split(',')
                .any(|member| member.trim() == ROOT_NAME)
                .then_some(gid)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    const BUSYBOX_GROUP: &str = "root:x:0:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\nadm:x:4:\n\
                                 tty:x:5:\ndisk:x:6:\nwheel:x:10:root\nstaff:x:50:alice,root\n\
                                 nogroup:x:65534:\n";

    fn rootfs_with_group(text: &str) -> tempfile::TempDir {
        let rootfs = tempfile::tempdir().unwrap();
        fs::create_dir(rootfs.path().join("etc")).unwrap();
        fs::write(rootfs.path().join("etc/group"), text).unwrap();
        rootfs
    }

    #[test]
    fn roots_memberships_are_found() {
        let rootfs = rootfs_with_group(BUSYBOX_GROUP);
        let groups = RootGroups::of_rootfs(rootfs.path());
        assert_eq!(groups, RootGroups::Listed([10, 50].into_iter().collect()));
        assert!(!groups.keeps(0) && !groups.keeps(10) && !groups.keeps(50));
        assert!(groups.keeps(1) && groups.keeps(2000));
    }

    #[test]
    fn malformed_lines_name_no_group() {
        let groups = parse_root_groups("wheel:x:ten:root\nshort:x\n:x:7:root\nok:x:8: root \n");
        assert_eq!(groups, [7, 8].into_iter().collect());
    }

    #[test]
    fn an_image_without_a_group_file_gave_root_nothing() {
        let rootfs = tempfile::tempdir().unwrap();
        assert_eq!(RootGroups::of_rootfs(rootfs.path()), RootGroups::default());
    }

    #[test]
    fn a_link_out_of_the_rootfs_reads_the_images_file_never_the_hosts() {
        // /etc/group -> /../../../etc/group resolves to the image's own /etc/group.
        let rootfs = tempfile::tempdir().unwrap();
        fs::create_dir_all(rootfs.path().join("etc")).unwrap();
        fs::create_dir_all(rootfs.path().join("data")).unwrap();
        fs::write(rootfs.path().join("data/group"), "wheel:x:10:root\n").unwrap();
        symlink("/../../../../data/group", rootfs.path().join("etc/group")).unwrap();
        assert_eq!(
            RootGroups::of_rootfs(rootfs.path()),
            RootGroups::Listed([10].into_iter().collect())
        );
    }

    #[test]
    fn an_unreadable_group_file_drops_every_group() {
        let rootfs = tempfile::tempdir().unwrap();
        fs::create_dir_all(rootfs.path().join("etc/group")).unwrap();
        let groups = RootGroups::of_rootfs(rootfs.path());
        assert!(matches!(&groups, RootGroups::Unknown(why) if why.contains("regular file")));
        assert!(!groups.keeps(2000));
        assert!(matches!(
            RootGroups::of_rootfs(Path::new("/nonexistent/rootfs")),
            RootGroups::Unknown(_)
        ));
    }
}
