//! The admission corpus (tests/admission-corpus/): real and hand-written config.json
//! documents, each with the exact set of rule ids bulwark must refuse it with
//! (`expected.json`; an empty set means admitted). For every document:
//! `bulwark validate --format json` gives that set, `validate` (text) names it, a
//! refused document's `create` exits 1 naming every id and leaves nothing behind, and an
//! admitted document's `create` succeeds (it runs what `validate` does not: secrets
//! planning, bind source and namespace path resolution, the version check, the policy)
//! and `delete --force` leaves nothing behind.
//!
//! Placeholders in the documents, substituted per case (see the corpus README.md):
//! `@ROOTFS@` a rootfs holding the probe, `@ENGINE@` a temp dir standing in for the
//! engine's storage (every bind source under it is created), `@ID@` the container id,
//! `@HOSTDIR@` an existing host directory outside any engine path, `@SANDBOX_ID@`,
//! `@POD_UID@` and `@POD_PID@` a CRI sandbox bulwark runs under the test's root (its id,
//! pod uid and init pid), `@POD_NETNS@` a stand-in CNI network namespace (a process in
//! its own net/ipc/uts namespaces), `@HOSTNET_POD_PID@` a stand-in pause process of a
//! hostNetwork pod (own ipc only),
//! `@SHELL_ROOTFS@` a rootfs with a shell and a package manager (merged /usr, links),
//! `@ESCAPE_ROOTFS@` a rootfs whose only shell links point out of it (to the host's).
//! A Podman document's bundle is its userdata directory under `@ENGINE@` and its rootfs
//! the container's layer, as podman lays them out (engine.identity requires both).
//! Podman documents also get a containers/storage record under `@ENGINE@` naming their
//! image `localhost/bulwark-probe:test`, as podman writes it.
//!
//! Needs root (namespaces, `create`) and the static probe, like the other tests.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{describe, probe_path, unique_id, PauseProcess, Runtime};
use serde_json::Value;
use tempfile::TempDir;

/// Every rule id admission has (src/admission/*.rs) that fires under the test config.
/// `images.digest` needs `require_digest = true`: tests/admission_images.rs covers it.
const RULE_IDS: [&str; 35] = [
    "engine.identity",
    "resources.memory-limit",
    "resources.cpu-limit",
    "resources.pids-limit",
    "resources.disk",
    "resources.unified",
    "resources.unsupported",
    "images.unknown",
    "images.unapproved",
    "images.latest",
    "images.distroless",
    "mounts.host-path",
    "mounts.propagation",
    "mounts.kernel-fs",
    "mounts.options",
    "privileged.writable-sysfs",
    "privileged.capabilities",
    "privileged.devices",
    "privileged.masked-paths",
    "privileged.podman",
    "privileged.unconfined",
    "seccomp.notify",
    "seccomp.flags",
    "namespaces.required",
    "namespaces.host",
    "namespaces.user-mapping",
    "cgroups.path",
    "hooks.not-allowed",
    "sysctls.unsafe",
    "linux.unsupported-field",
    "process.scheduling",
    "process.rlimits",
    "process.cwd",
    "env.malformed",
    "env.secret",
];

/// Secret values planted in env.secret and env.malformed cases: no output may repeat
/// them.
const PLANTED_SECRETS: [&str; 11] = [
    "hunter2",
    "ghp_0123456789",
    "corpusnotakey",
    "CorpusGhs",
    "CorpusGhu",
    "CorpusGhr",
    "CorpusXoxa",
    "CorpusXapp",
    "CorpusOpenai",
    "CorpusUrlPw",
    "CorpusBare",
];

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/admission-corpus")
}

