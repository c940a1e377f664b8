//! `linux.resources.unified`: raw cgroup v2 files libcgroups 0.7 writes verbatim,
//! *after* the typed fields (v2/manager.rs `apply`: the controllers, then `unified`).
//! `{"memory.max": "max"}` there undoes the memory limit `resources.memory-limit`
//! admitted and the policy approved; `cpu.max`, `pids.max`, `io.max` likewise, and a
//! key such as `cgroup.procs` or `cgroup.subtree_control` is no limit at all but a
//! write into the cgroup tree (issue #21 item 3). Only keys the operator lists pass:
//! Kubernetes sets `memory.oom.group` there on cgroup v2 nodes (kill the whole
//! container on OOM), which lifts no limit.

use serde_json::Value;

use super::{show, Findings, Input};

pub const UNIFIED: &str = "resources.unified";

pub fn unified(input: &Input, out: &mut Findings) {
    let Some(entries) = input.spec.pointer("/linux/resources/unified") else {
        return;
    };
    let allowed = &input.config.resources.unified_allowed;
    let allowed_text = || {
        let list = if allowed.is_empty() {
            "none".to_owned()
        } else {
            allowed.join(", ")
        };
        format!(
            "only cgroup v2 files that lift no limit: {list} (admission.resources.unified_allowed); \
             set memory, CPU and pids limits with the typed linux.resources fields"
        )
    };
    let Value::Object(entries) = entries else {
        if !entries.is_null() {
            out.push("linux.resources.unified", show(entries), allowed_text());
        }
        return;
    };
    for (key, value) in entries {
        if !allowed.iter().any(|a| a == key) {
            out.push(
                format!("linux.resources.unified[{key:?}]"),
                show(value),
                allowed_text(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::admission::Violation;
    use crate::config::AdmissionConfig;

    fn findings(entries: Value, config: &AdmissionConfig) -> Vec<Violation> {
        let spec = json!({"linux": {"resources": {"unified": entries}}});
        let input = crate::admission::fragment(&spec, config);
        let mut violations = Vec::new();
        unified(&input, &mut Findings::new(UNIFIED, &mut violations));
        violations
    }

    fn paths(violations: &[Violation]) -> Vec<&str> {
        let mut paths: Vec<&str> = violations.iter().map(|v| v.path.as_str()).collect();
        paths.sort();
        paths
    }

    #[test]
    fn keys_that_lift_a_limit_or_write_the_tree_are_refused_each_by_name() {
        let config = AdmissionConfig::default();
        let found = findings(
            json!({
                "memory.max": "max",
                "pids.max": "max",
                "cpu.max": "max 100000",
                "io.max": "8:0 rbps=max",
                "cgroup.procs": "1",
                "memory.oom.group": "1",
            }),
            &config,
        );
        assert_eq!(
            paths(&found),
            [
                r#"linux.resources.unified["cgroup.procs"]"#,
                r#"linux.resources.unified["cpu.max"]"#,
                r#"linux.resources.unified["io.max"]"#,
                r#"linux.resources.unified["memory.max"]"#,
                r#"linux.resources.unified["pids.max"]"#,
            ]
        );
        assert!(found.iter().all(|v| v.rule == UNIFIED));
        assert!(
            found[0].allowed.contains("memory.oom.group"),
            "{}",
            found[0].allowed
        );
    }

    /// A value that would not lift anything is refused too: the rule admits files, not
    /// values, since libcgroups writes whatever the spec says after the typed limits.
    #[test]
    fn an_allowed_key_passes_and_an_unlisted_one_is_refused_whatever_its_value() {
        let config = AdmissionConfig::default();
        assert!(findings(json!({"memory.oom.group": "1"}), &config).is_empty());
        let found = findings(json!({"memory.max": "1048576"}), &config);
        assert_eq!(paths(&found), [r#"linux.resources.unified["memory.max"]"#]);
    }

    #[test]
    fn the_operators_list_replaces_the_default() {
        let mut config = AdmissionConfig::default();
        config.resources.unified_allowed = vec!["memory.high".to_owned()];
        assert!(findings(json!({"memory.high": "100M"}), &config).is_empty());
        let found = findings(json!({"memory.oom.group": "1"}), &config);
        assert_eq!(
            paths(&found),
            [r#"linux.resources.unified["memory.oom.group"]"#]
        );
        config.resources.unified_allowed.clear();
        let found = findings(json!({"memory.oom.group": "1"}), &config);
        assert!(found[0].allowed.contains("none"), "{}", found[0].allowed);
    }

    #[test]
    fn a_unified_that_is_no_object_is_refused_and_null_is_nothing() {
        let config = AdmissionConfig::default();
        let found = findings(json!(["memory.max", "max"]), &config);
        assert_eq!(paths(&found), ["linux.resources.unified"]);
        assert!(findings(Value::Null, &config).is_empty());
    }
}
