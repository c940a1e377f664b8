//! The spec pipeline: from the engine's `<bundle>/config.json` to the effective spec that
//! libcontainer runs.
//!
//! libcontainer takes no Spec object: it re-reads `config.json` from the bundle it is
//! given, at create and again at every exec. So the effective spec is written to
//! bulwark's private directory and that directory is the bundle libcontainer sees; the
//! engine's bundle is never modified.
//!
//! Stages, in order: read (size-limited) → admission → resolve bundle-relative paths →
//! default cgroupsPath → namespace paths, each opened and checked once (create joins
//! those descriptors), and whose user namespace they belong to → the mandatory baseline
//! → admission's checks of the ids the process runs as → secrets → runc's mount
//! extensions (crate::scratch) → bind sources, each opened and checked once (create
//! mounts those descriptors). Before any of it, on the engine's raw document,
//! CRI sandbox limits and admission. The policy decision plugs in here.

use std::io;
use std::path::{Path, PathBuf};

use libcontainer::oci_spec::runtime::{LinuxNamespaceType, LinuxSeccomp, Mount, Spec};

use serde::Deserialize;
use serde_json::Value;

use crate::admission::{
    self, fill_pod_member_pids, fill_sandbox_limits, Input as AdmissionInput, Refused, Violation,
};
use crate::atomic_file;
use crate::baseline::{Baseline, BaselineError, Change};
use crate::binds::Pinned;
use crate::bounded_read::{read_path_bounded, BoundedReadError};
use crate::config::{AdmissionConfig, SecretsConfig, UserNamespaceMode};
use crate::engine::binding::{self, Binding, Evidence, PodmanRecord, Sandboxes};
use crate::engine::Engine;
use crate::image_identity::Identity;
use crate::namespace_paths;
use crate::policy::input::PolicyContext;
use crate::scratch;
use crate::secrets::{self, Delivery, SecretsError};
use crate::user_namespace_share::{self, Holder, Joined};

