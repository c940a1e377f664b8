//! Podman end to end: podman 4.3 + conmon drive bulwark as their OCI runtime
//! and the probe inside the container reports what it got.
//!
//! Needs root, podman, conmon, umoci and skopeo, and the static probe
//! (`make probe`, or `BULWARK_PROBE=<path>`). `BULWARK_PODMAN_RUNTIME=<path>`
//! swaps bulwark for another runtime (e.g. /usr/sbin/runc) to tell harness
//! problems from runtime problems.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "podman/harness.rs"]
mod harness;
#[path = "podman/images.rs"]
mod images;
#[path = "podman/pods.rs"]
mod pods;
#[path = "podman/scratch.rs"]
mod scratch;
#[path = "stragglers.rs"]
mod stragglers;
#[path = "podman/user_namespaces.rs"]
mod user_namespaces;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use common::tokens::TokenKeys;
use harness::{probe_report, Podman};
use serde_json::json;

/// The podman tests' bulwark config on a host that trusts its Podman users' agent
/// annotations (`bulwark.io/agent`) as identities, so a claimed agent may receive the
/// secrets the policy grants it (policies/data.json: research-agent, `openai-api-key`).
/// `--secret openai-api-key` for the agent that may have it, named by annotation.
const AGENT_SECRET: [&str; 4] = [
    "--secret",
    "openai-api-key",
    "--annotation",
    "bulwark.io/agent=research-agent",
];

fn trusts_podman_agents() -> String {
    format!(
        "{}[policy]\ntrusted_agent_engines = [\"other\", \"podman\"]\n",
        harness::BULWARK_CONFIG
    )
}

#[test]
fn podman_run_reports_probe_context() {
    let pm = Podman::new();
    let out = pm.run_expect(&["--rm"], &["report"], 0);
    let report = probe_report(&out);
    // 2 = SECCOMP_MODE_FILTER: podman's default profile reached the process.
    assert_eq!(
        report["seccomp"],
        json!(2),
        "report: {report}\n{}",
        pm.describe(&["run", "--rm", "report"], &out)
    );
}

#[test]
fn podmans_default_spec_runs_hardened() {
    // Podman's default process: uid 0, 11 capabilities, podman's seccomp profile,
    // NoNewPrivileges off. bulwark's baseline replaces all of it.
    let pm = Podman::new();
    let out = pm.run_expect(&["--rm"], &["report"], 0);
    // Podman's own profile, stacked on bulwark's, answers the key syscalls and
    // io_uring_setup with ENOSYS (containers-common's seccomp.json); both filters deny
    // them, and the errno of the filter installed last is the one returned.
    common::assert_hardened_stacked(
        &probe_report(&out),
        65532,
        65532,
        &[
            ("add_key", "ENOSYS"),
            ("request_key", "ENOSYS"),
            ("io_uring_setup", "ENOSYS"),
        ],
    );
}

#[test]
fn podman_read_only_false_is_still_read_only() {
    let pm = Podman::new();
    let out = pm.run_expect(&["--rm", "--read-only=false"], &["report"], 0);
    let report = probe_report(&out);
    assert_eq!(report["root_write_errno"], "EROFS", "{report}");
}

#[test]
fn podman_exec_keeps_seccomp_and_uid() {
    let pm = Podman::new();
    // The init process's own view, to compare the exec'd process against.
    let init_out = pm.run_expect(&["--rm", "--user", "1000:1000"], &["report"], 0);
    let init = probe_report(&init_out);
    assert_eq!(init["uid"], json!(1000), "init report: {init}");
    assert_eq!(init["seccomp"], json!(2), "init report: {init}");

    let cid = pm.run_detached(&["--user", "1000:1000"], &["sleep", "300"]);

    // libcontainer's tenant builder drops the container's seccomp filter and
    // user unless the runtime carries them over, so this is the exec path's
    // own check rather than a repeat of the init one.
    let exec_args = ["exec", cid.as_str(), "/probe", "report"];
    let exec_out = pm.podman_ok(&exec_args);
    let exec = probe_report(&exec_out);
    let context = || {
        format!(
            "init: {init}\nexec: {exec}\n{}",
            pm.describe(&exec_args, &exec_out)
        )
    };
    assert_eq!(exec["seccomp"], json!(2), "{}", context());
    // bulwark's profile, not any filter: Podman's own profile (Moby's) also answers
    // clone3 with ENOSYS, but lets any socket family through, where bulwark's refuses
    // families above AF_ALG (AF_VSOCK: EPERM).
    for report in [&init, &exec] {
        assert_eq!(report["syscalls"]["clone3"], "ENOSYS", "{}", context());
        assert_eq!(
            report["syscalls"]["socket_af_vsock"],
            "EPERM",
            "{}",
            context()
        );
    }
    assert_eq!(exec["uid"], json!(1000), "{}", context());
    assert_eq!(exec["seccomp"], init["seccomp"], "{}", context());
    assert_eq!(exec["uid"], init["uid"], "{}", context());

    // A graceful stop: podman sends SIGTERM through `bulwark kill`, which the
    // probe's sleep mode exits on (code 0) well before podman's 10 s SIGKILL fallback;
    // after the fallback the exit code would be 137.
    pm.podman_ok(&["stop", &cid]);
    let inspect = pm.podman_ok(&["inspect", "--format", "{{.State.ExitCode}}", &cid]);
    assert_eq!(
        String::from_utf8_lossy(&inspect.stdout).trim(),
        "0",
        "the stop was not graceful\n{}",
        pm.describe(&["inspect", &cid], &inspect)
    );
    pm.podman_ok(&["rm", &cid]);
    let ps = pm.podman_ok(&["ps", "--all", "--quiet"]);
    assert!(
        String::from_utf8_lossy(&ps.stdout).trim().is_empty(),
        "containers remain after rm\n{}",
        pm.describe(&["ps", "--all", "--quiet"], &ps)
    );
}

