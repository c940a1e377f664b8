//! Process and remaining linux fields: hooks, sysctls, fields bulwark never honours,
//! the working directory and secrets in the environment.

use std::path::{Component, Path};

use serde_json::Value;

use super::{show, Findings, Input};

pub const HOOKS: &str = "hooks.not-allowed";
pub const SYSCTLS: &str = "sysctls.unsafe";
pub const LINUX_FIELDS: &str = "linux.unsupported-field";
pub const CWD: &str = "process.cwd";
pub const ENV_SECRETS: &str = "env.secret";
pub const ENV_MALFORMED: &str = "env.malformed";

/// Pod Security Standards' safe sysctls.
const SAFE_SYSCTLS: [&str; 11] = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
];

/// Environment variable names that say "secret" (a `_FILE` suffix points at a file and
/// is the way to do it).
const SECRET_NAME_PARTS: [&str; 10] = [
    "SECRET",
    "TOKEN",
    "PASSWORD",
    "PASSWD",
    "API_KEY",
    "APIKEY",
    "PRIVATE_KEY",
    "CREDENTIAL",
    "ACCESS_KEY",
    "AUTH_KEY",
];

/// Value prefixes of well-known credentials: GitHub (personal, OAuth, user-to-server,
/// server-to-server, refresh, fine-grained), GitLab, Slack (bot, user, app-level,
/// workspace), Anthropic, OpenAI project keys, AWS access key ids.
const SECRET_VALUE_PREFIXES: [&str; 15] = [
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "xoxp-",
    "xoxa-",
    "xapp-",
    "sk-ant-",
    "sk-proj-",
    "AKIA",
    "ASIA",
];

/// Hooks run as root on the host, outside every control bulwark applies.
pub fn hooks(input: &Input, out: &mut Findings) {
    let Some(hooks) = input.spec["hooks"].as_object() else {
        return;
    };
    let allowed = &input.config.hooks.allowed_paths;
    for (stage, list) in hooks {
        for (index, hook) in list.as_array().into_iter().flatten().enumerate() {
            let path = hook["path"].as_str().unwrap_or_default();
            if !allowed.iter().any(|a| a == Path::new(path)) {
                out.push(
                    format!("hooks.{stage}[{index}].path"),
                    show(&hook["path"]),
                    "hooks are refused unless their path is in admission.hooks.allowed_paths"
                        .to_owned(),
                );
            }
        }
    }
}

pub fn sysctls(input: &Input, out: &mut Findings) {
    let Some(sysctls) = input
        .spec
        .pointer("/linux/sysctl")
        .and_then(Value::as_object)
    else {
        return;
    };
    for key in sysctls.keys() {
        if !SAFE_SYSCTLS.contains(&key.as_str()) {
            out.push(
                format!("linux.sysctl[\"{key}\"]"),
                show(&sysctls[key]),
                format!(
                    "only Pod Security Standards' safe sysctls: {}",
                    SAFE_SYSCTLS.join(", ")
                ),
            );
        }
    }
}

/// Fields that move host resources into the container or change its ABI.
pub fn linux_fields(input: &Input, out: &mut Findings) {
    for (field, why) in [
        (
            "netDevices",
            "host network devices may not be moved into a container",
        ),
        ("personality", "the execution domain may not be changed"),
        (
            "intelRdt",
            "cache and memory-bandwidth allocation is not offered",
        ),
    ] {
        if input.spec["linux"].get(field).is_some_and(|v| !v.is_null()) {
            out.push(
                format!("linux.{field}"),
                show(&input.spec["linux"][field]),
                format!("unset: {why}"),
            );
        }
    }
}

/// An absolute path inside the container. /proc/self/fd/N as cwd is CVE-2024-21626: a
/// leaked host fd becomes the process's working directory.
pub fn cwd(input: &Input, out: &mut Findings) {
    let Some(cwd) = input.spec.pointer("/process/cwd").and_then(Value::as_str) else {
        return;
    };
    let path = Path::new(cwd);
    // /dev/fd is libcontainer's link to /proc/self/fd in every container's /dev.
    let bad = !path.is_absolute()
        || path.components().any(|c| c == Component::ParentDir)
        || path.starts_with("/proc")
        || path.starts_with("/dev/fd");
    if bad {
        out.push(
            "process.cwd",
            format!("{cwd:?}"),
            "an absolute path inside the container, without \"..\", outside /proc and /dev/fd"
                .to_owned(),
        );
    }
}

