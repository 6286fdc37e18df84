//! What the user sees while a run goes: a line per finished URL (status, size, time,
//! file or error) and, when the report goes to a terminal, a live progress bar on stderr
//! (done/total, bytes, rate, failures) drawn with indicatif. The report goes to stdout,
//! or to stderr when `--stdout` gives stdout to the bodies. When stderr is then the same
//! file as stdout (one terminal, or `2>&1`), each report line waits for the stdout lock,
//! so it never lands inside a body, and starts with a newline when the last body written
//! did not end with one.

use std::io::{self, IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::output;
use crate::summary::{self, Outcome, Record};

/// Counters shared by the run (its collecting and writer threads) and the progress bar.
#[derive(Debug)]
pub(crate) struct Live {
    /// Body bytes received so far (the last attempt of each request).
    pub(crate) bytes: AtomicU64,
    failed: AtomicU64,
    started: Instant,
}

/// The per-URL lines and the progress bar.
#[derive(Debug)]
pub(crate) struct Reporter {
    to_stderr: bool,
    /// The report goes to stderr and stderr is the same file as stdout.
    shares_stdout: bool,
    lines: bool,
    bar: Option<ProgressBar>,
    live: Arc<Live>,
}

impl Reporter {
    /// A reporter for `total` URLs. `to_stderr` sends the report to stderr; `lines`
    /// prints a line per URL; `progress` allows the bar, shown only on a terminal.
    pub(crate) fn new(total: usize, to_stderr: bool, lines: bool, progress: bool) -> Self {
        let live = Arc::new(Live {
            bytes: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            started: Instant::now(),
        });
        // The bar is drawn on stderr, above which the report's lines scroll; with
        // `--stdout`, bodies on the same terminal would tear it, so it stays off then.
        let on_terminal = if to_stderr {
            io::stderr().is_terminal() && !io::stdout().is_terminal()
        } else {
            io::stdout().is_terminal() && io::stderr().is_terminal()
        };
        let bar = (progress && on_terminal).then(|| progress_bar(total as u64, &live));
        Self {
            to_stderr,
            shares_stdout: to_stderr && stdout_is_stderr(),
            lines,
            bar,
            live,
        }
    }

    /// The progress bar, if one is drawn (for the Ctrl-C handler to leave it as it is).
    pub(crate) fn bar(&self) -> Option<ProgressBar> {
        self.bar.clone()
    }

    /// The counters the run adds to.
    pub(crate) fn live(&self) -> &Arc<Live> {
        &self.live
    }

    /// Records that a URL is done: counts it and prints its line.
    pub(crate) fn finished(&self, record: &Record) {
        if !record.succeeded() {
            self.live.failed.fetch_add(1, Ordering::Relaxed);
        }
        if self.lines {
            self.print(&[line(record)]);
        }
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    /// Clears the bar and prints `lines` (the summary).
    pub(crate) fn finish(&self, lines: &[String]) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        self.print(lines);
    }

    fn print(&self, lines: &[String]) {
        let write = || {
            // A closed report stream (`| head`) must not stop the downloads.
            let _ = if self.shares_stdout {
                // Holding stdout, so that no body is written meanwhile.
                let _stdout = io::stdout().lock();
                let mut err = io::stderr().lock();
                if !output::stdout_at_line_start() {
                    let _ = err.write_all(b"\n");
                    output::set_stdout_at_line_start();
                }
                write_lines(&mut err, lines)
            } else if self.to_stderr {
                write_lines(&mut io::stderr().lock(), lines)
            } else {
                write_lines(&mut io::stdout().lock(), lines)
            };
        };
        match &self.bar {
            Some(bar) if !bar.is_finished() => bar.suspend(write),
            _ => write(),
        }
    }
}

/// True when stdout and stderr are the same file (the same terminal, or `2>&1`).
#[cfg(unix)]
fn stdout_is_stderr() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;

    let identity = |fd: std::os::fd::BorrowedFd<'_>| {
        let file = std::fs::File::from(fd.try_clone_to_owned().ok()?);
        let meta = file.metadata().ok()?;
        Some((meta.dev(), meta.ino()))
    };
    match (
        identity(io::stdout().as_fd()),
        identity(io::stderr().as_fd()),
    ) {
        (Some(out), Some(err)) => out == err,
        _ => false,
    }
}