/// File name -> expected rule ids.
fn expected() -> BTreeMap<String, BTreeSet<String>> {
    let path = corpus_dir().join("expected.json");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The corpus documents: every `*.json` but expected.json.
fn corpus_files() -> BTreeSet<String> {
    fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json") && name != "expected.json")
        .collect()
}

/// The pod every CRI container document belongs to: a sandbox bulwark runs under the
/// test's root (engine.identity holds a container's claim against it), deleted on drop.
struct LiveSandbox {
    id: String,
    pid: u32,
    root: PathBuf,
    config: PathBuf,
    _bundle: common::Bundle,
}

/// The pod uid of the live sandbox (`@POD_UID@`).
const LIVE_POD_UID: &str = "6a0e2c4d-8b1f-4d3e-a5c7-9e1b3d5f7a0c";

impl LiveSandbox {
    fn start(rt: &Runtime) -> Self {
        let id = unique_id("corpus-sandbox");
        let (bundle, pid) = common::start_cri_sandbox(rt, &id, LIVE_POD_UID);
        let pid = pid as u32;
        Self {
            id,
            pid,
            root: rt.root().to_owned(),
            config: rt.config_path().to_owned(),
            _bundle: bundle,
        }
    }
}

impl Drop for LiveSandbox {
    fn drop(&mut self) {
        let _ = Command::new(common::BULWARK)
            .arg("--root")
            .arg(&self.root)
            .args(["delete", "--force", &self.id])
            .env("BULWARK_CONFIG", &self.config)
            .status();
    }
}

/// The stand-in pause processes and the live sandbox, shared by every case.
struct Pods {
    pod: PauseProcess,
    host_network_pod: PauseProcess,
    sandbox: LiveSandbox,
}

impl Pods {
    fn new(rt: &Runtime) -> Self {
        Self {
            pod: PauseProcess::spawn(&["--net", "--ipc", "--uts"], &["net", "ipc", "uts"]),
            host_network_pod: PauseProcess::spawn(&["--ipc"], &["ipc"]),
            sandbox: LiveSandbox::start(rt),
        }
    }
}

/// One corpus document made into a bundle.
struct Case {
    _dir: TempDir,
    bundle: PathBuf,
    id: String,
}

impl Case {
    fn materialize(file: &str, pods: &Pods) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("bulwark-corpus-")
            .tempdir()
            .unwrap();
        let engine = dir.path().join("engine");
        let id = unique_id("corpus");
        let raw = fs::read_to_string(corpus_dir().join(file)).unwrap();
        // Podman's bundle is its containers/storage userdata directory, and its rootfs
        // the container's layer (engine.identity holds the Podman claim to both).
        let podman = is_podman_document(&raw);
        let (bundle, rootfs) = if podman {
            (
                engine.join("overlay-containers").join(&id).join("userdata"),
                engine.join("overlay").join(PODMAN_LAYER).join("merged"),
            )
        } else {
            let bundle = dir.path().join("bundle");
            let rootfs = bundle.join("rootfs");
            (bundle, rootfs)
        };
        for sub in ["proc", "dev", "sys", "tmp", "etc", "run"] {
            fs::create_dir_all(rootfs.join(sub)).unwrap();
        }
        fs::create_dir_all(&bundle).unwrap();
        fs::copy(probe_path(), rootfs.join("probe")).unwrap();
        let shell_rootfs = shell_rootfs(dir.path());
        let escape_rootfs = escape_rootfs(dir.path());
        let host_dir = dir.path().join("host-dir");
        fs::create_dir_all(&engine).unwrap();
        fs::create_dir_all(&host_dir).unwrap();

        let pause = pods.pod.pid().to_string();
        let text = raw
            .replace("@ROOTFS@", rootfs.to_str().unwrap())
            .replace("@SHELL_ROOTFS@", shell_rootfs.to_str().unwrap())
            .replace("@ESCAPE_ROOTFS@", escape_rootfs.to_str().unwrap())
            .replace("@ENGINE@", engine.to_str().unwrap())
            .replace("@HOSTDIR@", host_dir.to_str().unwrap())
            .replace("@ID@", &id)
            .replace("@POD_NETNS@", &format!("/proc/{pause}/ns/net"))
            .replace("@POD_PID@", &pods.sandbox.pid.to_string())
            .replace("@SANDBOX_ID@", &pods.sandbox.id)
            .replace("@POD_UID@", LIVE_POD_UID)
            .replace(
                "@HOSTNET_POD_PID@",
                &pods.host_network_pod.pid().to_string(),
            );
        if let Some(left) = leftover_placeholder(&text) {
            panic!("{file}: unknown placeholder {left}");
        }
        let spec: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: not JSON: {e}"));

        // The engine's files: every bind source under @ENGINE@ exists, so
        // mounts.host-path fires only where a case means it to.
        let engine_prefix = format!("{}/", engine.display());
        for mount in spec["mounts"].as_array().into_iter().flatten() {
            let Some(source) = mount["source"].as_str() else {
                continue;
            };
            if !source.starts_with(&engine_prefix) {
                continue;
            }
            let path = Path::new(source);
            let is_dir = path.ends_with("shm") || source.contains("/volumes/");
            if is_dir {
                fs::create_dir_all(path).unwrap();
            } else {
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                fs::write(path, "").unwrap();
            }
        }
        if podman {
            write_podman_store(&engine, &id);
        }
        fs::write(bundle.join("config.json"), text).unwrap();
        Self {
            _dir: dir,
            bundle,
            id,
        }
    }

    fn bundle_str(&self) -> &str {
        self.bundle.to_str().unwrap()
    }
}

