//! Engine identity (issue #15 class 5, and the second half of class 4): what a spec
//! says about its engine may only narrow what it gets. containerd's CRI annotations
//! widen it (the pod's kubelet directory, the sandbox's namespaces), so they are held
//! against what bulwark recorded when it created the pod's sandbox: a container names a
//! sandbox bulwark runs, that sandbox's pod uid, and joins that sandbox's namespaces
//! and no one else's. Each attack here is what a containerd API client (`ctr run
//! --annotation ...`, a compromised orchestrator) can write, run through the built
//! binary; each succeeded against bulwark before the fix.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{cri_sandbox_bundle, start_cri_sandbox, unique_id, Bundle, PauseProcess, Runtime};
use serde_json::{json, Value};

const CONTAINER_TYPE: &str = "io.kubernetes.cri.container-type";
const SANDBOX_ID: &str = "io.kubernetes.cri.sandbox-id";
const SANDBOX_UID: &str = "io.kubernetes.cri.sandbox-uid";
const IMAGE_NAME: &str = "io.kubernetes.cri.image-name";

/// Where the pods' kubelet directories stand in for /var/lib/kubelet/pods.
struct Kubelet {
    dir: tempfile::TempDir,
}

impl Kubelet {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("bulwark-kubelet-")
            .tempdir()
            .unwrap();
        Self { dir }
    }

    /// A secret volume of pod `uid` holding `token`; returns the volume directory.
    fn secret_volume(&self, uid: &str, token: &str) -> PathBuf {
        let volume = self
            .dir
            .path()
            .join("kubelet/pods")
            .join(uid)
            .join("volumes/kubernetes.io~secret/token");
        fs::create_dir_all(&volume).unwrap();
        fs::write(volume.join("token"), token).unwrap();
        volume
    }
}

fn set_annotations(bundle: &mut Bundle, annotations: Value) {
    bundle.config["annotations"] = annotations;
    bundle.write();
}

/// A container of sandbox `sandbox_id` claiming pod `pod_uid`, reading the pod's
/// secret volume `volume` (bound at /var/run/secrets/token).
fn container_bundle(sandbox_id: &str, pod_uid: &str, volume: &Path) -> Bundle {
    let mut bundle = Bundle::new(&["/probe", "cat", "/var/run/secrets/token/token"]);
    set_annotations(
        &mut bundle,
        json!({
            CONTAINER_TYPE: "container",
            SANDBOX_ID: sandbox_id,
            SANDBOX_UID: pod_uid,
            IMAGE_NAME: common::TEST_IMAGE,
        }),
    );
    bundle.config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/var/run/secrets/token",
        "type": "bind",
        "source": volume,
        "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]
    }));
    bundle.write();
    bundle
}

/// Joins the pod's namespaces the way containerd 1.6 does: network, IPC and UTS of
/// the sandbox's init, by `/proc/<pid>/ns/<name>`.
fn join_namespaces_of(bundle: &mut Bundle, pid: i64) {
    let path = |name: &str| format!("/proc/{pid}/ns/{name}");
    bundle.config["linux"]["namespaces"] = json!([
        {"type": "pid"},
        {"type": "network", "path": path("net")},
        {"type": "ipc", "path": path("ipc")},
        {"type": "uts", "path": path("uts")},
        {"type": "mount"}
    ]);
    bundle.config.as_object_mut().unwrap().remove("hostname");
    bundle.write();
}

/// `run` of `bundle`, asserting a refusal that names every `expected` fragment, leaves
/// nothing behind and never printed `secret`.
fn assert_refused(rt: &Runtime, bundle: &Bundle, id: &str, expected: &[&str], secret: &str) {
    let out = rt.run(&["run", "--bundle", bundle.path_str(), id]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stdout.contains(secret),
        "{id}: the container read another pod's secret: {stdout}"
    );
    assert_eq!(out.status.code(), Some(1), "{id}: {stdout}\n{stderr}");
    for fragment in expected {
        assert!(
            stderr.contains(fragment),
            "{id}: missing {fragment:?} in: {stderr}"
        );
    }
    rt.assert_nothing_left(id);
}

