//! The bodies of the fuzz targets and the invariants they assert (README, "Fuzzing").
//!
//! Each function takes the raw input, runs it through the same bulwark code the runtime
//! runs, and panics when an invariant breaks; libFuzzer reports a panic as a crash. The
//! targets in `fuzz_targets/` are one call each, and `tests/fuzz_corpus.rs` includes this
//! file as a module and runs the functions over every file in `fuzz/corpus/` under plain
//! `cargo test`, so a corpus regression fails the main test suite without cargo-fuzz.
//!
//! The returned [`Verdict`] is for that replay (the corpus must reach both the admitted
//! and the refused branches); the fuzz targets ignore it.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bulwark::admission::{Refused, Violation};
use bulwark::baseline::{Baseline, HostSupport};
use bulwark::cli::{Cli, Command, Exec};
use bulwark::config::{
    AdmissionConfig, BaselineConfig, LoadedConfig, NonRootMode, SecretsConfig,
    GRANTABLE_CAPABILITIES,
};
use bulwark::engine::binding::NoSandboxes;
use bulwark::exec_process::{self, ExecError, ExecRefused};
use bulwark::image_groups::RootGroups;
use bulwark::pipeline::{self, PipelineInput, SpecError, MAX_SPEC_BYTES};
use bulwark::policy::{self, opa};
use clap::Parser;
use libcontainer::oci_spec::runtime::{LinuxDeviceType, LinuxNamespaceType, Process, Spec};
use serde_json::Value;

/// Where the files the seeds refer to live: a bundle with an empty rootfs, a rootfs with
/// a shell, and an engine's storage (Podman's userdata and containers/storage record,
/// containerd's and kubelet's directories). A fixed path, so the seed documents in
/// `fuzz/corpus/spec_admission/` can name it (`fuzz/make-corpus.py` writes them).
pub const FIXTURE: &str = "/tmp/bulwark-fuzz";

/// The container id the seeds' Podman paths and records use.
pub const CONTAINER_ID: &str = "fuzz";

/// What became of one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Admitted (or, for opa_response, allowed).
    Admitted,
    /// Refused by a rule (or denied by the policy).
    Refused,
    /// Not a document the code accepts: an error with a message.
    Error,
    /// host_config: a config that loads, under which the compliant spec is refused, so
    /// the baseline invariant could not be checked (never counted as Admitted).
    LoadedOnly,
}

struct Setup {
    bundle: PathBuf,
    secrets_dir: PathBuf,
    admission: AdmissionConfig,
    baseline: BaselineConfig,
    /// A host with AppArmor and bulwark's profile loaded: the profile is then one of the
    /// promises the invariant checks (without AppArmor it would be "none").
    host: HostSupport,
    secrets: SecretsConfig,
    /// The hardened init process of a running container, for exec.
    init: Process,
    exec_request: Exec,
}

/// The test configuration (like tests/common's TEST_CONFIG) and the fixture, made once
/// per process. Creating the fixture is idempotent, so parallel fuzz jobs and tests
/// share it.
fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let fixture = Path::new(FIXTURE);
        make_fixture(fixture);
        let mut admission = AdmissionConfig::default();
        admission.images.approved = vec![
            "localhost/bulwark-probe".into(),
            "localhost/bulwark-pause".into(),
        ];
        admission.images.trust_annotation = true;
        admission.images.cri_sandbox_image = Some("localhost/bulwark-pause:test".into());
        let baseline = BaselineConfig::default();
        let host = HostSupport {
            apparmor_enabled: true,
            apparmor_profiles: [baseline.apparmor.profile.clone()].into_iter().collect(),
            cgroup_v1_hierarchies: Vec::new(),
            cgroup_v2: false,
        };
        let mut init: Process = serde_json::from_value(serde_json::json!({
            "args": ["/probe", "sleep", "600"],
            "cwd": "/",
            "env": ["PATH=/bin", "HOME=/"],
            "user": {"uid": 0, "gid": 0},
            "capabilities": {"bounding": ["CAP_CHOWN", "CAP_KILL"],
                             "effective": ["CAP_CHOWN", "CAP_KILL"],
                             "permitted": ["CAP_CHOWN", "CAP_KILL"]}
        }))
        .expect("a valid process");
        Baseline::new(&baseline, &host)
            .apply_to_process(&mut init, &RootGroups::default())
            .expect("the init process hardens");
        let argv = ["bulwark", "exec", "--process", "process.json", CONTAINER_ID];
        let exec_request = match Cli::parse_from(argv).command {
            Command::Exec(exec) => exec,
            other => panic!("parsed {other:?}"),
        };
        Setup {
            bundle: fixture.join("bundle"),
            secrets_dir: fixture.join("secrets"),
            admission,
            baseline,
            host,
            secrets: SecretsConfig::default(),
            init,
            exec_request,
        }
    })
}

