use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use libcgroups::common::CgroupManager;
use libcontainer::container::ContainerStatus;
use serde_json::json;

use super::{cgroup_manager, load_container, open};
use crate::cli::Events;

/// runc's event stream: one `{"type":"stats","id":...,"data":{...}}` line per interval,
/// or a single one with `--stats`. (libcontainer's own `events` prints bare stats.)
pub fn events(root: &Path, args: Events) -> Result<()> {
    let (root, id) = open(root, &args.container_id)?;
    let interval = parse_seconds(&args.interval)?;
    let container = load_container(&root, &id)?;
    if container.status() == ContainerStatus::Stopped {
        bail!("container {id} is not running");
    }
    let manager = cgroup_manager(&container)?;
    loop {
        let stats = manager
            .stats()
            .with_context(|| format!("cannot read the statistics of container {id}"))?;
        let event = json!({"type": "stats", "id": id.as_str(), "data": stats});
        crate::outln!("{event}");
        if args.stats {
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs(interval.into()));
    }
}

/// runc takes a Go duration; whole seconds ("5s", "1m", or a bare number) cover what
/// engines pass.
fn parse_seconds(interval: &str) -> Result<u32> {
    let (number, unit) = match interval.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => interval.split_at(at),
        None => (interval, "s"),
    };
    let value: u32 = number
        .parse()
        .with_context(|| format!("--interval {interval:?} is not a duration like 5s"))?;
    match unit {
        "s" => Ok(value),
        "m" => Ok(value * 60),
        _ => bail!("--interval {interval:?}: use seconds (5s) or minutes (1m)"),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_seconds;

    #[test]
    fn intervals() {
        assert_eq!(parse_seconds("5s").unwrap(), 5);
        assert_eq!(parse_seconds("2m").unwrap(), 120);
        assert_eq!(parse_seconds("7").unwrap(), 7);
        assert!(parse_seconds("1h").is_err());
        assert!(parse_seconds("s").is_err());
    }
}
