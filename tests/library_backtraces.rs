//! Library backtraces are off in bulwark whatever the caller's `RUST_BACKTRACE`
//! (issue #20): regorus builds an `anyhow::Error` for every grammar alternative its
//! parser tries and drops, and each captured a stack trace, which made an embedded
//! decision 2.4× slower under `RUST_BACKTRACE=1` (docs/benchmarks.md). Its own test
//! binary: std decides once per process whether backtraces are captured.

use std::backtrace::{Backtrace, BacktraceStatus};

#[test]
fn no_library_backtrace_is_captured_under_rust_backtrace_and_the_environment_is_kept() {
    // The test harness has started its threads but none reads the environment.
    std::env::set_var("RUST_BACKTRACE", "1");
    std::env::remove_var("RUST_LIB_BACKTRACE");

    bulwark::library_backtraces::disable();

    assert_eq!(Backtrace::capture().status(), BacktraceStatus::Disabled);
    // Children (hooks, the re-exec from the sealed binary) see the caller's environment.
    assert_eq!(std::env::var("RUST_BACKTRACE").as_deref(), Ok("1"));
    assert_eq!(std::env::var_os("RUST_LIB_BACKTRACE"), None);
    // Explicit captures still work where something asks for one.
    assert_eq!(
        Backtrace::force_capture().status(),
        BacktraceStatus::Captured
    );
}