/// A config.json larger than this is refused before it is parsed. Real specs are tens of
/// KiB; the limit keeps a hostile bundle from making bulwark allocate without bound.
pub const MAX_SPEC_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot read {path}: it is {kind}, not a regular file")]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{path} is {size} bytes; at most {MAX_SPEC_BYTES} bytes are accepted")]
    TooLarge { path: PathBuf, size: u64 },
    #[error("{path} is not a valid OCI runtime spec: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// Checked before the typed parse, whose message would repeat the value (`invalid
    /// type: string "ghp_…"`): an environment may hold a secret.
    #[error(
        "{path}: {field} must be an array of \"NAME=value\" strings; its value is withheld, \
         as it may hold a secret"
    )]
    EnvNotStrings { path: PathBuf, field: String },
    #[error("ociVersion {0:?} is not supported: only 1.x specs are")]
    UnsupportedVersion(String),
    #[error("root.path is missing from the spec")]
    NoRoot,
    #[error("process is missing from the spec")]
    NoProcess,
    #[error("root.path {path}: {source}")]
    Rootfs { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Baseline(#[from] BaselineError),
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error("cannot write the effective spec {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

/// Reads a JSON document of at most [`MAX_SPEC_BYTES`].
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, SpecError> {
    let bytes = read_path_bounded(path, MAX_SPEC_BYTES).map_err(|e| match e {
        BoundedReadError::Io(source) => SpecError::Read {
            path: path.to_owned(),
            source,
        },
        BoundedReadError::TooLarge { size, .. } => SpecError::TooLarge {
            path: path.to_owned(),
            size,
        },
        BoundedReadError::NotRegular(kind) => SpecError::NotRegular {
            path: path.to_owned(),
            kind,
        },
    })?;
    parse_json(&bytes, path)
}

/// `process["env"]` is absent or an array of strings; otherwise an error that names
/// `field` and never the value.
pub fn env_is_strings(process: &Value, path: &Path, field: &str) -> Result<(), SpecError> {
    match &process["env"] {
        Value::Null => Ok(()),
        Value::Array(entries) if entries.iter().all(Value::is_string) => Ok(()),
        _ => Err(SpecError::EnvNotStrings {
            path: path.to_owned(),
            field: field.to_owned(),
        }),
    }
}

/// Parses a JSON document already in memory; `path` names it in the error. The half of
/// [`read_json`] the fuzz targets drive with bytes that never touched the disk.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    path: &Path,
) -> Result<T, SpecError> {
    serde_json::from_slice(bytes).map_err(|source| SpecError::Parse {
        path: path.to_owned(),
        source,
    })
}

/// What the pipeline needs besides the bundle.
pub struct PipelineInput<'a> {
    pub bundle: &'a Path,
    pub container_id: &'a str,
    pub systemd_cgroup: bool,
    pub baseline: &'a Baseline<'a>,
    pub admission: &'a AdmissionConfig,
    pub secrets: &'a SecretsConfig,
    /// Where the container's secrets tmpfs will be mounted (the bind source).
    pub secrets_dir: &'a Path,
    /// The CRI sandboxes bulwark runs, which CRI claims are held against.
    pub sandboxes: &'a dyn Sandboxes,
}

/// The spec libcontainer runs, every rewrite made to get there, what the policy engine
/// is told about the container, and the secrets to deliver (`secrets.names()`: names
/// only, for the policy input and audit).
pub struct Effective {
    pub spec: Spec,
    pub changes: Vec<Change>,
    pub context: PolicyContext,
    /// The image the container runs, as admission identified it (crate::identity holds
    /// an agent token's image against it).
    pub image: Identity,
    pub secrets: Delivery,
    /// The tmpfs mounts whose image contents create copies up (crate::scratch).
    pub scratch: scratch::Plan,
    /// The engine's bind sources, open and admitted, for create to stage (crate::binds).
    pub binds: Vec<Pinned>,
    /// The namespace paths, open and verified, for create to join through
    /// (crate::namespace_paths).
    pub namespaces: Vec<namespace_paths::Opened>,
    /// The container whose user namespace and range this one joins
    /// (crate::user_namespace_share), for create to share its lease.
    pub user_namespace_holder: Option<Holder>,
    /// The engine's own seccomp profile, which `spec` no longer holds (it holds
    /// bulwark's): loaded as a second filter by crate::executor.
    pub engine_seccomp: Option<LinuxSeccomp>,
}

/// What admission established about the engine's document.
pub struct Admitted {
    /// Limits filled in for a CRI sandbox, as baseline changes.
    pub changes: Vec<Change>,
    pub context: PolicyContext,
    pub image: Identity,
    /// The engine the spec claims, and the claim held (crate::engine::binding).
    pub engine: Engine,
    pub binding: Binding,
}

/// Builds the effective spec for a new container from the engine's bundle.
pub fn effective_spec(input: &PipelineInput) -> Result<Effective, SpecError> {
    let path = input.bundle.join("config.json");
    let raw: Value = read_json(&path)?;
    effective_spec_of(raw, &path, input)
}

/// The pipeline after the read: `raw` is the engine's config.json, already parsed, and
/// `path` names it in errors. [`effective_spec`] is this after [`read_json`]; the fuzz
/// target `spec_admission` calls it with documents that were never written to a file.
/// The bundle (`input.bundle`) is still read: the rootfs, relative bind sources.
pub fn effective_spec_of(
    mut raw: Value,
    path: &Path,
    input: &PipelineInput,
) -> Result<Effective, SpecError> {
    // Types first: a field of the wrong type is reported as such, not as whatever
    // admission makes of a document it cannot read (`"linux": []` has no limits).
    env_is_strings(&raw["process"], path, "process.env")?;
    Spec::deserialize(&raw).map_err(|source| SpecError::Parse {
        path: path.to_owned(),
        source,
    })?;
    let Admitted {
        mut changes,
        context,
        image,
        engine,
        binding,
    } = admit_document(
        &mut raw,
        &Evidence {
            bundle: input.bundle,
            container_id: input.container_id,
            sandboxes: input.sandboxes,
        },
        input.admission,
    )?;
    let mut spec: Spec = serde_json::from_value(raw).map_err(|source| SpecError::Parse {
        path: path.to_owned(),
        source,
    })?;
    if !spec.version().starts_with("1.") {
        return Err(SpecError::UnsupportedVersion(spec.version().clone()));
    }
    resolve_bundle_paths(&mut spec, input.bundle)?;
    default_cgroups_path(&mut spec, input);
    if spec.process().is_none() {
        return Err(SpecError::NoProcess);
    }
    let engine_seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().clone());
    // Before the baseline: whether the container may get a user namespace, and which,
    // depends on whose the namespaces it joins are (crate::user_namespace_share).
    let mut namespaces = open_namespaces(&spec, &binding)?;
    let joined = joined_user_namespaces(&spec, &namespaces, input);
    changes.extend(input.baseline.apply_to_spec_joining(&mut spec, &joined)?);
    let user_namespace_holder = join_through_descriptor(joined, &spec, &mut namespaces);
    // The same profile twice would only cost a second run of it on every syscall.
    let engine_seccomp = engine_seccomp
        .filter(|own| Some(own) != spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()));
    // Admission's checks of the ids the process really runs as, known only now.
    let violations = admission::admit_effective(&spec, input.admission);
    if !violations.is_empty() {
        return Err(Refused(violations).into());
    }
    // After the baseline: the files belong to the uid the process really runs as.
    let secrets = secrets::plan(
        &mut spec,
        &secrets::PlanInput {
            config: input.secrets,
            engine: &engine,
            container_id: input.container_id,
            store_dir: input.secrets_dir,
        },
        &mut changes,
    )?;
    // Last of the rewrites: the mount indices it keeps are final.
    let scratch = scratch::plan(&mut spec, &mut changes);
    let binds = pin_binds(&spec, &engine, &binding, input)?;
    Ok(Effective {
        spec,
        changes,
        context,
        image,
        secrets,
        scratch,
        binds,
        namespaces,
        user_namespace_holder,
        engine_seccomp,
    })
}