/// A container that names a sandbox bulwark never created: before, the annotations
/// alone made bulwark treat the spec as containerd's, and the kubelet directory of
/// whatever pod uid it named was "the engine's" to bind: it read that pod's secret.
#[test]
fn a_cri_claim_without_its_sandbox_reads_no_pods_volume() {
    let kubelet = Kubelet::new();
    let victim = "0b5c1c1e-7d0a-4c4e-9a55-victim000001";
    let volume = kubelet.secret_volume(victim, "victim-token-without-sandbox");
    let rt = Runtime::new();
    let bundle = container_bundle("no-such-sandbox", victim, &volume);
    assert_refused(
        &rt,
        &bundle,
        &unique_id("cri-forged"),
        &[
            "[engine.identity]",
            "annotations[\"io.kubernetes.cri.sandbox-id\"]",
            "no sandbox",
        ],
        "victim-token-without-sandbox",
    );
}

/// A container of a real sandbox (pod A) that claims another pod's uid (B) to bind B's
/// secret volume: the sandbox recorded A at its create, so the claim is refused.
#[test]
fn a_cri_claim_of_another_pods_uid_is_refused() {
    let kubelet = Kubelet::new();
    let (own, victim) = (
        "0b5c1c1e-7d0a-4c4e-9a55-attacker0001",
        "0b5c1c1e-7d0a-4c4e-9a55-victim000002",
    );
    let volume = kubelet.secret_volume(victim, "victim-token-other-uid");
    let rt = Runtime::new();
    let sandbox = unique_id("cri-sb-a");
    let (_sandbox_bundle, pid) = start_cri_sandbox(&rt, &sandbox, own);
    let mut bundle = container_bundle(&sandbox, victim, &volume);
    join_namespaces_of(&mut bundle, pid);
    assert_refused(
        &rt,
        &bundle,
        &unique_id("cri-other-uid"),
        &[
            "[engine.identity]",
            "annotations[\"io.kubernetes.cri.sandbox-uid\"]",
            own,
        ],
        "victim-token-other-uid",
    );
    rt.ok(&["delete", "--force", &sandbox]);
    rt.assert_nothing_left(&sandbox);
}

/// A "sandbox" is its own pod's first container: it has no pod directory to bind, and
/// a sandbox id other than its own id is a claim on another pod's sandbox directories.
/// Before, a spec typed `sandbox` got any pod's kubelet directory and any sandbox's.
#[test]
fn a_sandbox_claim_gets_no_pod_directory_and_no_other_sandbox() {
    let kubelet = Kubelet::new();
    let victim = "0b5c1c1e-7d0a-4c4e-9a55-victim000003";
    let volume = kubelet.secret_volume(victim, "victim-token-via-sandbox");
    let rt = Runtime::new();
    let id = unique_id("cri-sb-forged");
    let mut bundle = container_bundle(&id, victim, &volume);
    bundle.config["annotations"][CONTAINER_TYPE] = json!("sandbox");
    bundle.write();
    assert_refused(
        &rt,
        &bundle,
        &id,
        &["[mounts.host-path] mounts[7].source"],
        "victim-token-via-sandbox",
    );
    bundle.config["annotations"][SANDBOX_ID] = json!("another-pods-sandbox");
    bundle.write();
    assert_refused(
        &rt,
        &bundle,
        &id,
        &[
            "[engine.identity]",
            "annotations[\"io.kubernetes.cri.sandbox-id\"]",
        ],
        "victim-token-via-sandbox",
    );
}

/// Two live sandboxes for one pod uid: the second would make "the pod's sandbox"
/// ambiguous, and its containers the first pod's. Refused while the first runs;
/// admitted once it is gone (kubelet recreates a dead pod's sandbox under the same uid).
#[test]
fn a_second_live_sandbox_for_a_pod_is_refused() {
    let uid = "0b5c1c1e-7d0a-4c4e-9a55-twice0000001";
    let rt = Runtime::new();
    let first = unique_id("cri-sb-first");
    start_cri_sandbox(&rt, &first, uid);
    let second = unique_id("cri-sb-second");
    let mut bundle = cri_sandbox_bundle(&second, uid);
    // In the foreground: a second sandbox that is admitted must not hang the test.
    bundle.config["process"]["args"] = json!(["/probe", "exit", "0"]);
    bundle.write();
    assert_refused(
        &rt,
        &bundle,
        &second,
        &[
            "[engine.identity]",
            "annotations[\"io.kubernetes.cri.sandbox-uid\"]",
            &first,
        ],
        "-",
    );
    rt.ok(&["delete", "--force", &first]);
    rt.ok(&["run", "--bundle", bundle.path_str(), &second]);
    rt.ok(&["delete", "--force", &second]);
    rt.assert_nothing_left(&second);
}

