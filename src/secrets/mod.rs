//! File-based secrets (seeds: secrets reach a container only as files, `NAME_FILE`,
//! never in the environment or the image).
//!
//! Each secret is copied into a per-container tmpfs under bulwark's private directory,
//! which is bind-mounted read-only at `secrets.target` (`/run/secrets`). Sources:
//!
//! - the orchestrator annotation `bulwark.io/secrets`, a JSON object of name → host
//!   path, each file under `secrets.source_dirs` (callers other than Podman and CRI,
//!   whose users can write annotations);
//! - Podman's `--secret NAME` (type mount): Podman writes the value to
//!   `<graphroot>/<driver>-containers/<id>/userdata/secrets/NAME` and binds it at
//!   `/run/secrets/NAME`; bulwark drops that bind (and Podman's `/run/secrets`
//!   directory bind) and serves the same bytes from its tmpfs instead.
//!
//! Kubernetes secret volumes under containerd CRI are left as they are: kubelet already
//! serves them from a tmpfs in the pod's directory (see README, "Secrets").
//!
//! [`plan`] (a pipeline stage) decides what is delivered and rewrites the spec; values
//! are never read there and never reach the spec. [`Delivery::deliver`] (create) mounts
//! the tmpfs and copies the files; [`remove`] (delete, failed create) unmounts it.

mod source;
mod store;
mod target;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use libcontainer::oci_spec::runtime::{LinuxIdMapping, Mount, MountBuilder, Spec};
use serde_json::Value;

use crate::baseline::Change;
use crate::config::{is_plain_absolute, SecretsConfig};
use crate::engine::Engine;
use crate::id_mapping::{has_user_namespace, host_id};

pub use source::SourceError;
pub use store::{remove, StoreError};
pub use target::TargetError;

/// The orchestrator's annotation: `{"NAME": "/host/path", ...}`.
pub const ANNOTATION: &str = "bulwark.io/secrets";

/// Longest secret name (one file name).
const MAX_NAME_LEN: usize = 255;

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("secrets: annotation {ANNOTATION} must be a JSON object of name to host path")]
    Annotation,
    #[error(
        "secrets: annotation {ANNOTATION} is not accepted from {engine}: its users can write \
         annotations; use {instead}"
    )]
    AnnotationFromEngine {
        engine: &'static str,
        instead: &'static str,
    },
    #[error(
        "secrets: annotation {ANNOTATION} names secrets but the host config allows no source \
         directory (secrets.source_dirs)"
    )]
    NoSourceDirs,
    #[error(
        "secrets: {name:?}: source {path} is not a file under secrets.source_dirs ({allowed})"
    )]
    OutsideSourceDirs {
        name: String,
        path: PathBuf,
        allowed: String,
    },
    #[error(
        "secrets: invalid secret name {name:?}: 1 to {MAX_NAME_LEN} of A-Z a-z 0-9 _ . -, \
         not \".\" or \"..\""
    )]
    InvalidName { name: String },
    #[error(
        "secrets: {name:?} would be delivered from {}, the secret {file:?}: a secret is \
         delivered under its source's own name, the one the policy decides on (name it {file:?})",
        from.display()
    )]
    SourceName {
        name: String,
        from: PathBuf,
        file: String,
    },
    #[error("secrets: {name:?} is delivered twice")]
    Duplicate { name: String },
    #[error("secrets: {count} secrets; at most secrets.max_count = {max}")]
    TooMany { count: usize, max: usize },
    #[error(
        "secrets: Podman secret at {destination}: bulwark delivers secrets only as \
         {target}/NAME (use --secret NAME)"
    )]
    PodmanTarget {
        destination: PathBuf,
        target: PathBuf,
    },
    #[error(
        "secrets: Podman secret {secret:?} is mounted as {name:?}: bulwark delivers a \
         secret under its own name, the one the policy decides on (use --secret {secret})"
    )]
    PodmanAlias { secret: String, name: String },
    #[error(
        "secrets: Podman's {target} directory ({source_dir}) holds default mounts \
         (mounts.conf); they cannot be combined with bulwark's secrets tmpfs"
    )]
    PodmanDefaultMounts {
        target: PathBuf,
        source_dir: PathBuf,
    },
    #[error(
        "secrets: mounts[{index}] at {destination} is at or below the secrets target {target}"
    )]
    TargetConflict {
        index: usize,
        destination: PathBuf,
        target: PathBuf,
    },
    #[error("secrets: process.user {kind} {id} has no mapping in linux.{kind}Mappings")]
    Unmapped { kind: &'static str, id: u32 },
    #[error("secrets: the spec has no root or process")]
    Incomplete,
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One secret to deliver: its file name under the target, and the host file it is
/// copied from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Secret {
    name: String,
    source: PathBuf,
}

