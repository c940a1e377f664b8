//! The CRI sandboxes bulwark runs under one state root: what CRI claims are held
//! against (crate::engine::binding); and its containers' leased user namespaces, which
//! a pod's members join (crate::user_namespace_share). Read from bulwark's own records
//! (the pod uid the sandbox's spec named at its create) and libcontainer's state
//! (whether its init still runs), both under the root, which only root writes (0700).

use std::os::fd::OwnedFd;

use libcontainer::container::ContainerStatus;

use crate::config::UserNamespaceConfig;
use crate::container_state;
use crate::engine::binding::{LiveSandbox, Sandboxes};
use crate::layout::{ContainerId, ContainerRecord, StateRoot};
use crate::user_namespace_share::{self, Holder};

/// The sandboxes under `root`.
pub struct StateRootSandboxes<'a> {
    pub root: &'a StateRoot,
}

/// What a container's record says it is, when it is a CRI sandbox: its pod uid.
fn sandbox_record(root: &StateRoot, id: &ContainerId) -> Option<Option<String>> {
    let record = ContainerRecord::load(root, id).ok()?;
    let container = &record.policy_context.container;
    (container["engine"] == "cri" && container["type"] == "sandbox")
        .then(|| container["pod_uid"].as_str().map(str::to_owned))
}

impl StateRootSandboxes<'_> {
    /// A record without libcontainer's state, or a state saved as `creating`, is a
    /// sandbox being created; one whose state cannot be read is counted too (fail
    /// closed: `delete` it).
    fn runs_or_is_being_created(&self, id: &ContainerId) -> bool {
        let dir = self.root.container_dir(id);
        match container_state::saved_status(&dir) {
            Ok(ContainerStatus::Creating) => true,
            Ok(_) => container_state::load(&dir).map_or(true, |container| {
                container.status() != ContainerStatus::Stopped
            }),
            Err(_) => true,
        }
    }
}

impl Sandboxes for StateRootSandboxes<'_> {
    fn live(&self, id: &str) -> Option<LiveSandbox> {
        let id = ContainerId::parse(id).ok()?;
        let pod_uid = sandbox_record(self.root, &id)?;
        let container = container_state::load(&self.root.container_dir(&id)).ok()?;
        if container.status() == ContainerStatus::Stopped {
            return None;
        }
        let init_pid = container.pid()?.as_raw();
        Some(LiveSandbox { pod_uid, init_pid })
    }

    fn leased_user_namespace(
        &self,
        pool: &UserNamespaceConfig,
        user_namespace: &OwnedFd,
    ) -> Option<Holder> {
        user_namespace_share::holder_of(self.root, pool, user_namespace)
    }

    fn of_pod(&self, uid: &str) -> Vec<String> {
        self.root
            .private_ids()
            .into_iter()
            .filter(|id| sandbox_record(self.root, id).flatten().as_deref() == Some(uid))
            .filter(|id| self.runs_or_is_being_created(id))
            .map(|id| id.to_string())
            .collect()
    }
}
