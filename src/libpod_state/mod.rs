//! What libpod itself recorded about a container: whether it is a pod's infra container,
//! which pod it belongs to, and the named volumes it knows. Podman 4.x keeps this in a
//! bbolt database, `<graphroot>/libpod/bolt_state.db` (its default static_dir), that
//! only root writes; a Podman user's `--annotation` or `--name` never reaches it.
//!
//! Buckets as libpod 4.3 writes them (libpod/boltdb_state.go, boltdb_state_internal.go):
//! `ctr/<id>/config` (ContainerConfig JSON: `pod`, and `pause`, its IsInfra),
//! `pod/<id>/state` (`InfraContainerID`), `vol/<name>/config` (VolumeConfig JSON:
//! `volumeDriver`, `mountPoint`, `options`).

mod bolt;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::containers_storage::{read_trusted_bytes, StorageError};
use bolt::{BoltError, Db};

/// libpod's database is a few hundred KiB for hundreds of containers.
const MAX_DB_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{path}: {source}")]
    Bolt { path: PathBuf, source: BoltError },
    #[error("{path}: {what} is not libpod's JSON: {source}")]
    Parse {
        path: PathBuf,
        what: String,
        source: serde_json::Error,
    },
}

/// A container's libpod config, the fields bulwark reads.
#[derive(Debug, Deserialize)]
struct ContainerConfig {
    #[serde(default)]
    pod: String,
    /// libpod's IsInfra (`json:"pause"`).
    #[serde(default)]
    pause: bool,
}

#[derive(Debug, Deserialize)]
struct PodState {
    #[serde(rename = "InfraContainerID", default)]
    infra: String,
}

/// A named volume libpod knows.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Volume {
    pub name: String,
    #[serde(rename = "volumeDriver", default)]
    pub driver: String,
    #[serde(rename = "mountPoint", default)]
    pub mount_point: PathBuf,
    /// `podman volume create --opt`: type, device, o.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// libpod's state database, read once.
pub struct LibpodState {
    path: PathBuf,
    db: Db,
}

impl LibpodState {
    /// The database of graph root `graph_root`; None when there is none (another
    /// static_dir, or a database backend bulwark does not read).
    pub fn open(graph_root: &Path) -> Result<Option<Self>, StateError> {
        let path = graph_root.join("libpod/bolt_state.db");
        if !path.exists() {
            return Ok(None);
        }
        let bytes = read_trusted_bytes(&path, MAX_DB_BYTES)?;
        let db = Db::parse(bytes).map_err(|source| StateError::Bolt {
            path: path.clone(),
            source,
        })?;
        Ok(Some(LibpodState { path, db }))
    }

    fn json<T: DeserializeOwned>(&self, keys: &[&str]) -> Result<Option<T>, StateError> {
        let bolt = |source| StateError::Bolt {
            path: self.path.clone(),
            source,
        };
        let (last, buckets) = keys.split_last().expect("a key");
        let mut bucket = self.db.root();
        for key in buckets {
            match bucket.bucket(key.as_bytes()).map_err(bolt)? {
                Some(inner) => bucket = inner,
                None => return Ok(None),
            }
        }
        let Some(bytes) = bucket.value(last.as_bytes()).map_err(bolt)? else {
            return Ok(None);
        };
        serde_json::from_slice(bytes)
            .map(Some)
            .map_err(|source| StateError::Parse {
                path: self.path.clone(),
                what: keys.join("/"),
                source,
            })
    }

    /// The pod container `id` belongs to, if any, and whether it is that pod's infra
    /// container: libpod marks it so in the config it creates the container with.
    pub fn pod_of(&self, id: &str) -> Result<Option<(String, bool)>, StateError> {
        let config: Option<ContainerConfig> = self.json(&["ctr", id, "config"])?;
        Ok(config
            .filter(|c| !c.pod.is_empty())
            .map(|c| (c.pod, c.pause)))
    }

    /// The infra container of pod `pod`.
    pub fn infra_of(&self, pod: &str) -> Result<Option<String>, StateError> {
        let state: Option<PodState> = self.json(&["pod", pod, "state"])?;
        Ok(state.map(|s| s.infra).filter(|id| !id.is_empty()))
    }

    /// The named volume `name`.
    pub fn volume(&self, name: &str) -> Result<Option<Volume>, StateError> {
        self.json(&["vol", name, "config"])
    }
}
