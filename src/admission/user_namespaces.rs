//! User namespaces: `linux.uidMappings` / `linux.gidMappings` decide which host ids a
//! container's ids are. The baseline runs a root process as a non-root uid *inside* the
//! container; a mapping decides whether that uid is non-root on the host too (mapped to
//! host uid 0, the "non-root" process owns every root-owned host file a second procfs or
//! a cgroup mount shows it: host sysctls, its own limits).
//!
//! One rule in two stages. On the engine's document: mappings only with a new user
//! namespace, never joining one by path, well-formed ranges the kernel accepts, every
//! host id at or above the floor. On the effective spec (after the baseline chose the
//! process's ids): the process's uid, gid and additional gids are mapped, so they too
//! run as host ids at or above the floor.

use std::ops::Range;

use serde_json::Value;

use super::namespaces::namespaces;
use super::{show, Findings, Input};

pub const USER_MAPPING: &str = "namespaces.user-mapping";

/// Ranges the kernel accepts in one uid_map or gid_map (UID_GID_MAP_MAX_EXTENTS). It
/// also bounds the pairwise overlap check on a spec of up to 4 MiB.
const MAX_RANGES: usize = 340;

/// The ids one mapping list is about.
#[derive(Clone, Copy)]
struct Kind {
    /// The field under `linux`.
    field: &'static str,
    /// `uid` or `gid`, in messages.
    id: &'static str,
}

const UIDS: Kind = Kind {
    field: "uidMappings",
    id: "uid",
};
const GIDS: Kind = Kind {
    field: "gidMappings",
    id: "gid",
};

/// One mapping: `size` container ids from `container` are the host ids from `host`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IdRange {
    container: u32,
    host: u32,
    size: u32,
}

/// Why a mapping entry is no range the kernel would accept.
#[derive(Debug, PartialEq, Eq)]
enum Malformed {
    /// A field that is not an unsigned 32-bit integer.
    NotU32(&'static str),
    Empty,
    /// A range that runs past the last id.
    Overflow,
}

impl IdRange {
    /// Reads an entry as libcontainer does (oci-spec reads a missing field as 0) and as
    /// the kernel accepts it: a size of at least 1, and `first + size` within u32 on
    /// both sides (id 4294967295 is never mapped).
    fn parse(entry: &Value) -> Result<Self, Malformed> {
        let field = |key: &'static str| match &entry[key] {
            Value::Null => Ok(0),
            value => value
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or(Malformed::NotU32(key)),
        };
        let range = Self {
            container: field("containerID")?,
            host: field("hostID")?,
            size: field("size")?,
        };
        if range.size == 0 {
            return Err(Malformed::Empty);
        }
        if range.container.checked_add(range.size).is_none()
            || range.host.checked_add(range.size).is_none()
        {
            return Err(Malformed::Overflow);
        }
        Ok(range)
    }

    fn container_ids(&self) -> Range<u64> {
        u64::from(self.container)..u64::from(self.container) + u64::from(self.size)
    }

    fn host_ids(&self) -> Range<u64> {
        u64::from(self.host)..u64::from(self.host) + u64::from(self.size)
    }

    /// The kernel refuses two ranges that share a container id or a host id.
    fn overlaps(&self, other: &Self) -> bool {
        let meet = |a: Range<u64>, b: Range<u64>| a.start < b.end && b.start < a.end;
        meet(self.container_ids(), other.container_ids()) || meet(self.host_ids(), other.host_ids())
    }

    fn maps(&self, id: u32) -> bool {
        self.container_ids().contains(&u64::from(id))
    }
}

fn user_namespaces(spec: &Value) -> impl Iterator<Item = (usize, &Value)> {
    namespaces(spec)
        .iter()
        .enumerate()
        .filter(|(_, ns)| ns["type"] == "user")
}

fn mapping_list(spec: &Value, kind: Kind) -> &Value {
    &spec["linux"][kind.field]
}

/// The floor's reason, shared by every message about host ids.
fn floor_text(input: &Input, kind: Kind) -> String {
    format!(
        "host {id}s at or above admission.user_namespaces.min_host_id ({floor}), where no host \
         system or human account lives; host {id} 0 is never mapped",
        id = kind.id,
        floor = input.config.user_namespaces.min_host_id
    )
}