#[test]
fn podman_exit_code_propagates() {
    let pm = Podman::new();
    pm.run_expect(&["--rm"], &["exit", "7"], 7);
}

#[test]
fn podman_privileged_is_refused_with_the_rule_ids() {
    let pm = Podman::new();
    let out = pm.run_expect(&["--rm", "--privileged"], &["report"], 126);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for rule in ["privileged.podman", "privileged.capabilities"] {
        assert!(
            stderr.contains(rule),
            "{rule} missing\n{}",
            pm.describe(&["run", "--privileged"], &out)
        );
    }
}

#[test]
fn podman_without_limits_is_refused() {
    let pm = Podman::new();
    let out = pm.run_unlimited_expect(&["--rm"], &["report"], 126);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("resources.memory-limit") && stderr.contains("resources.cpu-limit"),
        "{}",
        pm.describe(&["run"], &out)
    );
}

#[test]
fn podman_image_outside_the_approved_prefixes_is_refused() {
    let pm = Podman::new();
    pm.set_bulwark_config(
        "[baseline.apparmor]\nallow_missing = true\n\
         [admission.images]\napproved = [\"registry.example.com/agents\"]\n",
    );
    let out = pm.run_expect(&["--rm"], &["report"], 126);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The name comes from containers/storage, not from anything the user can annotate.
    assert!(
        stderr.contains("[images.unapproved]")
            && stderr.contains("\"localhost/bulwark-probe:test\"")
            && stderr.contains("overlay-containers/containers.json"),
        "{}",
        pm.describe(&["run"], &out)
    );
}

#[test]
fn podman_annotations_cannot_fake_an_approved_image() {
    let pm = Podman::new();
    pm.set_bulwark_config(
        "[baseline.apparmor]\nallow_missing = true\n\
         [admission.images]\napproved = [\"registry.example.com/agents\"]\ntrust_annotation = true\n",
    );
    let out = pm.run_expect(
        &[
            "--rm",
            "--annotation",
            "io.container.manager=other",
            "--annotation",
            "io.kubernetes.cri.container-type=container",
            "--annotation",
            "io.kubernetes.cri.image-name=registry.example.com/agents/x:1",
            "--annotation",
            "bulwark.io/image=registry.example.com/agents/x:1",
        ],
        &["report"],
        126,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[images.unapproved]") && stderr.contains("localhost/bulwark-probe:test"),
        "{}",
        pm.describe(&["run"], &out)
    );
}

#[test]
fn podman_user_root_is_remapped_or_refused_per_config() {
    let pm = Podman::new();
    let out = pm.run_expect(&["--rm", "--user", "0:0"], &["report"], 0);
    let report = probe_report(&out);
    assert_eq!(
        (report["uid"].clone(), report["gid"].clone()),
        (json!(65532), json!(65532)),
        "{report}"
    );

    pm.set_bulwark_config(&format!(
        "{}[baseline.non_root]\nmode = \"refuse\"\n",
        harness::BULWARK_CONFIG
    ));
    let out = pm.run_expect(&["--rm", "--user", "0:0"], &["report"], 126);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("baseline.non-root") && stderr.contains("refuses root"),
        "{}",
        pm.describe(&["run", "--user", "0:0"], &out)
    );
}