/// An OCI env entry is `NAME=VALUE` with a non-empty NAME. One without `=` is no
/// variable (libcontainer would pass it on as it is); it is typically a value given
/// alone (`--env ghp_…`), so the entry itself is never repeated.
pub fn env_entries(input: &Input, out: &mut Findings) {
    let env = input.spec.pointer("/process/env").and_then(Value::as_array);
    for (index, entry) in env.into_iter().flatten().enumerate() {
        let variable = entry
            .as_str()
            .and_then(|e| e.split_once('='))
            .is_some_and(|(name, _)| !name.is_empty());
        if !variable {
            out.push(
                format!("process.env[{index}]"),
                "not NAME=VALUE (entry withheld: it may be a secret)",
                "NAME=VALUE with a non-empty NAME (OCI runtime spec, process.env)",
            );
        }
    }
}

/// Secrets belong in files (seeds: "File-Based Secrets ... no env vars"): a variable
/// whose name or value looks like one is refused. The value is never repeated.
///
/// For Podman's own specs the values are also compared (by digest) with Podman's secret
/// store: `--secret NAME,type=env,target=VAR` puts a stored value under a neutral name
/// (issue #21 item 2). A store bulwark cannot read, or secrets in a driver whose values it
/// cannot read, refuse the container: it could not tell.
pub fn env_secrets(input: &Input, out: &mut Findings) {
    let stored = match input.podman_secrets() {
        None => None,
        Some(Ok(stored)) => {
            for (secret, driver) in &stored.unreadable {
                out.push(
                    "process.env",
                    format!("not checkable: Podman secret {secret:?} is kept by the {driver:?} driver, whose values bulwark cannot read"),
                    "Podman secrets in the file driver (Podman's default), whose values bulwark compares with the environment",
                );
            }
            Some(stored)
        }
        Some(Err(reason)) => {
            out.push(
                "process.env",
                format!("not checkable: Podman's secret store cannot be read ({reason})"),
                "a readable Podman secret store (root-owned, not group/world-writable), whose values bulwark compares with the environment",
            );
            None
        }
    };
    let env = input.spec.pointer("/process/env").and_then(Value::as_array);
    for (index, entry) in env.into_iter().flatten().enumerate() {
        // An entry that is no variable is env.malformed's.
        let Some((name, value)) = entry
            .as_str()
            .and_then(|e| e.split_once('='))
            .filter(|(name, _)| !name.is_empty())
        else {
            continue;
        };
        let upper = name.to_ascii_uppercase();
        let by_name =
            !upper.ends_with("_FILE") && SECRET_NAME_PARTS.iter().any(|p| upper.contains(p));
        if let Some(secret) = stored.and_then(|stored| stored.name_of_value(value)) {
            out.push(
                format!("process.env[{index}]"),
                format!("{name} (value withheld; it is the value of Podman secret {secret:?})"),
                format!(
                    "Podman secrets as files on bulwark's tmpfs: --secret {secret} (type=mount), read from /run/secrets/{secret}"
                ),
            );
        } else if by_name || looks_like_secret(value) {
            let why = if by_name { "its name" } else { "its value" };
            out.push(
                format!("process.env[{index}]"),
                format!("{name} (value withheld; {why} looks like a secret)"),
                format!(
                    "deliver secrets as files on tmpfs, e.g. {name}_FILE=/run/secrets/{}",
                    name.to_ascii_lowercase()
                ),
            );
        }
    }
}

fn looks_like_secret(value: &str) -> bool {
    let private_key = value.contains("-----BEGIN") && value.contains("PRIVATE KEY");
    let token = SECRET_VALUE_PREFIXES
        .iter()
        .any(|p| value.starts_with(p) && value.len() >= p.len() + 16);
    // A JWT: three base64url parts, the first two JSON objects ("eyJ").
    let jwt = value.starts_with("eyJ") && value.split('.').count() == 3 && value.len() > 40;
    private_key || token || jwt || url_with_credentials(value)
}

