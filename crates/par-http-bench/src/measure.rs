//! What the benchmark reads off its own process: CPU time (getrusage), peak resident
//! memory (`VmHWM` in `/proc/self/status`), and the file-descriptor limit it raises for
//! scenario S4's ten thousand sockets.

use std::time::Duration;

use nix::sys::resource::{Resource, UsageWho, getrlimit, getrusage, setrlimit};
use nix::sys::time::TimeValLike;

use crate::BoxError;

/// The CPU time (user + system) of every thread this process has had so far.
pub(crate) fn cpu_time() -> Result<Duration, BoxError> {
    let usage = getrusage(UsageWho::RUSAGE_SELF)?;
    let micros = usage.user_time().num_microseconds() + usage.system_time().num_microseconds();
    Ok(Duration::from_micros(u64::try_from(micros)?))
}

/// The peak resident set size of this process so far, in KiB (`VmHWM`).
pub(crate) fn peak_rss_kib() -> Result<u64, BoxError> {
    status_kib("VmHWM:")
}

/// The resident set size of this process now, in KiB (`VmRSS`).
pub(crate) fn rss_kib() -> Result<u64, BoxError> {
    status_kib("VmRSS:")
}

fn status_kib(field: &str) -> Result<u64, BoxError> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .ok_or_else(|| format!("no {field} in /proc/self/status"))?;
    let kib = line.trim().trim_end_matches("kB").trim().parse()?;
    Ok(kib)
}

/// Raises the soft limit on open files to `wanted` (and the hard limit too when this
/// process may), or as far as the hard limit allows. Returns the soft limit in force.
/// Children inherit it, which is how the server and the S4 clients get theirs.
pub(crate) fn raise_open_files(wanted: u64) -> Result<u64, BoxError> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft >= wanted {
        return Ok(soft);
    }
    if hard < wanted && setrlimit(Resource::RLIMIT_NOFILE, wanted, wanted).is_ok() {
        return Ok(wanted);
    }
    let soft = wanted.min(hard);
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard)?;
    Ok(soft)
}

/// The CPU time (user + system) of this process's children that have ended and been
/// waited for: how `wrk`'s CPU time is read.
pub(crate) fn children_cpu_time() -> Result<Duration, BoxError> {
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN)?;
    let micros = usage.user_time().num_microseconds() + usage.system_time().num_microseconds();
    Ok(Duration::from_micros(u64::try_from(micros)?))
}