/// The control first: while the container runs, the check sees its state directory and
/// bulwark's private directory, so an empty answer after `rm` means they were removed.
#[test]
fn podman_kill_and_rm_leave_nothing_in_the_runtime_root() {
    let pm = Podman::new();
    let cid = pm.run_detached(&[], &["sleep", "300"]);
    let running = left_in_runtime_root(&pm);
    for own in [pm.path("rt").join(&cid), pm.path("rt/@bulwark").join(&cid)] {
        assert!(running.contains(&own), "{own:?} not seen in {running:?}");
    }
    pm.podman_ok(&["kill", &cid]);
    pm.podman_ok(&["rm", &cid]);
    let left = left_in_runtime_root(&pm);
    assert!(left.is_empty(), "left in the runtime root: {left:?}");
}

/// What bulwark's state root (the wrapper pins `--root` to D/rt) still holds: container
/// state dirs, bulwark's own per-container dirs under `@bulwark` and range leases under
/// `@userns`. Its other `@` directories are no container's (`@seccomp`, the compiled
/// profiles every container shares, stays).
fn left_in_runtime_root(pm: &Podman) -> Vec<PathBuf> {
    let entries = |dir: PathBuf| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    entries(pm.path("rt"))
        .into_iter()
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('@'))
        })
        .chain(entries(pm.path("rt/@bulwark")))
        .chain(entries(pm.path("rt/@userns")))
        .collect()
}

/// Nothing of any container is left in the runtime root or mounted below it.
fn assert_runtime_root_clean(pm: &Podman) {
    let left = left_in_runtime_root(pm);
    assert!(left.is_empty(), "left in the runtime root: {left:?}");
    let mounts = host_mounts_below(&pm.path("rt"));
    assert!(
        mounts.is_empty(),
        "mounted below the runtime root: {mounts:?}"
    );
}

/// Mount points on the host at or below `dir`.
fn host_mounts_below(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&dir))
        .map(str::to_owned)
        .collect()
}

#[test]
fn podman_secret_is_served_from_bulwarks_tmpfs_not_podmans_disk() {
    let pm = Podman::new();
    pm.set_bulwark_config(&trusts_podman_agents());
    let value = format!("podman-s3cr3t-{}", std::process::id());
    pm.secret_create("openai-api-key", &value);
    let secret = [
        "--rm",
        "--secret",
        "openai-api-key",
        "--annotation",
        "bulwark.io/agent=research-agent",
    ];

    // Podman binds <graphroot>/overlay-containers/<id>/userdata/secrets/openai-api-key at
    // /run/secrets/openai-api-key; bulwark serves the same bytes from its tmpfs instead.
    let out = pm.run_expect(&secret, &["stat", "/run/secrets/openai-api-key"], 0);
    let file = probe_report(&out);
    assert_eq!(file["mode"], "0400", "{}", pm.describe(&secret, &out));
    assert_eq!((&file["uid"], &file["gid"]), (&json!(65532), &json!(65532)));
    let out = pm.run_expect(&secret, &["cat", "/run/secrets/openai-api-key"], 0);
    assert_eq!(String::from_utf8_lossy(&out.stdout), value);

    let out = pm.run_expect(&secret, &["report"], 0);
    let report = probe_report(&out);
    let mounts = report["mounts"].as_array().unwrap();
    let at = |point: &str| {
        mounts
            .iter()
            .filter(|m| m["mount_point"] == point)
            .collect::<Vec<_>>()
    };
    let secrets = at("/run/secrets");
    assert_eq!(secrets.len(), 1, "{report}");
    assert_eq!(secrets[0]["fs_type"], "tmpfs", "{report}");
    assert_eq!(secrets[0]["source"], "bulwark-secrets", "{report}");
    assert!(
        secrets[0]["options"].as_str().unwrap().starts_with("ro,"),
        "{report}"
    );
    assert!(
        at("/run/secrets/openai-api-key").is_empty(),
        "Podman's on-disk bind: {report}"
    );

    let out = pm.run_expect(&secret, &["env"], 0);
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&value));
    // The containers are gone (--rm), and so are their tmpfs mounts.
    assert!(
        host_mounts_below(&pm.path("rt")).is_empty(),
        "{:?}",
        host_mounts_below(&pm.path("rt"))
    );
}

