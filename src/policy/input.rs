//! The policy input document, version `bulwark.io/v1` (`policies/input.schema.json`):
//! what the container will be after admission and the baseline, never secret values
//! and never environment values (names only).

use libcontainer::oci_spec::runtime::{Process, Spec};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::EngineName;
use crate::engine::Engine;
use crate::image_identity::{Identity, Source};

pub const VERSION: &str = "bulwark.io/v1";
/// Annotations that name the agent and its task. Any caller can write them; whether the
/// agent is an identity or a claim depends on the engine (`agent.trusted`).
pub const AGENT_ANNOTATION: &str = "bulwark.io/agent";
pub const TASK_ANNOTATION: &str = "bulwark.io/task";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Create,
    Exec,
    Update,
}

/// What a container is, decided at create and kept in its record for the exec and
/// update decisions: the `container` and `image` members of the input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyContext {
    pub container: Value,
    pub image: Value,
    /// The seccomp profile the baseline chose (set once the baseline has run).
    pub seccomp_profile: String,
}

impl PolicyContext {
    pub fn new(container_id: &str, engine: &Engine, image: &Identity) -> Self {
        let (kind, sandbox_id, pod_uid) = match engine {
            Engine::Cri {
                sandbox_id,
                pod_uid,
                sandbox,
            } => (
                if *sandbox { "sandbox" } else { "container" },
                Some(sandbox_id.clone()),
                pod_uid.clone(),
            ),
            Engine::Podman | Engine::Other => ("container", None, None),
        };
        let container = json!({
            "id": container_id,
            "engine": engine_name(engine).as_str(),
            "type": kind,
            "sandbox_id": sandbox_id,
            "pod_uid": pod_uid,
        });
        let image = match image {
            Identity::Known(image) => json!({
                "reference": image.reference.to_string(),
                "registry": image.reference.registry(),
                "repository": image.reference.repository(),
                "tag": image.reference.tag(),
                "digest": image.reference.digest(),
                "content": image.content,
                "source": source_name(image.source),
            }),
            Identity::Unknown(_) => Value::Null,
        };
        Self {
            container,
            image,
            seccomp_profile: String::new(),
        }
    }

    /// The engine decided at create; None (never trusted) for a record naming none.
    pub fn engine(&self) -> Option<EngineName> {
        self.container["engine"]
            .as_str()
            .and_then(EngineName::parse)
    }
}

fn engine_name(engine: &Engine) -> EngineName {
    match engine {
        Engine::Podman => EngineName::Podman,
        Engine::Cri { .. } => EngineName::Cri,
        Engine::Other => EngineName::Other,
    }
}

fn source_name(source: Source) -> &'static str {
    match source {
        Source::CriAnnotation => "cri-annotation",
        Source::CriSandboxImageConfig => "cri-sandbox-image-config",
        Source::ContainersStorage => "containers-storage",
        Source::OrchestratorAnnotation => "orchestrator-annotation",
    }
}

/// Everything besides the effective spec that goes into a decision.
pub struct Subject<'a> {
    pub operation: Operation,
    pub context: &'a PolicyContext,
    /// The effective spec (after the baseline; for update, with the new limits).
    pub spec: &'a Spec,
    /// The process decided on: the init process, or the exec'd one.
    pub process: &'a Process,
    pub secrets: &'a [String],
}

/// The input for `subject`. `trusted_agent_engines` (host config) decides whether the
/// agent annotation is an identity (`agent.trusted`): only an engine whose caller alone
/// writes the spec's annotations can vouch for it. Podman users (`--annotation`) and pod
/// authors (allowlisted pod annotations) write the annotation of their own workload, so
/// from them it is a claim, which the policy lets narrow but never widen (issue #15).
pub fn build(subject: &Subject, trusted_agent_engines: &[EngineName]) -> Value {
    let spec = subject.spec;
    let annotations = spec.annotations().clone().unwrap_or_default();
    let id = annotations.get(AGENT_ANNOTATION);
    let trusted = id.is_some()
        && subject
            .context
            .engine()
            .is_some_and(|engine| trusted_agent_engines.contains(&engine));
    let agent = json!({
        "id": id,
        "task": annotations.get(TASK_ANNOTATION),
        "trusted": trusted,
    });
    json!({
        "version": VERSION,
        "operation": subject.operation,
        "container": subject.context.container,
        "agent": agent,
        "annotations": annotations,
        "image": subject.context.image,
        "process": process(subject.process),
        "mounts": mounts(spec),
        "namespaces": namespaces(spec),
        "resources": resources(spec),
        "secrets": subject.secrets,
        "seccomp_profile": subject.context.seccomp_profile,
        "apparmor_profile": subject.process.apparmor_profile(),
    })
}

