//! Podman's secret store, read to recognise stored secret values in a spec's
//! environment (issue #21 item 2).
//!
//! `podman run --secret NAME,type=env,target=VAR` copies the secret's value into
//! `process.env` as `VAR=<value>`: a neutral name and a random value, which no heuristic
//! can tell from configuration. bulwark can know: Podman's store (libpod pkg/secrets)
//! keeps `<graphroot>/secrets/secrets.json` (every secret's id, name and driver) and the
//! default `file` driver keeps the values, base64, in
//! `<graphroot>/secrets/filedriver/secretsdata.json`; both are root-owned 0600 in 0700
//! directories. Each value is reduced to its SHA-256 digest at once and only digests are
//! compared; a value is never kept, logged or returned. A secret whose driver bulwark
//! cannot read (`pass`, `shell`) could be in the environment unrecognised, so it is
//! reported and the caller fails closed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::containers_storage::{self, StorageError};

/// The driver whose values bulwark reads.
const FILE_DRIVER: &str = "file";

#[derive(Debug, thiserror::Error)]
pub enum SecretStoreError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{path}: secret {id} has a value that is not base64")]
    Encoding { path: PathBuf, id: String },
}

/// The digests of the stored values and the secrets whose values cannot be read.
#[derive(Debug, Default)]
pub struct StoredSecrets {
    values: Vec<(String, [u8; 32])>,
    /// (name, driver) of each secret whose value bulwark cannot read.
    pub unreadable: Vec<(String, String)>,
}

impl StoredSecrets {
    /// The name of a stored secret whose value is exactly `value`.
    pub fn name_of_value(&self, value: &str) -> Option<&str> {
        let digest: [u8; 32] = Sha256::digest(value.as_bytes()).into();
        self.values
            .iter()
            .find(|(_, stored)| *stored == digest)
            .map(|(name, _)| name.as_str())
    }
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    secrets: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
struct Entry {
    name: String,
    driver: String,
}

/// The store of the graph root whose `<driver>-containers` directory is `store` (the one
/// engine binding verified holds this container). No `secrets` directory: no secrets.
pub fn load(store: &Path) -> Result<StoredSecrets, SecretStoreError> {
    let secrets_dir = store
        .parent()
        .unwrap_or_else(|| Path::new("/"))
        .join("secrets");
    let index_path = secrets_dir.join("secrets.json");
    if !index_path.exists() {
        return Ok(StoredSecrets::default());
    }
    let index: Index = containers_storage::read_trusted(&index_path)?;
    let (file_secrets, other_drivers): (Vec<_>, Vec<_>) = index
        .secrets
        .iter()
        .partition(|(_, entry)| entry.driver == FILE_DRIVER);
    let mut stored = StoredSecrets {
        values: Vec::new(),
        unreadable: other_drivers
            .into_iter()
            .map(|(_, entry)| (entry.name.clone(), entry.driver.clone()))
            .collect(),
    };
    if file_secrets.is_empty() {
        return Ok(stored);
    }
    let data_path = secrets_dir.join("filedriver/secretsdata.json");
    let data: BTreeMap<String, String> = containers_storage::read_trusted(&data_path)?;
    for (id, entry) in file_secrets {
        // Listed but without a value: nothing Podman can put in an environment.
        let Some(encoded) = data.get(id) else {
            continue;
        };
        let value = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| SecretStoreError::Encoding {
                path: data_path.clone(),
                id: id.clone(),
            })?;
        stored
            .values
            .push((entry.name.clone(), Sha256::digest(&value).into()));
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    /// A graph root with Podman 4.3's secret store layout (records copied from a real
    /// store): one file-driver secret `signing-key` = `hunter2-value`, and `extra`.
    fn graph(extra: serde_json::Value) -> tempfile::TempDir {
        let graph = tempfile::tempdir().unwrap();
        fs::create_dir_all(graph.path().join("overlay-containers")).unwrap();
        let secrets = graph.path().join("secrets");
        fs::create_dir_all(secrets.join("filedriver")).unwrap();
        let mut entries = json!({"4041ff8f6cc5b2dced7d65859": {"name": "signing-key",
            "id": "4041ff8f6cc5b2dced7d65859", "driver": "file",
            "driverOptions": {"path": secrets.join("filedriver")}}});
        entries
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        fs::write(
            secrets.join("secrets.json"),
            json!({"secrets": entries, "nameToID": {}, "idToName": {}}).to_string(),
        )
        .unwrap();
        fs::write(
            secrets.join("filedriver/secretsdata.json"),
            json!({"4041ff8f6cc5b2dced7d65859": "aHVudGVyMi12YWx1ZQ=="}).to_string(),
        )
        .unwrap();
        graph
    }

    fn store_of(graph: &tempfile::TempDir) -> PathBuf {
        graph.path().join("overlay-containers")
    }

    #[test]
    fn a_stored_value_is_recognised_by_its_digest_and_named() {
        let graph = graph(json!({}));
        let stored = load(&store_of(&graph)).unwrap();
        assert_eq!(stored.name_of_value("hunter2-value"), Some("signing-key"));
        assert_eq!(stored.name_of_value("hunter2-value\n"), None);
        assert_eq!(stored.name_of_value("/usr/bin:/bin"), None);
        assert!(stored.unreadable.is_empty());
        assert!(!format!("{stored:?}").contains("hunter2"));
    }

    #[test]
    fn secrets_of_other_drivers_are_reported_unreadable() {
        let graph = graph(json!({"aaaa": {"name": "gpg-secret", "id": "aaaa", "driver": "pass"}}));
        let stored = load(&store_of(&graph)).unwrap();
        assert_eq!(
            stored.unreadable,
            [("gpg-secret".to_owned(), "pass".to_owned())]
        );
    }

    #[test]
    fn no_store_means_no_secrets_and_an_untrusted_one_is_an_error() {
        let empty = tempfile::tempdir().unwrap();
        let stored = load(&empty.path().join("overlay-containers")).unwrap();
        assert_eq!(stored.name_of_value(""), None);
        let graph = graph(json!({}));
        let data = graph.path().join("secrets/filedriver/secretsdata.json");
        fs::set_permissions(&data, fs::Permissions::from_mode(0o666)).unwrap();
        assert!(matches!(
            load(&store_of(&graph)),
            Err(SecretStoreError::Storage(StorageError::Untrusted { .. }))
        ));
    }
}