#[test]
fn podman_secret_exec_sees_it_and_rm_unmounts_it() {
    let pm = Podman::new();
    pm.set_bulwark_config(&trusts_podman_agents());
    pm.secret_create("openai-api-key", "podman-exec-s3cr3t");
    let cid = pm.run_detached(&AGENT_SECRET, &["sleep", "300"]);
    assert_eq!(
        host_mounts_below(&pm.path("rt")).len(),
        1,
        "{:?}",
        host_mounts_below(&pm.path("rt"))
    );
    let out = pm.podman_ok(&["exec", &cid, "/probe", "cat", "/run/secrets/openai-api-key"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "podman-exec-s3cr3t");
    pm.podman_ok(&["rm", "--force", "--time", "0", &cid]);
    assert!(
        host_mounts_below(&pm.path("rt")).is_empty(),
        "{:?}",
        host_mounts_below(&pm.path("rt"))
    );
}

#[test]
fn podman_secret_targets_outside_run_secrets_and_the_annotation_are_refused() {
    let pm = Podman::new();
    pm.secret_create("db_password", "podman-refused-s3cr3t");
    let args = ["--rm", "--secret", "db_password,target=/etc/db_password"];
    let out = pm.run_expect(&args, &["report"], 126);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bulwark delivers secrets only as /run/secrets/NAME"),
        "{}",
        pm.describe(&args, &out)
    );
    // A Podman user could otherwise read any file the operator's source_dirs hold.
    // Podman reads --annotation as CSV: the quotes of the JSON are doubled.
    let args = [
        "--rm",
        "--annotation",
        r#""bulwark.io/secrets={""x"":""/etc/shadow""}""#,
    ];
    let out = pm.run_expect(&args, &["report"], 126);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is not accepted from Podman"),
        "{}",
        pm.describe(&args, &out)
    );
    assert!(host_mounts_below(&pm.path("rt")).is_empty());
}

#[test]
fn podman_agent_refused_a_secret_by_the_policy() {
    // policies/data.json: research-agent may receive openai-api-key only.
    let pm = Podman::new();
    pm.secret_create("prod_db_password", "podman-policy-s3cr3t");
    let out = pm.run_expect(
        &[
            "--rm",
            "--secret",
            "prod_db_password",
            "--annotation",
            "bulwark.io/agent=research-agent",
        ],
        &["report"],
        126,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "refused by policy (embedded, bulwark/decision): agent \"research-agent\" may not receive secret \"prod_db_password\""
        ),
        "{}",
        pm.describe(&["run", "--secret"], &out)
    );
    assert!(!stderr.contains("podman-policy-s3cr3t"));
    // The audit record names the secret, never its value.
    let audit = std::fs::read_to_string(pm.path("audit.jsonl")).unwrap();
    let refusal = audit
        .lines()
        .rfind(|l| l.contains("\"verdict\":\"refuse\""))
        .unwrap_or_else(|| panic!("no refusal in the audit log:\n{audit}"));
    assert!(refusal.contains("prod_db_password"), "{refusal}");
    assert!(!audit.contains("podman-policy-s3cr3t"));
    // Refused before anything was mounted: no tmpfs is left behind.
    assert!(host_mounts_below(&pm.path("rt")).is_empty());
}

/// Issue #15 class 5: a Podman container's id reused by another caller of bulwark. A
/// client of containerd's API (`ctr run --runtime ... --annotation
/// io.container.manager=libpod`, its bundle containerd's own directory) takes the id of a
/// running Podman container and writes a spec that claims Podman and binds that
/// container's secret. Before, bulwark took the claim: it copied the Podman container's
/// on-disk secret into the caller's tmpfs and read the image from Podman's record.
/// A Podman claim now holds only with Podman's own bundle, the container's userdata
/// directory, so the caller is refused; Podman itself (every other test here, and the
/// victim) still runs.
#[test]
fn a_podman_container_id_reused_by_another_caller_gets_neither_its_secret_nor_its_image() {
    let pm = Podman::new();
    pm.set_bulwark_config(&trusts_podman_agents());
    let value = format!("podman-reused-id-s3cr3t-{}", std::process::id());
    pm.secret_create("openai-api-key", &value);
    let cid = pm.run_detached(&AGENT_SECRET, &["sleep", "300"]);
    let userdata = pm.path(&format!("root/overlay-containers/{cid}/userdata"));
    assert!(
        pm.runtime_argv_log()
            .contains(&format!("--bundle {}", userdata.display())),
        "podman's bundle is not its userdata directory:\n{}",
        pm.runtime_argv_log()
    );
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(userdata.join("config.json")).unwrap()).unwrap();
    spec["process"]["args"] = json!(["/probe", "cat", "/run/secrets/openai-api-key"]);
    spec["process"]["terminal"] = json!(false);
    // A cgroup of its own: the Podman container's is taken.
    spec["linux"]["cgroupsPath"] = json!(format!("/bulwark/{cid}"));
    let bundle = tempfile::Builder::new()
        .prefix("bulwark-ctr-bundle-")
        .tempdir()
        .unwrap();
    std::fs::write(bundle.path().join("config.json"), spec.to_string()).unwrap();
    let root = tempfile::Builder::new()
        .prefix("bulwark-ctr-root-")
        .tempdir()
        .unwrap();
    let bulwark = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_bulwark"))
            .arg("--root")
            .arg(root.path())
            .args(args)
            .env("BULWARK_CONFIG", pm.path("bulwark.toml"))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let out = bulwark(&["run", "--bundle", bundle.path().to_str().unwrap(), &cid]);
    let _ = bulwark(&["delete", "--force", &cid]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        !stdout.contains(&value),
        "another caller read the Podman container's secret"
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("[engine.identity] annotations") && stderr.contains("userdata"),
        "{stderr}"
    );
    assert!(!stderr.contains(&value), "{stderr}");
    assert!(host_mounts_below(root.path()).is_empty());
    // The Podman container itself is untouched.
    let out = pm.podman_ok(&["exec", &cid, "/probe", "cat", "/run/secrets/openai-api-key"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), value);
    pm.podman_ok(&["rm", "--force", "--time", "0", &cid]);
}

