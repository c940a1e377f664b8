//! Component benchmarks (issue #8, `make bench`; results in docs/benchmarks.md): the
//! stages bulwark runs on every create, timed in-process through the library, without a
//! container and without process start-up.
//!
//! - `admission_baseline/{podman,cri}`: `pipeline::effective_spec` on the admitted Podman
//!   and CRI documents of tests/admission-corpus (read config.json, admission with every
//!   rule, path resolution, the baseline).
//! - `policy/embedded`: `policy::decide` with the default config (embedded Rego, regorus)
//!   on the policy input of the Podman document; `policy/regorus_compile` and
//!   `policy/regorus_eval_only` split it into parsing the modules and analysing plus
//!   evaluating; `policy/load` (parse and analyse: what does not depend on the input)
//!   and `policy/evaluate_loaded` (what depends on it) split it again.
//! - `policy/opa`: the same decision from OPA over its Unix socket
//!   (`BULWARK_BENCH_OPA_SOCKET`, integration/opa/opa_server.py); skipped with a note
//!   when unset. `policy/opa_transport`: the same round trip to a server that answers
//!   without evaluating (`BULWARK_BENCH_OPA_DENY_SOCKET`, opa_server.py `--mode deny`).
//! - `pipeline/podman`: everything create does before libcontainer: effective spec,
//!   policy input, embedded decision, audit record.
//! - `distroless/{10,20000}_files`, `distroless/off`: admission on a rootfs of 10 and of
//!   20,000 files, and with the distroless rule off (its cost is the difference).
//! - `secrets/{plan,deliver}`: a spec asking for four secrets (`bulwark.io/secrets`):
//!   the pipeline with the secrets stage, then the tmpfs mounted, filled and removed
//!   (needs root; skipped without it).
//! - `audit/append`: one audit record appended.
//! - `image_reference/parse`: one image reference parsed and normalised
//!   (`image_reference`, the distribution grammar without a regex: oci-spec 0.10's
//!   parser compiled a Unicode regex in 45-70 ms in every bulwark process).
//!
//! Needs root only for the CRI document (a stand-in pause process in its own network,
//! IPC and UTS namespaces, as tests/admission_corpus.rs does); without it that case is
//! skipped.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serde_json::Value;
use tempfile::TempDir;

use bulwark::audit::{Digests, Entry};
use bulwark::baseline::{Baseline, HostSupport};
use bulwark::config::{HostConfig, PolicyBackend};
use bulwark::engine::binding::{Evidence, LiveSandbox, NoSandboxes, Sandboxes};
use bulwark::image_reference::ImageReference;
use bulwark::pipeline::{self, Effective, PipelineInput};
use bulwark::policy;
use bulwark::policy::input::{self, Operation, Subject};

/// tests/common's TEST_CONFIG: no AppArmor on the CI kernel, the probe image approved.
const BENCH_CONFIG: &str = "[baseline.apparmor]\nallow_missing = true\n\
    [admission.images]\napproved = [\"localhost/bulwark-probe\", \"localhost/bulwark-pause\"]\n\
    trust_annotation = true\ncri_sandbox_image = \"localhost/bulwark-pause:test\"\n";

fn config() -> HostConfig {
    toml::from_str(BENCH_CONFIG).expect("the bench config parses")
}

