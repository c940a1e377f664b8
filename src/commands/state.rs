use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, Utc};
use libcontainer::container::{Container, ContainerStatus};
use serde::Serialize;

use super::{load_container, open};
use crate::cli::ContainerRef;
use crate::layout::{ContainerId, ContainerRecord, StateRoot};

/// runc's `state` document. `bundle` is the engine's bundle, not bulwark's private one:
/// engines compare it with what they passed to create.
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct StateView {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: ContainerStatus,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
    pub owner: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<HashMap<String, String>>,
}

impl StateView {
    pub fn load(root: &StateRoot, id: &ContainerId) -> Result<Self> {
        let container = load_container(root, id)?;
        let record = ContainerRecord::load(root, id)?;
        Ok(Self::new(&container, record))
    }

    /// A container bulwark has a record of but libcontainer no readable state for: a
    /// create still running or one that was killed (issue #22). `delete --force`
    /// removes it.
    pub fn interrupted(id: &ContainerId, record: ContainerRecord) -> Self {
        Self {
            oci_version: libcontainer::oci_spec::runtime::VERSION.to_owned(),
            id: id.to_string(),
            pid: 0,
            status: ContainerStatus::Creating,
            bundle: record.bundle,
            rootfs: record.rootfs,
            created: None,
            owner: String::new(),
            annotations: None,
        }
    }

    fn new(container: &Container, record: ContainerRecord) -> Self {
        let status = container.status();
        // runc reports pid 0 once the init is gone.
        let pid = match status {
            ContainerStatus::Stopped => 0,
            _ => container.pid().map_or(0, |p| p.as_raw()),
        };
        Self {
            oci_version: libcontainer::oci_spec::runtime::VERSION.to_owned(),
            id: container.id().to_owned(),
            pid,
            status,
            bundle: record.bundle,
            rootfs: record.rootfs,
            created: container.created(),
            owner: String::new(),
            annotations: container
                .state
                .annotations
                .clone()
                .filter(|a| !a.is_empty()),
        }
    }
}

pub fn state(root: &Path, args: ContainerRef) -> Result<()> {
    let (root, id) = open(root, &args.container_id)?;
    let view = StateView::load(&root, &id)?;
    crate::outln!("{}", serde_json::to_string_pretty(&view)?);
    Ok(())
}