/// Issue #15 class 9: any Podman user can write `--annotation bulwark.io/agent=NAME`.
/// That is a claim by the workload's author, not an identity: it narrows (the agent's
/// limits apply) and never unlocks the agent's secrets, so naming research-agent does
/// not get its `openai-api-key` (the old policy handed it over). A host that trusts its
/// Podman users' agent claims says so (`policy.trusted_agent_engines`), and then the
/// same run reads the secret.
#[test]
fn podman_agent_claim_unlocks_no_secret() {
    let pm = Podman::new();
    let value = format!("podman-claim-s3cr3t-{}", std::process::id());
    pm.secret_create("openai-api-key", &value);
    let args = [
        "--rm",
        "--secret",
        "openai-api-key",
        "--annotation",
        "bulwark.io/agent=research-agent",
    ];
    let cat = ["cat", "/run/secrets/openai-api-key"];
    assert_secret_refused(
        &pm,
        &args,
        &cat,
        &value,
        "may not receive secret \"openai-api-key\": its agent \"research-agent\" is a claim, not an identity (annotation bulwark.io/agent from engine \"podman\", which host config policy.trusted_agent_engines does not trust)",
    );

    pm.set_bulwark_config(&trusts_podman_agents());
    assert_reads_secret(&pm, &args, &cat, &value);
}

/// Runs `cmd` with `args`, expecting success and exactly the secret's `value` on stdout.
fn assert_reads_secret(pm: &Podman, args: &[&str], cmd: &[&str], value: &str) {
    let out = pm.run_expect(args, cmd, 0);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        value,
        "{}",
        pm.describe(args, &out)
    );
}

/// `podman run args… cmd` is refused by bulwark (exit 126) saying `reason`, the secret's
/// `value` appears in neither output, and no tmpfs is left mounted.
fn assert_secret_refused(pm: &Podman, args: &[&str], cmd: &[&str], value: &str, reason: &str) {
    let out = pm.run_expect(args, cmd, 126);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(reason), "{}", pm.describe(args, &out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains(value));
    assert!(!stderr.contains(value));
    assert!(host_mounts_below(&pm.path("rt")).is_empty());
}

/// Issue #21 item 1: the policy decided on the file name a Podman secret was mounted
/// as, not on the secret: `--secret signing-key,target=/run/secrets/openai-api-key`
/// was allowed as research-agent's `openai-api-key` and the container read
/// signing-key's value. A secret is delivered under its own name or not at all; the
/// positive control mounts research-agent's own secret under its name.
#[test]
fn podman_secret_mounted_under_another_secrets_name_is_refused() {
    let pm = Podman::new();
    pm.set_bulwark_config(&trusts_podman_agents());
    let value = format!("podman-alias-s3cr3t-{}", std::process::id());
    pm.secret_create("signing-key", &value);
    pm.secret_create("openai-api-key", "podman-alias-granted");
    let args = [
        "--rm",
        "--secret",
        "signing-key,target=/run/secrets/openai-api-key",
        "--annotation",
        "bulwark.io/agent=research-agent",
    ];
    let cat = ["cat", "/run/secrets/openai-api-key"];
    assert_secret_refused(
        &pm,
        &args,
        &cat,
        &value,
        "Podman secret \"signing-key\" is mounted as \"openai-api-key\"",
    );

    let own_name = [&["--rm"][..], &AGENT_SECRET[..]].concat();
    let out = pm.run_expect(&own_name, &cat, 0);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "podman-alias-granted");
}