/// How the namespaces the spec joins stand to the user namespace the baseline would
/// give it: looked at only where it gives one (mode auto, none in the spec).
fn joined_user_namespaces(
    spec: &Spec,
    namespaces: &[namespace_paths::Opened],
    input: &PipelineInput,
) -> Joined {
    let pool = input.baseline.user_namespace_pool();
    if pool.mode == UserNamespaceMode::Off
        || crate::id_mapping::has_user_namespace(spec)
        || namespaces.is_empty()
    {
        return Joined::Nothing;
    }
    user_namespace_share::classify(namespaces, |user_namespace| {
        input.sandboxes.leased_user_namespace(pool, user_namespace)
    })
}

/// Where the baseline had the container join another container's user namespace: the
/// join goes through the descriptor classified (crate::namespace_paths), like every
/// other joined namespace. Returns the container holding that namespace's range.
fn join_through_descriptor(
    joined: Joined,
    spec: &Spec,
    namespaces: &mut Vec<namespace_paths::Opened>,
) -> Option<Holder> {
    let Joined::Leased {
        holder,
        user_namespace,
    } = joined
    else {
        return None;
    };
    let index = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())?
        .iter()
        .position(|ns| ns.typ() == LinuxNamespaceType::User)?;
    namespaces.push(namespace_paths::Opened {
        index,
        typ: LinuxNamespaceType::User,
        fd: user_namespace,
        path: holder.path(),
    });
    Some(holder)
}

/// Where a container's binds are staged: beside its secrets, in its private directory.
pub fn binds_dir(secrets_dir: &Path) -> PathBuf {
    secrets_dir.with_file_name("binds")
}

/// Where a container's copied-up tmpfs mounts are staged (crate::scratch), beside its
/// binds.
pub fn scratch_dir(secrets_dir: &Path) -> PathBuf {
    secrets_dir.with_file_name("scratch")
}

