//! The image a Podman container was created from, read from containers/storage.
//!
//! Podman puts no image name into config.json. containers/storage keeps, per driver,
//! `<graphroot>/<driver>-containers/containers.json` (records keyed by the container id
//! the runtime receives, whose `metadata` holds `image-name`) and
//! `<graphroot>/<driver>-images/images.json` (image id → names and manifest digests).
//! The image id (the digest of the image's config, which names its layers) and the
//! manifest digests are the image's *content*: a local `podman tag` adds a name to an
//! image and changes neither, so approval bound to them cannot be moved to other content
//! by naming it.
//! The graph root is found from the spec itself: the rootfs is
//! `<graphroot>/<driver>/<layer>/merged` and Podman binds files from
//! `<graphroot>/<driver>-containers/<id>/userdata/`. The files are trusted only when
//! root owns them and nobody else may write them or their directory.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::Mode;
use serde::Deserialize;
use serde_json::Value;

use crate::bounded_read::{read_bounded, BoundedReadError};

/// containers.json holds every container of the store; thousands are a few MiB.
const MAX_STORE_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("the spec points into no containers/storage graph root")]
    NoStore,
    #[error("container {id} is in none of {stores}")]
    NoContainer { id: String, stores: String },
    #[error("image {image_id} of container {id} is not in {path}")]
    NoImage {
        id: String,
        image_id: String,
        path: PathBuf,
    },
    #[error("image {image_id} of container {id} has no name in {path}")]
    UnnamedImage {
        id: String,
        image_id: String,
        path: PathBuf,
    },
    #[error(
        "container {id} was created as {reference}, but image {image_id} in {path} has no manifest digest {digest}"
    )]
    OtherDigest {
        id: String,
        reference: String,
        image_id: String,
        digest: String,
        path: PathBuf,
    },
    #[error("{path} is not trusted: {reason}")]
    Untrusted { path: PathBuf, reason: &'static str },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: BoundedReadError,
    },
    #[error("{path} is not a containers/storage store: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Where the image reference was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredImage {
    /// The reference Podman was asked for, or `<name>@<digest>` when the container was
    /// created from an image id (content-addressed, so pinned).
    pub reference: String,
    /// The image's content digests: `sha256:<image id>` first, then every manifest
    /// digest containers/storage recorded for it.
    pub content: Vec<String>,
    /// The containers.json that holds the container.
    pub store: PathBuf,
}

#[derive(Deserialize)]
struct ContainerRecord {
    id: String,
    #[serde(default)]
    image: String,
    /// The container's read-write layer: its rootfs is `<graphroot>/<driver>/<layer>/merged`.
    #[serde(default)]
    layer: String,
    #[serde(default)]
    metadata: String,
}

/// Why a bundle is not the containers/storage directory of the container it is for.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(
        "it is not a containers/storage userdata directory \
         (<graphroot>/<driver>-containers/{id}/userdata)"
    )]
    NotUserdata { id: String },
    #[error(transparent)]
    Store(#[from] StorageError),
    #[error("{store} holds no container {id}")]
    NoRecord { id: String, store: PathBuf },
    #[error("root.path is {found}, not the rootfs containers/storage made for container {id} ({expected})")]
    OtherRootfs {
        id: String,
        found: String,
        expected: PathBuf,
    },
}

/// Verifies that `bundle` is Podman's own bundle for container `id`: its containers/storage
/// userdata directory (Podman hands the runtime `<graphroot>/<driver>-containers/<id>/userdata`,
/// where it wrote config.json), in a store whose root-owned containers.json records `id`,
/// with the spec's root.path the rootfs containers/storage mounted for that record. Only
/// Podman (or root) writes there, so a spec read from it is Podman's for this id; the
/// annotations that say "Podman" are anyone's. Returns the store directory.
pub fn verify_bundle(bundle: &Path, spec: &Value, id: &str) -> Result<PathBuf, BundleError> {
    let not_userdata = || BundleError::NotUserdata { id: id.to_owned() };
    if bundle.file_name().is_none_or(|n| n != "userdata") {
        return Err(not_userdata());
    }
    let container_dir = bundle.parent().ok_or_else(not_userdata)?;
    if container_dir.file_name().is_none_or(|n| n != id) {
        return Err(not_userdata());
    }
    let store = container_dir.parent().ok_or_else(not_userdata)?;
    let driver = store
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix("-containers"))
        .filter(|driver| !driver.is_empty())
        .ok_or_else(not_userdata)?;
    let graph_root = store.parent().ok_or_else(not_userdata)?;
    let path = store.join("containers.json");
    let records: Vec<ContainerRecord> = read_trusted(&path)?;
    let record = records
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| BundleError::NoRecord {
            id: id.to_owned(),
            store: path.clone(),
        })?;
    let expected = graph_root.join(driver).join(&record.layer).join("merged");
    let found = spec
        .pointer("/root/path")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // The bundle is canonical; Podman writes root.path as its graph root is spelled.
    let same_rootfs = Path::new(found) == expected
        || std::fs::canonicalize(found).is_ok_and(|canonical| canonical == expected);
    if record.layer.is_empty() || record.layer.contains('/') || !same_rootfs {
        return Err(BundleError::OtherRootfs {
            id: id.to_owned(),
            found: found.to_owned(),
            expected,
        });
    }
    Ok(store.to_owned())
}

