//! The binds Podman makes from its own stores, admitted on what libpod recorded
//! (crate::engine::binding::PodmanRecord) rather than as host paths: named volumes and
//! the `--init` binary. Issue #24.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};

use crate::binds;
use crate::config::{AdmissionConfig, PodmanVolumes};
use crate::libpod_state::Volume;

/// tmpfs's f_type (linux/magic.h).
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// A named volume libpod knows, bound at its mount point: admitted read-write when
/// `admission.mounts.podman_volumes` allows it. A volume made by the `local` driver
/// from a device or another directory (`--opt device=/etc --opt o=bind`) is that
/// device or directory, a host path: only plain volumes and tmpfs ones are engine
/// storage. `bounded` asks the descriptor's own filesystem: a tmpfs no larger than
/// `admission.resources.max_tmpfs_bytes`.
pub fn podman_volume(
    volume: &Volume,
    opened: &binds::Source,
    config: &AdmissionConfig,
) -> Result<(), String> {
    let name = &volume.name;
    let mode = config.mounts.podman_volumes;
    if mode == PodmanVolumes::Off {
        return Err(format!(
            "no Podman named volume (volume {name:?}; admission.mounts.podman_volumes = \"off\")"
        ));
    }
    let option = |key: &str| volume.options.get(key).map(String::as_str);
    // `o` is mount(2) data for the tmpfs; a bind flag there would make `device` a path.
    let tmpfs = option("type") == Some("tmpfs")
        && option("device") == Some("tmpfs")
        && volume
            .options
            .keys()
            .all(|k| ["type", "device", "o"].contains(&k.as_str()))
        && !option("o")
            .unwrap_or_default()
            .split(',')
            .any(|o| o == "bind" || o == "rbind");
    let plain = volume.options.values().all(String::is_empty);
    if volume.driver != "local" || !(plain || tmpfs) || !opened.is_dir {
        return Err(format!(
            "a Podman named volume of the local driver, plain or a tmpfs (volume {name:?} \
             is driver {:?} with options {:?}: a device or host directory)",
            volume.driver, volume.options
        ));
    }
    if mode == PodmanVolumes::Any {
        return Ok(());
    }
    let max = config.resources.max_tmpfs_bytes;
    let fs = nix::sys::statfs::fstatfs(&opened.fd)
        .map_err(|e| format!("a volume whose filesystem can be read ({e})"))?;
    let size = (fs.blocks() as u64).saturating_mul(fs.block_size() as u64);
    if fs.filesystem_type().0 as i64 == TMPFS_MAGIC && size > 0 && size <= max {
        return Ok(());
    }
    Err(format!(
        "a Podman named volume whose disk use is bounded: a tmpfs of at most {max} bytes \
         (podman volume create --opt type=tmpfs --opt device=tmpfs --opt o=nr_blocks=N; \
         admission.resources.max_tmpfs_bytes), or admission.mounts.podman_volumes = \"any\" \
         (volume {name:?} is on its filesystem's free space)"
    ))
}

/// `podman run --init`: Podman binds its init binary (containers.conf `init_path`,
/// named again in `admission.mounts.podman_init_path`) read-only at /run/podman-init.
/// Debian's is a link to /usr/bin/catatonit, so links are followed here, once: the
/// descriptor is what is checked and what create mounts. It must be a regular file
/// owned by root and writable by no one else, on a path whose every directory is too
/// (else the file opened could be another one).
pub fn podman_init(init: &Path, read_only: bool) -> Result<binds::Source, String> {
    let refuse = |why: String| {
        Err(format!(
            "Podman's init {} read-only, a root-owned regular file writable by no one else ({why})",
            init.display()
        ))
    };
    if !read_only {
        return refuse("the bind is not read-only".to_owned());
    }
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = match openat2(libc::AT_FDCWD, init, how) {
        // SAFETY: openat2 returned a new descriptor that nothing else owns.
        Ok(fd) => unsafe { OwnedFd::from_raw_fd(fd) },
        Err(errno) => return refuse(errno.to_string()),
    };
    let proc_path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let real = std::fs::read_link(&proc_path).map_err(|e| e.to_string())?;
    let meta = std::fs::metadata(&proc_path).map_err(|e| e.to_string())?;
    let trusted = |meta: &std::fs::Metadata| meta.uid() == 0 && meta.mode() & 0o022 == 0;
    if !meta.is_file() || !trusted(&meta) {
        return refuse(format!("{} is not", real.display()));
    }
    for dir in real.ancestors().skip(1) {
        match std::fs::symlink_metadata(dir) {
            Ok(meta) if meta.is_dir() && trusted(&meta) => {}
            _ => {
                return refuse(format!(
                    "directory {} is not root-owned and closed to others",
                    dir.display()
                ))
            }
        }
    }
    Ok(binds::Source {
        fd,
        path: init.to_owned(),
        is_dir: false,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::fs;

    use super::*;
    use crate::config::AdmissionConfig;

    fn volume(options: &[(&str, &str)]) -> Volume {
        Volume {
            name: "v".into(),
            driver: "local".into(),
            mount_point: "/unused".into(),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    fn config(mode: PodmanVolumes) -> AdmissionConfig {
        let mut config = AdmissionConfig::default();
        config.mounts.podman_volumes = mode;
        config
    }

    #[test]
    fn volumes_from_devices_or_directories_are_host_paths() {
        let dir = tempfile::tempdir().unwrap();
        let opened = binds::open_source(&fs::canonicalize(dir.path()).unwrap()).unwrap();
        let any = config(PodmanVolumes::Any);
        assert_eq!(podman_volume(&volume(&[]), &opened, &any), Ok(()));
        for options in [
            &[("type", "none"), ("device", "/etc"), ("o", "bind")][..],
            &[
                ("type", "tmpfs"),
                ("device", "tmpfs"),
                ("o", "size=1m,bind"),
            ][..],
            &[("device", "/dev/sda1")][..],
        ] {
            let refused = podman_volume(&volume(options), &opened, &any).unwrap_err();
            assert!(refused.contains("local driver"), "{options:?}: {refused}");
        }
        let off = podman_volume(&volume(&[]), &opened, &config(PodmanVolumes::Off));
        assert!(off.unwrap_err().contains("\"off\""));
    }

    #[test]
    fn init_must_be_read_only_and_closed_to_others() {
        let dir = tempfile::tempdir().unwrap();
        let init = fs::canonicalize(dir.path()).unwrap().join("catatonit");
        fs::write(&init, b"").unwrap();
        let not_ro = podman_init(&init, false).unwrap_err();
        assert!(not_ro.contains("not read-only"), "{not_ro}");
        // The temporary directory's parent (/tmp) is writable by everyone.
        let open_dir = podman_init(&init, true).unwrap_err();
        assert!(open_dir.contains("directory"), "{open_dir}");
    }
}
