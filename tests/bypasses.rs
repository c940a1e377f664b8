//! Enforcement bypasses (issue #15): each test is an attack a spec author can make on
//! admission or the baseline, run through the built binary with real containers. Each
//! decides on what the kernel uses (the device a node is, the cgroup a container
//! joins, the directory a bind mounts) rather than on what the spec names, and each was
//! seen to succeed against bulwark before the fix.

mod common;

use std::fs;
use std::path::Path;

use common::{
    exchange_names_until, host_netns_link, ns_identity, probe_report, unique_id, Bundle,
    PauseProcess, Runtime,
};
use serde_json::{json, Value};

/// `create` of `bundle` as `id`, asserting a refusal that names every `expected`
/// fragment (rule ids, JSON paths) and leaves nothing behind.
fn assert_refused(rt: &Runtime, bundle: &Bundle, id: &str, expected: &[&str]) -> String {
    let stderr = rt.fails(&["create", "--bundle", bundle.path_str(), id]);
    for fragment in expected {
        assert!(
            stderr.contains(fragment),
            "missing {fragment:?} in: {stderr}"
        );
    }
    rt.assert_nothing_left(id);
    stderr
}

// ---------------------------------------------------------------------------
// Devices are decided by type and major:minor, and the device cgroup denies by default.

/// A loop device (block 7:0) created *as* `/dev/zero`, the way `podman run --device
/// /dev/loop0:/dev/zero` writes it, with the allow rule Podman adds. bulwark checked
/// the path only: the container got a readable block device. Refused now, naming the
/// node and the rule.
#[test]
fn a_block_device_named_like_a_standard_node_is_refused() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "stat", "/dev/zero"]);
    bundle.set(
        "/linux/devices",
        json!([{"path": "/dev/zero", "type": "b", "major": 7, "minor": 0,
                "fileMode": 438, "uid": 0, "gid": 0}]),
    );
    bundle.set(
        "/linux/resources/devices",
        json!([{"allow": false, "access": "rwm"},
               {"allow": true, "type": "b", "major": 7, "minor": 0, "access": "rwm"}]),
    );
    let id = unique_id("dev-as-zero");
    assert_refused(
        &rt,
        &bundle,
        &id,
        &[
            "[privileged.devices] linux.devices[0]",
            "[privileged.devices] linux.resources.devices[1]",
        ],
    );
}