fn process(process: &Process) -> Value {
    let env_names: Vec<&str> = process
        .env()
        .iter()
        .flatten()
        .map(|entry| {
            entry
                .split_once('=')
                .map_or(entry.as_str(), |(name, _)| name)
        })
        .collect();
    let mut capabilities: Vec<String> = process
        .capabilities()
        .as_ref()
        .and_then(|c| c.effective().as_ref())
        .into_iter()
        .flatten()
        .filter_map(|cap| serde_json::to_value(cap).ok())
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    capabilities.sort();
    json!({
        "uid": process.user().uid(),
        "gid": process.user().gid(),
        "args": process.args().clone().unwrap_or_default(),
        "env_names": env_names,
        "cwd": process.cwd(),
        "capabilities": capabilities,
        "no_new_privileges": process.no_new_privileges().unwrap_or(false),
    })
}

fn mounts(spec: &Spec) -> Value {
    spec.mounts()
        .iter()
        .flatten()
        .map(|m| {
            json!({
                "destination": m.destination(),
                "type": m.typ(),
                "source": m.source(),
                "options": m.options().clone().unwrap_or_default(),
            })
        })
        .collect()
}

fn namespaces(spec: &Spec) -> Value {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
        .map(|ns| {
            json!({
                "type": serde_json::to_value(ns.typ()).unwrap_or(Value::Null),
                "path": ns.path(),
            })
        })
        .collect()
}

fn resources(spec: &Spec) -> Value {
    let resources = spec.linux().as_ref().and_then(|l| l.resources().as_ref());
    let memory = resources
        .and_then(|r| r.memory().as_ref())
        .and_then(|m| m.limit());
    let cpus = resources.and_then(|r| r.cpu().as_ref()).and_then(|cpu| {
        let quota = cpu.quota().filter(|q| *q > 0)?;
        let period = cpu.period().filter(|p| *p > 0).unwrap_or(100_000);
        Some(quota as f64 / period as f64)
    });
    let pids = resources.and_then(|r| r.pids().as_ref()).map(|p| p.limit());
    json!({ "memory_bytes": memory, "cpus": cpus, "pids": pids })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn agent(engine: &Engine, annotations: &[(&str, &str)], trusted: &[EngineName]) -> Value {
        let context = PolicyContext::new("c1", engine, &Identity::Unknown(String::new()));
        let mut spec = Spec::default();
        let annotations: HashMap<String, String> = annotations
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        spec.set_annotations(Some(annotations));
        let process = spec.process().clone().unwrap();
        build(
            &Subject {
                operation: Operation::Create,
                context: &context,
                spec: &spec,
                process: &process,
                secrets: &[],
            },
            trusted,
        )["agent"]
            .clone()
    }

    #[test]
    fn an_agent_is_trusted_only_from_a_trusted_engine() {
        let named = [(AGENT_ANNOTATION, "research-agent"), (TASK_ANNOTATION, "t")];
        let default = [EngineName::Other];
        assert_eq!(
            agent(&Engine::Other, &named, &default),
            json!({"id": "research-agent", "task": "t", "trusted": true})
        );
        assert_eq!(agent(&Engine::Podman, &named, &default)["trusted"], false);
        let cri = Engine::Cri {
            sandbox_id: "s".into(),
            pod_uid: None,
            sandbox: false,
        };
        assert_eq!(agent(&cri, &named, &default)["trusted"], false);
        assert_eq!(agent(&Engine::Other, &named, &[])["trusted"], false);
        assert_eq!(
            agent(&Engine::Podman, &named, &[EngineName::Podman])["trusted"],
            true
        );
        // No agent is never a trusted one.
        assert_eq!(
            agent(&Engine::Other, &[], &default),
            json!({"id": null, "task": null, "trusted": false})
        );
    }

    #[test]
    fn a_record_naming_no_known_engine_is_never_trusted() {
        let mut context =
            PolicyContext::new("c1", &Engine::Other, &Identity::Unknown(String::new()));
        assert_eq!(context.engine(), Some(EngineName::Other));
        context.container["engine"] = json!("docker");
        assert_eq!(context.engine(), None);
    }
}