fn make_fixture(fixture: &Path) {
    let dirs = [
        "bundle/rootfs/proc",
        "bundle/rootfs/dev",
        "bundle/rootfs/sys",
        "bundle/rootfs/tmp",
        "bundle/rootfs/etc",
        "bundle/rootfs/run",
        "shell-rootfs/usr/bin",
        "host-dir",
        "engine/overlay-containers/fuzz/userdata/shm",
        "engine/run/containerd/io.containerd.grpc.v1.cri/sandboxes/5f0c1a9d3e7b4c2a8d6e1f0b9a7c3d5e2f4a6b8c0d1e3f5a7b9c2d4e6f8a0b1c/shm",
        "engine/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/5f0c1a9d3e7b4c2a8d6e1f0b9a7c3d5e2f4a6b8c0d1e3f5a7b9c2d4e6f8a0b1c",
        "engine/var/lib/kubelet/pods/8d1c6a2e-4b7f-4e3a-9c5d-2f1e0a9b8c7d/containers/app",
        "engine/var/lib/kubelet/pods/8d1c6a2e-4b7f-4e3a-9c5d-2f1e0a9b8c7d/volumes/kubernetes.io~projected/kube-api-access-7x2kq",
    ];
    for dir in dirs {
        fs::create_dir_all(fixture.join(dir)).expect("create the fuzz fixture");
    }
    let record = serde_json::json!([{
        "id": CONTAINER_ID,
        "names": ["fuzz"],
        "image": "810c0ebe9bdfeb9ef75c9f09a440dcab5d55342eeac98f3acfc115c8612cfba6",
        "metadata": serde_json::json!({"image-name": "localhost/bulwark-probe:test"}).to_string(),
    }]);
    let files = [
        ("engine/overlay-containers/fuzz/userdata/hosts", String::new()),
        ("engine/overlay-containers/fuzz/userdata/hostname", String::new()),
        ("engine/overlay-containers/fuzz/userdata/.containerenv", String::new()),
        ("engine/overlay-containers/fuzz/userdata/resolv.conf", String::new()),
        ("engine/overlay-containers/containers.json", record.to_string()),
        ("engine/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/5f0c1a9d3e7b4c2a8d6e1f0b9a7c3d5e2f4a6b8c0d1e3f5a7b9c2d4e6f8a0b1c/hostname", String::new()),
        ("engine/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/5f0c1a9d3e7b4c2a8d6e1f0b9a7c3d5e2f4a6b8c0d1e3f5a7b9c2d4e6f8a0b1c/resolv.conf", String::new()),
        ("engine/var/lib/kubelet/pods/8d1c6a2e-4b7f-4e3a-9c5d-2f1e0a9b8c7d/etc-hosts", String::new()),
        ("engine/var/lib/kubelet/pods/8d1c6a2e-4b7f-4e3a-9c5d-2f1e0a9b8c7d/containers/app/0c8f5e2a", String::new()),
        ("shell-rootfs/usr/bin/busybox", String::new()),
        ("shell-rootfs/usr/bin/apt-get", String::new()),
    ];
    for (file, contents) in files {
        let path = fixture.join(file);
        if fs::read_to_string(&path).ok().as_deref() != Some(contents.as_str()) {
            // Written beside and renamed: another process may be reading it.
            let partial = path.with_extension(format!("partial-{}", std::process::id()));
            fs::write(&partial, contents).expect("write the fuzz fixture");
            fs::rename(&partial, &path).expect("write the fuzz fixture");
        }
    }
    let links = [
        ("shell-rootfs/bin", "usr/bin"),
        ("shell-rootfs/usr/bin/sh", "/usr/bin/busybox"),
    ];
    for (link, target) in links {
        let path = fixture.join(link);
        if fs::read_link(&path).is_err() {
            // Another process may have made it in between: then it is there.
            let _ = std::os::unix::fs::symlink(target, &path);
        }
    }
}

