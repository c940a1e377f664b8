//! Policy decisions through the built binary: the OPA backend against a real OPA
//! evaluator served over a Unix socket (integration/opa/opa_server.py, OPA's Go library
//! behind OPA's REST Data API), every failure mode with its configured outcome, the
//! embedded backend giving the same answers, the audit log, `bulwark doctor`, and
//! secrets scoped to trusted agents (issue #15 class 9).
//!
//! Needs the OPA bindings installed by `integration/opa/install.sh DIR`
//! (`make test` does it); `BULWARK_OPA_BINDINGS` names DIR.

mod common;

use common::opa::{opa_config, OpaServer};
use common::{unique_id, with_secrets, Bundle, Runtime, Sources};
use serde_json::{json, Value};

fn agent_bundle(agent: &str) -> Bundle {
    let mut bundle = Bundle::new(&["/probe", "report"]);
    bundle.set("/annotations/bulwark.io~1agent", json!(agent));
    bundle
}

fn last_record(rt: &Runtime, id: &str) -> Value {
    rt.audit_records()
        .into_iter()
        .rfind(|r| r["container_id"] == id)
        .unwrap_or_else(|| panic!("no audit record for {id}"))
}

#[test]
fn opa_allows_and_refuses_with_the_policys_reasons() {
    let opa = OpaServer::start("normal");
    let rt = Runtime::with_config(&opa_config(&opa.socket(), ""));

    // research-agent may run localhost/bulwark-probe (policies/data.json).
    let id = unique_id("opa-ok");
    rt.ok(&[
        "run",
        "--bundle",
        agent_bundle("research-agent").path_str(),
        &id,
    ]);
    let record = last_record(&rt, &id);
    assert_eq!(record["verdict"], "admit", "{record}");
    assert_eq!(record["level"], "info");
    assert_eq!(record["policy"]["backend"], "opa");
    assert_eq!(record["policy"]["decision"]["allow"], true);
    assert!(record["digests"]["config"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert!(record["digests"]["seccomp_profile"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));

    let id = unique_id("opa-nobody");
    let stderr = rt.fails(&["run", "--bundle", agent_bundle("nobody").path_str(), &id]);
    assert!(
        stderr.contains("refused by policy (opa, bulwark/decision): unknown agent \"nobody\""),
        "{stderr}"
    );
    assert!(rt.leftovers(&id).is_empty(), "{:?}", rt.leftovers(&id));
    let record = last_record(&rt, &id);
    assert_eq!(record["verdict"], "refuse");
    assert_eq!(record["policy"]["decision"]["allow"], false);
}

#[test]
fn embedded_and_opa_give_the_same_refusal() {
    let opa = OpaServer::start("normal");
    let via_opa = Runtime::with_config(&opa_config(&opa.socket(), ""));
    let embedded = Runtime::new();
    let bundle = agent_bundle("nobody");
    let reason = |stderr: String| {
        stderr
            .split("bulwark/decision): ")
            .nth(1)
            .unwrap_or_else(|| panic!("no policy reason in {stderr}"))
            .trim()
            .to_owned()
    };
    let a = reason(via_opa.fails(&["run", "--bundle", bundle.path_str(), &unique_id("same")]));
    let b = reason(embedded.fails(&["run", "--bundle", bundle.path_str(), &unique_id("same")]));
    assert_eq!(a, b);
}

#[test]
fn every_opa_failure_is_a_refusal_with_an_error_level_audit_record() {
    let cases = [
        ("deny", "denied by test server"),
        ("undefined", "is undefined"),
        ("status400", "OPA answered 400"),
        ("status500", "OPA answered 500"),
        ("garbage", "not a JSON object"),
        ("oversized", "larger than 1048576 bytes"),
        ("slow", "did not answer within 1000 ms"),
        ("hangup", "talking to OPA"),
    ];
    for (mode, expected) in cases {
        let opa = OpaServer::start(mode);
        let rt = Runtime::with_config(&opa_config(&opa.socket(), ""));
        let id = unique_id(mode);
        let stderr = rt.fails(&[
            "run",
            "--bundle",
            Bundle::new(&["/probe", "report"]).path_str(),
            &id,
        ]);
        assert!(stderr.contains(expected), "{mode}: {stderr}");
        assert!(
            rt.leftovers(&id).is_empty(),
            "{mode}: {:?}",
            rt.leftovers(&id)
        );
        let record = last_record(&rt, &id);
        assert_eq!(record["verdict"], "refuse", "{mode}: {record}");
        // A denial is a decision; everything else is the operator alert.
        let level = if matches!(mode, "deny" | "undefined") {
            "info"
        } else {
            "error"
        };
        assert_eq!(record["level"], level, "{mode}: {record}");
    }
}

#[test]
fn a_missing_socket_fails_closed_or_falls_back_as_configured() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("absent.sock");
    let bundle = Bundle::new(&["/probe", "report"]);

    let strict = Runtime::with_config(&opa_config(&socket, ""));
    let id = unique_id("nosock");
    let stderr = strict.fails(&["run", "--bundle", bundle.path_str(), &id]);
    assert!(stderr.contains("cannot connect to OPA"), "{stderr}");
    assert!(stderr.contains("on_unavailable"), "{stderr}");
    assert!(strict.leftovers(&id).is_empty());
    assert_eq!(last_record(&strict, &id)["level"], "error");

    // Issue #21 item 6: the fallback admits only a trusted agent's containers (OPA's
    // data may require agents where the host's does not); before, this ran.
    let degrading = Runtime::with_config(&opa_config(&socket, "on_unavailable = \"embedded\"\n"));
    let id = unique_id("fallback-no-agent");
    let stderr = degrading.fails(&["run", "--bundle", bundle.path_str(), &id]);
    assert!(
        stderr.contains("OPA is unavailable (cannot connect to OPA")
            && stderr.contains("the embedded fallback admits only a trusted agent's containers"),
        "{stderr}"
    );
    assert!(degrading.leftovers(&id).is_empty());
    assert_eq!(last_record(&degrading, &id)["policy"]["fallback"], true);
    let id = unique_id("fallback");
    let bundle = agent_bundle("research-agent");
    degrading.ok(&["run", "--bundle", bundle.path_str(), &id]);
    let record = last_record(&degrading, &id);
    assert_eq!(record["verdict"], "admit", "{record}");
    assert_eq!(record["level"], "error", "{record}");
    assert_eq!(record["policy"]["backend"], "embedded");
    assert_eq!(record["policy"]["fallback"], true);
    assert!(record["policy"]["error"]
        .as_str()
        .unwrap()
        .contains("cannot connect"));
    assert!(record["digests"]["policies"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
}

#[test]
fn exec_and_update_are_decided_and_audited() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "60"]);
    let id = unique_id("decide");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    rt.ok(&["exec", &id, "/probe", "exit", "0"]);
    rt.ok(&["update", "--memory", "100000000", &id]);
    let operations: Vec<String> = rt
        .audit_records()
        .iter()
        .filter(|r| r["container_id"] == id.as_str())
        .map(|r| {
            format!(
                "{}:{}",
                r["operation"].as_str().unwrap(),
                r["verdict"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(operations, ["create:admit", "exec:admit", "update:admit"]);

    // The same container under a policy that says no.
    let opa = OpaServer::start("deny");
    let config = opa_config(&opa.socket(), "");
    std::fs::write(
        rt.config_path(),
        format!("{config}\n[audit]\npath = {:?}\n", rt.audit_path()),
    )
    .unwrap();
    let stderr = rt.fails(&["exec", &id, "/probe", "exit", "0"]);
    assert!(stderr.contains("denied by test server"), "{stderr}");
    let stderr = rt.fails(&["update", "--memory", "90000000", &id]);
    assert!(stderr.contains("denied by test server"), "{stderr}");
    let record = last_record(&rt, &id);
    assert_eq!(
        (record["operation"].as_str(), record["verdict"].as_str()),
        (Some("update"), Some("refuse"))
    );
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn parallel_creates_append_whole_audit_lines() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "exit", "0"]);
    let ids: Vec<String> = (0..8).map(|_| unique_id("par")).collect();
    std::thread::scope(|scope| {
        for id in &ids {
            let (rt, bundle) = (&rt, &bundle);
            scope.spawn(move || rt.ok(&["run", "--bundle", bundle.path_str(), id]));
        }
    });
    // audit_records parses every line: an interleaved write would fail here.
    let records = rt.audit_records();
    for id in &ids {
        assert_eq!(
            records
                .iter()
                .filter(|r| r["container_id"] == id.as_str())
                .count(),
            1,
            "{id}"
        );
    }
}

#[test]
fn doctor_reports_apparmor_and_opa_health() {
    let opa = OpaServer::start("normal");
    let rt = Runtime::with_config(&opa_config(&opa.socket(), ""));
    let out = rt.run(&["doctor", "--format", "json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let check = |name: &str| -> Value {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} check: {report}"))
    };
    assert_eq!(check("opa")["ok"], true, "{report}");
    assert_eq!(check("seccomp")["ok"], true, "{report}");
    let apparmor_enabled = common::host_apparmor_enabled();
    if !apparmor_enabled {
        // The test config accepts the missing AppArmor: reported, not fatal.
        assert!(check("apparmor")["detail"]
            .as_str()
            .unwrap()
            .contains("no AppArmor"));
        assert_eq!(check("apparmor")["ok"], true);
    }
    assert_eq!(out.status.code(), Some(0), "{report}");

    drop(opa);
    let out = rt.run(&["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL opa"), "{text}");
    assert!(text.contains("UNHEALTHY"), "{text}");

    if !apparmor_enabled {
        // Under the default AppArmor setting this kernel cannot run containers at all.
        let strict = Runtime::with_config(common::TEST_IMAGES_CONFIG);
        let out = strict.run(&["doctor"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(text.contains("FAIL apparmor"), "{text}");
    }
}

/// The secret research-agent may receive (policies/data.json), asked for through the
/// orchestrator annotation by a bundle whose process prints it.
fn secret_bundle(sources: &Sources) -> (Bundle, String) {
    let (path, value) = sources.add("openai-api-key");
    let mut bundle = Bundle::new(&["/probe", "cat", "/run/secrets/openai-api-key"]);
    with_secrets(&mut bundle, json!({ "openai-api-key": path }));
    (bundle, value)
}

/// Issue #15 class 9: without `bulwark.io/agent` the Rego skipped every agent check,
/// so a container named no agent and received any secret under `secrets.source_dirs`.
/// Secrets are scoped to agents: no agent, no secret, from either backend, refused
/// before anything is mounted. The same bundle naming research-agent (an orchestrator,
/// engine `other`, whose agent annotation the host trusts by default) still gets its
/// secret and reads it inside.
#[test]
fn a_container_without_an_agent_receives_no_secret() {
    let sources = Sources::new();
    let (mut bundle, value) = secret_bundle(&sources);
    let expected = |backend: &str, id: &str| {
        format!(
            "refused by policy ({backend}, bulwark/decision): container \"{id}\" may not receive secret \"openai-api-key\": it has no agent (annotation bulwark.io/agent)"
        )
    };

    let embedded = Runtime::with_config(&sources.shipped_policy_config(""));
    let id = unique_id("no-agent");
    let out = embedded.run(&["run", "--bundle", bundle.path_str(), &id]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stdout.contains(&value), "the secret reached the container");
    assert!(
        stderr.contains(&expected("embedded", &id)),
        "{}",
        common::describe(&["run"], &out)
    );
    assert!(!stderr.contains(&value), "{stderr}");
    embedded.assert_no_leftovers_or_mounts(&id);
    let record = last_record(&embedded, &id);
    assert_eq!(record["verdict"], "refuse", "{record}");
    assert!(!record.to_string().contains(&value), "{record}");

    let opa = OpaServer::start("normal");
    let via_opa = Runtime::with_config(&format!(
        "{}{}",
        opa_config(&opa.socket(), ""),
        sources.secrets_table("")
    ));
    let id = unique_id("no-agent-opa");
    let stderr = via_opa.fails(&["run", "--bundle", bundle.path_str(), &id]);
    assert!(stderr.contains(&expected("opa", &id)), "{stderr}");
    via_opa.assert_no_leftovers_or_mounts(&id);

    // Positive control: the orchestrator names the agent the secret belongs to.
    bundle.set("/annotations/bulwark.io~1agent", json!("research-agent"));
    for rt in [&embedded, &via_opa] {
        let id = unique_id("agent-secret");
        let out = rt.ok(&["run", "--bundle", bundle.path_str(), &id]);
        assert_eq!(String::from_utf8_lossy(&out.stdout), value);
        rt.ok(&["delete", "--force", &id]);
    }
}

/// An agent annotation is an identity only from a caller the host trusts with it
/// (`policy.trusted_agent_engines`, default `["other"]`); from any other caller it is a
/// claim by the workload's author, which narrows (the agent's limits apply) and never
/// unlocks the agent's secrets. A host that trusts no engine's agent annotation refuses
/// even the orchestrator's research-agent its secret, naming the key.
#[test]
fn an_agent_the_host_does_not_trust_unlocks_no_secret() {
    let sources = Sources::new();
    let (mut bundle, value) = secret_bundle(&sources);
    bundle.set("/annotations/bulwark.io~1agent", json!("research-agent"));
    let rt = Runtime::with_config(&format!(
        "{}[policy]\ntrusted_agent_engines = []\n{}",
        common::TEST_CONFIG,
        sources.secrets_table("")
    ));
    let id = unique_id("claimed");
    let stderr = rt.fails(&["run", "--bundle", bundle.path_str(), &id]);
    assert!(
        stderr.contains(&format!(
            "container \"{id}\" may not receive secret \"openai-api-key\": its agent \"research-agent\" is a claim, not an identity (annotation bulwark.io/agent from engine \"other\", which host config policy.trusted_agent_engines does not trust)"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains(&value), "{stderr}");
    rt.assert_no_leftovers_or_mounts(&id);
}

/// Issue #21 item 6: a 200 from OPA whose decision is no clean allow is OPA's denial,
/// never "unavailable": with `on_unavailable = "embedded"` these answers fell back to
/// the embedded policies, which admitted the container (and `allow: true` with reasons
/// was admitted outright). Each is now refused, without a fallback, naming what was
/// wrong with the answer.
#[test]
fn a_malformed_or_ambiguous_opa_decision_is_a_denial_never_a_fallback() {
    let cases = [
        ("reasons-string", "reasons is not an array"),
        ("allow-string", "allow is missing or not a bool"),
        ("null-result", "null"),
        (
            "allow-with-reasons",
            "allowed and gave reasons: conflicting reason",
        ),
    ];
    for (mode, expected) in cases {
        let opa = OpaServer::start(mode);
        let rt = Runtime::with_config(&opa_config(
            &opa.socket(),
            "on_unavailable = \"embedded\"\n",
        ));
        let id = unique_id(mode);
        let bundle = Bundle::new(&["/probe", "report"]);
        let stderr = rt.fails(&["run", "--bundle", bundle.path_str(), &id]);
        assert!(
            stderr.contains("refused by policy (opa, bulwark/decision)")
                && stderr.contains(expected),
            "{mode}: {stderr}"
        );
        rt.assert_no_leftovers_or_mounts(&id);
        let record = last_record(&rt, &id);
        assert_eq!(record["verdict"], "refuse", "{mode}: {record}");
        assert_eq!(record["policy"]["fallback"], false, "{mode}: {record}");
        assert_eq!(record["policy"]["backend"], "opa", "{mode}: {record}");
    }
}

/// Issue #21 item 6: the embedded fallback decides while OPA, whose data the host
/// cannot see, is down: it grants nothing that only policy data grants. A container
/// asking for a secret (which the embedded policies' own data would give its agent)
/// is refused in degraded mode, naming the outage; the positive control, the same
/// container without the secret, is admitted by the fallback.
#[test]
fn the_embedded_fallback_grants_no_secret_while_opa_is_down() {
    let sources = Sources::new();
    let (mut bundle, value) = secret_bundle(&sources);
    bundle.set("/annotations/bulwark.io~1agent", json!("research-agent"));
    let opa = OpaServer::start("status500");
    let rt = Runtime::with_config(&format!(
        "{}{}",
        opa_config(&opa.socket(), "on_unavailable = \"embedded\"\n"),
        sources.secrets_table("")
    ));
    let id = unique_id("degraded-secret");
    let out = rt.run(&["run", "--bundle", bundle.path_str(), &id]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        common::describe(&["run"], &out)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&value));
    assert!(
        stderr.contains("OPA is unavailable (OPA answered 500")
            && stderr.contains("the embedded fallback grants no secret"),
        "{stderr}"
    );
    rt.assert_no_leftovers_or_mounts(&id);
    let record = last_record(&rt, &id);
    assert_eq!(record["verdict"], "refuse", "{record}");
    assert_eq!(record["policy"]["fallback"], true, "{record}");

    let plain = agent_bundle("research-agent");
    let id = unique_id("degraded-plain");
    rt.ok(&["run", "--bundle", plain.path_str(), &id]);
    assert_eq!(last_record(&rt, &id)["policy"]["fallback"], true);
}

/// An edit of the shipped policy data.
type DataEdit = fn(&mut Value);

/// Issue #21 item 7: policy data of the wrong type (an agent set to `null` to revoke
/// it, a ceiling written as a string) read as "no limit" in OPA's server mode, which
/// admitted the agent's container; now both engines deny every request while the data
/// is wrong, naming the entry, and ask OPA for strict builtin errors.
#[test]
fn wrong_policy_data_denies_in_opa_and_regorus_alike() {
    let bundle = {
        let mut bundle = Bundle::new(&["/probe", "exit", "0"]);
        bundle.set("/annotations/bulwark.io~1agent", json!("research-agent"));
        bundle
    };
    let cases: [(&str, DataEdit, &str); 2] = [
        (
            "null-agent",
            |data| data["bulwark_data"]["agents"]["research-agent"] = Value::Null,
            "policy data: agent \"research-agent\" is not an object (to revoke an agent, remove its entry)",
        ),
        (
            "string-ceiling",
            |data| {
                data["bulwark_data"]["agents"]["research-agent"]["max_memory_bytes"] = json!("512Mi")
            },
            "policy data: agent \"research-agent\": max_memory_bytes must be a number above 0",
        ),
    ];
    for (name, edit, reason) in cases {
        let policies = common::policies_dir(edit);
        let embedded = Runtime::with_config(&format!(
            "{}[policy]\npolicies_dir = {:?}\n",
            common::TEST_CONFIG,
            policies.path()
        ));
        let opa = OpaServer::start_with_policies("normal", policies.path());
        let via_opa = Runtime::with_config(&opa_config(&opa.socket(), ""));
        for (backend, rt) in [("embedded", &embedded), ("opa", &via_opa)] {
            let id = unique_id(name);
            let stderr = rt.fails(&["run", "--bundle", bundle.path_str(), &id]);
            assert!(
                stderr.contains(&format!(
                    "refused by policy ({backend}, bulwark/decision): {reason}"
                )),
                "{name} {backend}: {stderr}"
            );
            rt.assert_no_leftovers_or_mounts(&id);
        }
    }
}
