//! User-space instructions per request, counted by valgrind's callgrind, and the guard of
//! `.ci/run` that keeps par-http's own clients under their thresholds.
//!
//! ```text
//! par-http-bench instructions [CLIENT ...]                 the table
//! par-http-bench instructions --check FILE [CLIENT ...]    fail above FILE's thresholds
//! par-http-bench instructions --update FILE [CLIENT ...]   rewrite FILE: figure + 10%
//! ```
//!
//! Each client runs S1's job (GETs of `/small`, 64 in flight; the one-off requests one
//! after the other) under callgrind, once with `n1` requests and `runs` times with `n2`
//! (the one-off requests [`EXTRA_RUNS`] more);
//! `(median I(n2) - I(n1)) / (n2 - n1)` is the cost of one request, start-up excluded.
//! The median is there because the counts are not quite exact: how often a thread finds
//! its socket ready, or has to park and be woken, depends on timing. Measured on this
//! project's 2-core machine, one `n2` run of a scope moves by about 0.5%, one of the
//! one-off requests by about 3%; the median of three by less. `instructions.sh` builds
//! the binary and calls this (see the README beside `Cargo.toml`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::BoxError;
use crate::clients::ClientName;
use crate::runner::Server;
use crate::server::SMALL;

/// The clients the guard measures: par-http's blocking scope on smol (the default) and on
/// tokio, its async scopes on both, and its one-off requests.
const GUARDED: [ClientName; 5] = [
    ClientName::ParBlocking,
    ClientName::ParBlockingTokio,
    ClientName::ParSmol,
    ClientName::ParTokioCt,
    ClientName::ParOneOff,
];

/// A threshold is the measured figure plus this share of it.
const MARGIN: f64 = 0.10;

/// The longest one callgrind run may take (a hung client fails instead of blocking CI).
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// What the command line asked for.
struct Options {
    mode: Mode,
    clients: Vec<ClientName>,
    n1: usize,
    n2: usize,
    runs: usize,
    jobs: usize,
}

enum Mode {
    Table,
    Check(PathBuf),
    Update(PathBuf),
}

fn parse(args: &[String]) -> Result<Options, BoxError> {
    let mut options = Options {
        mode: Mode::Table,
        clients: Vec::new(),
        n1: 500,
        n2: 6_000,
        runs: 3,
        jobs: std::thread::available_parallelism().map_or(1, usize::from),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match arg.as_str() {
            "--check" => options.mode = Mode::Check(value("--check")?.into()),
            "--update" => options.mode = Mode::Update(value("--update")?.into()),
            "--n1" => options.n1 = value("--n1")?.parse()?,
            "--n2" => options.n2 = value("--n2")?.parse()?,
            "--runs" => options.runs = value("--runs")?.parse::<usize>()?.max(1),
            "--jobs" => options.jobs = value("--jobs")?.parse::<usize>()?.max(1),
            name => options.clients.push(name.parse()?),
        }
    }
    if options.n2 <= options.n1 {
        return Err("--n2 must be larger than --n1".into());
    }
    if options.clients.is_empty() {
        options.clients = match options.mode {
            Mode::Table => ClientName::ALL
                .into_iter()
                .filter(|name| name.is_built())
                .collect(),
            Mode::Check(_) | Mode::Update(_) => GUARDED.to_vec(),
        };
    }
    Ok(options)
}

/// How many requests a client has in flight: 64 (S1's), but one for the one-off
/// requests, sent one after the other.
fn concurrency(client: ClientName) -> usize {
    if client == ClientName::ParOneOff {
        1
    } else {
        64
    }
}

/// The one-off requests' extra runs of `n2`: their count moves by 3-10% from run to run
/// (the smol reactor's driver thread wakes on timers while the caller waits, so their
/// number follows the wall time), the scopes' by 0.5-1%.
const EXTRA_RUNS: usize = 2;

/// How many runs of `n2` `client` gets.
fn runs_of(client: ClientName, runs: usize) -> usize {
    if client == ClientName::ParOneOff {
        runs + EXTRA_RUNS
    } else {
        runs
    }
}

/// One callgrind run to do.
#[derive(Clone, Copy)]
struct Run {
    client: ClientName,
    n: usize,
}