/// A refusal names at least one rule, each with a rule id, a JSON path and what is
/// allowed.
fn assert_violations_explained(violations: &[Violation]) {
    assert!(!violations.is_empty(), "refused without a violation");
    for violation in violations {
        let rule = violation.rule;
        assert!(
            rule.split('.').count() == 2
                && rule.split('.').all(|part| !part.is_empty()
                    && part.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')),
            "violation without a rule id: {violation:?}"
        );
        assert!(
            !violation.path.is_empty() && !violation.allowed.is_empty(),
            "violation without a path or a message: {violation:?}"
        );
    }
}

/// Any other failure is an error with a message.
fn assert_explained(error: &dyn std::error::Error) {
    assert!(
        !error.to_string().trim().is_empty(),
        "an error without a message: {error:?}"
    );
}

/// `spec_admission`: the bytes as the engine's config.json, through what `create` runs
/// (parse, admission, the baseline, secrets). Refused ⇒ every violation is explained;
/// any other error has a message; admitted ⇒ the effective spec keeps every promise of
/// the baseline ([`Baseline::unmet_in_spec`]: capabilities, no-new-privileges,
/// read-only rootfs, non-root ids, AppArmor, bulwark's seccomp profile, masked and
/// read-only paths, own namespaces, hardened mounts, no core dumps), runs no hook (this
/// config allowlists none), and reads back from JSON as the same spec (libcontainer
/// reads it from a file).
pub fn spec_admission(data: &[u8]) -> Verdict {
    let setup = setup();
    let path = setup.bundle.join("config.json");
    // read_json refuses these before parsing.
    if data.len() as u64 > MAX_SPEC_BYTES {
        return Verdict::Error;
    }
    let baseline = Baseline::new(&setup.baseline, &setup.host);
    let input = PipelineInput {
        bundle: &setup.bundle,
        container_id: CONTAINER_ID,
        systemd_cgroup: false,
        baseline: &baseline,
        admission: &setup.admission,
        secrets: &setup.secrets,
        secrets_dir: &setup.secrets_dir,
        sandboxes: &NoSandboxes,
    };
    let outcome = pipeline::parse_json::<Value>(data, &path)
        .and_then(|raw| pipeline::effective_spec_of(raw, &path, &input));
    let spec = match outcome {
        Err(SpecError::Refused(Refused(violations))) => {
            assert_violations_explained(&violations);
            return Verdict::Refused;
        }
        Err(error) => {
            assert_explained(&error);
            return Verdict::Error;
        }
        Ok(effective) => effective.spec,
    };
    let unmet = baseline.unmet_in_spec(&spec);
    assert!(
        unmet.is_empty(),
        "admitted a spec that breaks the baseline: {unmet:#?}"
    );
    assert_user_namespace_confined(&spec, setup.admission.user_namespaces.min_host_id);
    assert_nothing_of_the_host_is_reached(&spec, setup);
    if let Some(hooks) = spec.hooks() {
        let lists = [
            hooks.prestart(),
            hooks.create_runtime(),
            hooks.create_container(),
            hooks.start_container(),
            hooks.poststart(),
            hooks.poststop(),
        ];
        assert!(
            lists
                .iter()
                .all(|list| list.as_ref().is_none_or(Vec::is_empty)),
            "admitted a hook no config allows: {hooks:?}"
        );
    }
    let written = serde_json::to_vec(&spec).expect("the effective spec serializes");
    let read_back: Spec = serde_json::from_slice(&written).expect("the effective spec reads back");
    assert_eq!(read_back, spec, "the effective spec changes when read back");
    Verdict::Admitted
}

/// Device nodes a container may have (runc's default set, by type/major/minor).
const STANDARD_DEVICES: [(i64, i64); 7] = [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 2)];