/// Issue #21 item 2: `--secret signing-key,type=env,target=BUILD_INFO` puts the stored
/// value into the environment under a neutral name, which no name or shape heuristic
/// sees; it ran (`"secrets": []`, the value in `env`). bulwark compares environment
/// values with Podman's secret store by digest: refused by `env.secret` naming the
/// variable and the secret, never the value, and nothing left mounted. The same value
/// given with `--env` is the same secret; another value runs.
#[test]
fn podman_secret_delivered_as_an_environment_variable_is_refused() {
    let pm = Podman::new();
    let value = format!("podman-env-s3cr3t-{}", std::process::id());
    pm.secret_create("signing-key", &value);
    let reason = "[env.secret] process.env[";
    let named = "BUILD_INFO (value withheld; it is the value of Podman secret \"signing-key\")";
    for args in [
        ["--rm", "--secret", "signing-key,type=env,target=BUILD_INFO"],
        ["--rm", "--env", &format!("BUILD_INFO={value}")],
    ] {
        assert_secret_refused(&pm, &args, &["env"], &value, reason);
        let out = pm.run_expect(&args, &["env"], 126);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(named),
            "{}",
            pm.describe(&args, &out)
        );
    }
    let other = ["--rm", "--env", "BUILD_INFO=release-42"];
    let out = pm.run_expect(&other, &["env"], 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("BUILD_INFO=release-42"));
}

// ---------------------------------------------------------------------------
// Issue #15 classes 1, 2 and 4 through Podman: what Podman's flags make of the spec is
// decided on the kernel object it names, and a race on a name never reaches the host.

/// The arguments of `podman run` with the limits bulwark requires (as
/// `Podman::run_expect` writes them) and the network mode `network`; the outcome is the
/// caller's to judge, since a race counts refusals and successes rather than expecting one.
fn limited_run(network: &str, opts: &[&str], cmd: &[&str]) -> Vec<String> {
    let mut args = vec!["run", "--network", network, "--pull", "never"];
    args.extend_from_slice(&["--memory", "128m", "--cpus", "1", "--pids-limit", "64"]);
    args.extend_from_slice(opts);
    args.push(harness::IMAGE);
    args.extend_from_slice(cmd);
    args.into_iter().map(str::to_owned).collect()
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// Issue #15 class 1 through Podman: `--device /dev/loop0:/dev/zero --group-add 6` (disk;
/// the probe image has no /etc/group to name it by) makes Podman write a `linux.devices`
/// entry named `/dev/zero` that is the host's block device 7:0. bulwark checked devices by
/// path, so the container ran with a host block device as its `/dev/zero`. bulwark
/// decides on the node's type and major:minor now: the run is refused naming
/// `[privileged.devices]`, and nothing is left in its state root or mounted below it. A
/// plain run still gets the standard char device 1:5 as `/dev/zero`.
#[test]
fn podman_device_named_like_a_standard_node_is_refused() {
    use std::os::unix::fs::FileTypeExt;
    let loop0 = std::fs::metadata("/dev/loop0").expect("this host has /dev/loop0");
    assert!(loop0.file_type().is_block_device(), "/dev/loop0: {loop0:?}");
    let pm = Podman::new();
    let args = [
        "--rm",
        "--device",
        "/dev/loop0:/dev/zero",
        "--group-add",
        "6",
    ];
    let out = pm.run_expect(&args, &["stat", "/dev/zero"], 126);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[privileged.devices] linux.devices[0]"),
        "{}",
        pm.describe(&args, &out)
    );
    assert_runtime_root_clean(&pm);

    // Positive control: without --device the standard node is there.
    let out = pm.run_expect(&["--rm"], &["stat", "/dev/zero"], 0);
    let node = probe_report(&out);
    assert_eq!(
        (&node["file_type"], &node["rdev"]),
        (&json!("char"), &json!("1:5")),
        "{node}"
    );
}