/// Opens every bind source of the engine's spec and admits it again on that descriptor,
/// the one create mounts (crate::binds). Runs last, on the finished spec, so the mount
/// indices stay; bulwark's own binds are skipped: the secrets directory, and the
/// baseline's cgroup v1 binds (its read-only cover, the container's own cgroups where a
/// joined pid namespace keeps libcontainer from mounting them), which must be resolved
/// inside the container (crate::baseline::is_own_cgroup_bind).
fn pin_binds(
    spec: &Spec,
    engine: &Engine,
    binding: &Binding,
    input: &PipelineInput,
) -> Result<Vec<Pinned>, SpecError> {
    let binds_dir = binds_dir(input.secrets_dir);
    let mounts = spec.mounts().as_deref().unwrap_or_default();
    let mut pinned = Vec::new();
    for (index, mount) in mounts.iter().enumerate() {
        let Some(source) = mount.source().as_deref().filter(|_| is_bind(mount)) else {
            continue;
        };
        if crate::baseline::is_own_cgroup_bind(mounts, index) || source == input.secrets_dir {
            continue;
        }
        let read_only = mount.options().iter().flatten().any(|o| o == "ro");
        let bind = admission::Bind {
            source,
            read_only,
            engine,
            binding: Some(binding),
            container_id: input.container_id,
        };
        let source = admission::admit_bind_source(&bind, input.admission).map_err(|allowed| {
            Refused(vec![Violation {
                rule: admission::HOST_PATH,
                path: format!("mounts[{index}].source"),
                value: format!("{:?}", source.display().to_string()),
                allowed,
            }])
        })?;
        let recursive = mount
            .options()
            .iter()
            .flatten()
            .any(|option| option == "rbind");
        pinned.push(Pinned {
            index,
            source,
            recursive,
            staged_at: binds_dir.join(pinned.len().to_string()),
        });
    }
    Ok(pinned)
}

/// Opens every namespace path once and verifies the descriptor (crate::namespace_paths):
/// the authoritative half of admission's `namespaces.host`, which saw only the path. A
/// CRI container joins its own sandbox's namespaces and no one else's.
fn open_namespaces(
    spec: &Spec,
    binding: &Binding,
) -> Result<Vec<namespace_paths::Opened>, SpecError> {
    let owner = match binding {
        Binding::CriContainer { sandbox_init } => namespace_paths::Owner::Sandbox(*sandbox_init),
        _ => namespace_paths::Owner::AnyButTheHost,
    };
    namespace_paths::open_all(spec, owner).map_err(|refusal| {
        SpecError::Refused(Refused(vec![Violation {
            rule: admission::HOST_NAMESPACE,
            path: format!("linux.namespaces[{}].path", refusal.index),
            value: format!("{:?}", refusal.path.display().to_string()),
            allowed: refusal.error.to_string(),
        }]))
    })
}

/// The stages on the engine's raw document: the engine's claim held against the
/// evidence, CRI sandbox limits, then admission. Shared by create/run and `bulwark
/// validate`.
pub fn admit_document(
    raw: &mut Value,
    evidence: &Evidence,
    config: &AdmissionConfig,
) -> Result<Admitted, Refused> {
    let container_id = evidence.container_id;
    let engine = Engine::detect(raw, container_id);
    let bound = binding::bind(&engine, raw, evidence);
    let sandbox = matches!(engine, Engine::Cri { sandbox: true, .. })
        || matches!(&bound, Ok(Binding::Podman { record, .. }) if record.infra);
    let filled = fill_sandbox_limits(raw, sandbox, config);
    let pod_member = matches!(&bound, Ok(Binding::Podman { record, .. })
        if record.pod_infra.is_some() && !record.infra);
    let member_pids = fill_pod_member_pids(raw, pod_member, config);
    let input = AdmissionInput::new(
        raw,
        evidence.bundle,
        container_id,
        engine.clone(),
        bound.clone(),
        config,
    );
    let violations = admission::admit(&input);
    let binding = match bound {
        Ok(binding) if violations.is_empty() => binding,
        _ => return Err(Refused(violations)),
    };
    let mut context = PolicyContext::new(container_id, &engine, input.image());
    if let Binding::Podman { record, .. } = &binding {
        podman_context(&mut context, record);
    }
    let mut changes: Vec<Change> = filled
        .into_iter()
        .map(|path| Change {
            control: "sandbox-limits",
            path: path.to_owned(),
            before: Value::Null,
            after: Value::String("admission.resources.sandbox_*".into()),
            reason: "containerd and Podman leave a pod's sandbox (infra) container unlimited; \
                     bulwark limits it",
        })
        .collect();
    changes.extend(member_pids.map(|path| Change {
        control: "pod-member-pids",
        path: path.to_owned(),
        before: Value::Null,
        after: Value::String("admission.resources.pod_member_pids".into()),
        reason: "podman kube play gives a pod's containers no pids limit; the operator's applies",
    }));
    Ok(Admitted {
        changes,
        context,
        image: input.image().clone(),
        engine,
        binding,
    })
}

