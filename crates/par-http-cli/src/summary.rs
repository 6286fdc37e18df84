//! What each URL came to ([`Record`]) and the summary printed at the end of a run:
//! counts by status, total bytes, wall time and latency percentiles. Also the small
//! number formats (sizes, durations) shared by the per-URL lines and the progress bar.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use par_http::StatusCode;

/// How one URL ended, after its retries.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    /// The URL as given.
    pub(crate) url: String,
    pub(crate) outcome: Outcome,
    /// Body bytes read in the last attempt.
    pub(crate) bytes: u64,
    /// The time of the last attempt, from its start to the end of its body.
    pub(crate) elapsed: Duration,
    /// Attempts after the first.
    pub(crate) retries: u32,
    /// Where the body was saved (`-o`).
    pub(crate) file: Option<PathBuf>,
}

/// The end of the last attempt.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// A response whose body was read to its end (and saved, if asked).
    Response(StatusCode),
    /// A 4xx or 5xx response that `--fail` refused: its body was not read.
    Rejected(StatusCode),
    /// An error: before the response (`status` is `None`), or while reading or saving its body.
    Failed {
        status: Option<StatusCode>,
        /// A short name of the kind of error (`connect`, `timeout`, `write`, ...).
        kind: &'static str,
        message: String,
    },
}

impl Record {
    /// A 2xx or 3xx response whose body was read (and saved) without error.
    pub(crate) fn succeeded(&self) -> bool {
        matches!(self.outcome, Outcome::Response(status) if status.is_success() || status.is_redirection())
    }

    /// The label this record is counted under in the summary: its status, or `error(kind)`.
    fn label(&self) -> Label {
        match &self.outcome {
            Outcome::Response(status) | Outcome::Rejected(status) => Label::Status(status.as_u16()),
            Outcome::Failed { kind, .. } => Label::Error(kind),
        }
    }
}

/// A summary bucket; statuses sort before errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Label {
    Status(u16),
    Error(&'static str),
}

/// The summary lines of a run that took `wall`.
pub(crate) fn summary_lines(records: &[Record], wall: Duration) -> Vec<String> {
    let total = records.len();
    let succeeded = records.iter().filter(|r| r.succeeded()).count();
    let mut lines = vec![format!(
        "requests: {total} total, {succeeded} succeeded, {} failed",
        total - succeeded
    )];

    let mut by_label: BTreeMap<Label, usize> = BTreeMap::new();
    for record in records {
        *by_label.entry(record.label()).or_default() += 1;
    }
    let counts: Vec<String> = by_label
        .iter()
        .map(|(label, count)| match label {
            Label::Status(code) => format!("{code} x{count}"),
            Label::Error(kind) => format!("error({kind}) x{count}"),
        })
        .collect();
    lines.push(format!("status: {}", counts.join(", ")));

    let retries: u32 = records.iter().map(|r| r.retries).sum();
    if retries > 0 {
        let retried = records.iter().filter(|r| r.retries > 0).count();
        lines.push(format!("retries: {retries} (of {retried} urls)"));
    }

    let bytes: u64 = records.iter().map(|r| r.bytes).sum();
    let seconds = wall.as_secs_f64();
    let rate = if seconds > 0.0 {
        format!("{}/s", size(per_second(bytes, seconds)))
    } else {
        "-".to_owned()
    };
    let exact = if bytes < 1024 {
        String::new()
    } else {
        format!(" ({bytes} B)")
    };
    lines.push(format!(
        "bytes: {}{exact} in {}, {rate}",
        size(bytes),
        duration(wall)
    ));

    let mut latencies: Vec<Duration> = records.iter().map(|r| r.elapsed).collect();
    latencies.sort_unstable();
    if let (Some(min), Some(max)) = (latencies.first(), latencies.last()) {
        lines.push(format!(
            "latency: p50 {}, p90 {}, p99 {} (min {}, max {})",
            duration(percentile(&latencies, 50)),
            duration(percentile(&latencies, 90)),
            duration(percentile(&latencies, 99)),
            duration(*min),
            duration(*max),
        ));
    }
    lines
}

/// The nearest-rank percentile `p` (1..=100) of `sorted`, which is not empty.
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    let index = rank.min(sorted.len()).saturating_sub(1);
    sorted.get(index).copied().unwrap_or_default()
}

/// `bytes` per second over `seconds`, rounded down.
pub(crate) fn per_second(bytes: u64, seconds: f64) -> u64 {
    // Precision loss past 2^53 bytes is of no concern for a display.
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let rate = (bytes as f64 / seconds) as u64;
    rate
}

/// A byte count for people: `512 B`, `1.5 KiB`, `3.2 MiB`.
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A duration for people: `0.4 ms`, `12.3 ms`, `1.25 s`.
pub(crate) fn duration(time: Duration) -> String {
    let ms = time.as_secs_f64() * 1000.0;
    if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(outcome: Outcome, ms: u64, bytes: u64) -> Record {
        Record {
            url: "http://a.test/".to_owned(),
            outcome,
            bytes,
            elapsed: Duration::from_millis(ms),
            retries: 0,
            file: None,
        }
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 50), Duration::from_millis(50));
        assert_eq!(percentile(&sorted, 90), Duration::from_millis(90));
        assert_eq!(percentile(&sorted, 99), Duration::from_millis(99));
        let one = [Duration::from_millis(7)];
        assert_eq!(percentile(&one, 50), one[0]);
        assert_eq!(percentile(&one, 99), one[0]);
    }

    #[test]
    fn summary_counts_statuses_then_errors() {
        let failed = Outcome::Failed {
            status: None,
            kind: "connect",
            message: "connection failed".to_owned(),
        };
        let records = [
            record(Outcome::Response(StatusCode::OK), 10, 100),
            record(Outcome::Response(StatusCode::NOT_FOUND), 20, 24),
            record(Outcome::Response(StatusCode::OK), 30, 900),
            record(failed, 1, 0),
        ];
        let lines = summary_lines(&records, Duration::from_secs(1));
        assert_eq!(lines[0], "requests: 4 total, 2 succeeded, 2 failed");
        assert_eq!(lines[1], "status: 200 x2, 404 x1, error(connect) x1");
        assert_eq!(lines[2], "bytes: 1.0 KiB (1024 B) in 1.00 s, 1.0 KiB/s");
        assert!(lines[3].starts_with("latency: p50 10.0 ms, p90 30.0 ms, p99 30.0 ms"));
    }

    #[test]
    fn a_rejected_response_is_a_failure_counted_under_its_status() {
        let records = [
            record(Outcome::Response(StatusCode::OK), 10, 100),
            record(Outcome::Rejected(StatusCode::NOT_FOUND), 20, 0),
        ];
        assert!(!records[1].succeeded());
        let lines = summary_lines(&records, Duration::from_secs(1));
        assert_eq!(lines[0], "requests: 2 total, 1 succeeded, 1 failed");
        assert_eq!(lines[1], "status: 200 x1, 404 x1");
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(duration(Duration::from_micros(400)), "0.4 ms");
        assert_eq!(duration(Duration::from_millis(1250)), "1.25 s");
    }
}
