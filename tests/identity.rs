//! Orchestrator-signed agent tokens (issue #21 item 4), through the built binary:
//! `bulwark token keygen|sign` make them, `create`/`run` verify them against
//! `identity.public_keys` before the policy runs. The host trusts no engine's agent
//! annotation here (`policy.trusted_agent_engines = []`), so research-agent's secret
//! (policies/data.json) is delivered only when a valid token names research-agent.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::tokens::{bulwark_ok, TokenKeys};
use common::{unique_id, with_secrets, Bundle, Runtime, Sources, TEST_IMAGE};
use serde_json::{json, Value};

const TOKEN: &str = "bulwark.io/agent-token";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A runtime trusting orch-1 (and no engine's unsigned agent annotation), with the
/// secrets `sources` holds, and a bundle that prints research-agent's secret.
fn setup(keys: &TokenKeys, identity: &str) -> (Runtime, Bundle, String, Sources) {
    let sources = Sources::new();
    let (path, value) = sources.add("openai-api-key");
    let rt = Runtime::with_config(&format!(
        "{}[policy]\ntrusted_agent_engines = []\n{}{}",
        common::TEST_CONFIG,
        sources.secrets_table(""),
        keys.table(identity)
    ));
    let mut bundle = Bundle::new(&["/probe", "cat", "/run/secrets/openai-api-key"]);
    with_secrets(&mut bundle, json!({ "openai-api-key": path }));
    (rt, bundle, value, sources)
}

fn last_record(rt: &Runtime, id: &str) -> Value {
    rt.audit_records()
        .into_iter()
        .rev()
        .find(|r| r["container_id"] == id)
        .unwrap_or_else(|| panic!("no audit record for {id}"))
}

/// Runs `bundle` carrying `token`; expects a refusal by rule identity.token naming the
/// annotation and `why`, nothing left behind, and the token in neither stderr nor the
/// audit record.
fn assert_token_refused(rt: &Runtime, bundle: &mut Bundle, token: &str, why: &str) {
    bundle.set(
        &format!("/annotations/{}", TOKEN.replace('/', "~1")),
        json!(token),
    );
    let id = unique_id("token-refused");
    let stderr = rt.fails(&["run", "--bundle", bundle.path_str(), &id]);
    assert!(
        stderr.contains(&format!("[identity.token] annotations[\"{TOKEN}\"]")),
        "{stderr}"
    );
    assert!(stderr.contains(why), "expected {why:?} in: {stderr}");
    assert!(!stderr.contains(token), "the token was printed: {stderr}");
    rt.assert_no_leftovers_or_mounts(&id);
    let record = last_record(rt, &id);
    assert_eq!(record["verdict"], "refuse", "{record}");
    assert_eq!(record["rules"][0]["rule"], "identity.token", "{record}");
    assert!(!record.to_string().contains(token), "{record}");
}

/// A valid token names research-agent as an identity: the policy hands it its secret
/// (the same bundle without the token is refused it), and the audit record carries the
/// verified agent with the token's jti and kid, never the token.
#[test]
fn a_valid_token_is_the_agents_identity() {
    let keys = TokenKeys::new();
    let (rt, mut bundle, value, _sources) = setup(&keys, "");
    let id = unique_id("no-token");
    let stderr = rt.fails(&["run", "--bundle", bundle.path_str(), &id]);
    assert!(
        stderr.contains("may not receive secret \"openai-api-key\""),
        "{stderr}"
    );

    let token = keys.sign(&["--jti", "valid-jti"]);
    bundle.set(
        &format!("/annotations/{}", TOKEN.replace('/', "~1")),
        json!(token),
    );
    let id = unique_id("token");
    let out = rt.ok(&["run", "--bundle", bundle.path_str(), &id]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), value);
    let record = last_record(&rt, &id);
    assert_eq!(record["verdict"], "admit", "{record}");
    assert_eq!(
        record["agent"],
        json!({"id": "research-agent", "task": "summarise", "trusted": true,
               "token": {"jti": "valid-jti", "kid": "orch-1"}}),
        "{record}"
    );
    assert!(!record.to_string().contains(&token), "{record}");
    rt.ok(&["delete", "--force", &id]);

    // A bearer credential is kept nowhere bulwark writes: not in `state`'s annotations,
    // not in the effective spec or libcontainer's state under the root.
    let id = unique_id("token-kept");
    rt.ok(&["create", "--bundle", bundle.path_str(), &id]);
    let state = rt.state(&id);
    assert_eq!(state["annotations"][TOKEN], "(withheld)", "{state}");
    assert_eq!(files_containing(rt.root(), &token), Vec::<PathBuf>::new());
    rt.ok(&["delete", "--force", &id]);
}