/// The engine's document: a new user namespace with well-formed mappings to host ids at
/// or above the floor, or no mappings at all.
pub fn mappings(input: &Input, out: &mut Findings) {
    let spec = input.spec;
    let mut creates = false;
    let mut any = false;
    for (index, ns) in user_namespaces(spec) {
        any = true;
        if ns["path"].is_null() {
            creates = true;
        } else {
            out.push(
                format!("linux.namespaces[{index}].path"),
                show(&ns["path"]),
                "a new user namespace (no path): the id mapping of a namespace that is \
                 joined is that namespace's, which bulwark cannot see, so it cannot tell \
                 whether the process would be host root",
            );
        }
    }
    for kind in [UIDS, GIDS] {
        let list = mapping_list(spec, kind);
        if !any {
            if list.as_array().is_some_and(|l| !l.is_empty()) {
                out.push(
                    format!("linux.{}", kind.field),
                    show(list),
                    format!(
                        "id mappings only with a new user namespace ({{\"type\": \"user\"}} \
                         in linux.namespaces); without one they are ignored and the process's \
                         {}s are the host's",
                        kind.id
                    ),
                );
            }
        } else if creates {
            ranges(input, kind, out);
        }
    }
}

fn ranges(input: &Input, kind: Kind, out: &mut Findings) {
    let field = format!("linux.{}", kind.field);
    let list = mapping_list(input.spec, kind);
    let entries = list.as_array().map_or(&[][..], Vec::as_slice);
    if entries.is_empty() || entries.len() > MAX_RANGES {
        let value = if entries.is_empty() {
            show(list)
        } else {
            format!("{} ranges", entries.len())
        };
        out.push(
            field,
            value,
            format!(
                "1 to {MAX_RANGES} ranges (the kernel's limit) mapping the process's {} to {}",
                kind.id,
                floor_text(input, kind)
            ),
        );
        return;
    }
    let floor = input.config.user_namespaces.min_host_id.max(1);
    let mut valid: Vec<(usize, IdRange)> = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let at = format!("{field}[{index}]");
        let range = match IdRange::parse(entry) {
            Ok(range) => range,
            Err(Malformed::NotU32(key)) => {
                out.push(
                    format!("{at}.{key}"),
                    show(&entry[key]),
                    "an unsigned 32-bit integer",
                );
                continue;
            }
            Err(Malformed::Empty) => {
                out.push(
                    format!("{at}.size"),
                    show(&entry["size"]),
                    "at least 1 (an empty range maps nothing and the kernel refuses it)",
                );
                continue;
            }
            Err(Malformed::Overflow) => {
                out.push(
                    at,
                    show(entry),
                    "a range within the 32-bit ids: containerID + size and hostID + size at \
                     most 4294967295",
                );
                continue;
            }
        };
        if range.host < floor {
            out.push(
                format!("{at}.hostID"),
                show(&entry["hostID"]),
                floor_text(input, kind),
            );
        }
        if let Some((other, _)) = valid.iter().find(|(_, r)| r.overlaps(&range)) {
            out.push(
                at,
                show(entry),
                format!(
                    "a range sharing no container {id} and no host {id} with {field}[{other}] \
                     (the kernel refuses overlapping ranges)",
                    id = kind.id
                ),
            );
        }
        valid.push((index, range));
    }
}