/// An admitted spec, checked with predicates of its own rather than the rules that
/// admitted it (issue #18 item 6), against the bypass classes of the enforcement issue:
/// every bind source lies in the bundle's rootfs or bulwark's secrets directory (the
/// fuzz caller is no engine, so nothing of the host is engine-managed), no namespace is
/// joined by path (there are no sandboxes to join), the cgroup is a new one strictly
/// below a configured parent with no `.`/`..`/empty component, and every device node
/// is one of the standard character devices.
fn assert_nothing_of_the_host_is_reached(spec: &Spec, setup: &Setup) {
    let rootfs = setup.bundle.join("rootfs");
    for mount in spec.mounts().iter().flatten() {
        let is_bind = mount.typ().as_deref() == Some("bind")
            || mount
                .options()
                .iter()
                .flatten()
                .any(|o| o == "bind" || o == "rbind");
        if !is_bind {
            continue;
        }
        let source = mount.source().clone().unwrap_or_default();
        let source = if source.is_absolute() {
            source
        } else {
            setup.bundle.join(source)
        };
        let resolved = std::fs::canonicalize(&source).unwrap_or(source);
        assert!(
            resolved.starts_with(&rootfs) || resolved.starts_with(&setup.secrets_dir),
            "admitted a bind of {} at {}",
            resolved.display(),
            mount.destination().display()
        );
    }
    let Some(linux) = spec.linux() else {
        return;
    };
    for namespace in linux.namespaces().iter().flatten() {
        assert!(
            namespace.path().is_none(),
            "admitted a join of {:?} at {:?} with no sandbox to join",
            namespace.typ(),
            namespace.path()
        );
    }
    let cgroup = linux
        .cgroups_path()
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parts: Vec<&str> = cgroup.split('/').collect();
    let confined = setup.admission.cgroups.parents.iter().any(|parent| {
        cgroup.starts_with(&format!("{}/", parent.display()))
            && cgroup.len() > parent.as_os_str().len() + 1
    });
    assert!(
        confined
            && parts[0].is_empty()
            && parts[1..]
                .iter()
                .all(|p| !p.is_empty() && *p != "." && *p != ".."),
        "admitted the cgroup {cgroup:?}"
    );
    for device in linux.devices().iter().flatten() {
        assert!(
            device.typ() == LinuxDeviceType::C
                && STANDARD_DEVICES.contains(&(device.major(), device.minor())),
            "admitted the device {device:?}"
        );
    }
}

/// An admitted spec's ids mappings, checked apart from admission's own arithmetic: none
/// without a new user namespace (none joined by path); with one, every range maps to
/// host ids at or above `floor` (never host 0) within the 32-bit ids, and the process's
/// uid, gid and additional gids are mapped.
fn assert_user_namespace_confined(spec: &Spec, floor: u32) {
    let Some(linux) = spec.linux() else {
        return;
    };
    let user_namespaces: Vec<_> = linux
        .namespaces()
        .iter()
        .flatten()
        .filter(|ns| ns.typ() == LinuxNamespaceType::User)
        .collect();
    let (uids, gids) = (
        linux.uid_mappings().clone().unwrap_or_default(),
        linux.gid_mappings().clone().unwrap_or_default(),
    );
    if user_namespaces.is_empty() {
        assert!(
            uids.is_empty() && gids.is_empty(),
            "admitted id mappings without a user namespace: {uids:?} {gids:?}"
        );
        return;
    }
    assert!(
        user_namespaces.iter().all(|ns| ns.path().is_none()),
        "admitted joining a user namespace by path: {user_namespaces:?}"
    );
    let user = spec.process().as_ref().expect("an admitted process").user();
    let mut wanted_gids = vec![user.gid()];
    wanted_gids.extend(user.additional_gids().iter().flatten());
    for (mappings, ids) in [(uids, vec![user.uid()]), (gids, wanted_gids)] {
        for m in &mappings {
            let host_end = u64::from(m.host_id()) + u64::from(m.size());
            assert!(
                m.size() > 0 && m.host_id() >= floor.max(1) && host_end <= u64::from(u32::MAX),
                "admitted a mapping reaching below host id {floor} or past the last id: {m:?}"
            );
        }
        for id in ids {
            assert!(
                mappings.iter().any(|m| {
                    let start = u64::from(m.container_id());
                    (start..start + u64::from(m.size())).contains(&u64::from(id))
                }),
                "admitted a process id {id} its user namespace does not map: {mappings:?}"
            );
        }
    }
}