/// Every regular file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if kind.is_file()
            && fs::read(&path).is_ok_and(|bytes| {
                bytes
                    .windows(needle.len())
                    .any(|window| window == needle.as_bytes())
            })
        {
            found.push(path);
        }
    }
    found
}

#[test]
fn an_expired_or_not_yet_valid_token_is_refused() {
    let keys = TokenKeys::new();
    let (rt, mut bundle, _, _sources) = setup(&keys, "leeway_seconds = 30\n");
    // Issued an hour ago for 10 minutes: expired 3000 s ago, give or take the second
    // that may pass before bulwark looks, so the message is matched on `exp`.
    let issued_at = now() - 3600;
    let expired = keys.sign(&["--issued-at", &issued_at.to_string()]);
    assert_token_refused(
        &rt,
        &mut bundle,
        &expired,
        &format!(
            "s ago (exp {}, leeway identity.leeway_seconds = 30 s)",
            issued_at + 600
        ),
    );
    let future = keys.sign(&["--issued-at", &(now() + 3600).to_string()]);
    assert_token_refused(&rt, &mut bundle, &future, "the token is not valid yet");
    let long = keys.sign(&["--ttl", "48h"]);
    assert_token_refused(&rt, &mut bundle, &long, "the token lives 172800 s");
}

#[test]
fn a_token_signed_with_another_key_is_refused() {
    let keys = TokenKeys::new();
    let (rt, mut bundle, _, _sources) = setup(&keys, "");
    // The rogue key claims orch-1's key id: the signature gives it away.
    let rogue = keys.key("rogue");
    let forged = String::from_utf8(
        bulwark_ok(&[
            "token",
            "sign",
            "--key",
            rogue.to_str().unwrap(),
            "--kid",
            "orch-1",
            "--agent",
            "research-agent",
            "--task",
            "summarise",
            "--image",
            TEST_IMAGE,
            "--secret",
            "openai-api-key",
        ])
        .stdout,
    )
    .unwrap();
    assert_token_refused(
        &rt,
        &mut bundle,
        forged.trim(),
        "its signature does not verify with key \"orch-1\"",
    );
    // Under its own key id, which the host does not know.
    let unknown = keys.sign(&["--kid", "orch-9"]);
    assert_token_refused(
        &rt,
        &mut bundle,
        &unknown,
        "key id \"orch-9\" names none of identity.public_keys",
    );
}

#[test]
fn a_revoked_token_is_refused() {
    let keys = TokenKeys::new();
    let (rt, mut bundle, _, _sources) = setup(&keys, "");
    let token = keys.sign(&["--jti", "revoked-jti"]);
    assert_token_refused(&rt, &mut bundle, &token, "token \"revoked-jti\" is revoked");
}

/// A token narrows what the policy data allows: research-agent may have openai-api-key,
/// but a token granting no secret (or another one) gets the container none.
#[test]
fn a_token_narrower_than_the_request_is_refused() {
    let keys = TokenKeys::new();
    let (rt, mut bundle, _, _sources) = setup(&keys, "");
    let none = keys.sign(&["--no-secret"]);
    assert_token_refused(
        &rt,
        &mut bundle,
        &none,
        "the container asks for secret \"openai-api-key\", which the token does not grant (token secrets: none)",
    );
}

/// The payload of a valid token, changed to name build-agent, keeps the signature of
/// the original: refused as altered.
#[test]
fn a_tampered_token_is_refused() {
    let keys = TokenKeys::new();
    let (rt, mut bundle, _, _sources) = setup(&keys, "");
    let token = keys.sign(&[]);
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["agent"] = json!("build-agent");
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
    assert_token_refused(
        &rt,
        &mut bundle,
        &tampered,
        "its signature does not verify with key \"orch-1\" (the token was altered",
    );
}

/// A token issued for one image, replayed on a container running another (here another
/// tag, and a digest the container's image does not have), is refused.
#[test]
fn a_token_replayed_for_another_image_is_refused() {
    let keys = TokenKeys::new();
    let (rt, mut bundle, _, _sources) = setup(&keys, "");
    let other_tag = keys.sign(&["--image", "localhost/bulwark-probe:other"]);
    assert_token_refused(
        &rt,
        &mut bundle,
        &other_tag,
        &format!("the token is for image \"localhost/bulwark-probe:other\", the container runs image \"{TEST_IMAGE}\""),
    );
    let digest = format!("localhost/bulwark-probe@sha256:{}", "a".repeat(64));
    let pinned = keys.sign(&["--image", &digest]);
    assert_token_refused(&rt, &mut bundle, &pinned, "the token is for image");
}

