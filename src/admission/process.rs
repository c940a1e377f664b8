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

/// Value prefixes of well-known credentials.
const SECRET_VALUE_PREFIXES: [&str; 9] = [
    "ghp_",
    "gho_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "xoxp-",
    "sk-ant-",
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

/// Secrets belong in files (seeds: "File-Based Secrets ... no env vars"): a variable
/// whose name or value looks like one is refused. The value is never repeated.
pub fn env_secrets(input: &Input, out: &mut Findings) {
    let env = input.spec.pointer("/process/env").and_then(Value::as_array);
    for (index, entry) in env.into_iter().flatten().enumerate() {
        let Some((name, value)) = entry.as_str().and_then(|e| e.split_once('=')) else {
            continue;
        };
        let upper = name.to_ascii_uppercase();
        let by_name =
            !upper.ends_with("_FILE") && SECRET_NAME_PARTS.iter().any(|p| upper.contains(p));
        if by_name || looks_like_secret(value) {
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
    private_key || token || jwt
}

#[cfg(test)]
mod tests {
    use super::looks_like_secret;

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
}