/// What [`plan`] decided: the secrets of one container, who owns them, and the limits.
/// Holds names and host paths, never values. The default delivers nothing.
#[derive(Debug, Default)]
pub struct Delivery {
    secrets: Vec<Secret>,
    owner: store::Owner,
    max_bytes: u64,
    tmpfs_size_bytes: u64,
}

impl Delivery {
    /// The delivered secrets' names (for the policy input and the audit record).
    pub fn names(&self) -> Vec<String> {
        self.secrets.iter().map(|s| s.name.clone()).collect()
    }

    /// Mounts the tmpfs at `dir` and copies every secret into it; nothing to do without
    /// secrets. Every source is opened and checked before anything is mounted. On error
    /// the caller removes the tmpfs with [`remove`].
    pub fn deliver(&self, dir: &Path) -> Result<(), SecretsError> {
        if self.secrets.is_empty() {
            return Ok(());
        }
        let opened = self
            .secrets
            .iter()
            .map(|s| {
                Ok((
                    s.name.as_str(),
                    source::open(&s.name, &s.source, self.max_bytes)?,
                ))
            })
            .collect::<Result<Vec<_>, SecretsError>>()?;
        let limits = store::Limits {
            size_bytes: self.tmpfs_size_bytes,
            max_bytes: self.max_bytes,
        };
        store::write(dir, self.owner, &limits, opened)?;
        Ok(())
    }
}

/// What the secrets stage needs besides the spec.
pub struct PlanInput<'a> {
    pub config: &'a SecretsConfig,
    pub engine: &'a Engine,
    pub container_id: &'a str,
    /// Where [`Delivery::deliver`] will mount the tmpfs: the bind source.
    pub store_dir: &'a Path,
}

/// The pipeline stage: collects the container's secrets, replaces Podman's secret binds
/// with one read-only bind of the tmpfs at the target, and (if configured) adds
/// `NAME_FILE` to the environment. Runs after the baseline, so the files belong to the
/// uid the process really runs as. Leaves the spec untouched when there is no secret.
pub fn plan(
    spec: &mut Spec,
    input: &PlanInput,
    changes: &mut Vec<Change>,
) -> Result<Delivery, SecretsError> {
    let config = input.config;
    let mut secrets = from_annotation(spec, input)?;
    let podman = match input.engine {
        Engine::Podman => podman_binds(spec, input)?,
        _ => PodmanBinds::default(),
    };
    secrets.extend(podman.secrets);
    for (index, secret) in secrets.iter().enumerate() {
        if !valid_name(&secret.name) {
            return Err(SecretsError::InvalidName {
                name: secret.name.clone(),
            });
        }
        // Issue #21 item 1: the policy grants names; a name mapped to another secret's
        // file would deliver a secret the policy never saw. (Podman's binds are named
        // after the secret already: PodmanAlias.)
        let file = secret.source.file_name().map(|f| f.to_string_lossy());
        if file.as_deref() != Some(secret.name.as_str()) {
            return Err(SecretsError::SourceName {
                name: secret.name.clone(),
                from: secret.source.clone(),
                file: file.unwrap_or_default().into_owned(),
            });
        }
        if secrets[..index].iter().any(|s| s.name == secret.name) {
            return Err(SecretsError::Duplicate {
                name: secret.name.clone(),
            });
        }
    }
    if secrets.len() > config.max_count {
        return Err(SecretsError::TooMany {
            count: secrets.len(),
            max: config.max_count,
        });
    }
    if secrets.is_empty() {
        return Ok(Delivery::default());
    }
    let delivery = Delivery {
        secrets,
        owner: owner(spec)?,
        max_bytes: config.max_bytes,
        tmpfs_size_bytes: config.tmpfs_size_bytes,
    };

    let rootfs = spec
        .root()
        .as_ref()
        .map(|r| r.path().clone())
        .ok_or(SecretsError::Incomplete)?;
    target::check(&rootfs, &config.target)?;

    let mut mounts = spec.mounts().clone().unwrap_or_default();
    let mut index = 0;
    mounts.retain(|_| {
        let keep = !podman.consumed.contains(&index);
        index += 1;
        keep
    });
    for index in &podman.consumed {
        changes.push(Change {
            control: "secrets",
            path: format!("mounts[{index}]"),
            before: Value::String("Podman's on-disk secret bind".into()),
            after: Value::Null,
            reason: "Podman's secret files are served from bulwark's tmpfs instead of disk",
        });
    }
    if let Some((index, mount)) = mounts
        .iter()
        .enumerate()
        .find(|(_, m)| normalized(m.destination()).starts_with(&config.target))
    {
        return Err(SecretsError::TargetConflict {
            index,
            destination: mount.destination().clone(),
            target: config.target.clone(),
        });
    }
    // Last, so a tmpfs the engine mounts at a parent (/run) cannot cover it.
    mounts.push(secrets_mount(input.store_dir, &config.target));
    changes.push(Change {
        control: "secrets",
        path: format!("mounts[{}]", mounts.len() - 1),
        before: Value::Null,
        after: Value::String(format!(
            "{} (read-only tmpfs bind): {}",
            config.target.display(),
            delivery.names().join(", ")
        )),
        reason: "secrets are delivered as files on a tmpfs, never on disk or in the environment",
    });
    spec.set_mounts(Some(mounts));

    if config.inject_file_env {
        inject_file_env(spec, &config.target, &delivery.names(), changes);
    }
    Ok(delivery)
}