#[derive(Deserialize)]
struct ContainerMetadata {
    #[serde(rename = "image-name", default)]
    image_name: Option<String>,
}

#[derive(Deserialize)]
struct ImageRecord {
    id: String,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    digest: Option<String>,
    /// containers/storage keeps each manifest as big data `manifest-<digest>`.
    #[serde(rename = "big-data-names", default)]
    big_data_names: Vec<String>,
}

impl ImageRecord {
    /// `sha256:<id>` and the manifest digests, without repeats.
    fn content(&self) -> Vec<String> {
        let mut content = vec![format!("sha256:{}", self.id)];
        let manifests = self
            .big_data_names
            .iter()
            .filter_map(|name| name.strip_prefix("manifest-"));
        for digest in self.digest.as_deref().into_iter().chain(manifests) {
            if !content.iter().any(|known| known == digest) {
                content.push(digest.to_owned());
            }
        }
        content
    }
}

/// The image reference of Podman container `id`, whose spec is `spec`.
pub fn image_of(spec: &Value, id: &str) -> Result<StoredImage, StorageError> {
    let stores = container_stores(spec, id);
    if stores.is_empty() {
        return Err(StorageError::NoStore);
    }
    for store in &stores {
        let path = store.join("containers.json");
        if !path.exists() {
            continue;
        }
        let records: Vec<ContainerRecord> = read_trusted(&path)?;
        let Some(record) = records.into_iter().find(|r| r.id == id) else {
            continue;
        };
        let image_name = serde_json::from_str::<ContainerMetadata>(&record.metadata)
            .ok()
            .and_then(|m| m.image_name)
            .filter(|name| !is_image_id(name));
        let image = image_record(store, id, &record.image)?;
        let reference = match image_name {
            Some(name) => name,
            None => pinned_name(store, id, &image)?,
        };
        let content = image.content();
        // A reference pinned by digest must pin the image the rootfs is made from.
        if let Some((_, digest)) = reference.rsplit_once('@') {
            if !content.iter().any(|known| known == digest) {
                return Err(StorageError::OtherDigest {
                    id: id.to_owned(),
                    reference: reference.clone(),
                    image_id: image.id,
                    digest: digest.to_owned(),
                    path: images_store(store),
                });
            }
        }
        return Ok(StoredImage {
            reference,
            content,
            store: path,
        });
    }
    Err(StorageError::NoContainer {
        id: id.to_owned(),
        stores: stores
            .iter()
            .map(|s| s.join("containers.json").display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// `sha256:<64 hex>` or a bare 64-hex image id: what Podman records as `image-name`
/// when it was given an id instead of a name.
pub fn is_image_id(name: &str) -> bool {
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The record of image `image_id` (container `id`'s image) in the store next to `store`.
fn image_record(store: &Path, id: &str, image_id: &str) -> Result<ImageRecord, StorageError> {
    let image_id = image_id.strip_prefix("sha256:").unwrap_or(image_id);
    let images = images_store(store);
    let records: Vec<ImageRecord> = read_trusted(&images)?;
    records
        .into_iter()
        .find(|r| r.id == image_id)
        .ok_or_else(|| StorageError::NoImage {
            id: id.to_owned(),
            image_id: image_id.to_owned(),
            path: images,
        })
}

/// A container created from an image id: the image's first name, pinned to its
/// manifest digest.
fn pinned_name(store: &Path, id: &str, image: &ImageRecord) -> Result<String, StorageError> {
    let unnamed = || StorageError::UnnamedImage {
        id: id.to_owned(),
        image_id: image.id.clone(),
        path: images_store(store),
    };
    let name = image.names.first().ok_or_else(unnamed)?;
    let digest = image.digest.as_deref().ok_or_else(unnamed)?;
    Ok(format!("{}@{digest}", strip_tag(name)))
}

/// `<graphroot>/<driver>-containers` → `<graphroot>/<driver>-images/images.json`.
fn images_store(store: &Path) -> PathBuf {
    let name = store
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix("-containers"))
        .unwrap_or_default();
    store
        .with_file_name(format!("{name}-images"))
        .join("images.json")
}

/// `registry/repo:tag` → `registry/repo` (a `:` after the last `/` is a tag, before it
/// a registry port).
fn strip_tag(name: &str) -> &str {
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].find(':') {
        Some(colon) => &name[..last_slash + colon],
        None => name,
    }
}

/// The `<graphroot>/<driver>-containers` directories the spec points into.
fn container_stores(spec: &Value, id: &str) -> Vec<PathBuf> {
    let mut stores = Vec::new();
    let userdata = format!("/{id}/userdata");
    for source in spec["mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["source"].as_str())
    {
        if let Some(at) = source.find(&userdata) {
            let dir = Path::new(&source[..at]);
            if dir
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("-containers"))
            {
                stores.push(dir.to_owned());
            }
        }
    }
    // <graphroot>/<driver>/<layer>/merged
    if let Some(root) = spec.pointer("/root/path").and_then(Value::as_str) {
        let root = Path::new(root);
        if root.file_name().is_some_and(|n| n == "merged") {
            if let Some(driver_dir) = root.parent().and_then(Path::parent) {
                if let Some(driver) = driver_dir.file_name().and_then(|n| n.to_str()) {
                    stores.push(driver_dir.with_file_name(format!("{driver}-containers")));
                }
            }
        }
    }
    stores.dedup();
    stores
}

/// Parses a store file that root owns and only root may change, as may its directory:
/// anyone else able to write it could name any image.
pub(crate) fn read_trusted<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, StorageError> {
    let bytes = read_trusted_bytes(path, MAX_STORE_BYTES)?;
    serde_json::from_slice(&bytes).map_err(|source| StorageError::Parse {
        path: path.to_owned(),
        source,
    })
}

/// The bytes of a file that root owns and only root may change, as may its directory
/// (containers/storage's, libpod's and Podman's secret store's records), at most `max`.
pub(crate) fn read_trusted_bytes(path: &Path, max: u64) -> Result<Vec<u8>, StorageError> {
    let untrusted = |reason| StorageError::Untrusted {
        path: path.to_owned(),
        reason,
    };
    let read_err = |source| StorageError::Read {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("/"));
    let Some(name) = path.file_name() else {
        return Err(untrusted("it names no file"));
    };
    // The directory checked is the one the file is opened in (by descriptor), so no
    // rename between the check and the open can put another directory in its place.
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)
        .map_err(|e| read_err(e.into()))?;
    let dir_meta = dir.metadata().map_err(|e| read_err(e.into()))?;
    if dir_meta.uid() != 0 || dir_meta.mode() & 0o022 != 0 {
        return Err(untrusted(
            "its directory is not root-owned or is group/world-writable",
        ));
    }
    // Non-blocking: a FIFO in place of the file must be refused below, not hang the
    // create waiting for a writer. No link is followed: the engines write their
    // records as files, and a link would have the check judge its target instead.
    let fd = match openat(
        Some(dir.as_raw_fd()),
        name,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ELOOP) => return Err(untrusted("it is a symbolic link")),
        Err(e) => return Err(read_err(std::io::Error::from(e).into())),
    };
    // SAFETY: openat returned a new descriptor that nothing else owns.
    let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let meta = file.metadata().map_err(|e| read_err(e.into()))?;
    if !meta.is_file() || meta.uid() != 0 || meta.mode() & 0o022 != 0 {
        return Err(untrusted(
            "it is not a root-owned regular file, or is group/world-writable",
        ));
    }
    read_bounded(file, max).map_err(read_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    const IMAGE_ID: &str = "810c0ebe9bdfeb9ef75c9f09a440dcab5d55342eeac98f3acfc115c8612cfba6";
    const DIGEST: &str = "sha256:94f506d037df9cfe70d6ea3b8e5f64e0b7a74c606d5ccb468cb3ba8f9b2434e7";

    /// A graph root laid out like podman 4.3's, with one container created as
    /// `image_name` (records copied from a real store).
    fn store(image_name: &str) -> (tempfile::TempDir, Value) {
        let graph = tempfile::tempdir().unwrap();
        let containers = graph.path().join("overlay-containers");
        let images = graph.path().join("overlay-images");
        fs::create_dir_all(containers.join("c1/userdata")).unwrap();
        fs::create_dir_all(&images).unwrap();
        let metadata = json!({"image-name": image_name, "image-id": IMAGE_ID, "name": "byname"});
        fs::write(
            containers.join("containers.json"),
            json!([{"id": "c1", "names": ["byname"], "image": IMAGE_ID, "layer": "l1",
                     "metadata": metadata.to_string()}])
            .to_string(),
        )
        .unwrap();
        fs::write(
            images.join("images.json"),
            json!([{"id": IMAGE_ID, "digest": DIGEST,
                     "names": ["localhost/bulwark-probe:test"]}])
            .to_string(),
        )
        .unwrap();
        let spec = json!({
            "root": {"path": graph.path().join("overlay/l1/merged")},
            "mounts": [{"destination": "/dev/shm", "type": "bind",
                "source": containers.join("c1/userdata/shm")}]});
        (graph, spec)
    }

    #[test]
    fn the_image_name_podman_recorded_is_the_reference() {
        let (_graph, spec) = store("localhost/bulwark-probe:test");
        let image = image_of(&spec, "c1").unwrap();
        assert_eq!(image.reference, "localhost/bulwark-probe:test");
        assert!(image.store.ends_with("overlay-containers/containers.json"));
    }

    #[test]
    fn a_container_created_from_an_image_id_is_pinned_to_its_digest() {
        let (_graph, spec) = store(&format!("sha256:{IMAGE_ID}"));
        let image = image_of(&spec, "c1").unwrap();
        assert_eq!(image.reference, format!("localhost/bulwark-probe@{DIGEST}"));
    }

    #[test]
    fn the_content_is_the_image_id_and_every_manifest_digest() {
        let (_graph, spec) = store("localhost/bulwark-probe:test");
        let image = image_of(&spec, "c1").unwrap();
        assert_eq!(
            image.content,
            [format!("sha256:{IMAGE_ID}"), DIGEST.to_owned()]
        );
    }

    #[test]
    fn a_reference_pinned_to_another_images_digest_is_an_error() {
        let other = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
        let (_graph, spec) = store(&format!("localhost/bulwark-probe@{other}"));
        assert!(matches!(
            image_of(&spec, "c1"),
            Err(StorageError::OtherDigest { digest, .. }) if digest == other
        ));
        let (_graph, spec) = store(&format!("localhost/bulwark-probe@{DIGEST}"));
        assert!(image_of(&spec, "c1").is_ok());
    }

    #[test]
    fn the_store_is_found_from_the_rootfs_alone() {
        let (_graph, mut spec) = store("localhost/bulwark-probe:test");
        spec["mounts"] = json!([]);
        assert!(image_of(&spec, "c1").is_ok());
    }

    #[test]
    fn unknown_containers_and_foreign_specs_are_errors() {
        let (_graph, spec) = store("localhost/bulwark-probe:test");
        assert!(matches!(
            image_of(&spec, "c2"),
            Err(StorageError::NoContainer { .. })
        ));
        assert!(matches!(
            image_of(&json!({"root": {"path": "/x/rootfs"}}), "c1"),
            Err(StorageError::NoStore)
        ));
    }

    #[test]
    fn a_store_others_may_write_is_not_trusted() {
        let (graph, spec) = store("localhost/bulwark-probe:test");
        let file = graph.path().join("overlay-containers/containers.json");
        fs::set_permissions(&file, fs::Permissions::from_mode(0o666)).unwrap();
        assert!(matches!(
            image_of(&spec, "c1"),
            Err(StorageError::Untrusted { .. })
        ));
    }

    #[test]
    fn a_link_in_place_of_the_store_is_refused() {
        // The link's target is a root-owned copy of the store in a root-owned directory:
        // only the link itself makes it untrusted (a record file is never a link).
        let (graph, spec) = store("localhost/bulwark-probe:test");
        let file = graph.path().join("overlay-containers/containers.json");
        let elsewhere = tempfile::tempdir().unwrap();
        let copy = elsewhere.path().join("containers.json");
        fs::rename(&file, &copy).unwrap();
        std::os::unix::fs::symlink(&copy, &file).unwrap();
        assert!(matches!(
            image_of(&spec, "c1"),
            Err(StorageError::Untrusted {
                reason: "it is a symbolic link",
                ..
            })
        ));
    }

    #[test]
    fn a_fifo_in_place_of_the_store_is_refused_without_waiting_for_a_writer() {
        let (graph, spec) = store("localhost/bulwark-probe:test");
        let file = graph.path().join("overlay-containers/containers.json");
        fs::remove_file(&file).unwrap();
        nix::unistd::mkfifo(&file, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(matches!(
            image_of(&spec, "c1"),
            Err(StorageError::Untrusted { .. })
        ));
    }

    #[test]
    fn tags_are_stripped_but_registry_ports_kept() {
        assert_eq!(strip_tag("localhost:5000/a/b:1.2"), "localhost:5000/a/b");
        assert_eq!(strip_tag("localhost:5000/a/b"), "localhost:5000/a/b");
        assert!(is_image_id(&format!("sha256:{IMAGE_ID}")));
        assert!(!is_image_id("localhost/x:latest"));
    }
}
