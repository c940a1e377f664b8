//! An overlayfs rootfs, read from the kernel's description of its mount and rebuilt
//! read-only from idmapped layers.
//!
//! An overlay mount cannot be idmapped itself (overlayfs does not set FS_ALLOW_IDMAP,
//! up to Linux 6.18 at least), but since Linux 5.19 it accepts idmapped layers. Engines
//! hand the runtime an overlay (Podman's and containerd's snapshotters): bulwark finds
//! its layers in `/proc/self/mountinfo`, on the line of the mount the opened rootfs is
//! (its statx mount id, never the spec's path), clones each layer with an idmap, and
//! mounts a new overlay whose lower layers are, top first, the engine's upper directory
//! and its lower ones. Without an upper directory an overlay is read-only: the
//! container's writes go where they already had to go (tmpfs, volumes), as the
//! baseline's read-only rootfs has it. containerd 2 builds idmapped overlays the same
//! way (mount/mount_idmapped_linux.go).

use std::fs;
use std::io;
use std::path::PathBuf;

/// One line of `/proc/self/mountinfo` (proc(5)), the fields bulwark reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    pub id: u64,
    pub parent: u64,
    /// The directory of the filesystem the mount shows at its root.
    pub root: String,
    pub mount_point: PathBuf,
    /// Per-mount options (`rw,nosuid,nodev,relatime`).
    pub mount_options: String,
    pub fstype: String,
    /// Per-superblock options (overlay's `lowerdir=…,upperdir=…`).
    pub super_options: String,
}

/// Every mount of this process's mount namespace.
pub fn mounts() -> io::Result<Vec<MountInfo>> {
    Ok(fs::read_to_string("/proc/self/mountinfo")?
        .lines()
        .filter_map(parse_line)
        .collect())
}

fn parse_line(line: &str) -> Option<MountInfo> {
    let (left, right) = line.split_once(" - ")?;
    let mut left = left.split(' ');
    let id = left.next()?.parse().ok()?;
    let parent = left.next()?.parse().ok()?;
    let _device = left.next()?;
    let root = unescape(left.next()?);
    let mount_point = PathBuf::from(unescape(left.next()?));
    let mount_options = left.next()?.to_owned();
    let mut right = right.split(' ');
    let fstype = right.next()?.to_owned();
    let _source = right.next()?;
    let super_options = right.next().unwrap_or_default().to_owned();
    Some(MountInfo {
        id,
        parent,
        root,
        mount_point,
        mount_options,
        fstype,
        super_options,
    })
}

/// mountinfo writes space, tab, newline and backslash as octal escapes (`\040`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|digits| {
            std::str::from_utf8(digits)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An overlay's layers, top first, and the options the rebuilt overlay keeps.
#[derive(Debug, PartialEq, Eq)]
pub struct Layers {
    /// The upper directory (if any), then the lower directories in the engine's order.
    pub top_first: Vec<PathBuf>,
    /// Options that change how the layers' contents read: `userxattr` (the layers keep
    /// overlay's xattrs in the user namespace) and `metacopy=on` (an upper file may hold
    /// only metadata, its data in a lower layer). The rebuilt overlay needs them to show
    /// the same files.
    pub keep: Vec<String>,
}

/// The layers of an overlay from its super options, or why they cannot be taken from
/// there.
pub fn layers(super_options: &str) -> Result<Layers, String> {
    let mut upper = None;
    let mut lower = Vec::new();
    let mut keep = Vec::new();
    for option in super_options.split(',') {
        let (key, value) = option.split_once('=').unwrap_or((option, ""));
        match key {
            "lowerdir" => {
                // Data-only layers ("::") and escaped colons in a name are not read
                // back here: refused rather than guessed.
                if value.contains("::") || value.contains("\\:") {
                    return Err(format!(
                        "its lowerdir option {value:?} has data-only layers or a ':' in a \
                         layer name"
                    ));
                }
                lower.extend(value.split(':').map(|l| PathBuf::from(unescape(l))));
            }
            "lowerdir+" | "datadir+" => {
                return Err(format!(
                    "it was mounted with {key} layers, which mountinfo does not list in full"
                ))
            }
            "upperdir" => upper = Some(PathBuf::from(unescape(value))),
            "userxattr" | "metacopy" if key == "userxattr" || value == "on" => {
                keep.push(option.to_owned());
            }
            _ => {}
        }
    }
    let top_first: Vec<PathBuf> = upper.into_iter().chain(lower).collect();
    if top_first.is_empty() {
        return Err("mountinfo names none of its layers".to_owned());
    }
    if let Some(relative) = top_first.iter().find(|l| !l.is_absolute()) {
        return Err(format!(
            "its layer {} is named relative to the directory it was mounted from, which \
             the host's mountinfo does not record",
            relative.display()
        ));
    }
    Ok(Layers { top_first, keep })
}

/// mount(2) flags of per-mount options the rebuilt overlay keeps from the engine's.
pub fn kept_flags(mount_options: &str) -> nix::mount::MsFlags {
    use nix::mount::MsFlags;
    mount_options
        .split(',')
        .fold(MsFlags::empty(), |flags, option| match option {
            "nosuid" => flags | MsFlags::MS_NOSUID,
            "nodev" => flags | MsFlags::MS_NODEV,
            "noexec" => flags | MsFlags::MS_NOEXEC,
            _ => flags,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mountinfo_line_is_read_with_its_escapes() {
        let line = "412 28 0:95 / /var/lib/containers/storage/overlay/abc/merged rw,nodev,\
                    relatime shared:1 - overlay overlay rw,lowerdir=/s/l/A:/s/l/B,\
                    upperdir=/s/abc/diff,workdir=/s/abc/work,userxattr";
        let info = parse_line(line).unwrap();
        assert_eq!((info.id, info.parent), (412, 28));
        assert_eq!(info.fstype, "overlay");
        assert_eq!(info.mount_options, "rw,nodev,relatime");
        assert_eq!(
            layers(&info.super_options).unwrap(),
            Layers {
                top_first: vec!["/s/abc/diff".into(), "/s/l/A".into(), "/s/l/B".into()],
                keep: vec!["userxattr".into()],
            }
        );
        let spaced = parse_line("1 2 0:1 / /a\\040b rw - ext4 /dev/x rw").unwrap();
        assert_eq!(spaced.mount_point, PathBuf::from("/a b"));
        assert_eq!(
            kept_flags(&info.mount_options),
            nix::mount::MsFlags::MS_NODEV
        );
    }

    #[test]
    fn layers_mountinfo_cannot_name_exactly_are_refused() {
        for options in [
            "rw,lowerdir=l/A:l/B,upperdir=/u,workdir=/w",
            "rw,lowerdir=/a::/data",
            "rw,lowerdir=/a\\:b",
            "rw,lowerdir+=/a",
            "rw,workdir=/w",
        ] {
            assert!(layers(options).is_err(), "{options}");
        }
        assert_eq!(
            layers("ro,lowerdir=/a:/b,metacopy=on,redirect_dir=on")
                .unwrap()
                .keep,
            vec!["metacopy=on".to_owned()]
        );
    }
}