/// `host_config`: the bytes as /etc/bulwark/config.toml, through what every command
/// that admits work loads. An error has a message; a config that loads keeps the
/// limits validation promises (grantable capabilities only, non-root ids, a bounded
/// tmpfs size), and runs a compliant spec through the pipeline under its own
/// settings without breaking the baseline it describes.
pub fn host_config(data: &[u8]) -> Verdict {
    // The file is read into a String: bytes that are not UTF-8 are a read error.
    let Ok(text) = std::str::from_utf8(data) else {
        return Verdict::Error;
    };
    let loaded = match LoadedConfig::parse(text, Path::new("config.toml")) {
        Ok(loaded) => loaded,
        Err(error) => {
            assert_explained(&error);
            return Verdict::Refused;
        }
    };
    let config = &loaded.config;
    for capability in &config.baseline.allowed_capabilities {
        assert!(
            GRANTABLE_CAPABILITIES.contains(&capability.as_str()),
            "loaded a config granting {capability}"
        );
    }
    let ids = &config.baseline.non_root;
    assert!(
        ids.uid != 0 && ids.gid != 0,
        "loaded a config remapping root to root: {ids:?}"
    );
    let tmpfs = config.baseline.tmpfs_size_bytes;
    assert!(
        tmpfs > 0 && tmpfs <= config.admission.resources.max_tmpfs_bytes,
        "loaded a config with an unbounded tmpfs size {tmpfs}"
    );
    assert!(loaded.digest.starts_with("sha256:"), "{}", loaded.digest);

    let setup = setup();
    let baseline = Baseline::new(&config.baseline, &setup.host);
    let path = setup.bundle.join("config.json");
    // The compliant spec names no image an engine vouches for; the image rules are
    // spec_admission's subject. Without this, a config that does not allow unknown
    // images refused it before the baseline was ever checked.
    let mut admission = config.admission.clone();
    admission.images.allow_unknown = true;
    let input = PipelineInput {
        bundle: &setup.bundle,
        container_id: CONTAINER_ID,
        systemd_cgroup: false,
        baseline: &baseline,
        admission: &admission,
        secrets: &config.secrets,
        secrets_dir: &setup.secrets_dir,
        sandboxes: &NoSandboxes,
    };
    // Admitted only when the baseline invariant ran (issue #18 item 5: a config under
    // which the compliant spec is refused reached no check, and counted as Admitted).
    let mut spec = compliant_spec();
    if config.baseline.non_root.mode == NonRootMode::Refuse {
        // uid 0 exercises the remap; a config that refuses root gets a non-root user.
        spec["process"]["user"] = serde_json::json!({"uid": 1000, "gid": 1000});
    }
    match pipeline::effective_spec_of(spec, &path, &input) {
        Ok(effective) => {
            let unmet = baseline.unmet_in_spec(&effective.spec);
            assert!(
                unmet.is_empty(),
                "under this config the baseline is broken: {unmet:#?}"
            );
            Verdict::Admitted
        }
        Err(_) => Verdict::LoadedOnly,
    }
}

/// A spec the test configuration admits, with what the baseline rewrites left out.
fn compliant_spec() -> Value {
    serde_json::json!({
        "ociVersion": "1.0.2",
        "process": {"args": ["/probe"], "cwd": "/", "user": {"uid": 0, "gid": 0},
                    "capabilities": {"bounding": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]}},
        "root": {"path": "rootfs"},
        "annotations": {"bulwark.io/image": "localhost/bulwark-probe:1"},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]}
        ],
        "linux": {
            "resources": {"memory": {"limit": 1 << 27}, "cpu": {"quota": 50000},
                          "pids": {"limit": 64}},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                           {"type": "uts"}, {"type": "mount"}]
        }
    })
}