fn corpus(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/admission-corpus")
        .join(file);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A stand-in pause process in its own net/ipc/uts namespaces (CRI containers join it).
struct Pause(Child);

/// The stand-in pause process as the live sandbox CRI documents name (`@SANDBOX_ID@`):
/// bulwark's state root would say the same of a sandbox it runs.
struct PauseSandbox(Option<i32>);

const BENCH_SANDBOX_ID: &str = "bench-sandbox";
const BENCH_POD_UID: &str = "6a0e2c4d-8b1f-4d3e-a5c7-9e1b3d5f7a0c";

impl Sandboxes for PauseSandbox {
    fn live(&self, id: &str) -> Option<LiveSandbox> {
        let init_pid = self.0.filter(|_| id == BENCH_SANDBOX_ID)?;
        Some(LiveSandbox {
            pod_uid: Some(BENCH_POD_UID.to_owned()),
            init_pid,
        })
    }

    fn of_pod(&self, _uid: &str) -> Vec<String> {
        Vec::new()
    }
}

impl Pause {
    fn spawn() -> Option<Self> {
        let child = Command::new("unshare")
            .args(["--net", "--ipc", "--uts", "sleep", "600"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let pause = Self(child);
        let ours = fs::metadata("/proc/self/ns/net").ok()?;
        for _ in 0..500 {
            use std::os::unix::fs::MetadataExt;
            let theirs = fs::metadata(format!("/proc/{}/ns/net", pause.0.id()));
            if theirs.is_ok_and(|m| m.ino() != ours.ino()) {
                return Some(pause);
            }
            if !Path::new(&format!("/proc/{}", pause.0.id())).exists() {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Pause {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A corpus document made into a bundle, as tests/admission_corpus.rs does.
struct CorpusBundle {
    _dir: TempDir,
    bundle: PathBuf,
    id: String,
    sandbox: PauseSandbox,
}

impl CorpusBundle {
    fn new(file: &str, pause: Option<&Pause>, rootfs_files: usize) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("bulwark-bench-")
            .tempdir()
            .unwrap();
        let engine = dir.path().join("engine");
        let id = format!("bench-{}", std::process::id());
        let raw = corpus(file);
        // Podman's bundle is its userdata directory and its rootfs the container's
        // layer, as engine.identity requires of a Podman spec.
        let podman = raw.contains("\"io.container.manager\": \"libpod\"");
        let layer = "bench-layer";
        let (bundle, rootfs) = if podman {
            (
                engine.join("overlay-containers").join(&id).join("userdata"),
                engine.join("overlay").join(layer).join("merged"),
            )
        } else {
            (dir.path().join("bundle"), dir.path().join("bundle/rootfs"))
        };
        fill_rootfs(&rootfs, rootfs_files);
        fs::create_dir_all(&bundle).unwrap();
        let pod = pause.map(|p| p.0.id().to_string()).unwrap_or_default();
        let text = raw
            .replace("@ROOTFS@", rootfs.to_str().unwrap())
            .replace("@ENGINE@", engine.to_str().unwrap())
            .replace("@ID@", &id)
            .replace("@POD_PID@", &pod)
            .replace("@SANDBOX_ID@", BENCH_SANDBOX_ID)
            .replace("@POD_UID@", BENCH_POD_UID);
        let spec: Value = serde_json::from_str(&text).unwrap();
        let engine_prefix = format!("{}/", engine.display());
        for mount in spec["mounts"].as_array().into_iter().flatten() {
            let Some(source) = mount["source"].as_str() else {
                continue;
            };
            if !source.starts_with(&engine_prefix) {
                continue;
            }
            let path = Path::new(source);
            if path.ends_with("shm") || source.contains("/volumes/") {
                fs::create_dir_all(path).unwrap();
            } else {
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                fs::write(path, "").unwrap();
            }
        }
        if podman {
            let store = engine.join("overlay-containers");
            fs::create_dir_all(&store).unwrap();
            let image = "810c0ebe9bdfeb9ef75c9f09a440dcab5d55342eeac98f3acfc115c8612cfba6";
            let metadata = serde_json::json!({"image-name": "localhost/bulwark-probe:test",
                "image-id": image, "name": "bench"});
            let record = serde_json::json!([{"id": id, "names": ["bench"], "image": image,
                "layer": layer, "metadata": metadata.to_string()}]);
            fs::write(store.join("containers.json"), record.to_string()).unwrap();
            // containers_storage::image_of reads the image's record next to the
            // containers' (`<graphroot>/overlay-images/images.json`): its names and
            // manifest digest are the image's identity, the `images.unknown` rule's input.
            let images = engine.join("overlay-images");
            fs::create_dir_all(&images).unwrap();
            let record = serde_json::json!([{"id": image,
                "digest": "sha256:94f506d037df9cfe70d6ea3b8e5f64e0b7a74c606d5ccb468cb3ba8f9b2434e7",
                "names": ["localhost/bulwark-probe:test"]}]);
            fs::write(images.join("images.json"), record.to_string()).unwrap();
        }
        fs::write(bundle.join("config.json"), text).unwrap();
        Self {
            _dir: dir,
            bundle,
            id,
            sandbox: PauseSandbox(pause.map(|p| p.0.id() as i32)),
        }
    }
}

/// A distroless-looking rootfs of `files` regular files, spread over the directories a
/// real image has (bin, usr/bin, usr/lib/…), none of them a shell or package manager.
fn fill_rootfs(rootfs: &Path, files: usize) {
    for sub in ["proc", "dev", "sys", "tmp", "etc", "run"] {
        fs::create_dir_all(rootfs.join(sub)).unwrap();
    }
    fs::write(rootfs.join("probe"), b"\x7fELF").unwrap();
    let dirs = ["bin", "usr/bin", "usr/sbin", "usr/local/bin", "usr/lib/app"];
    for n in 1..files {
        let dir = rootfs
            .join(dirs[n % dirs.len()])
            .join(format!("d{}", n / 500));
        if !dir.is_dir() {
            fs::create_dir_all(&dir).unwrap();
        }
        fs::write(dir.join(format!("f{n}")), b"x").unwrap();
    }
}

struct Prepared {
    config: HostConfig,
    host: HostSupport,
}

impl Prepared {
    fn new() -> Self {
        // As bulwark's main does: under RUST_BACKTRACE=1 regorus's parse errors would
        // otherwise each capture a stack trace (src/library_backtraces.rs).
        bulwark::library_backtraces::disable();
        Self {
            config: config(),
            host: HostSupport {
                apparmor_enabled: false,
                apparmor_profiles: Default::default(),
                cgroup_v1_hierarchies: Vec::new(),
                cgroup_v2: false,
            },
        }
    }

    fn effective(&self, case: &CorpusBundle) -> Effective {
        let baseline = Baseline::new(&self.config.baseline, &self.host);
        let effective = pipeline::effective_spec(&PipelineInput {
            bundle: &case.bundle,
            container_id: &case.id,
            systemd_cgroup: false,
            baseline: &baseline,
            admission: &self.config.admission,
            secrets: &self.config.secrets,
            secrets_dir: &case.bundle.join("secrets"),
            sandboxes: &case.sandbox,
        });
        match effective {
            Ok(effective) => effective,
            Err(err) => panic!("{}: {err}", case.bundle.display()),
        }
    }

    /// The policy input of an effective spec, as `create` builds it.
    fn policy_input(&self, effective: &mut Effective) -> Value {
        let baseline = Baseline::new(&self.config.baseline, &self.host);
        let profile = baseline.seccomp_profile(&effective.spec).unwrap();
        effective.context.seccomp_profile = profile.as_str().to_owned();
        input::build(
            &Subject {
                operation: Operation::Create,
                context: &effective.context,
                spec: &effective.spec,
                process: effective.spec.process().as_ref().unwrap(),
                secrets: &[],
            },
            &self.config.policy.trusted_agent_engines,
        )
    }
}

fn admission_baseline(c: &mut Criterion) {
    let prepared = Prepared::new();
    let mut group = c.benchmark_group("admission_baseline");
    let podman = CorpusBundle::new("admitted--podman-default.json", None, 10);
    group.bench_function("podman", |b| {
        b.iter(|| black_box(prepared.effective(&podman)))
    });
    let pause = if nix::unistd::Uid::effective().is_root() {
        Pause::spawn()
    } else {
        None
    };
    match &pause {
        Some(pause) => {
            let cri = CorpusBundle::new("admitted--cri-container.json", Some(pause), 10);
            group.bench_function("cri", |b| b.iter(|| black_box(prepared.effective(&cri))));
        }
        None => eprintln!(
            "note: admission_baseline/cri skipped: needs root to run a stand-in pause process"
        ),
    }
    group.finish();
}

fn policy_decision(c: &mut Criterion) {
    let prepared = Prepared::new();
    let podman = CorpusBundle::new("admitted--podman-default.json", None, 10);
    let mut effective = prepared.effective(&podman);
    let input = prepared.policy_input(&mut effective);
    let mut group = c.benchmark_group("policy");

    let embedded = prepared.config.policy.clone();
    assert_eq!(embedded.backend, PolicyBackend::Embedded);
    let outcome = policy::decide(&embedded, &input);
    assert!(outcome.decision.is_some(), "{outcome:?}");
    group.bench_function("embedded", |b| {
        b.iter(|| black_box(policy::decide(&embedded, black_box(&input))))
    });

    // The embedded decision split in two: loading (parsing) the modules and data into a
    // fresh regorus engine, which decide() does on every call, and evaluating the query
    // on an engine that already holds them.
    let modules = policy_modules();
    let data = fs::read_to_string(policies_dir().join("data.json")).unwrap();
    let load = || {
        let mut engine = regorus::Engine::new();
        for (name, text) in &modules {
            engine.add_policy(name.clone(), text.clone()).unwrap();
        }
        engine.add_data_json(&data).unwrap();
        engine
    };
    group.bench_function("regorus_compile", |b| b.iter(|| black_box(load())));
    let loaded = load();
    let input_json = input.to_string();
    group.bench_function("regorus_eval_only", |b| {
        b.iter(|| {
            let mut engine = loaded.clone();
            engine.set_input_json(&input_json).unwrap();
            black_box(
                engine
                    .eval_query("data.bulwark.decision".into(), false)
                    .unwrap(),
            )
        })
    });

    // The part of a decision that depends on the input (issue #20): the evaluation on a
    // loaded engine; what a cached loaded engine would leave on create's path.
    let policies = policy::PolicySet::built_in();
    group.bench_function("evaluate_loaded", |b| {
        b.iter_batched(
            || policies.load().unwrap(),
            |loaded| black_box(loaded.evaluate("bulwark/decision", black_box(&input))),
            criterion::BatchSize::SmallInput,
        )
    });
    group.bench_function("load", |b| b.iter(|| black_box(policies.load().unwrap())));

    match std::env::var_os("BULWARK_BENCH_OPA_SOCKET") {
        Some(socket) => {
            let mut opa = prepared.config.policy.clone();
            opa.backend = PolicyBackend::Opa;
            opa.opa.socket = PathBuf::from(socket);
            let outcome = policy::decide(&opa, &input);
            assert!(
                outcome.error.is_none(),
                "OPA at {} cannot decide: {outcome:?}",
                opa.opa.socket.display()
            );
            group.bench_function("opa", |b| {
                b.iter(|| black_box(policy::decide(&opa, black_box(&input))))
            });
        }
        None => eprintln!(
            "note: policy/opa skipped: BULWARK_BENCH_OPA_SOCKET is not set (make bench starts \
             integration/opa/opa_server.py when the OPA bindings are installed)"
        ),
    }
    // The transport alone: opa_server.py in `--mode deny` answers without evaluating, so
    // this is bulwark's client (runtime, connect, HTTP/1.1, JSON) plus Python's server.
    if let Some(socket) = std::env::var_os("BULWARK_BENCH_OPA_DENY_SOCKET") {
        let mut opa = prepared.config.policy.clone();
        opa.backend = PolicyBackend::Opa;
        opa.opa.socket = PathBuf::from(socket);
        assert!(policy::decide(&opa, &input).error.is_none());
        group.bench_function("opa_transport", |b| {
            b.iter(|| black_box(policy::decide(&opa, black_box(&input))))
        });
    }
    group.finish();
}

fn policies_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")
}

/// policies/*.rego without the tests: what the binary embeds.
fn policy_modules() -> Vec<(String, String)> {
    let mut modules: Vec<_> = fs::read_dir(policies_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.ends_with(".rego") && !name.ends_with("_test.rego")
        })
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap().to_owned();
            (name, fs::read_to_string(&p).unwrap())
        })
        .collect();
    modules.sort();
    modules
}

fn whole_pipeline(c: &mut Criterion) {
    let prepared = Prepared::new();
    let podman = CorpusBundle::new("admitted--podman-default.json", None, 10);
    let log = tempfile::tempdir().unwrap();
    let audit_path = log.path().join("audit.jsonl");
    let mut group = c.benchmark_group("pipeline");
    group.bench_function("podman", |b| {
        b.iter(|| {
            let mut effective = prepared.effective(&podman);
            let input = prepared.policy_input(&mut effective);
            let outcome = policy::decide(&prepared.config.policy, &input);
            let mut entry = audit_entry(&podman.id);
            entry.context(&effective.context.container, &effective.context.image);
            entry.changes(&effective.changes);
            entry.policy(outcome);
            entry.write(&audit_path, None).unwrap();
        })
    });
    group.finish();
}

fn audit_entry(id: &str) -> Entry {
    Entry::new(
        Operation::Create,
        id,
        Digests {
            config: format!("sha256:{}", "0".repeat(64)),
            seccomp_profile: Some(format!("sha256:{}", "1".repeat(64))),
        },
    )
}

fn distroless(c: &mut Criterion) {
    let prepared = Prepared::new();
    let mut off = prepared.config.admission.clone();
    off.distroless.forbidden_paths.clear();
    let mut group = c.benchmark_group("distroless");
    for files in [10, 20_000] {
        let case = CorpusBundle::new("admitted--podman-default.json", None, files);
        let raw: Value =
            serde_json::from_slice(&fs::read(case.bundle.join("config.json")).unwrap()).unwrap();
        let admit = |admission| {
            let mut raw = raw.clone();
            let evidence = Evidence {
                bundle: &case.bundle,
                container_id: &case.id,
                sandboxes: &NoSandboxes,
            };
            pipeline::admit_document(&mut raw, &evidence, admission)
                .map(|admitted| admitted.changes.len())
                .unwrap()
        };
        // Small and large back to back (and "off" after them), so host drift between
        // them stays small.
        group.bench_function(format!("{files}_files"), |b| {
            b.iter(|| black_box(admit(&prepared.config.admission)))
        });
        if files == 20_000 {
            group.bench_function("off", |b| b.iter(|| black_box(admit(&off))));
        }
    }
    group.finish();
}

/// Four secrets of a few hundred bytes, as an orchestrator's `bulwark.io/secrets` asks.
fn secrets(c: &mut Criterion) {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("secrets: skipped (the tmpfs needs root)");
        return;
    }
    let sources = tempfile::tempdir().unwrap();
    let mut wanted = serde_json::Map::new();
    for name in ["api-token", "db-password", "tls-key", "signing-key"] {
        let path = sources.path().join(name);
        fs::write(&path, "s".repeat(300)).unwrap();
        wanted.insert(name.into(), Value::from(path.to_str().unwrap()));
    }
    let case = CorpusBundle::new("admitted--sub-repository.json", None, 10);
    let config_path = case.bundle.join("config.json");
    let mut spec: Value = serde_json::from_str(&fs::read_to_string(&config_path).unwrap()).unwrap();
    spec["annotations"]["bulwark.io/secrets"] = Value::from(Value::Object(wanted).to_string());
    fs::write(&config_path, spec.to_string()).unwrap();
    let mut prepared = Prepared::new();
    prepared.config = toml::from_str(&format!(
        "{BENCH_CONFIG}[secrets]\nsource_dirs = [{:?}]\n",
        sources.path()
    ))
    .expect("the bench config with secrets parses");
    let dir = case.bundle.join("secrets");
    let mut group = c.benchmark_group("secrets");
    group.bench_function("plan", |b| b.iter(|| black_box(prepared.effective(&case))));
    let effective = prepared.effective(&case);
    assert_eq!(effective.secrets.names().len(), 4);
    group.bench_function("deliver", |b| {
        b.iter(|| {
            effective.secrets.deliver(&dir).unwrap();
            bulwark::secrets::remove(&dir).unwrap();
        })
    });
    group.finish();
}

fn audit_append(c: &mut Criterion) {
    let prepared = Prepared::new();
    let podman = CorpusBundle::new("admitted--podman-default.json", None, 10);
    let mut effective = prepared.effective(&podman);
    let input = prepared.policy_input(&mut effective);
    let outcome = policy::decide(&prepared.config.policy, &input);
    let log = tempfile::tempdir().unwrap();
    let path = log.path().join("audit.jsonl");
    let mut group = c.benchmark_group("audit");
    group.bench_function("append", |b| {
        b.iter(|| {
            let mut entry = audit_entry(&podman.id);
            entry.context(&effective.context.container, &effective.context.image);
            entry.changes(&effective.changes);
            entry.policy(outcome.clone());
            entry.write(&path, None).unwrap();
        })
    });
    group.finish();
}

fn image_reference(c: &mut Criterion) {
    let mut group = c.benchmark_group("image_reference");
    group.bench_function("parse", |b| {
        b.iter(|| {
            black_box(ImageReference::parse(black_box(
                "registry.example.com:5000/team/agent@sha256:\
                 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            )))
        })
    });
    group.finish();
}

/// Short runs: `make bench` as a whole must stay under ten minutes on a 2-core host.
fn short() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args()
}

criterion_group! {
    name = components;
    config = short();
    targets = admission_baseline, policy_decision, whole_pipeline, distroless, secrets, audit_append, image_reference
}
criterion_main!(components);
