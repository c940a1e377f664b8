//! Distroless images only (seeds: "non-distroless images"): a rootfs that holds a shell
//! or a package manager gives an attacker who gets code execution the tools to
//! persist and move on.
//!
//! Each configured path is looked up in the rootfs with openat2(RESOLVE_IN_ROOT), so
//! symlinks resolve the way they would inside the container (`/bin/sh -> busybox` is
//! found; `/bin/sh -> /../../host/bin/sh` stays inside) and nothing outside the rootfs is
//! ever touched. The cost is one syscall per configured path, whatever the image size.

use std::fs::File;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;
use serde_json::Value;

use super::{show, Findings, Input};

pub const DISTROLESS: &str = "images.distroless";

/// openat2 returns EAGAIN when any rename or mount on the host raced a lookup that
/// crossed `..` (openat2(2)); retrying is the documented answer. On a busy node (other
/// containers starting) a few immediate retries can all race, so retries go on, a
/// millisecond apart, for this long; a rootfs that keeps racing is refused.
const RACE_RETRY_FOR: std::time::Duration = std::time::Duration::from_millis(250);

pub fn no_shell(input: &Input, out: &mut Findings) {
    let forbidden = &input.config.distroless.forbidden_paths;
    if forbidden.is_empty() {
        return;
    }
    // A missing root.path is refused later, when the spec is parsed.
    let Some(root) = input.spec.pointer("/root/path").and_then(Value::as_str) else {
        return;
    };
    let rootfs = input.bundle.join(root);
    match present(&rootfs, forbidden) {
        Ok(found) if found.is_empty() => {}
        Ok(found) => {
            let found: Vec<String> = found.iter().map(|p| p.display().to_string()).collect();
            out.push(
                "root.path",
                format!("{} with {}", show(&input.spec["root"]["path"]), found.join(", ")),
                "a distroless image: no shell or package manager (admission.distroless.forbidden_paths)",
            );
        }
        // No rootfs to inspect (`bulwark validate FILE` of a spec alone); create
        // refuses a missing rootfs when it resolves root.path.
        Err(Errno::ENOENT) if !rootfs.exists() => {}
        Err(e) => out.push(
            "root.path",
            show(&input.spec["root"]["path"]),
            format!("a rootfs bulwark can inspect for shells and package managers ({e})"),
        ),
    }
}

/// The forbidden paths that exist in `rootfs` as anything but a directory.
fn present(rootfs: &Path, forbidden: &[PathBuf]) -> Result<Vec<PathBuf>, Errno> {
    let root_fd = open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: open returned a new descriptor that nothing else owns.
    let root = unsafe { OwnedFd::from_raw_fd(root_fd) };
    let mut found = Vec::new();
    for path in forbidden {
        if exists_in_root(&root, path)? {
            found.push(path.clone());
        }
    }
    Ok(found)
}

fn exists_in_root(root: &OwnedFd, path: &Path) -> Result<bool, Errno> {
    use std::os::fd::AsRawFd;
    let relative = path.strip_prefix("/").unwrap_or(path);
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let deadline = std::time::Instant::now() + RACE_RETRY_FOR;
    while std::time::Instant::now() < deadline {
        match openat2(root.as_raw_fd(), relative, how) {
            Ok(fd) => {
                // SAFETY: openat2 returned a new descriptor that nothing else owns.
                let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
                let is_dir = file
                    .metadata()
                    .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?
                    .is_dir();
                return Ok(!is_dir);
            }
            // Absent, or a dangling or looping link: nothing that could be executed.
            Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => return Ok(false),
            Err(Errno::EAGAIN) => std::thread::sleep(std::time::Duration::from_millis(1)),
            Err(e) => return Err(e),
        }
    }
    Err(Errno::EAGAIN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn forbidden() -> Vec<PathBuf> {
        ["/bin/sh", "/usr/bin/apt", "/sbin/apk"]
            .iter()
            .map(PathBuf::from)
            .collect()
    }

    #[test]
    fn a_probe_only_rootfs_is_distroless() {
        let rootfs = tempfile::tempdir().unwrap();
        fs::write(rootfs.path().join("probe"), "").unwrap();
        fs::create_dir_all(rootfs.path().join("bin/sh")).unwrap(); // a directory is no shell
        assert!(present(rootfs.path(), &forbidden()).unwrap().is_empty());
    }

    #[test]
    fn shells_are_found_through_links_inside_the_rootfs() {
        let rootfs = tempfile::tempdir().unwrap();
        fs::create_dir_all(rootfs.path().join("usr/bin")).unwrap();
        fs::write(rootfs.path().join("usr/bin/busybox"), "").unwrap();
        fs::write(rootfs.path().join("usr/bin/apt"), "").unwrap();
        symlink("usr/bin", rootfs.path().join("bin")).unwrap(); // merged /usr
        symlink("/usr/bin/busybox", rootfs.path().join("usr/bin/sh")).unwrap();
        assert_eq!(
            present(rootfs.path(), &forbidden()).unwrap(),
            vec![PathBuf::from("/bin/sh"), PathBuf::from("/usr/bin/apt")]
        );
    }

    #[test]
    fn links_never_leave_the_rootfs() {
        // The host has /bin/sh; a link that climbs out of the rootfs must not find it.
        let rootfs = tempfile::tempdir().unwrap();
        fs::create_dir_all(rootfs.path().join("bin")).unwrap();
        symlink("../../../../../../bin/sh", rootfs.path().join("bin/sh")).unwrap();
        symlink("/proc/self/root/bin/sh", rootfs.path().join("sbin")).unwrap();
        assert!(Path::new("/bin/sh").exists());
        assert!(present(rootfs.path(), &forbidden()).unwrap().is_empty());
    }

    #[test]
    fn a_missing_rootfs_is_an_error() {
        assert!(present(Path::new("/nonexistent/rootfs"), &forbidden()).is_err());
    }
}