/// Sets `stop` when dropped, so a failed assertion in a race loop still ends the thread
/// that exchanges the names (and the scope joining it).
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Issue #15 class 2 through Podman: a Podman user whose `-v` source lies in an
/// allowlisted directory exchanges it (renameat2 RENAME_EXCHANGE) with a symlink to host
/// `/`. Podman 4.3 hands the source to the runtime as written (config.json names
/// `<dir>/vol`, and a link by its own name, not resolved), so the name is bulwark's to
/// resolve: it canonicalized it to the allowed directory and libcontainer looked the same
/// name up again, by which time it could be the link, and the container got the host's
/// root at /data. bulwark opens the source once without following links and mounts that
/// descriptor now: 30 runs against an exchanging thread are each refused
/// (`[mounts.host-path]`, a link at the lookup) or mount the volume; none mounts the
/// host's root.
#[test]
fn podman_volume_swapped_for_a_symlink_never_mounts_the_host() {
    const ATTEMPTS: usize = 30;
    let dir = tempfile::Builder::new()
        .prefix("bulwark-podman-vol-")
        .tempdir()
        .unwrap();
    let path = std::fs::canonicalize(dir.path()).unwrap();
    std::fs::create_dir(path.join("vol")).unwrap();
    std::fs::write(path.join("vol/marker"), "volume").unwrap();
    std::os::unix::fs::symlink("/", path.join("link")).unwrap();
    let pm = Podman::new();
    pm.set_bulwark_config(&format!(
        "{}[admission.mounts]\nallowed_host_paths = [{:?}]\n",
        harness::BULWARK_CONFIG,
        path.display().to_string()
    ));
    let volume = format!("{}:/data", path.join("vol").display());
    let args = limited_run(
        "none",
        &["--rm", "-v", &volume],
        &["read-each", "/data/marker", "/data/etc/hostname"],
    );
    let stop = AtomicBool::new(false);
    let (mut mounted_volume, mut refused, mut host) = (0, 0, Vec::new());
    std::thread::scope(|scope| {
        scope.spawn(|| common::exchange_names_until(&path.join("vol"), &path.join("link"), &stop));
        let _stop = StopOnDrop(&stop);
        for attempt in 0..ATTEMPTS {
            let out = pm.podman(&as_strs(&args));
            if out.status.success() {
                let report = probe_report(&out);
                if report["/data/etc/hostname"]["result"] == "ok" {
                    host.push(attempt);
                } else {
                    assert_eq!(
                        report["/data/marker"]["content"], "volume",
                        "attempt {attempt}: {report}"
                    );
                    mounted_volume += 1;
                }
            } else {
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(
                    stderr.contains("[mounts.host-path]"),
                    "attempt {attempt}: {}",
                    pm.describe(&as_strs(&args), &out)
                );
                refused += 1;
            }
        }
    });
    assert!(
        host.is_empty(),
        "the host's root was mounted at /data in {} of {ATTEMPTS} runs (attempts {host:?}; \
         {mounted_volume} mounted the volume, {refused} refused)",
        host.len()
    );
    // Positive control: the race does not just refuse everything.
    assert!(
        mounted_volume > 0,
        "never mounted the volume ({refused} refused)"
    );
    assert_runtime_root_clean(&pm);
}

/// A host sysctl's value, written back on drop if it changed: a container that lands in
/// the host's network namespace (a runtime with the old bug) writes Podman's default
/// `net.ipv4.ping_group_range` there.
struct HostSysctlRestored {
    path: &'static str,
    value: String,
}

impl HostSysctlRestored {
    fn save(path: &'static str) -> Self {
        let value = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        Self { path, value }
    }
}

impl Drop for HostSysctlRestored {
    fn drop(&mut self) {
        if std::fs::read_to_string(self.path).ok().as_ref() != Some(&self.value) {
            eprintln!("restoring the host's {} to {:?}", self.path, self.value);
            let _ = std::fs::write(self.path, &self.value);
        }
    }
}

