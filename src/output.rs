//! What commands print on stdout. Rust ignores SIGPIPE, so `println!` panics when the
//! reader has gone (`bulwark state ID | head -1`: "failed printing to stdout", exit
//! 101). runc (Go) dies of SIGPIPE when its stdout breaks and returns EPIPE on any other
//! descriptor; bulwark does the same: SIGPIPE stays ignored for sockets (OPA, console)
//! and only a broken stdout ends the process, by that signal.

use std::fmt;
use std::io::{self, Write};

/// Writes one line to stdout; a reader that has gone ends bulwark as it ends runc.
pub fn line(args: fmt::Arguments) {
    let mut stdout = io::stdout().lock();
    let written = stdout
        .write_fmt(args)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    match written {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => die_of_sigpipe(),
        // Anything else (a full disk behind a redirect) is the command's failure, as
        // println! would make it, but with bulwark's one-line error.
        Err(err) => {
            eprintln!("bulwark: cannot write to stdout: {err}");
            std::process::exit(1);
        }
    }
}

fn die_of_sigpipe() -> ! {
    // SAFETY: restoring the default disposition and raising a signal at ourselves.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    // Not reached: SIGPIPE's default action ends the process.
    std::process::exit(141)
}

/// `println!` for command output (see the module comment).
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}
