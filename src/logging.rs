//! Logs in runc's formats.
//!
//! containerd's runc shim and conmon pass `--log <file> --log-format json` and, when an
//! operation fails, show the user the `msg` of the last `error` line of that file. runc
//! writes logrus lines: one JSON object per line with `level`, `msg` and `time`. The text
//! format is logrus' text form. Whatever the format, a failed operation also prints one
//! plain line on stderr (see `main`).

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{SecondsFormat, Utc};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use crate::cli::{GlobalOpts, LogFormat};

#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("cannot open log file {path}: {source}")]
    Open { path: String, source: io::Error },
    #[error("cannot install the log subscriber: {0}")]
    Install(#[from] tracing::subscriber::SetGlobalDefaultError),
}

/// Where log lines go, shared by the tracing layer and the final error report.
#[derive(Clone)]
pub struct LogSink {
    format: LogFormat,
    target: Arc<Mutex<Target>>,
    to_stderr: bool,
}

enum Target {
    Stderr,
    File(File),
}

impl LogSink {
    pub fn open(opts: &GlobalOpts) -> Result<Self, LoggingError> {
        let (target, to_stderr) = match &opts.log {
            Some(path) => (Target::File(open_log_file(path)?), false),
            None => (Target::Stderr, true),
        };
        Ok(Self {
            format: opts.log_format,
            target: Arc::new(Mutex::new(target)),
            to_stderr,
        })
    }

    /// True when log lines already reach stderr in plain text, so a caller printing a
    /// plain error line there would print it twice.
    pub fn is_plain_stderr(&self) -> bool {
        self.to_stderr && self.format == LogFormat::Text
    }

    pub fn write(&self, level: Level, msg: &str) {
        let line = format_line(self.format, level, msg, &Utc::now());
        let mut target = match self.target.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        // A log line that cannot be written must not turn a success into a failure;
        // there is nowhere left to report it.
        let _ = match &mut *target {
            Target::Stderr => io::stderr().lock().write_all(line.as_bytes()),
            Target::File(file) => file.write_all(line.as_bytes()),
        };
    }
}

fn open_log_file(path: &Path) -> Result<File, LoggingError> {
    // O_APPEND: the shim reuses one log file for every operation on a container.
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| LoggingError::Open {
            path: path.display().to_string(),
            source,
        })
}

/// One log line, newline-terminated, in runc's (logrus') format.
pub fn format_line(
    format: LogFormat,
    level: Level,
    msg: &str,
    time: &chrono::DateTime<Utc>,
) -> String {
    let level = level_name(level);
    let time = time.to_rfc3339_opts(SecondsFormat::Nanos, true);
    match format {
        LogFormat::Json => {
            let object = serde_json::json!({ "level": level, "msg": msg, "time": time });
            format!("{object}\n")
        }
        LogFormat::Text => {
            // logrus quotes the message with Go's %q; JSON string escaping is the same
            // for everything a message holds in practice.
            let quoted = serde_json::Value::String(msg.to_owned());
            format!("time=\"{time}\" level={level} msg={quoted}\n")
        }
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// Installs the global subscriber: `--debug` logs debug lines of every crate; otherwise
/// bulwark's warnings and errors, and only errors of libcontainer (whose warnings about
/// cgroup controllers this host lacks would land in every engine's log). No thread is
/// started: libcontainer forks in-process.
pub fn init(sink: &LogSink, debug: bool) -> Result<(), LoggingError> {
    let filter = if debug {
        Targets::new().with_default(LevelFilter::DEBUG)
    } else {
        Targets::new()
            .with_target(env!("CARGO_CRATE_NAME"), LevelFilter::WARN)
            .with_default(LevelFilter::ERROR)
    };
    let subscriber = tracing_subscriber::registry()
        .with(RuncLayer { sink: sink.clone() })
        .with(filter);
    tracing::subscriber::set_global_default(subscriber)?;
    Ok(())
}

struct RuncLayer {
    sink: LogSink,
}

impl<S: Subscriber> Layer<S> for RuncLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut visitor = MessageVisitor::default();
        event.record(&mut visitor);
        self.sink
            .write(*event.metadata().level(), &visitor.finish());
    }
}

/// Renders an event as "message key=value ...", the structured fields after the text.
#[derive(Default)]
struct MessageVisitor {
    message: String,
    fields: String,
}

impl MessageVisitor {
    fn finish(self) -> String {
        if self.fields.is_empty() {
            self.message
        } else if self.message.is_empty() {
            self.fields.trim_start().to_owned()
        } else {
            format!("{}{}", self.message, self.fields)
        }
    }
}

impl Visit for MessageVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed_time() -> chrono::DateTime<Utc> {
        chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05.000000006Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn json_line_is_runc_form() {
        let line = format_line(LogFormat::Json, Level::ERROR, "boom \"x\"", &fixed_time());
        assert!(line.ends_with('\n'));
        let value: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(value["level"], "error");
        assert_eq!(value["msg"], "boom \"x\"");
        assert_eq!(value["time"], "2026-01-02T03:04:05.000000006Z");
        assert_eq!(value.as_object().unwrap().len(), 3);
    }

    #[test]
    fn text_line_is_logrus_form() {
        let line = format_line(LogFormat::Text, Level::WARN, "a \"b\"", &fixed_time());
        assert_eq!(
            line,
            "time=\"2026-01-02T03:04:05.000000006Z\" level=warning msg=\"a \\\"b\\\"\"\n"
        );
    }
}