/// `c *:* rwm` and `b *:* rwm` are allow-all in two rules (the old check caught only
/// type `a`); refused at create and at `update`.
#[test]
fn allow_all_split_into_char_and_block_rules_is_refused_at_create_and_update() {
    let rt = Runtime::new();
    let split = json!([{"allow": true, "type": "c", "access": "rwm"},
                       {"allow": true, "type": "b", "access": "rwm"}]);
    let mut bundle = Bundle::new(&["/probe", "sleep", "60"]);
    bundle.set("/linux/resources/devices", split.clone());
    let id = unique_id("dev-split");
    assert_refused(
        &rt,
        &bundle,
        &id,
        &[
            "[privileged.devices] linux.resources.devices[0]",
            "[privileged.devices] linux.resources.devices[1]",
        ],
    );

    let mut bundle = Bundle::new(&["/probe", "sleep", "60"]);
    bundle.set("/linux/resources/devices", json!([]));
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let resources = json!({"devices": split});
    let out = rt.run_with_stdin(
        &["update", "--resources", "-", &id],
        resources.to_string().as_bytes(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("[privileged.devices] linux.resources.devices[0]"),
        "{stderr}"
    );
    assert_eq!(device_cgroup(&id), standard_device_list(), "after update");
    rt.ok(&["delete", "--force", &id]);
    rt.assert_nothing_left(&id);
}

/// runc's device cgroup as the kernel reports it (`devices.list`) for the baseline's
/// rules: the standard character devices, and libcontainer's own defaults
/// (mknod-only wildcards, /dev/net/tun), and never `a *:* rwm`.
fn standard_device_list() -> Vec<String> {
    let mut list: Vec<String> = [
        "c *:* m",
        "b *:* m",
        "c 1:3 rwm",
        "c 1:5 rwm",
        "c 1:7 rwm",
        "c 1:8 rwm",
        "c 1:9 rwm",
        "c 5:0 rwm",
        "c 5:1 rwm",
        "c 5:2 rwm",
        "c 136:* rwm",
        "c 10:200 rwm",
    ]
    .map(str::to_owned)
    .to_vec();
    list.sort();
    list
}

/// The container's cgroup v1 device list, sorted.
fn device_cgroup(id: &str) -> Vec<String> {
    let path = format!("/sys/fs/cgroup/devices/bulwark/{id}/devices.list");
    let mut list: Vec<String> = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .map(str::to_owned)
        .collect();
    list.sort();
    list
}

/// A spec without device rules (or with only an allow for a standard device) left the
/// v1 device cgroup at its parent's `a *:* rwm`: libcontainer writes no deny of its
/// own. The baseline always starts with deny-all, so the kernel's list is the standard
/// one, and from inside the container a standard node works.
#[test]
fn the_device_cgroup_denies_every_device_but_the_standard_ones() {
    let rt = Runtime::new();
    for (case, rules) in [
        ("none", Value::Null),
        ("empty", json!([])),
        (
            "allow-null",
            json!([{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]),
        ),
    ] {
        let mut bundle = Bundle::new(&["/probe", "sleep", "60"]);
        bundle.set("/linux/resources/devices", rules);
        let id = unique_id(&format!("dev-{case}"));
        rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
        let list = device_cgroup(&id);
        assert!(!list.contains(&"a *:* rwm".to_owned()), "{case}: {list:?}");
        assert_eq!(list, standard_device_list(), "{case}");
        // Positive control: a standard node is usable from inside.
        let out = rt.ok(&["exec", &id, "/probe", "read-each", "/dev/zero"]);
        let report = probe_report(&out.stdout);
        assert_eq!(report["/dev/zero"]["result"], "ok", "{case}: {report}");
        rt.ok(&["delete", "--force", &id]);
        rt.assert_nothing_left(&id);
    }
}

/// The standard nodes, spelled as engines write them (Podman's fileMode carries the
/// S_IFCHR bits), are admitted and present inside.
#[test]
fn standard_nodes_by_identity_are_admitted() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "stat", "/dev/full"]);
    bundle.set(
        "/linux/devices",
        json!([{"path": "/dev/full", "type": "c", "major": 1, "minor": 7,
                "fileMode": 8630, "uid": 0, "gid": 0}]),
    );
    let id = unique_id("dev-standard");
    let out = rt.ok(&["run", "--bundle", bundle.path_str(), &id]);
    let node = probe_report(&out.stdout);
    assert_eq!(node["file_type"], "char", "{node}");
    assert_eq!(node["rdev"], "1:7", "{node}");
    rt.assert_nothing_left(&id);
}

// ---------------------------------------------------------------------------
// A container's cgroup is a new one below the configured parents, made by bulwark.

/// A cgroup of the host's (standing for `/system.slice/ssh.service`) with a process in
/// it, in every v1 hierarchy (or the unified one); removed again on drop.
struct HostCgroup {
    relative: String,
    dirs: Vec<std::path::PathBuf>,
    process: std::process::Child,
}

impl HostCgroup {
    fn new(relative: &str) -> Self {
        let process = std::process::Command::new("sleep")
            .arg("300")
            .spawn()
            .unwrap();
        let dirs = common::cgroup_hierarchies()
            .into_iter()
            .map(|h| h.join(relative.trim_start_matches('/')))
            .collect::<Vec<_>>();
        // Built first, so a failure below still kills the process and removes the dirs.
        let cgroup = Self {
            relative: relative.to_owned(),
            dirs,
            process,
        };
        for dir in &cgroup.dirs {
            fs::create_dir_all(dir).unwrap();
            // A v1 cpuset cgroup takes no task before it has cpus and mems.
            for file in ["cpuset.cpus", "cpuset.mems"] {
                if let Ok(value) = fs::read_to_string(dir.parent().unwrap().join(file)) {
                    fs::write(dir.join(file), value.trim()).unwrap();
                }
            }
            fs::write(dir.join("cgroup.procs"), cgroup.process.id().to_string())
                .unwrap_or_else(|e| panic!("cannot move the victim into {}: {e}", dir.display()));
        }
        cgroup
    }