/// A container of pod A's sandbox that joins another pod's network namespace (or
/// another live bulwark container's): before, any namespace but the host's was
/// joinable. Now only the namespaces of the sandbox it names. Positive control: the
/// same container joining its own sandbox's namespaces runs, in them, and reads its
/// own pod's secret volume.
#[test]
fn a_cri_container_joins_only_its_own_sandboxs_namespaces() {
    let kubelet = Kubelet::new();
    let uid = "0b5c1c1e-7d0a-4c4e-9a55-joiner000001";
    let volume = kubelet.secret_volume(uid, "own-pod-token");
    let rt = Runtime::new();
    let sandbox = unique_id("cri-sb-own");
    let (_sandbox_bundle, sandbox_pid) = start_cri_sandbox(&rt, &sandbox, uid);
    // Another tenant's pod: a process in namespaces of its own.
    let other = PauseProcess::spawn(&["--net", "--ipc", "--uts"], &["net", "ipc", "uts"]);
    let other_sandbox = unique_id("cri-sb-other");
    let (_other_bundle, other_sandbox_pid) =
        start_cri_sandbox(&rt, &other_sandbox, "0b5c1c1e-7d0a-4c4e-9a55-neighbour001");

    for (case, foreign) in [
        ("process", i64::from(other.pid())),
        ("sandbox", other_sandbox_pid),
    ] {
        let mut bundle = container_bundle(&sandbox, uid, &volume);
        join_namespaces_of(&mut bundle, sandbox_pid);
        bundle.config["linux"]["namespaces"][1]["path"] = json!(format!("/proc/{foreign}/ns/net"));
        bundle.write();
        assert_refused(
            &rt,
            &bundle,
            &unique_id(&format!("cri-join-{case}")),
            &[
                "[namespaces.host] linux.namespaces[1].path",
                "the network namespace of sandbox",
            ],
            "own-pod-token",
        );
    }

    let mut bundle = container_bundle(&sandbox, uid, &volume);
    join_namespaces_of(&mut bundle, sandbox_pid);
    let id = unique_id("cri-join-own");
    let out = rt.ok(&["run", "--bundle", bundle.path_str(), &id]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "own-pod-token");
    rt.ok(&["delete", "--force", &id]);
    for id in [&sandbox, &other_sandbox] {
        rt.ok(&["delete", "--force", id]);
        rt.assert_nothing_left(id);
    }
}

/// Two sandboxes of one pod created at the same moment: each passed admission's check
/// before the other had a record. 20 rounds of two racing creates: never both created
/// (one, or neither, is; kubelet retries).
#[test]
fn two_sandboxes_of_one_pod_racing_are_never_both_created() {
    let rt = Runtime::new();
    let (mut both, mut one) = (0, 0);
    for round in 0..20 {
        let uid = format!("0b5c1c1e-7d0a-4c4e-9a55-race{round:08}");
        let ids = [
            unique_id(&format!("cri-race-a{round}")),
            unique_id(&format!("cri-race-b{round}")),
        ];
        let bundles: Vec<Bundle> = ids.iter().map(|id| cri_sandbox_bundle(id, &uid)).collect();
        let created = rt
            .create_concurrently(&[(&ids[0], &bundles[0]), (&ids[1], &bundles[1])])
            .into_iter()
            .filter(|created| *created)
            .count();
        match created {
            2 => both += 1,
            1 => one += 1,
            _ => {}
        }
        for id in &ids {
            let _ = rt.run(&["delete", "--force", id]);
            rt.assert_nothing_left(id);
        }
    }
    assert_eq!(
        both, 0,
        "{both} of 20 rounds created two sandboxes of one pod"
    );
    assert!(one > 0, "no round created a sandbox at all");
}