/// Issue #15 class 4 through Podman: `podman run --network ns:<dir>/ns` where `ns` is a
/// symlink exchanged (renameat2 RENAME_EXCHANGE) between a pod's network namespace and
/// the host's (`/proc/1/ns/net`). Podman 4.3 passes the path on as written
/// (`linux.namespaces[1].path` is `<dir>/ns`); bulwark compared the inode on one lookup
/// and libcontainer opened the path again, so containers ran in the host's network
/// namespace, and Podman's default `net.ipv4.ping_group_range` sysctl was written into
/// the host's. bulwark opens the path once, checks that descriptor (a network namespace,
/// not the host's) and has libcontainer join it now: 50 detached runs against an
/// exchanging thread are each refused (`[namespaces.host]`) or run in the pod's namespace
/// (the container init's /proc/<pid>/ns/net, its pid from `podman inspect`); none in the
/// host's.
#[test]
fn podman_ns_path_swapped_for_the_hosts_never_joins_the_host_network() {
    const ATTEMPTS: usize = 50;
    // The pod's sandbox the path names: a process in a network namespace of its own.
    let pod = common::PauseProcess::spawn(&["--net"], &["net"]);
    let links = tempfile::Builder::new()
        .prefix("bulwark-podman-ns-")
        .tempdir()
        .unwrap();
    let (ns, other) = (links.path().join("ns"), links.path().join("ns.tmp"));
    std::os::unix::fs::symlink(pod.ns("net"), &ns).unwrap();
    let host_link = common::host_netns_link();
    std::os::unix::fs::symlink(&host_link, &other).unwrap();
    let (host, pod_net) = (
        common::ns_identity(&host_link),
        common::ns_identity(&pod.ns("net")),
    );
    let _sysctl = HostSysctlRestored::save("/proc/sys/net/ipv4/ping_group_range");
    let pm = Podman::new();
    let args = limited_run(
        &format!("ns:{}", ns.display()),
        &["--rm", "-d"],
        &["sleep", "300"],
    );
    let stop = AtomicBool::new(false);
    let (mut joined_pod, mut refused, mut in_host, mut failed) = (0, 0, Vec::new(), Vec::new());
    std::thread::scope(|scope| {
        scope.spawn(|| common::exchange_names_until(&ns, &other, &stop));
        let _stop = StopOnDrop(&stop);
        for attempt in 0..ATTEMPTS {
            let out = pm.podman(&as_strs(&args));
            if out.status.success() {
                let stdout = String::from_utf8_lossy(&out.stdout);
                let cid = stdout.lines().map(str::trim).rfind(|l| !l.is_empty());
                let cid = cid.unwrap_or_else(|| panic!("no container id: {stdout}"));
                let inspect = pm.podman_ok(&["inspect", "--format", "{{.State.Pid}}", cid]);
                let pid = String::from_utf8_lossy(&inspect.stdout).trim().to_owned();
                let joined = common::ns_identity(&PathBuf::from(format!("/proc/{pid}/ns/net")));
                pm.podman_ok(&["rm", "--force", "--time", "0", cid]);
                if joined == host {
                    in_host.push(attempt);
                } else {
                    assert_eq!(joined, pod_net, "attempt {attempt}");
                    joined_pod += 1;
                }
            } else if String::from_utf8_lossy(&out.stderr).contains("[namespaces.host]") {
                refused += 1;
            } else {
                // Before: libcontainer's check of Podman's net sysctl, on a lookup of its
                // own, saw the host's namespace and refused without bulwark's rule.
                failed.push(format!(
                    "attempt {attempt}: {}",
                    pm.describe(&as_strs(&args), &out)
                ));
            }
        }
    });
    assert!(
        in_host.is_empty(),
        "{} of {ATTEMPTS} containers ran in the host's network namespace (attempts {in_host:?}; \
         {joined_pod} in the pod's, {refused} refused, {} failed otherwise)",
        in_host.len(),
        failed.len()
    );
    assert!(failed.is_empty(), "refused without the rule: {failed:#?}");
    // Positive control: the race does not just refuse everything.
    assert!(joined_pod > 0, "never joined the pod ({refused} refused)");
    assert_runtime_root_clean(&pm);
}

/// Issue #21 item 4: a Podman user names an agent only with a token the orchestrator
/// signed (`--annotation bulwark.io/agent-token=…`): with it research-agent receives its
/// secret on a host that trusts no Podman agent annotation; the same token on a
/// container of another image (replayed) is refused before the policy runs.
#[test]
fn podman_agent_token_names_the_agent() {
    let pm = Podman::new();
    let keys = TokenKeys::new();
    let sign = |image: &str| keys.sign(&["--image", image]);
    pm.set_bulwark_config(&format!("{}{}", harness::BULWARK_CONFIG, keys.table("")));
    let value = format!("podman-token-s3cr3t-{}", std::process::id());
    pm.secret_create("openai-api-key", &value);
    let cat = ["cat", "/run/secrets/openai-api-key"];

    let token = format!("bulwark.io/agent-token={}", sign(harness::IMAGE));
    let args = ["--rm", "--secret", "openai-api-key", "--annotation", &token];
    assert_reads_secret(&pm, &args, &cat, &value);

    // A token pinned to the image's content (its manifest digest) admits the image
    // run by its tag: the digest is matched with containers/storage's record of the
    // image, not with what the reference claims (before: refused, the tag has no digest).
    let digest = pm.podman_ok(&[
        "image",
        "inspect",
        "--format",
        "{{.Digest}}",
        harness::IMAGE,
    ]);
    let digest = String::from_utf8_lossy(&digest.stdout).trim().to_owned();
    let pinned = format!(
        "bulwark.io/agent-token={}",
        sign(&format!("localhost/bulwark-probe@{digest}"))
    );
    let args = [
        "--rm",
        "--secret",
        "openai-api-key",
        "--annotation",
        &pinned,
    ];
    assert_reads_secret(&pm, &args, &cat, &value);

    let replayed = format!(
        "bulwark.io/agent-token={}",
        sign("localhost/bulwark-probe:other")
    );
    let args = [
        "--rm",
        "--secret",
        "openai-api-key",
        "--annotation",
        &replayed,
    ];
    assert_secret_refused(
        &pm,
        &args,
        &cat,
        &value,
        "the token is for image \"localhost/bulwark-probe:other\", the container runs image \"localhost/bulwark-probe:test\"",
    );
}