/// Entry point of `instructions`.
pub(crate) fn run(args: &[String]) -> Result<(), BoxError> {
    let options = parse(args)?;
    let thresholds = match &options.mode {
        Mode::Check(path) => Some(read_thresholds(path)?),
        Mode::Table | Mode::Update(_) => None,
    };
    let started = Instant::now();
    let server = Server::start()?;
    // Every client's runs, the n2 ones spread over the whole measurement: a burst of
    // load on the machine then touches one run of several clients, not all of a client's.
    let mut runs: Vec<Run> = options
        .clients
        .iter()
        .map(|&client| Run {
            client,
            n: options.n1,
        })
        .collect();
    for round in 0..options.runs + EXTRA_RUNS {
        runs.extend(
            options
                .clients
                .iter()
                .filter(|&&client| round < runs_of(client, options.runs))
                .map(|&client| Run {
                    client,
                    n: options.n2,
                }),
        );
    }
    let counts = count_all(&server, &runs, options.jobs)?;
    let mut figures = Vec::new();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| client | user-space instructions per request | runs | spread of the runs |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|");
    for &client in &options.clients {
        let base = counts[&(client, options.n1)][0];
        let per_request =
            |total: u64| total.saturating_sub(base) as f64 / (options.n2 - options.n1) as f64;
        let mut each: Vec<f64> = counts[&(client, options.n2)]
            .iter()
            .map(|&total| per_request(total))
            .collect();
        each.sort_by(f64::total_cmp);
        let median = each[each.len() / 2];
        let spread = (each[each.len() - 1] - each[0]) / median * 100.0;
        let _ = writeln!(
            out,
            "| {client} | {} | {} | {spread:.1}% |",
            grouped(median.round() as u64),
            each.len()
        );
        figures.push((client, median.round() as u64));
    }
    let _ = writeln!(
        out,
        "\n{} requests once and {} requests in each run (the median of the runs), 64 in \
         flight (the one-off requests: one after the other), {} at a time; {:.0} s",
        options.n1,
        options.n2,
        options.jobs,
        started.elapsed().as_secs_f64()
    );
    std::io::stdout().write_all(out.as_bytes())?;
    match (&options.mode, thresholds) {
        (Mode::Check(path), Some(thresholds)) => check(path, &figures, &thresholds),
        (Mode::Update(path), _) => update(path, &figures, &options),
        _ => Ok(()),
    }
}

/// Runs every run under callgrind, `jobs` at a time, and returns the instruction counts
/// of each client and request count, in the order they finished.
fn count_all(
    server: &Server,
    runs: &[Run],
    jobs: usize,
) -> Result<HashMap<(ClientName, usize), Vec<u64>>, BoxError> {
    let url = server.url("/small");
    let next = AtomicUsize::new(0);
    let counts: Mutex<HashMap<(ClientName, usize), Vec<u64>>> = Mutex::new(HashMap::new());
    let errors: Mutex<Vec<String>> = Mutex::new(Vec::new());
    std::thread::scope(|threads| {
        for _ in 0..jobs.min(runs.len()) {
            threads.spawn(|| {
                while let Some(run) = runs.get(next.fetch_add(1, Ordering::Relaxed)) {
                    match count(run.client, &url, run.n) {
                        Ok(total) => {
                            let _ = writeln!(
                                std::io::stderr(),
                                "{} × {}: {} instructions",
                                run.client,
                                run.n,
                                grouped(total)
                            );
                            if let Ok(mut counts) = counts.lock() {
                                counts.entry((run.client, run.n)).or_default().push(total);
                            }
                        }
                        Err(err) => {
                            if let Ok(mut errors) = errors.lock() {
                                errors.push(format!("{} × {}: {err}", run.client, run.n));
                            }
                        }
                    }
                }
            });
        }
    });
    let errors = errors
        .into_inner()
        .map_err(|_| "a counting thread panicked")?;
    if !errors.is_empty() {
        return Err(errors.join("; ").into());
    }
    Ok(counts
        .into_inner()
        .map_err(|_| "a counting thread panicked")?)
}

/// The instructions of one run of `client` (`n` GETs of `url`) under callgrind.
fn count(client: ClientName, url: &str, n: usize) -> Result<u64, BoxError> {
    static NEXT_LOG: AtomicUsize = AtomicUsize::new(0);
    let log = std::env::temp_dir().join(format!(
        "par-http-bench-callgrind-{}-{}.log",
        std::process::id(),
        NEXT_LOG.fetch_add(1, Ordering::Relaxed)
    ));
    let result = count_into(client, url, n, &log);
    let _ = std::fs::remove_file(&log);
    result
}