/// `exec_process`: the bytes as `exec --process`'s process.json, into a container whose
/// init process is hardened and filtered, through what `exec` runs (derivation from the
/// init process, admission's process rules, the baseline). Refused ⇒ explained;
/// admitted ⇒ the process keeps every promise of the baseline
/// ([`Baseline::unmet_in_process`]), exactly the init process's capability sets and
/// AppArmor profile, and has a command and an absolute cwd.
pub fn exec_process(data: &[u8]) -> Verdict {
    let setup = setup();
    let baseline = Baseline::new(&setup.baseline, &setup.host);
    let outcome = pipeline::parse_json::<Process>(data, Path::new("process.json"))
        .map_err(ExecError::from)
        .and_then(|requested| {
            exec_process::derive_from(&setup.init, Some(requested), &setup.exec_request, true)
        })
        .map_err(ExecRefused::from)
        .and_then(|process| {
            exec_process::admit(process, &setup.admission, &baseline, &RootGroups::default())
        });
    let process = match outcome {
        Err(ExecRefused::Admission(Refused(violations))) => {
            assert_violations_explained(&violations);
            return Verdict::Refused;
        }
        Err(error) => {
            assert_explained(&error);
            return Verdict::Error;
        }
        Ok((process, _changes)) => process,
    };
    let unmet = baseline.unmet_in_process(&process);
    assert!(
        unmet.is_empty(),
        "admitted an exec that breaks the baseline: {unmet:#?}"
    );
    assert_eq!(
        process.capabilities(),
        setup.init.capabilities(),
        "the exec'd process's capabilities differ from the init process's"
    );
    assert_eq!(
        process.apparmor_profile(),
        setup.init.apparmor_profile(),
        "the exec'd process runs under another AppArmor profile"
    );
    assert!(
        process.args().as_ref().is_some_and(|a| !a.is_empty()),
        "admitted an exec without a command"
    );
    assert!(
        process.cwd().is_absolute(),
        "admitted a relative cwd {:?}",
        process.cwd()
    );
    Verdict::Admitted
}

/// `opa_response`: the bytes as the body of OPA's answer to a decision query. Only a
/// JSON object whose `result` is `true`, or an object with `"allow": true` (and
/// `reasons`, if any, an empty array), allows; every such body does; any other body
/// denies or is an error. A non-200 answer never allows, whatever its body.
pub fn opa_response(data: &[u8]) -> Verdict {
    const PATH: &str = "bulwark/decision";
    let decision = policy::opa_decision(opa::read_answer(200, data), PATH);
    let document: Option<Value> = serde_json::from_slice(data).ok();
    let result = document.as_ref().and_then(|d| d.as_object()?.get("result"));
    let grants = match result {
        Some(Value::Bool(true)) => true,
        Some(Value::Object(fields)) => {
            fields.get("allow") == Some(&Value::Bool(true))
                && match fields.get("reasons") {
                    None | Some(Value::Null) => true,
                    // An allow with reasons contradicts itself: refused.
                    Some(Value::Array(reasons)) => reasons.is_empty(),
                    Some(_) => false,
                }
        }
        _ => false,
    };
    for status in [400, 404, 500] {
        let other = policy::opa_decision(opa::read_answer(status, data), PATH);
        assert!(
            other.is_err(),
            "an answer with status {status} decided: {other:?}"
        );
    }
    match decision {
        Ok(decision) if decision.allow => {
            assert!(
                grants,
                "allowed by a body that does not grant: {decision:?}"
            );
            Verdict::Admitted
        }
        Ok(decision) => {
            assert!(!grants, "denied by a body that grants: {decision:?}");
            Verdict::Refused
        }
        Err(message) => {
            assert!(!grants, "a body that grants is an error: {message}");
            assert!(!message.trim().is_empty(), "an error without a message");
            Verdict::Error
        }
    }
}