/// A rootfs like a slim Debian image's: merged /usr, `sh -> busybox`, apt-get.
fn shell_rootfs(dir: &Path) -> PathBuf {
    let rootfs = dir.join("shell-rootfs");
    fs::create_dir_all(rootfs.join("usr/bin")).unwrap();
    fs::copy(probe_path(), rootfs.join("probe")).unwrap();
    fs::copy(probe_path(), rootfs.join("usr/bin/busybox")).unwrap();
    fs::write(rootfs.join("usr/bin/apt-get"), "").unwrap();
    symlink("usr/bin", rootfs.join("bin")).unwrap();
    symlink("/usr/bin/busybox", rootfs.join("usr/bin/sh")).unwrap();
    rootfs
}

/// A distroless rootfs whose shell names are links that climb out of it to the host's
/// /bin/sh: resolved inside the rootfs they lead nowhere.
fn escape_rootfs(dir: &Path) -> PathBuf {
    let rootfs = dir.join("escape-rootfs");
    fs::create_dir_all(rootfs.join("bin")).unwrap();
    fs::copy(probe_path(), rootfs.join("probe")).unwrap();
    symlink("../../../../../../../../bin/sh", rootfs.join("bin/sh")).unwrap();
    symlink("/proc/1/root/usr/bin", rootfs.join("usr")).unwrap();
    assert!(Path::new("/bin/sh").exists() && Path::new("/usr/bin/apt-get").exists());
    rootfs
}

/// The read-write layer of every Podman document's container.
const PODMAN_LAYER: &str = "6d1b3c0c5e9a4c1f8f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778";

/// A document podman wrote (`io.container.manager: libpod`).
fn is_podman_document(raw: &str) -> bool {
    serde_json::from_str::<Value>(raw)
        .is_ok_and(|doc| doc["annotations"]["io.container.manager"] == "libpod")
}

/// The image of every Podman document's container.
const PODMAN_IMAGE_ID: &str = "810c0ebe9bdfeb9ef75c9f09a440dcab5d55342eeac98f3acfc115c8612cfba6";

/// containers/storage's records of container `id` and its image as podman 4.3 writes
/// them.
fn write_podman_store(engine: &Path, id: &str) {
    let store = engine.join("overlay-containers");
    fs::create_dir_all(&store).unwrap();
    let metadata = serde_json::json!({"image-name": "localhost/bulwark-probe:test",
        "image-id": PODMAN_IMAGE_ID, "name": "corpus"});
    let record = serde_json::json!([{"id": id, "names": ["corpus"], "image": PODMAN_IMAGE_ID,
        "layer": PODMAN_LAYER, "metadata": metadata.to_string()}]);
    fs::write(store.join("containers.json"), record.to_string()).unwrap();
    let images = engine.join("overlay-images");
    fs::create_dir_all(&images).unwrap();
    let image = serde_json::json!([{"id": PODMAN_IMAGE_ID,
        "digest": "sha256:94f506d037df9cfe70d6ea3b8e5f64e0b7a74c606d5ccb468cb3ba8f9b2434e7",
        "names": ["localhost/bulwark-probe:test"]}]);
    fs::write(images.join("images.json"), image.to_string()).unwrap();
}

/// `@NAME@` left in a document after substitution.
fn leftover_placeholder(text: &str) -> Option<&str> {
    text.match_indices('@').find_map(|(start, _)| {
        let rest = &text[start + 1..];
        let end = rest.find(|c: char| !(c.is_ascii_uppercase() || c == '_'))?;
        (end > 0 && rest[end..].starts_with('@')).then(|| &text[start..start + end + 2])
    })
}