fn count_into(client: ClientName, url: &str, n: usize, log: &Path) -> Result<u64, BoxError> {
    let mut child = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--callgrind-out-file=/dev/null")
        .arg(format!("--log-file={}", log.display()))
        .arg(std::env::current_exe()?)
        .args([
            "measure",
            "--client",
            client.id(),
            "--url",
            url,
            "--n",
            &n.to_string(),
            "--c",
            &concurrency(client).to_string(),
            "--body-len",
            &SMALL.len().to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| format!("valgrind: {err} (is it installed?)"))?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("killed after {} s", RUN_LIMIT.as_secs()).into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
    }
    if !status.success() {
        return Err(format!("the run failed ({status}): {}", stderr.trim()).into());
    }
    // "==1234== I   refs:      114,382,279"
    let text = std::fs::read_to_string(log)?;
    text.lines()
        .find_map(|line| {
            let (_, count) = line.split_once("I   refs:")?;
            count.trim().replace(',', "").parse().ok()
        })
        .ok_or_else(|| format!("no instruction count in callgrind's log {}", log.display()).into())
}

/// The thresholds of FILE: `CLIENT THRESHOLD ...` lines; `#` starts a comment.
fn read_thresholds(path: &Path) -> Result<HashMap<ClientName, u64>, BoxError> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("the thresholds {}: {err}", path.display()))?;
    let mut thresholds = HashMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut words = line.split_whitespace();
        let (Some(client), Some(threshold)) = (words.next(), words.next()) else {
            continue;
        };
        thresholds.insert(client.parse()?, threshold.replace(',', "").parse()?);
    }
    Ok(thresholds)
}

/// Fails, naming each client, its figure and its threshold, when any is above.
fn check(
    path: &Path,
    figures: &[(ClientName, u64)],
    thresholds: &HashMap<ClientName, u64>,
) -> Result<(), BoxError> {
    let mut over = Vec::new();
    let mut out = std::io::stdout();
    for &(client, figure) in figures {
        let Some(&threshold) = thresholds.get(&client) else {
            over.push(format!("{client}: no threshold in {}", path.display()));
            continue;
        };
        let ok = figure <= threshold;
        writeln!(
            out,
            "{client}: {} instructions per request, threshold {}: {}",
            grouped(figure),
            grouped(threshold),
            if ok { "ok" } else { "OVER" }
        )?;
        if !ok {
            over.push(format!(
                "{client} takes {} user-space instructions per request, above its threshold \
                 of {} (+{:.1}%)",
                grouped(figure),
                grouped(threshold),
                (figure as f64 / threshold as f64 - 1.0) * 100.0
            ));
        }
    }
    if over.is_empty() {
        return Ok(());
    }
    Err(format!(
        "instruction-count guard failed:\n  {}\n(thresholds in {}; if the rise is meant, \
         re-measure them with `crates/par-http-bench/instructions.sh --update`)",
        over.join("\n  "),
        path.display()
    )
    .into())
}

/// Rewrites FILE with each figure plus [`MARGIN`].
fn update(path: &Path, figures: &[(ClientName, u64)], options: &Options) -> Result<(), BoxError> {
    let mut text = String::from(
        "# The instruction-count guard of .ci/run: user-space instructions per request that\n\
         # each par-http client may take, counted by valgrind's callgrind on S1's job (GETs of\n\
         # /small from the benchmark's server, 64 in flight; the one-off requests one after\n\
         # the other). `.ci/run` checks them with\n\
         #\n\
         #     crates/par-http-bench/instructions.sh --check\n\
         #\n\
         # and this command re-measures them and rewrites this file (each threshold is the\n\
         # measured figure + 10%):\n\
         #\n\
         #     crates/par-http-bench/instructions.sh --update\n\
         #\n",
    );
    let _ = writeln!(
        text,
        "# Measured {} at commit {}: {} requests once and {} in each of {} runs\n\
         # (the one-off requests: {} runs), the median.\n\
         #\n\
         # client                  threshold   measured",
        utc_now(),
        git_head(),
        options.n1,
        options.n2,
        options.runs,
        runs_of(ClientName::ParOneOff, options.runs),
    );
    for &(client, figure) in figures {
        let threshold = (figure as f64 * (1.0 + MARGIN)).round() as u64;
        let _ = writeln!(text, "{:<25} {threshold:>9}   # {figure}", client.id());
    }
    std::fs::write(path, text)?;
    writeln!(std::io::stdout(), "rewrote {}", path.display())?;
    Ok(())
}

/// `date -u`'s answer, or `unknown`.
fn utc_now() -> String {
    command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
}

/// The short hash of the checked-out commit, or `unknown`.
fn git_head() -> String {
    command_output("git", &["rev-parse", "--short", "HEAD"])
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map_or_else(|| "unknown".into(), |text| text.trim().to_owned())
}

/// A number with thousands separators.
fn grouped(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