    fn alive(&mut self) -> bool {
        self.process.try_wait().unwrap().is_none()
    }
}

impl Drop for HostCgroup {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        for dir in &self.dirs {
            let _ = fs::remove_dir(dir);
        }
    }
}

/// A spec naming a cgroup the container did not get: a host service's, another
/// container's, one reached through `..`, or bulwark's own (the empty path). Before,
/// the container joined it, and `delete --force` SIGKILLed everything in it (the host
/// "service" died). Each is refused, naming the rule; the victim lives on.
#[test]
fn a_spec_cannot_join_or_kill_a_cgroup_it_was_not_given() {
    let rt = Runtime::new();
    let mut service = HostCgroup::new(&format!("/bulwark-victim-{}", std::process::id()));
    let mut victim_bundle = Bundle::new(&["/probe", "sleep", "300"]);
    victim_bundle.set("/linux/resources/devices", json!([]));
    let victim = unique_id("cg-victim");
    rt.ok(&[
        "run",
        "--detach",
        "--bundle",
        victim_bundle.path_str(),
        &victim,
    ]);
    let victim_pid = rt.state(&victim)["pid"].as_i64().unwrap();

    for (case, path) in [
        ("host", service.relative.clone()),
        ("other-container", format!("/bulwark/{victim}")),
        ("dotdot", format!("/bulwark/..{}", service.relative)),
        ("empty", String::new()),
        ("relative", format!("bulwark/{victim}")),
    ] {
        let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
        bundle.set("/linux/cgroupsPath", json!(path));
        let id = unique_id(&format!("cg-{case}"));
        let out = rt.run(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        // Whatever happened, the attacker's container goes, as an engine would remove it.
        let _ = rt.run(&["delete", "--force", &id]);
        assert_eq!(out.status.code(), Some(1), "{case}: admitted: {stderr}");
        assert!(
            stderr.contains("[cgroups.path] linux.cgroupsPath"),
            "{case}: {stderr}"
        );
        assert!(service.alive(), "{case}: the host service was killed");
        assert!(
            common::proc_status(victim_pid, "State").is_some(),
            "{case}: the victim container was killed"
        );
        rt.assert_nothing_left(&id);
    }
    assert_eq!(rt.state(&victim)["status"], "running");
    rt.ok(&["delete", "--force", &victim]);
    rt.assert_nothing_left(&victim);
}

/// Two creates racing for one new cgroup: the exclusive mkdir lets exactly one have it
/// (before, both joined and either's delete killed the other). Bounded: 20 rounds.
#[test]
fn two_creates_racing_for_one_cgroup_never_share_it() {
    let rt = Runtime::new();
    for round in 0..20 {
        let path = format!("/bulwark/shared-{}-{round}", std::process::id());
        let ids = [unique_id("cg-race-a"), unique_id("cg-race-b")];
        let bundles: Vec<Bundle> = ids
            .iter()
            .map(|_| {
                let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
                bundle.set("/linux/cgroupsPath", json!(path));
                bundle
            })
            .collect();
        let outcomes = rt.create_concurrently(&[(&ids[0], &bundles[0]), (&ids[1], &bundles[1])]);
        assert!(
            outcomes.iter().filter(|ok| **ok).count() <= 1,
            "round {round}: both creates joined {path}"
        );
        for id in &ids {
            let _ = rt.run(&["delete", "--force", id]);
            rt.assert_nothing_left(id);
        }
        assert!(common::cgroup_dirs(path.trim_start_matches('/')).is_empty());
    }
}

/// `exec --cgroup SUB` made libcontainer create a sub-cgroup nobody removed, and the
/// container's `delete --force` then failed forever. Refused before anything is made.
#[test]
fn exec_into_a_sub_cgroup_is_refused_and_delete_still_works() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("cg-exec-sub");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let stderr = rt.fails(&["exec", "--cgroup", "sub", &id, "/probe", "exit", "0"]);
    assert!(
        stderr.contains("exec --cgroup \"sub\" is not supported"),
        "{stderr}"
    );
    assert!(common::cgroup_dirs(&format!("bulwark/{id}/sub")).is_empty());
    rt.ok(&["delete", "--force", &id]);
    rt.assert_nothing_left(&id);
}

