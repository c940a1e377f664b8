//! The engine a spec claims must be the one that wrote it (crate::engine::binding):
//! a claim widens what is admitted (an engine's own directories, secrets and image
//! records, a pod's sandbox), so one that does not hold refuses the container.

use super::{Findings, Input};

pub const IDENTITY: &str = "engine.identity";

pub fn bound(input: &Input, out: &mut Findings) {
    if let Err(unbound) = &input.binding {
        out.push(
            unbound.field.clone(),
            unbound.value.clone(),
            unbound.allowed.clone(),
        );
    }
}
