//! Test-only failpoints: `BULWARK_FAILPOINT=<name>` makes bulwark SIGKILL itself when it
//! reaches the named point of `create`.
//!
//! Why: an engine (or the OOM killer) may kill the runtime at any instant, and a killed
//! create must still be cleaned up completely by `delete --force`. Killing bulwark after
//! a delay samples that at random and cannot show where the kill landed; these points
//! make the states that matter reproducible (tests/faults.rs). SIGKILL, not an error
//! return: no destructor, no cleanup path and no flush may run, exactly as under a real
//! kill.
//!
//! Cost when unset: one environment lookup per process, cached. The variable grants
//! nothing: whoever can set bulwark's environment can already kill it.

use std::sync::OnceLock;

/// The points, in the order `create` reaches them.
pub const AFTER_DECISION: &str = "after-decision";
pub const AFTER_SECRETS: &str = "after-secrets";
pub const AFTER_EFFECTIVE_SPEC: &str = "after-effective-spec";
pub const AFTER_LIBCONTAINER: &str = "after-libcontainer";

const VARIABLE: &str = "BULWARK_FAILPOINT";

/// SIGKILLs this process if `BULWARK_FAILPOINT` names `point`.
pub fn hit(point: &'static str) {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    let armed = ARMED.get_or_init(|| std::env::var(VARIABLE).ok());
    if armed.as_deref() == Some(point) {
        tracing::warn!(point, "failpoint reached: killing bulwark with SIGKILL");
        // SAFETY: kill(2) on our own pid has no memory effects.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        // The kernel kills every thread on their way back to user space; never return
        // into the create in the meantime.
        loop {
            // SAFETY: pause(2) only waits.
            unsafe { libc::pause() };
        }
    }
}