/// `scheme://user:password@host` (a password, even with an empty user, as redis URLs
/// write it) or `scheme://<token>@host` (a token as the user name, as git remotes carry
/// them), anywhere in the value. `user@host` without a scheme, `ssh://git@host` and
/// URLs without userinfo are not credentials.
fn url_with_credentials(value: &str) -> bool {
    value.match_indices("://").any(|(at, sep)| {
        let rest = &value[at + sep.len()..];
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let Some((userinfo, _host)) = authority.rsplit_once('@') else {
            return false;
        };
        match userinfo.split_once(':') {
            Some((_, password)) => !password.is_empty(),
            None => looks_like_secret(userinfo),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::Violation;
    use crate::config::AdmissionConfig;

    fn env_findings(env: Value) -> Vec<Violation> {
        let spec = serde_json::json!({ "process": { "env": env } });
        let config = AdmissionConfig::default();
        let input = crate::admission::fragment(&spec, &config);
        let mut violations = Vec::new();
        for (rule, check) in [
            (ENV_MALFORMED, env_entries as fn(&Input, &mut Findings)),
            (ENV_SECRETS, env_secrets),
        ] {
            check(&input, &mut Findings::new(rule, &mut violations));
        }
        violations
    }

    #[test]
    fn entries_without_a_name_are_refused_and_never_repeated() {
        let found = env_findings(serde_json::json!([
            "PATH=/bin",
            "ghp_0123456789abcdefghijKLMNOPQR",
            "=xoxb-0123456789abcdefghij",
            "EMPTY=",
        ]));
        let rules: Vec<_> = found.iter().map(|v| (v.rule, v.path.as_str())).collect();
        assert_eq!(
            rules,
            [
                (ENV_MALFORMED, "process.env[1]"),
                (ENV_MALFORMED, "process.env[2]")
            ]
        );
        let text = format!("{found:?}");
        assert!(!text.contains("0123456789"), "{text}");
    }

    #[test]
    fn benign_values_stay_admitted() {
        let found = env_findings(serde_json::json!([
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin",
            "HOME_PAGE=https://example.com/x",
            "MAINTAINER=user@host",
            "GIT_REMOTE=ssh://git@github.com/org/repo.git",
            "TOKEN_FILE=/run/secrets/token",
        ]));
        assert!(found.is_empty(), "{found:?}");
        let found = env_findings(serde_json::json!(["DATABASE_URL=postgres://app:pw@db/app"]));
        assert_eq!(found.len(), 1);
        assert!(!format!("{found:?}").contains("pw@"), "{found:?}");
    }

    #[test]
    fn secret_values() {
        assert!(looks_like_secret(
            "-----BEGIN OPENSSH PRIVATE KEY-----\nabc"
        ));
        assert!(looks_like_secret("ghp_0123456789abcdefghijABCDEFGHIJ"));
        assert!(looks_like_secret(
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig"
        ));
        assert!(!looks_like_secret("/usr/local/bin:/usr/bin"));
        assert!(!looks_like_secret("AKIA"));
    }

    #[test]
    fn token_prefixes_of_github_slack_and_openai() {
        for prefix in [
            "ghs_", "ghu_", "ghr_", "xoxa-", "xapp-", "sk-proj-", "ghp_", "xoxb-",
        ] {
            assert!(
                looks_like_secret(&format!("{prefix}0123456789abcdefghijKLMN")),
                "{prefix}"
            );
            // A bare prefix or a short word that starts like one is no token.
            assert!(!looks_like_secret(prefix), "{prefix}");
        }
        assert!(!looks_like_secret("ghost_town"));
    }

    #[test]
    fn credentials_in_urls() {
        for secret in [
            "https://alice:hunter2@example.com/x",
            "postgres://app:pw@db:5432/app",
            "redis://:pw@cache:6379/0",
            "mirror=https://bob:pw@mirror.example.com",
            "https://ghp_0123456789abcdefghijKLMNOP@github.com/org/repo.git",
        ] {
            assert!(looks_like_secret(secret), "{secret}");
        }
        for benign in [
            "https://example.com/x",
            "https://example.com/a@b",
            "https://example.com/?q=a:b@c",
            "ssh://git@github.com/org/repo.git",
            "https://alice@example.com/",
            "https://alice:@example.com/",
            "user@host",
            "admin@example.com",
            "http://[::1]:8080/",
            "localhost:5000",
        ] {
            assert!(!looks_like_secret(benign), "{benign}");
        }
    }
}