/// True when stdout and stderr are both terminals (taken to be the same one).
#[cfg(not(unix))]
fn stdout_is_stderr() -> bool {
    io::stdout().is_terminal() && io::stderr().is_terminal()
}

fn write_lines(out: &mut impl Write, lines: &[String]) -> io::Result<()> {
    for line in lines {
        writeln!(out, "{line}")?;
    }
    out.flush()
}

/// `200    1.5 KiB     12.3 ms  URL  -> FILE` or `ERR  -  1.0 ms  URL  error: ...`.
pub(crate) fn line(record: &Record) -> String {
    let rejected;
    let (status, error) = match &record.outcome {
        Outcome::Response(status) => (status.as_u16().to_string(), None),
        Outcome::Rejected(status) => {
            rejected = format!(
                "HTTP {} {} (--fail: body not saved)",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )
            .replace("  (", " (");
            (status.as_u16().to_string(), Some(&rejected))
        }
        Outcome::Failed {
            status, message, ..
        } => (
            status.map_or_else(|| "ERR".to_owned(), |s| s.as_u16().to_string()),
            Some(message),
        ),
    };
    let size = match &record.outcome {
        Outcome::Failed { status: None, .. } | Outcome::Rejected(_) => "-".to_owned(),
        _ => summary::size(record.bytes),
    };
    let mut text = format!(
        "{status:<3} {size:>10} {:>10}  {}",
        summary::duration(record.elapsed),
        record.url
    );
    if let Some(file) = &record.file {
        text.push_str(&format!("  -> {}", file.display()));
    }
    if record.retries > 0 {
        let s = if record.retries == 1 { "y" } else { "ies" };
        text.push_str(&format!("  ({} retr{s})", record.retries));
    }
    if let Some(error) = error {
        text.push_str("  error: ");
        text.push_str(error);
    }
    text
}

/// The bar: `⠋ [00:00:03] ███████░░░ 420/1000  12.5 MiB  4.1 MiB/s  3 failed`.
fn progress_bar(total: u64, live: &Arc<Live>) -> ProgressBar {
    let bytes = {
        let live = live.clone();
        move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&summary::size(live.bytes.load(Ordering::Relaxed)));
        }
    };
    let rate = {
        let live = live.clone();
        move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
            let seconds = live.started.elapsed().as_secs_f64();
            let bytes = live.bytes.load(Ordering::Relaxed);
            let rate = if seconds > 0.0 {
                summary::per_second(bytes, seconds)
            } else {
                0
            };
            let _ = write!(w, "{}/s", summary::size(rate));
        }
    };
    let failed = {
        let live = live.clone();
        move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{} failed", live.failed.load(Ordering::Relaxed));
        }
    };
    let template = "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len}  {bytes}  {rate}  {failed}";
    let style = match ProgressStyle::with_template(template) {
        Ok(style) => style
            .with_key("bytes", bytes)
            .with_key("rate", rate)
            .with_key("failed", failed),
        Err(_) => ProgressStyle::default_bar(),
    };
    let bar =
        ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()).with_style(style);
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use par_http::StatusCode;

    use super::*;

    fn record(outcome: Outcome) -> Record {
        Record {
            url: "http://a.test/x".to_owned(),
            outcome,
            bytes: 1536,
            elapsed: Duration::from_micros(12_300),
            retries: 0,
            file: None,
        }
    }

    #[test]
    fn lines() {
        let mut ok = record(Outcome::Response(StatusCode::OK));
        assert_eq!(line(&ok), "200    1.5 KiB    12.3 ms  http://a.test/x");
        ok.file = Some(PathBuf::from("out/x"));
        ok.retries = 2;
        assert_eq!(
            line(&ok),
            "200    1.5 KiB    12.3 ms  http://a.test/x  -> out/x  (2 retries)"
        );
        let failed = record(Outcome::Failed {
            status: None,
            kind: "connect",
            message: "connection failed".to_owned(),
        });
        assert_eq!(
            line(&failed),
            "ERR          -    12.3 ms  http://a.test/x  error: connection failed"
        );
        let rejected = record(Outcome::Rejected(StatusCode::NOT_FOUND));
        assert_eq!(
            line(&rejected),
            "404          -    12.3 ms  http://a.test/x  error: HTTP 404 Not Found \
             (--fail: body not saved)"
        );
    }
}