/// Runs every check on one document; returns what went wrong.
fn check(rt: &Runtime, pods: &Pods, file: &str, want: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    let case = Case::materialize(file, pods);
    let admitted = want.is_empty();
    let mut outputs = Vec::new();

    // (a) validate --format json: the verdict and the exact set of rule ids.
    let args = [
        "validate",
        "--format",
        "json",
        "--id",
        &case.id,
        "--bundle",
        case.bundle_str(),
    ];
    let out = rt.run(&args);
    outputs.push(describe(&args, &out));
    let want_code = if admitted { 0 } else { 1 };
    if out.status.code() != Some(want_code) {
        problems.push(format!(
            "validate json: exit {:?}, want {want_code}",
            out.status.code()
        ));
    }
    match serde_json::from_slice::<Value>(&out.stdout) {
        Err(e) => problems.push(format!("validate json: not JSON ({e})")),
        Ok(report) => {
            if report["admitted"] != admitted {
                problems.push(format!(
                    "validate json: admitted is {}, want {admitted} (baseline_error: {})",
                    report["admitted"], report["baseline_error"]
                ));
            }
            let got: BTreeSet<String> = report["violations"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v["rule"].as_str().map(str::to_owned))
                .collect();
            if &got != want {
                problems.push(format!("validate json: rule ids {got:?}, want {want:?}"));
            }
        }
    }

    // (b) validate (text): the verdict line and every rule id.
    let args = ["validate", "--id", &case.id, "--bundle", case.bundle_str()];
    let out = rt.run(&args);
    outputs.push(describe(&args, &out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let verdict = if admitted { "ADMITTED " } else { "REFUSED " };
    if !text.starts_with(verdict) {
        problems.push(format!("validate text: does not start with {verdict:?}"));
    }
    if out.status.code() != Some(want_code) {
        problems.push(format!(
            "validate text: exit {:?}, want {want_code}",
            out.status.code()
        ));
    }
    for rule in want {
        if !text.contains(&format!("  [{rule}] ")) {
            problems.push(format!("validate text: no line for [{rule}]"));
        }
    }

    // (c) create: an admitted document is created and deleted, leaving nothing; a
    // refused one is refused with every id, nothing left behind.
    if admitted {
        let log = case.bundle.with_file_name("create.log");
        let args = [
            "--debug",
            "--log",
            log.to_str().unwrap(),
            "create",
            "--bundle",
            case.bundle_str(),
            &case.id,
        ];
        let out = rt.run(&args);
        outputs.push(describe(&args, &out));
        if out.status.code() != Some(0) {
            problems.push(format!("create: exit {:?}, want 0", out.status.code()));
            problems.push(fs::read_to_string(&log).unwrap_or_default());
        }
        let args = ["delete", "--force", &case.id];
        let out = rt.run(&args);
        outputs.push(describe(&args, &out));
        let left = rt.leftovers(&case.id);
        if !left.is_empty() {
            problems.push(format!("create + delete --force: left behind {left:?}"));
        }
    } else {
        let args = ["create", "--bundle", case.bundle_str(), &case.id];
        let out = rt.run(&args);
        outputs.push(describe(&args, &out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() != Some(1) {
            problems.push(format!("create: exit {:?}, want 1", out.status.code()));
        }
        for rule in want {
            if !stderr.contains(&format!("[{rule}]")) {
                problems.push(format!("create: stderr does not name [{rule}]"));
            }
        }
        let left = rt.leftovers(&case.id);
        if !left.is_empty() {
            problems.push(format!("create: left behind {left:?}"));
        }
    }

    let all = outputs.join("\n");
    for secret in PLANTED_SECRETS {
        if all.contains(secret) {
            problems.push(format!("an output repeats the planted secret {secret:?}"));
        }
    }
    if !problems.is_empty() {
        problems.push(all);
    }
    problems
}

#[test]
fn expected_json_covers_the_corpus() {
    let expected = expected();
    let files = corpus_files();
    let listed: BTreeSet<String> = expected.keys().cloned().collect();
    assert_eq!(listed, files, "expected.json and the corpus files differ");
    let mut covered = BTreeSet::new();
    for (file, ids) in &expected {
        // `<expected rule id>--<case>.json`, or `admitted--<case>.json`.
        let (prefix, _) = file
            .split_once("--")
            .unwrap_or_else(|| panic!("{file}: name is not <rule id>--<case>.json"));
        if prefix == "admitted" {
            assert!(
                ids.is_empty(),
                "{file} is named admitted but expects {ids:?}"
            );
        } else {
            assert!(
                ids.contains(prefix),
                "{file}: {prefix} is not in its expected ids {ids:?}"
            );
        }
        for id in ids {
            assert!(
                RULE_IDS.contains(&id.as_str()),
                "{file}: unknown rule id {id}"
            );
            covered.insert(id.as_str());
        }
    }
    let missing: Vec<_> = RULE_IDS
        .iter()
        .filter(|id| !covered.contains(*id))
        .collect();
    assert!(missing.is_empty(), "no corpus document expects {missing:?}");
}

#[test]
fn corpus_verdicts_match_expected() {
    let expected = expected();
    let rt = Runtime::new();
    let pods = Pods::new(&rt);
    let mut failures = Vec::new();
    for file in corpus_files() {
        let Some(want) = expected.get(&file) else {
            failures.push(format!("{file}: not in expected.json"));
            continue;
        };
        let problems = check(&rt, &pods, &file, want);
        if !problems.is_empty() {
            failures.push(format!("=== {file}\n{}", problems.join("\n")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus documents failed:\n{}",
        failures.len(),
        expected.len(),
        failures.join("\n\n")
    );
}
