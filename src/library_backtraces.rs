//! Library backtraces off for the whole process. regorus's parser tries the alternatives
//! of Rego's grammar and builds an `anyhow::Error` for each one that does not match
//! (about a hundred for bulwark's policies: regorus 0.11 parser.rs `parse_compr`,
//! `parse_query`). bulwark's own `anyhow` enables anyhow's `std` feature, so under
//! `RUST_BACKTRACE=1` every one of them captured a stack trace, which made the embedded
//! decision 2.4× slower (docs/benchmarks.md, issue #20). bulwark prints errors with
//! `{:#}` and never a library backtrace; panics still print theirs (`RUST_BACKTRACE`).

const VAR: &str = "RUST_LIB_BACKTRACE";

/// Makes `std::backtrace::Backtrace::capture` (what anyhow calls) capture nothing for the
/// rest of the process, and leaves the environment as the caller set it, for the
/// re-exec from the sealed binary and for hooks. Call it before any thread starts: it
/// changes the environment for a moment.
pub fn disable() {
    let caller = std::env::var_os(VAR);
    std::env::set_var(VAR, "0");
    // std reads the variables on the first capture and keeps the answer for the process
    // (std::backtrace module docs, "Environment Variables").
    drop(std::backtrace::Backtrace::capture());
    match caller {
        Some(value) => std::env::set_var(VAR, value),
        None => std::env::remove_var(VAR),
    }
}