/// What libpod recorded, for the policy input and the audit record: an infra container
/// is its pod's sandbox, and the named volumes it binds are listed by name, so a policy
/// can restrict volumes per agent.
fn podman_context(context: &mut PolicyContext, record: &PodmanRecord) {
    if record.infra {
        context.container["type"] = "sandbox".into();
    }
    if !record.volumes.is_empty() {
        let names: Vec<&str> = record.volumes.iter().map(|v| v.name.as_str()).collect();
        context.container["volumes"] = serde_json::json!(names);
    }
}

/// runc resolves a relative `root.path` and relative bind-mount sources against the
/// bundle (it chdirs into it). The effective spec lives elsewhere, so they become
/// absolute here.
fn resolve_bundle_paths(spec: &mut Spec, bundle: &Path) -> Result<(), SpecError> {
    let mut root = spec.root().clone().ok_or(SpecError::NoRoot)?;
    let rootfs = bundle.join(root.path());
    let rootfs = std::fs::canonicalize(&rootfs).map_err(|source| SpecError::Rootfs {
        path: rootfs.clone(),
        source,
    })?;
    root.set_path(rootfs);
    spec.set_root(Some(root));

    if let Some(mounts) = spec.mounts_mut() {
        for mount in mounts.iter_mut().filter(|m| is_bind(m)) {
            if let Some(source) = mount.source().as_ref().filter(|s| s.is_relative()) {
                let absolute = bundle.join(source);
                mount.set_source(Some(absolute));
            }
        }
    }
    Ok(())
}

/// Where bulwark puts a container whose spec names no cgroup (cgroupfs driver).
pub const DEFAULT_CGROUP_PARENT: &str = "/bulwark";

/// Without a cgroupsPath libcontainer would use ":youki:<id>", which on the cgroupfs
/// driver becomes a directory of that literal name in every controller. bulwark's
/// default groups its containers: "/bulwark/<id>", or "system.slice:bulwark:<id>" under
/// systemd.
fn default_cgroups_path(spec: &mut Spec, input: &PipelineInput) {
    let Some(linux) = spec.linux_mut() else {
        return;
    };
    if linux.cgroups_path().is_none() {
        let path = if input.systemd_cgroup {
            format!("system.slice:bulwark:{}", input.container_id)
        } else {
            format!("{DEFAULT_CGROUP_PARENT}/{}", input.container_id)
        };
        linux.set_cgroups_path(Some(path.into()));
    }
}

fn is_bind(mount: &Mount) -> bool {
    mount.typ().as_deref() == Some("bind")
        || mount
            .options()
            .as_ref()
            .is_some_and(|o| o.iter().any(|o| o == "bind" || o == "rbind"))
}