// ---------------------------------------------------------------------------
// A bind mounts the directory admission checked: opened once, mounted through its fd.

/// An allowlisted host directory holding a marker file, and the config allowing it.
fn allowlisted_dir() -> (tempfile::TempDir, std::path::PathBuf, String) {
    let dir = tempfile::Builder::new()
        .prefix("bulwark-binds-")
        .tempdir()
        .unwrap();
    let path = fs::canonicalize(dir.path()).unwrap();
    let config = format!(
        "{}[admission.mounts]\nallowed_host_paths = [{:?}]\n",
        common::TEST_CONFIG,
        path.display().to_string()
    );
    (dir, path, config)
}

fn with_bind(bundle: &mut Bundle, source: &Path) {
    let mut mounts = bundle.config["mounts"].as_array().unwrap().clone();
    mounts.push(json!({"destination": "/mnt", "type": "bind",
                       "source": source, "options": ["rbind", "ro"]}));
    bundle.set("/mounts", Value::Array(mounts));
}

/// `/proc/<pid>/cwd` of a process whose cwd is inside the allowlisted directory: the
/// old check canonicalized it to an allowed path, libcontainer resolved it again later
/// (the process could have moved to `/` by then). A magic link is no bind source.
#[test]
fn a_bind_source_through_a_proc_magic_link_is_refused() {
    let (_dir, path, config) = allowlisted_dir();
    let rt = Runtime::with_config(&config);
    let mut holder = std::process::Command::new("sleep")
        .arg("60")
        .current_dir(&path)
        .spawn()
        .unwrap();
    let mut bundle = Bundle::new(&["/probe", "report"]);
    with_bind(
        &mut bundle,
        &Path::new("/proc").join(holder.id().to_string()).join("cwd"),
    );
    let id = unique_id("bind-magic");
    let stderr = assert_refused(&rt, &bundle, &id, &["[mounts.host-path] mounts["]);
    assert!(stderr.contains("symbolic link"), "{stderr}");
    let _ = holder.kill();
    let _ = holder.wait();
}

/// Swaps `vol` (a directory with a marker) and `vol.tmp` (a symlink to `/`) in the
/// allowlisted directory with renameat2(RENAME_EXCHANGE) until stopped.
fn exchange_until(dir: &Path, stop: &std::sync::atomic::AtomicBool) {
    exchange_names_until(&dir.join("vol"), &dir.join("vol.tmp"), stop);
}