/// The effective spec (after the baseline chose the ids the process runs as): in a new
/// user namespace, the process's uid, gid and additional gids must be mapped. Admission
/// has already held every mapped host id at or above the floor, so a mapped id is a
/// host id above it; an unmapped one would fail late inside libcontainer.
pub fn process_ids(input: &Input, out: &mut Findings) {
    let spec = input.spec;
    if !user_namespaces(spec).any(|(_, ns)| ns["path"].is_null()) {
        return;
    }
    let user = &spec["process"]["user"];
    let mut ids = vec![
        ("process.user.uid".to_owned(), &user["uid"], UIDS),
        ("process.user.gid".to_owned(), &user["gid"], GIDS),
    ];
    for (index, gid) in user["additionalGids"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        ids.push((format!("process.user.additionalGids[{index}]"), gid, GIDS));
    }
    for (path, id, kind) in ids {
        let ranges: Vec<IdRange> = mapping_list(spec, kind)
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|entry| IdRange::parse(entry).ok())
            .collect();
        let mapped = id
            .as_u64()
            .and_then(|id| u32::try_from(id).ok())
            .is_some_and(|id| ranges.iter().any(|r| r.maps(id)));
        if !mapped {
            let container_ids: Vec<String> = ranges
                .iter()
                .map(|r| format!("{}-{}", r.container, r.container_ids().end - 1))
                .collect();
            out.push(
                path,
                show(id),
                format!(
                    "a {id} inside linux.{field} (container {id}s {list}), so that the \
                     process runs as a host {id} at or above \
                     admission.user_namespaces.min_host_id ({floor}); {id} 0 runs as \
                     baseline.non_root.{id}",
                    id = kind.id,
                    field = kind.field,
                    list = container_ids.join(", "),
                    floor = input.config.user_namespaces.min_host_id
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::admission::{admit, fragment, run_rules, Violation, EFFECTIVE_RULES};
    use crate::config::AdmissionConfig;

    fn range(container: u32, host: u32, size: u32) -> IdRange {
        IdRange {
            container,
            host,
            size,
        }
    }

    fn parse(entry: Value) -> Result<IdRange, Malformed> {
        IdRange::parse(&entry)
    }

    #[test]
    fn ranges_are_read_as_libcontainer_reads_them_and_the_kernel_accepts_them() {
        assert_eq!(
            parse(json!({"containerID": 0, "hostID": 100000, "size": 65536})),
            Ok(range(0, 100_000, 65536))
        );
        // oci-spec reads a missing field as 0: a missing hostID is host root.
        assert_eq!(parse(json!({"size": 1})), Ok(range(0, 0, 1)));
        assert_eq!(parse(json!({"hostID": 1})), Err(Malformed::Empty));
        for bad in [json!(-1), json!(4_294_967_296u64), json!("1"), json!(1.5)] {
            assert_eq!(
                parse(json!({"containerID": 0, "hostID": bad, "size": 1})),
                Err(Malformed::NotU32("hostID"))
            );
        }
        // The last range the kernel accepts ends at 4294967294; id 4294967295 is (uid_t)-1.
        assert_eq!(
            parse(json!({"containerID": 0, "hostID": 1, "size": 4_294_967_294u64})),
            Ok(range(0, 1, u32::MAX - 1))
        );
        assert_eq!(
            parse(json!({"containerID": 0, "hostID": 2, "size": 4_294_967_294u64})),
            Err(Malformed::Overflow)
        );
        assert_eq!(
            parse(json!({"containerID": 4_294_967_295u64, "hostID": 100000, "size": 1})),
            Err(Malformed::Overflow)
        );
    }

    #[test]
    fn ranges_overlap_on_either_side_and_touching_ranges_do_not() {
        let base = range(0, 100_000, 1000);
        assert!(base.overlaps(&range(999, 200_000, 1)));
        assert!(base.overlaps(&range(5000, 100_999, 10)));
        assert!(base.overlaps(&range(500, 99_000, 10_000)));
        assert!(!base.overlaps(&range(1000, 101_000, 1)));
        assert!(!base.overlaps(&range(2000, 99_999, 1)));
        assert!(range(0, 0, u32::MAX - 1).overlaps(&range(u32::MAX - 2, 4, 1)));
    }

    #[test]
    fn an_id_is_mapped_inside_its_range_only() {
        let r = range(65532, 200_000, 1);
        assert!(r.maps(65532));
        assert!(!r.maps(65531) && !r.maps(65533));
        assert!(range(0, 100_000, 65536).maps(65535));
        assert!(!range(0, 100_000, 65536).maps(65536));
    }

    fn spec(linux: Value, user: Value) -> Value {
        let mut linux = linux;
        let mut namespaces = vec![json!({"type": "pid"})];
        if let Some(extra) = linux.get("namespaces").and_then(Value::as_array) {
            namespaces.extend(extra.iter().cloned());
        }
        linux["namespaces"] = Value::Array(namespaces);
        json!({"process": {"user": user}, "linux": linux})
    }

    fn user_ns(uids: Value, gids: Value) -> Value {
        json!({"namespaces": [{"type": "user"}], "uidMappings": uids, "gidMappings": gids})
    }

    /// `(path, value)` of this rule's violations on the engine's document.
    fn refused(document: &Value, config: &AdmissionConfig) -> Vec<(String, String)> {
        let input = crate::admission::fragment(document, config);
        only_this_rule(admit(&input))
    }

    fn only_this_rule(violations: Vec<Violation>) -> Vec<(String, String)> {
        violations
            .into_iter()
            .filter(|v| v.rule == USER_MAPPING)
            .map(|v| (v.path, v.value))
            .collect()
    }

    fn paths(found: &[(String, String)]) -> Vec<&str> {
        found.iter().map(|(path, _)| path.as_str()).collect()
    }

    fn safe() -> Value {
        json!([{"containerID": 0, "hostID": 100000, "size": 65536}])
    }

    /// This rule's second stage, on a document standing for the effective spec.
    fn refused_after_the_baseline(document: &Value) -> Vec<(String, String)> {
        only_this_rule(run_rules(
            &fragment(document, &AdmissionConfig::default()),
            EFFECTIVE_RULES,
        ))
    }

    #[test]
    fn a_high_mapping_is_admitted_and_one_reaching_below_the_floor_is_not() {
        let config = AdmissionConfig::default();
        let user = json!({"uid": 65532, "gid": 65532});
        assert_eq!(
            refused(&spec(user_ns(safe(), safe()), user.clone()), &config),
            []
        );

        let to_root = json!([{"containerID": 0, "hostID": 100000, "size": 65532},
                             {"containerID": 65532, "hostID": 0, "size": 1}]);
        let found = refused(&spec(user_ns(to_root, safe()), user.clone()), &config);
        assert_eq!(
            found,
            [("linux.uidMappings[1].hostID".to_owned(), "0".to_owned())]
        );

        let low = json!([{"containerID": 0, "hostID": 1000, "size": 65536}]);
        let found = refused(&spec(user_ns(safe(), low), user.clone()), &config);
        assert_eq!(paths(&found), ["linux.gidMappings[0].hostID"]);

        // The floor is the operator's; host id 0 stays refused even with a floor of 0.
        let mut config = AdmissionConfig::default();
        config.user_namespaces.min_host_id = 0;
        let low = json!([{"containerID": 0, "hostID": 1000, "size": 65536}]);
        assert_eq!(
            refused(&spec(user_ns(low, safe()), user.clone()), &config),
            []
        );
        let root = json!([{"containerID": 0, "size": 65536}]);
        let found = refused(&spec(user_ns(root, safe()), user), &config);
        assert_eq!(
            found,
            [("linux.uidMappings[0].hostID".to_owned(), "null".to_owned())]
        );
    }

    #[test]
    fn malformed_overlapping_and_missing_mappings_are_refused() {
        let config = AdmissionConfig::default();
        let user = json!({"uid": 1, "gid": 1});
        let bad = json!([
            {"containerID": 0, "hostID": 100000, "size": 0},
            {"containerID": 0, "hostID": -5, "size": 10},
            {"containerID": 0, "hostID": 4294967295u64, "size": 1},
            {"containerID": 0, "hostID": 200000, "size": 1000},
            {"containerID": 999, "hostID": 300000, "size": 1},
            {"containerID": 5000, "hostID": 200999, "size": 1}
        ]);
        let found = refused(&spec(user_ns(bad, safe()), user.clone()), &config);
        assert_eq!(
            paths(&found),
            [
                "linux.uidMappings[0].size",
                "linux.uidMappings[1].hostID",
                "linux.uidMappings[2]",
                "linux.uidMappings[4]",
                "linux.uidMappings[5]",
            ]
        );

        let found = refused(
            &spec(user_ns(json!([]), Value::Null), user.clone()),
            &config,
        );
        assert_eq!(
            found,
            [
                ("linux.uidMappings".to_owned(), "[]".to_owned()),
                ("linux.gidMappings".to_owned(), "null".to_owned())
            ]
        );
        let many = Value::Array(
            (0..=MAX_RANGES as u32)
                .map(|i| json!({"containerID": i, "hostID": 100000 + i, "size": 1}))
                .collect(),
        );
        let found = refused(&spec(user_ns(many, safe()), user), &config);
        assert_eq!(
            found,
            [("linux.uidMappings".to_owned(), "341 ranges".to_owned())]
        );
    }

    #[test]
    fn mappings_need_a_new_user_namespace() {
        let config = AdmissionConfig::default();
        let user = json!({"uid": 1, "gid": 1});
        let without = json!({"uidMappings": safe(), "gidMappings": []});
        let found = refused(&spec(without, user.clone()), &config);
        assert_eq!(paths(&found), ["linux.uidMappings"]);

        let mut joined = user_ns(safe(), safe());
        joined["namespaces"][0]["path"] = json!("/proc/1/ns/user");
        let found = refused(&spec(joined, user), &config);
        // The joined namespace's own mapping applies: the spec's is not checked.
        assert_eq!(paths(&found), ["linux.namespaces[1].path"]);
    }

    #[test]
    fn the_process_ids_after_the_baseline_must_be_mapped() {
        let small = json!([{"containerID": 0, "hostID": 100000, "size": 1000}]);
        let user = json!({"uid": 65532, "gid": 999, "additionalGids": [5, 4000]});
        let found =
            refused_after_the_baseline(&spec(user_ns(small.clone(), small.clone()), user.clone()));
        assert_eq!(
            found,
            [
                ("process.user.uid".to_owned(), "65532".to_owned()),
                (
                    "process.user.additionalGids[1]".to_owned(),
                    "4000".to_owned()
                )
            ]
        );
        // Without a new user namespace the ids are the host's, which the baseline keeps
        // non-root.
        let no_userns = json!({"uidMappings": small});
        assert_eq!(
            refused_after_the_baseline(&spec(no_userns, user.clone())),
            []
        );
        assert_eq!(
            refused_after_the_baseline(&spec(user_ns(safe(), safe()), user)),
            []
        );
    }
}