pub fn write_effective_spec(spec: &Spec, path: &Path) -> Result<(), SpecError> {
    let write_err = |source| SpecError::Write {
        path: path.to_owned(),
        source,
    };
    let bytes = serde_json::to_vec_pretty(spec).map_err(|e| write_err(e.into()))?;
    atomic_file::write(path, &bytes, 0o600).map_err(write_err)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::baseline::HostSupport;
    use crate::config::BaselineConfig;

    fn bundle_with(config: serde_json::Value) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("rootfs")).unwrap();
        fs::create_dir(dir.path().join("data")).unwrap();
        fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
        dir
    }

    fn effective(bundle: &Path) -> Result<Spec, SpecError> {
        // The fixtures bind a directory of the bundle itself.
        let mut admission = AdmissionConfig::default();
        admission.mounts.allowed_host_paths = vec![fs::canonicalize(bundle).unwrap()];
        admission.images.approved = vec!["registry.example.com/agents".into()];
        admission.images.trust_annotation = true;
        let mut config = BaselineConfig::default();
        config.apparmor.allow_missing = true;
        let host = HostSupport {
            apparmor_enabled: false,
            apparmor_profiles: Default::default(),
            cgroup_v1_hierarchies: Vec::new(),
            cgroup_v2: false,
        };
        let baseline = Baseline::new(&config, &host);
        effective_spec(&PipelineInput {
            bundle,
            container_id: "c1",
            systemd_cgroup: false,
            baseline: &baseline,
            admission: &admission,
            secrets: &SecretsConfig::default(),
            secrets_dir: &bundle.join("secrets"),
            sandboxes: &binding::NoSandboxes,
        })
        .map(|effective| effective.spec)
    }

    fn minimal(extra_mounts: serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.0.2",
            "process": {"args": ["/probe"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "root": {"path": "rootfs"},
            "annotations": {"bulwark.io/image": "registry.example.com/agents/probe:1"},
            "mounts": extra_mounts,
            "linux": {
                "resources": {"memory": {"limit": 1 << 27}, "cpu": {"quota": 50000}, "pids": {"limit": 64}},
                "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                               {"type": "uts"}, {"type": "mount"}]
            },
        })
    }

    #[test]
    fn relative_root_and_bind_sources_become_absolute() {
        let bundle = bundle_with(minimal(serde_json::json!([
            {"destination": "/data", "type": "bind", "source": "data", "options": ["rbind"]},
            {"destination": "/proc", "type": "proc", "source": "proc"},
        ])));
        let spec = effective(bundle.path()).unwrap();
        let canonical = fs::canonicalize(bundle.path()).unwrap();
        assert_eq!(
            spec.root().as_ref().unwrap().path(),
            &canonical.join("rootfs")
        );
        let source = |destination: &str| {
            let mounts = spec.mounts().as_ref().unwrap();
            let mount = mounts
                .iter()
                .find(|m| m.destination() == Path::new(destination));
            mount.unwrap().source().clone().unwrap()
        };
        assert_eq!(source("/data"), bundle.path().join("data"));
        // Only bind sources are paths; "proc" names the filesystem.
        assert_eq!(source("/proc"), Path::new("proc"));
    }

    #[test]
    fn admission_sees_the_raw_spec_and_reports_every_violation() {
        let mut config = minimal(serde_json::json!([]));
        config["linux"]["resources"] = serde_json::json!({});
        config["hooks"] = serde_json::json!({"prestart": [{"path": "/bin/evil"}]});
        let bundle = bundle_with(config);
        match effective(bundle.path()) {
            Err(SpecError::Refused(Refused(violations))) => {
                let rules: Vec<_> = violations.iter().map(|v| v.rule).collect();
                assert_eq!(
                    rules,
                    [
                        "resources.memory-limit",
                        "resources.cpu-limit",
                        "resources.pids-limit",
                        "hooks.not-allowed"
                    ]
                );
            }
            other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn user_namespace_ids_are_checked_as_the_baseline_leaves_them() {
        // uid 0 is mapped, but the baseline runs the process as 65532, which is not.
        let mut config = minimal(serde_json::json!([]));
        config["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "user"}));
        let small = serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 1000}]);
        config["linux"]["uidMappings"] = small.clone();
        config["linux"]["gidMappings"] = small;
        let bundle = bundle_with(config);
        match effective(bundle.path()) {
            Err(SpecError::Refused(Refused(violations))) => {
                let found: Vec<_> = violations
                    .iter()
                    .map(|v| (v.rule, v.path.as_str(), v.value.as_str()))
                    .collect();
                assert_eq!(
                    found,
                    [
                        ("namespaces.user-mapping", "process.user.uid", "65532"),
                        ("namespaces.user-mapping", "process.user.gid", "65532")
                    ]
                );
            }
            other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn cgroups_path_defaults_under_bulwark() {
        let bundle = bundle_with(minimal(serde_json::json!([])));
        let spec = effective(bundle.path()).unwrap();
        let linux = spec.linux().as_ref().unwrap();
        assert_eq!(
            linux.cgroups_path().as_deref(),
            Some(Path::new("/bulwark/c1"))
        );
    }

    #[test]
    fn oversized_spec_is_refused_before_parsing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(&path, vec![b' '; MAX_SPEC_BYTES as usize + 1]).unwrap();
        assert!(matches!(
            effective(dir.path()),
            Err(SpecError::TooLarge { .. })
        ));
    }

    #[test]
    fn unsupported_version_is_refused() {
        let mut config = minimal(serde_json::json!([]));
        config["ociVersion"] = "2.0.0".into();
        let bundle = bundle_with(config);
        assert!(matches!(
            effective(bundle.path()),
            Err(SpecError::UnsupportedVersion(_))
        ));
    }

    #[test]
    fn missing_rootfs_names_the_path() {
        let mut config = minimal(serde_json::json!([]));
        config["root"]["path"] = "nope".into();
        let bundle = bundle_with(config);
        let err = effective(bundle.path()).unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");
    }
}