/// The symlink-exchange race on a bind source: `vol` is a directory when admission
/// looks and a link to host `/` when libcontainer mounts it (10 of 30 runs gave a
/// read-only bind of the host's root before). 100 runs while a thread exchanges them:
/// each is refused (a link at the lookup) or mounts the directory; none sees the host.
#[test]
fn a_bind_source_swapped_for_a_symlink_never_mounts_the_host() {
    let (_dir, path, config) = allowlisted_dir();
    fs::create_dir(path.join("vol")).unwrap();
    fs::write(path.join("vol/marker"), "volume").unwrap();
    std::os::unix::fs::symlink("/", path.join("vol.tmp")).unwrap();
    let rt = Runtime::with_config(&config);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (mut mounted_volume, mut refused, mut host) = (0, 0, Vec::new());
    std::thread::scope(|scope| {
        scope.spawn(|| exchange_until(&path, &stop));
        for attempt in 0..100 {
            let mut bundle =
                Bundle::new(&["/probe", "read-each", "/mnt/marker", "/mnt/etc/hostname"]);
            with_bind(&mut bundle, &path.join("vol"));
            let id = unique_id(&format!("bind-race-{attempt}"));
            let out = rt.run(&["run", "--bundle", bundle.path_str(), &id]);
            if out.status.success() {
                let report = probe_report(&out.stdout);
                if report["/mnt/etc/hostname"]["result"] == "ok" {
                    host.push(report.to_string());
                } else if report["/mnt/marker"]["result"] == "ok" {
                    mounted_volume += 1;
                }
            } else {
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(stderr.contains("[mounts.host-path]"), "{stderr}");
                refused += 1;
            }
            let _ = rt.run(&["delete", "--force", &id]);
            rt.assert_nothing_left(&id);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    assert!(
        host.is_empty(),
        "the host's root was mounted {} times, e.g. {:?}",
        host.len(),
        host.first()
    );
    // Positive control: the race does not just refuse everything.
    assert!(
        mounted_volume > 0,
        "never mounted the volume ({refused} refused)"
    );
    let root = rt.root().to_str().unwrap().to_owned();
    assert!(
        common::host_mounts(&root).is_empty(),
        "{:?}",
        common::host_mounts(&root)
    );
}

/// Admitted binds, a directory (rbind) and a file, reach the container with their
/// content; the staged mounts are gone from the host once the container runs.
#[test]
fn admitted_binds_are_mounted_and_leave_no_staging_mount_on_the_host() {
    let (_dir, path, config) = allowlisted_dir();
    fs::create_dir(path.join("data")).unwrap();
    fs::write(path.join("data/marker"), "volume").unwrap();
    fs::write(path.join("file"), "single").unwrap();
    let rt = Runtime::with_config(&config);
    let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
    with_bind(&mut bundle, &path.join("data"));
    let mut mounts = bundle.config["mounts"].as_array().unwrap().clone();
    mounts.push(json!({"destination": "/etc/single", "type": "bind",
                       "source": path.join("file"), "options": ["bind", "ro"]}));
    bundle.set("/mounts", Value::Array(mounts));
    let id = unique_id("bind-ok");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let root = rt.root().to_str().unwrap().to_owned();
    assert!(
        common::host_mounts(&root).is_empty(),
        "{:?}",
        common::host_mounts(&root)
    );
    let out = rt.ok(&[
        "exec",
        &id,
        "/probe",
        "read-each",
        "/mnt/marker",
        "/etc/single",
    ]);
    let report = probe_report(&out.stdout);
    assert_eq!(report["/mnt/marker"]["content"], "volume", "{report}");
    assert_eq!(report["/etc/single"]["content"], "single", "{report}");
    // libcontainer was given bulwark's staged mount, not the path it would look up again.
    let effective = rt.root().join("@bulwark").join(&id).join("config.json");
    let spec: Value = serde_json::from_slice(&fs::read(effective).unwrap()).unwrap();
    let staged = rt.root().join("@bulwark").join(&id).join("binds");
    let sources: Vec<&str> = spec["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["destination"] == "/mnt" || m["destination"] == "/etc/single")
        .map(|m| m["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources.len(), 2, "{spec}");
    assert!(
        sources.iter().all(|s| Path::new(s).starts_with(&staged)),
        "{sources:?}"
    );
    rt.ok(&["delete", "--force", &id]);
    rt.assert_no_leftovers_or_mounts(&id);
}

// ---------------------------------------------------------------------------
// A namespace path is joined through the descriptor that was checked.

/// A pod's sandbox standing in for `podman --network ns:PATH`: a process in network and
/// UTS namespaces of its own; killed on drop.
fn pod() -> PauseProcess {
    PauseProcess::spawn(&["--net", "--uts"], &["net", "uts"])
}

/// The network namespace entry of the test bundle (index 1 of its namespaces).
const NETWORK_ENTRY: usize = 1;

fn with_namespace_path(bundle: &mut Bundle, index: usize, typ: &str, path: &Path) {
    bundle.config["linux"]["namespaces"][index] = json!({"type": typ, "path": path});
    bundle.write();
}

/// The symlink-exchange race on a namespace path: `ns` links to a pod's network
/// namespace when admission compares inodes and to the host's (`/proc/1/ns/net`) when
/// libcontainer opens it (the container ran in the host's network namespace before). 100 creates
/// while a thread exchanges the links: each is refused naming the rule or joins the
/// pod's namespace; none the host's.
#[test]
fn ns_path_swapped_for_the_hosts_never_joins_the_host_network() {
    let pod = pod();
    let links = tempfile::Builder::new()
        .prefix("bulwark-ns-")
        .tempdir()
        .unwrap();
    let (ns, other) = (links.path().join("ns"), links.path().join("ns.tmp"));
    std::os::unix::fs::symlink(pod.ns("net"), &ns).unwrap();
    let host_link = host_netns_link();
    std::os::unix::fs::symlink(&host_link, &other).unwrap();
    let (host, pod_net) = (ns_identity(&host_link), ns_identity(&pod.ns("net")));
    let rt = Runtime::new();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (mut joined_pod, mut refused, mut in_host) = (0, 0, 0);
    std::thread::scope(|scope| {
        scope.spawn(|| exchange_names_until(&ns, &other, &stop));
        for attempt in 0..100 {
            let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
            with_namespace_path(&mut bundle, NETWORK_ENTRY, "network", &ns);
            let id = unique_id(&format!("ns-race-{attempt}"));
            let out = rt.run(&["create", "--bundle", bundle.path_str(), &id]);
            if out.status.success() {
                let pid = rt.state(&id)["pid"].as_i64().unwrap();
                let joined = ns_identity(&Path::new("/proc").join(pid.to_string()).join("ns/net"));
                if joined == host {
                    in_host += 1;
                } else {
                    assert_eq!(joined, pod_net, "attempt {attempt}");
                    joined_pod += 1;
                }
            } else {
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(
                    stderr.contains("[namespaces.host] linux.namespaces[1].path"),
                    "{stderr}"
                );
                refused += 1;
            }
            let _ = rt.run(&["delete", "--force", &id]);
            rt.assert_nothing_left(&id);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    assert_eq!(
        in_host, 0,
        "{in_host} containers ran in the host's network namespace \
         ({joined_pod} in the pod's, {refused} refused)"
    );
    // Positive control: the race does not just refuse everything.
    assert!(joined_pod > 0, "never joined the pod ({refused} refused)");
}

/// A namespace path that is no namespace of its entry's type: a regular file, a
/// directory, a device, or the pod's UTS namespace given as its network. The path
/// check admitted each (none is the host's network namespace) and libcontainer's
/// setns failed later with no rule named; refused now by `namespaces.host`.
#[test]
fn ns_path_that_is_no_namespace_of_its_type_is_refused() {
    let pod = pod();
    let file = tempfile::NamedTempFile::new().unwrap();
    let rt = Runtime::new();
    for (case, path) in [
        ("file", file.path().to_owned()),
        ("dir", std::env::temp_dir()),
        ("device", "/dev/null".into()),
        ("uts-as-network", pod.ns("uts")),
    ] {
        let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
        with_namespace_path(&mut bundle, NETWORK_ENTRY, "network", &path);
        let id = unique_id(&format!("ns-{case}"));
        let stderr = assert_refused(
            &rt,
            &bundle,
            &id,
            &["[namespaces.host] linux.namespaces[1].path"],
        );
        assert!(
            stderr.contains("a network namespace file"),
            "{case}: {stderr}"
        );
    }
}

/// A pod's network and UTS namespaces joined by path: the container and an exec in it
/// run in them, the saved spec names the engine's paths again, and no descriptor of
/// bulwark's is left in the container's processes.
#[test]
fn ns_path_of_a_pod_is_joined_and_exec_follows() {
    let pod = pod();
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
    with_namespace_path(&mut bundle, NETWORK_ENTRY, "network", &pod.ns("net"));
    with_namespace_path(&mut bundle, 3, "uts", &pod.ns("uts"));
    bundle.config.as_object_mut().unwrap().remove("hostname");
    bundle.write();
    let id = unique_id("ns-pod");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let init = rt.state(&id)["pid"].as_i64().unwrap();
    let exec = rt.exec_detached(bundle.path(), &id, &["/probe", "sleep", "300"]);
    for pid in [init, exec] {
        for name in ["net", "uts"] {
            let ns = Path::new("/proc")
                .join(pid.to_string())
                .join("ns")
                .join(name);
            assert_eq!(ns_identity(&ns), ns_identity(&pod.ns(name)), "{pid} {name}");
        }
        let mut fds: Vec<i32> = fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap())
            .collect();
        fds.sort();
        assert_eq!(fds, [0, 1, 2], "process {pid}");
    }
    let effective = rt.root().join("@bulwark").join(&id).join("config.json");
    let spec: Value = serde_json::from_slice(&fs::read(effective).unwrap()).unwrap();
    assert_eq!(
        spec["linux"]["namespaces"][NETWORK_ENTRY]["path"],
        json!(pod.ns("net")),
        "{spec}"
    );
    rt.ok(&["delete", "--force", &id]);
    rt.assert_nothing_left(&id);
}