/// Under `identity.require_token` an agent annotation without a token is refused (it
/// is anyone's to write), a task annotation too, and a container naming no agent runs
/// as no agent. Before tokens the annotation named the agent.
#[test]
fn an_unverified_agent_annotation_is_refused_when_tokens_are_required() {
    let keys = TokenKeys::new();
    let rt = Runtime::with_config(&format!(
        "{}{}",
        common::TEST_CONFIG,
        keys.table("require_token = true\n")
    ));
    let mut bundle = Bundle::new(&["/probe", "exit", "0"]);
    let id = unique_id("plain");
    rt.ok(&["run", "--bundle", bundle.path_str(), &id]);
    rt.ok(&["delete", "--force", &id]);
    assert_eq!(last_record(&rt, &id)["agent"]["id"], Value::Null);

    bundle.set("/annotations/bulwark.io~1agent", json!("research-agent"));
    let id = unique_id("unsigned");
    let stderr = rt.fails(&["run", "--bundle", bundle.path_str(), &id]);
    assert!(
        stderr.contains("[identity.token] annotations[\"bulwark.io/agent\"]"),
        "{stderr}"
    );
    assert!(stderr.contains("identity.require_token is set"), "{stderr}");
    rt.assert_no_leftovers_or_mounts(&id);

    // With the token the same annotation is the token's agent.
    let token = keys.sign(&["--no-secret"]);
    bundle.set(
        &format!("/annotations/{}", TOKEN.replace('/', "~1")),
        json!(token),
    );
    let id = unique_id("signed");
    rt.ok(&["run", "--bundle", bundle.path_str(), &id]);
    rt.ok(&["delete", "--force", &id]);
    assert_eq!(last_record(&rt, &id)["agent"]["trusted"], true);
    // A token for another agent than the annotation names is refused.
    bundle.set("/annotations/bulwark.io~1agent", json!("build-agent"));
    let id = unique_id("mismatch");
    let stderr = rt.fails(&["run", "--bundle", bundle.path_str(), &id]);
    assert!(
        stderr.contains(
            "annotation bulwark.io/agent is \"build-agent\" but the token names \"research-agent\""
        ),
        "{stderr}"
    );
}

/// `doctor` checks the token keys and the revocation list: readable, parsed, writable
/// by root alone. A key others may write, or a revocation list that is gone, fails it.
#[test]
fn doctor_checks_the_token_keys_and_revocation_list() {
    use std::os::unix::fs::PermissionsExt;
    let keys = TokenKeys::new();
    let rt = Runtime::with_config(&format!("{}{}", common::TEST_CONFIG, keys.table("")));
    let text = |rt: &Runtime| {
        let out = rt.run(&["doctor"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let healthy = text(&rt);
    assert!(
        healthy.contains("ok   identity   token keys orch-1 parse; revocation list"),
        "{healthy}"
    );
    let public = keys.path("orch-1.pub");
    fs::set_permissions(&public, fs::Permissions::from_mode(0o666)).unwrap();
    let writable = text(&rt);
    assert!(
        writable.contains("FAIL identity")
            && writable.contains("is writable by group or others (mode 666)"),
        "{writable}"
    );
    fs::set_permissions(&public, fs::Permissions::from_mode(0o644)).unwrap();
    fs::remove_file(keys.path("revoked")).unwrap();
    let gone = text(&rt);
    assert!(
        gone.contains("FAIL identity") && gone.contains("every token is refused"),
        "{gone}"
    );
}

/// A token revoked after its container was created refuses the container's exec and
/// update (checked on every request); the container keeps running.
#[test]
fn a_token_revoked_after_create_refuses_exec_and_update() {
    let keys = TokenKeys::new();
    let (rt, mut bundle, _, _sources) = setup(&keys, "");
    bundle.config["process"]["args"] = json!(["/probe", "sleep", "60"]);
    let token = keys.sign(&["--jti", "later-revoked"]);
    bundle.set(
        &format!("/annotations/{}", TOKEN.replace('/', "~1")),
        json!(token),
    );
    let id = unique_id("revoke-later");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    rt.ok(&["exec", &id, "/probe", "exit", "0"]);
    let revoked = keys.path("revoked");
    let list = fs::read_to_string(&revoked).unwrap();
    fs::write(&revoked, format!("{list}later-revoked\n")).unwrap();
    let why = "token \"later-revoked\" was revoked after the container was created";
    let stderr = rt.fails(&["exec", &id, "/probe", "exit", "0"]);
    assert!(
        stderr.contains("[identity.token]") && stderr.contains(why),
        "{stderr}"
    );
    let stderr = rt.fails(&["update", "--pids-limit", "32", &id]);
    assert!(stderr.contains(why), "{stderr}");
    assert_eq!(rt.state(&id)["status"], "running");
    let record = last_record(&rt, &id);
    assert_eq!(record["agent"]["token"]["jti"], "later-revoked", "{record}");
    rt.ok(&["delete", "--force", &id]);
}
