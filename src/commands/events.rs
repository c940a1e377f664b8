use std::path::Path;

use anyhow::{bail, Context, Result};

use super::{load_container, open};
use crate::cli::Events;

pub fn events(root: &Path, args: Events) -> Result<()> {
    let (root, id) = open(root, &args.container_id)?;
    let interval = parse_seconds(&args.interval)?;
    load_container(&root, &id)?
        .events(interval, args.stats)
        .with_context(|| format!("cannot read events of container {id}"))
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