fn from_annotation(spec: &Spec, input: &PlanInput) -> Result<Vec<Secret>, SecretsError> {
    let Some(value) = spec.annotations().as_ref().and_then(|a| a.get(ANNOTATION)) else {
        return Ok(Vec::new());
    };
    match input.engine {
        Engine::Podman => {
            return Err(SecretsError::AnnotationFromEngine {
                engine: "Podman",
                instead: "podman secret create and --secret NAME",
            })
        }
        Engine::Cri { .. } => {
            return Err(SecretsError::AnnotationFromEngine {
                engine: "containerd CRI",
                instead: "a Kubernetes secret volume",
            })
        }
        Engine::Other => {}
    }
    let map: BTreeMap<String, PathBuf> =
        serde_json::from_str(value).map_err(|_| SecretsError::Annotation)?;
    let dirs = &input.config.source_dirs;
    if !map.is_empty() && dirs.is_empty() {
        return Err(SecretsError::NoSourceDirs);
    }
    map.into_iter()
        .map(|(name, path)| {
            let inside =
                is_plain_absolute(&path) && dirs.iter().any(|d| path.starts_with(d) && path != *d);
            if !inside {
                return Err(SecretsError::OutsideSourceDirs {
                    name,
                    path,
                    allowed: dirs
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            Ok(Secret { name, source: path })
        })
        .collect()
}

#[derive(Default)]
struct PodmanBinds {
    secrets: Vec<Secret>,
    /// Indexes of the mounts the tmpfs replaces.
    consumed: Vec<usize>,
}

/// Podman's binds of this container's secrets (`<graphroot>/<driver>-containers/<id>/
/// userdata/secrets/<secret>` at `/run/secrets/NAME`) and of its `/run/secrets`
/// directory (`<runroot>/<driver>-containers/<id>/userdata/run/secrets`), captured
/// from podman 4.3's config.json for `--secret`.
fn podman_binds(spec: &Spec, input: &PlanInput) -> Result<PodmanBinds, SecretsError> {
    let target = &input.config.target;
    let mut found = PodmanBinds::default();
    for (index, mount) in spec.mounts().iter().flatten().enumerate() {
        let Some(source) = mount.source().as_deref() else {
            continue;
        };
        let Some(within) = userdata_path(source, input.container_id) else {
            continue;
        };
        let destination = normalized(mount.destination());
        if let ["secrets", secret] = within.as_slice() {
            let name = destination
                .strip_prefix(target)
                .ok()
                .and_then(|rest| rest.to_str())
                .filter(|rest| !rest.contains('/') && !rest.is_empty());
            let Some(name) = name else {
                return Err(SecretsError::PodmanTarget {
                    destination,
                    target: target.clone(),
                });
            };
            // Podman names the file in userdata/secrets after the secret (libpod
            // createSecretMountDir), in its own root-owned state: the secret's identity.
            // The policy decides on the name, so a secret is delivered under its own
            // name only (issue #21 item 1: `--secret signing-key,target=…/openai-api-key`
            // was decided, and read, as openai-api-key).
            if name != *secret {
                return Err(SecretsError::PodmanAlias {
                    secret: (*secret).to_owned(),
                    name: name.to_owned(),
                });
            }
            found.secrets.push(Secret {
                name: name.to_owned(),
                source: source.to_owned(),
            });
            found.consumed.push(index);
        } else if within == ["run", "secrets"] && destination == *target {
            let empty = std::fs::read_dir(source).is_ok_and(|mut d| d.next().is_none());
            if !empty {
                return Err(SecretsError::PodmanDefaultMounts {
                    target: target.clone(),
                    source_dir: source.to_owned(),
                });
            }
            found.consumed.push(index);
        }
    }
    Ok(found)
}

/// The components of `source` after `<driver>-containers/<id>/userdata/`, when it lies
/// in this container's containers/storage directory.
fn userdata_path<'a>(source: &'a Path, container_id: &str) -> Option<Vec<&'a str>> {
    let parts: Vec<&str> = source
        .components()
        .map(|c| match c {
            Component::Normal(part) => part.to_str(),
            _ => Some(""),
        })
        .collect::<Option<_>>()?;
    let at = parts.windows(3).position(|w| {
        w[0].ends_with("-containers") && w[1] == container_id && w[2] == "userdata"
    })?;
    Some(parts[at + 3..].to_vec())
}

/// A destination without `.` components or trailing slash, for comparisons.
fn normalized(path: &Path) -> PathBuf {
    path.components().collect()
}

/// One file name: `[A-Za-z0-9_.-]`, not `.` or `..`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// The host uid/gid of the container's process: the spec's ids, mapped through the
/// user namespace's mappings when there is one.
fn owner(spec: &Spec) -> Result<store::Owner, SecretsError> {
    let user = spec
        .process()
        .as_ref()
        .ok_or(SecretsError::Incomplete)?
        .user();
    let Some(linux) = spec.linux().as_ref().filter(|_| has_user_namespace(spec)) else {
        return Ok(store::Owner {
            uid: user.uid(),
            gid: user.gid(),
        });
    };
    let map = |kind, id, mappings: &Option<Vec<LinuxIdMapping>>| {
        host_id(id, mappings).ok_or(SecretsError::Unmapped { kind, id })
    };
    Ok(store::Owner {
        uid: map("uid", user.uid(), linux.uid_mappings())?,
        gid: map("gid", user.gid(), linux.gid_mappings())?,
    })
}

/// The read-only bind of the tmpfs. `noexec,nosuid,nodev` again on the bind: its flags,
/// not the tmpfs's, are what the container's mount carries.
fn secrets_mount(store_dir: &Path, target: &Path) -> Mount {
    MountBuilder::default()
        .destination(target)
        .typ("bind")
        .source(store_dir)
        .options(
            ["bind", "ro", "nosuid", "nodev", "noexec", "rprivate"]
                .map(String::from)
                .to_vec(),
        )
        .build()
        .expect("every field of the secrets mount is set")
}

/// `NAME_FILE=<target>/NAME` for each secret, replacing a variable of that name.
fn inject_file_env(spec: &mut Spec, target: &Path, names: &[String], changes: &mut Vec<Change>) {
    let Some(mut process) = spec.process().clone() else {
        return;
    };
    let mut env = process.env().clone().unwrap_or_default();
    for name in names {
        let key = format!("{name}_FILE=");
        env.retain(|e| !e.starts_with(&key));
        env.push(format!("{key}{}", target.join(name).display()));
        changes.push(Change {
            control: "secrets",
            path: "process.env".into(),
            before: Value::Null,
            after: Value::String(format!("{name}_FILE")),
            reason: "secrets.inject_file_env points the process at each secret's file",
        });
    }
    process.set_env(Some(env));
    spec.set_process(Some(process));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "c0ffee";

    fn spec(rootfs: &Path, mounts: Value, annotations: Value) -> Spec {
        serde_json::from_value(json!({
            "ociVersion": "1.0.2",
            "process": {"args": ["/probe"], "cwd": "/", "user": {"uid": 65532, "gid": 65533},
                        "env": ["PATH=/bin", "token_FILE=/elsewhere"]},
            "root": {"path": rootfs},
            "mounts": mounts,
            "annotations": annotations,
        }))
        .unwrap()
    }

    fn plan_with(
        spec: &mut Spec,
        engine: Engine,
        config: &SecretsConfig,
    ) -> Result<(Delivery, Vec<Change>), SecretsError> {
        let mut changes = Vec::new();
        let delivery = plan(
            spec,
            &PlanInput {
                config,
                engine: &engine,
                container_id: ID,
                store_dir: Path::new("/state/@bulwark/c0ffee/secrets"),
            },
            &mut changes,
        )?;
        Ok((delivery, changes))
    }

    fn destinations(spec: &Spec) -> Vec<String> {
        spec.mounts()
            .iter()
            .flatten()
            .map(|m| m.destination().display().to_string())
            .collect()
    }

    #[test]
    fn podmans_secret_binds_are_replaced_by_the_tmpfs_bind() {
        let rootfs = tempfile::tempdir().unwrap();
        let runroot_dir = tempfile::tempdir().unwrap();
        let run_secrets = runroot_dir
            .path()
            .join(format!("overlay-containers/{ID}/userdata/run/secrets"));
        std::fs::create_dir_all(&run_secrets).unwrap();
        let secret = format!("/graph/overlay-containers/{ID}/userdata/secrets/db_password");
        let mut spec = spec(
            rootfs.path(),
            json!([
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/run/secrets", "type": "bind", "source": run_secrets,
                 "options": ["bind", "rprivate"]},
                {"destination": "/run/secrets/db_password", "type": "bind", "source": secret,
                 "options": ["bind", "rprivate"]},
            ]),
            json!({"io.container.manager": "libpod"}),
        );
        let (delivery, changes) =
            plan_with(&mut spec, Engine::Podman, &SecretsConfig::default()).unwrap();
        assert_eq!(delivery.names(), ["db_password"]);
        assert_eq!(delivery.secrets[0].source, Path::new(&secret));
        assert_eq!(
            delivery.owner,
            store::Owner {
                uid: 65532,
                gid: 65533
            }
        );
        assert_eq!(destinations(&spec), ["/proc", "/run/secrets"]);
        let bind = &spec.mounts().as_ref().unwrap()[1];
        assert_eq!(
            bind.source().as_deref(),
            Some(Path::new("/state/@bulwark/c0ffee/secrets"))
        );
        assert!(bind.options().as_ref().unwrap().contains(&"ro".to_owned()));
        assert_eq!(changes.len(), 3, "{changes:?}");
        // The environment is left alone unless the config asks.
        assert_eq!(
            spec.process().as_ref().unwrap().env().as_ref().unwrap()[1],
            "token_FILE=/elsewhere"
        );
    }

    #[test]
    fn a_podman_secret_elsewhere_or_a_non_empty_default_mounts_dir_is_refused() {
        let rootfs = tempfile::tempdir().unwrap();
        let secret = format!("/graph/overlay-containers/{ID}/userdata/secrets/db");
        let mut elsewhere = spec(
            rootfs.path(),
            json!([{"destination": "/etc/db", "type": "bind", "source": secret}]),
            json!({}),
        );
        assert!(matches!(
            plan_with(&mut elsewhere, Engine::Podman, &SecretsConfig::default()),
            Err(SecretsError::PodmanTarget { .. })
        ));
        // Podman's file is named after the secret: mounted under another name, refused.
        let mut alias = spec(
            rootfs.path(),
            json!([{"destination": "/run/secrets/openai-api-key", "type": "bind", "source": secret}]),
            json!({}),
        );
        assert!(matches!(
            plan_with(&mut alias, Engine::Podman, &SecretsConfig::default()),
            Err(SecretsError::PodmanAlias { secret, name }) if secret == "db" && name == "openai-api-key"
        ));
        let runroot = tempfile::tempdir().unwrap();
        let run_secrets = runroot
            .path()
            .join(format!("vfs-containers/{ID}/userdata/run/secrets"));
        std::fs::create_dir_all(run_secrets.join("rhsm")).unwrap();
        let mut default_mounts = spec(
            rootfs.path(),
            json!([
                {"destination": "/run/secrets", "type": "bind", "source": run_secrets},
                {"destination": "/run/secrets/db", "type": "bind", "source": secret},
            ]),
            json!({}),
        );
        assert!(matches!(
            plan_with(
                &mut default_mounts,
                Engine::Podman,
                &SecretsConfig::default()
            ),
            Err(SecretsError::PodmanDefaultMounts { .. })
        ));
    }

    #[test]
    fn another_containers_secret_is_not_taken() {
        let rootfs = tempfile::tempdir().unwrap();
        let mounts = json!([{"destination": "/run/secrets/db", "type": "bind",
                             "source": "/graph/overlay-containers/other/userdata/secrets/db"}]);
        let mut spec = spec(rootfs.path(), mounts, json!({}));
        let (delivery, _) =
            plan_with(&mut spec, Engine::Podman, &SecretsConfig::default()).unwrap();
        assert!(delivery.names().is_empty());
        assert_eq!(destinations(&spec), ["/run/secrets/db"]);
    }

    #[test]
    fn the_annotation_is_refused_from_podman_and_cri() {
        let rootfs = tempfile::tempdir().unwrap();
        let annotations = json!({ANNOTATION: r#"{"x": "/srv/secrets/x"}"#});
        let config = SecretsConfig {
            source_dirs: vec!["/srv/secrets".into()],
            ..Default::default()
        };
        for engine in [
            Engine::Podman,
            Engine::Cri {
                sandbox_id: "s".into(),
                pod_uid: None,
                sandbox: false,
            },
        ] {
            let mut spec = spec(rootfs.path(), json!([]), annotations.clone());
            assert!(matches!(
                plan_with(&mut spec, engine, &config),
                Err(SecretsError::AnnotationFromEngine { .. })
            ));
        }
        let mut spec = spec(rootfs.path(), json!([]), annotations);
        let (delivery, _) = plan_with(&mut spec, Engine::Other, &config).unwrap();
        assert_eq!(delivery.names(), ["x"]);
    }

    #[test]
    fn an_annotation_secret_is_named_after_its_source() {
        let rootfs = tempfile::tempdir().unwrap();
        let config = SecretsConfig {
            source_dirs: vec!["/srv/secrets".into()],
            ..Default::default()
        };
        let annotations = json!({ANNOTATION: r#"{"openai-api-key": "/srv/secrets/signing-key"}"#});
        let mut spec = spec(rootfs.path(), json!([]), annotations);
        let Err(SecretsError::SourceName { name, file, .. }) =
            plan_with(&mut spec, Engine::Other, &config)
        else {
            panic!("a secret named after another file must be refused");
        };
        assert_eq!(
            (name.as_str(), file.as_str()),
            ("openai-api-key", "signing-key")
        );
    }

    #[test]
    fn file_env_is_injected_on_request_and_a_mount_below_the_target_conflicts() {
        let rootfs = tempfile::tempdir().unwrap();
        let annotations = json!({ANNOTATION: r#"{"token": "/srv/secrets/token"}"#});
        let config = SecretsConfig {
            source_dirs: vec!["/srv/secrets".into()],
            inject_file_env: true,
            ..Default::default()
        };
        let mut spec1 = spec(rootfs.path(), json!([]), annotations.clone());
        plan_with(&mut spec1, Engine::Other, &config).unwrap();
        let env = spec1.process().as_ref().unwrap().env().clone().unwrap();
        assert_eq!(env, ["PATH=/bin", "token_FILE=/run/secrets/token"]);

        let below =
            json!([{"destination": "/run/secrets/./x/", "type": "tmpfs", "source": "tmpfs"}]);
        let mut spec2 = spec(rootfs.path(), below, annotations);
        assert!(matches!(
            plan_with(&mut spec2, Engine::Other, &config),
            Err(SecretsError::TargetConflict { index: 0, .. })
        ));
    }

    #[test]
    fn names_are_single_safe_file_names() {
        for good in ["a", "DB_PASSWORD", "tls.key", "x-1", "..."] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "é", "a\0", &"x".repeat(256)] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn ids_are_mapped_through_a_user_namespace() {
        let rootfs = tempfile::tempdir().unwrap();
        let mut spec = spec(rootfs.path(), json!([]), json!({}));
        let linux = serde_json::from_value(json!({
            "namespaces": [{"type": "user"}],
            "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "gidMappings": [{"containerID": 65533, "hostID": 7, "size": 1}],
        }))
        .unwrap();
        spec.set_linux(Some(linux));
        assert_eq!(
            owner(&spec).unwrap(),
            store::Owner {
                uid: 165532,
                gid: 7
            }
        );
    }
}
