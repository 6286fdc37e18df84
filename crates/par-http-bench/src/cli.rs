//! The `par-http` command against `curl --parallel`: the same URLs from the benchmark's
//! server, 16 at a time, every body thrown away (or saved to a fresh directory), timed
//! from the outside.
//!
//! ```text
//! cargo build --release -p par-http-cli
//! cargo run --release -p par-http-bench -- cli [--runs N] [--jobs J] [--par-http PATH]
//! ```
//!
//! Workloads: 5,000 GETs of `/small` (13 bytes) and 3,000 GETs of 16 KiB (`/bytes`).
//! Each tool reads its URLs from a file: `par-http -j 16 -q -i FILE` and `curl --parallel
//! --parallel-max 16 -s -S --no-progress-meter -K FILE` (the file may give every URL its `output`). Bodies
//! are thrown away (par-http's default, which reads and counts them; curl's `-o
//! /dev/null`, which opens /dev/null per URL), written to stdout, which is /dev/null
//! (par-http's `--stdout`, curl's default), or saved to a fresh temporary directory, a
//! file per URL (`-o DIR` for par-http, an `output` in DIR per URL for curl). Every run is a new process, the two tools in turns;
//! a figure is the median of the runs: wall time, and the child's user and system CPU
//! time (`getrusage(RUSAGE_CHILDREN)` around the `wait` of that one child).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::time::TimeValLike;

use crate::BoxError;
use crate::runner::Server;

/// The longest one run may take.
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// One workload: `count` GETs of `path` (with `i=K` added to make every URL unique).
struct Workload {
    label: &'static str,
    path: &'static str,
    count: usize,
    body_len: u64,
}

const WORKLOADS: [Workload; 2] = [
    Workload {
        label: "5,000 × 13 B (/small)",
        path: "/small?",
        count: 5_000,
        body_len: 13,
    },
    Workload {
        label: "3,000 × 16 KiB (/bytes)",
        path: "/bytes?n=16384&",
        count: 3_000,
        body_len: 16_384,
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    /// Bodies thrown away: par-http's default, curl's `-o /dev/null` (an open and a
    /// close of /dev/null per URL).
    Null,
    /// Bodies written to stdout, which is /dev/null: par-http's `--stdout`, curl's
    /// default.
    Stdout,
    /// A file per body in a fresh directory.
    Dir,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    ParHttp,
    Curl,
}

/// What one run cost.
#[derive(Debug, Clone, Copy)]
struct Cost {
    wall: f64,
    user: f64,
    system: f64,
}

/// Entry point of `cli`.
pub(crate) fn run(args: &[String]) -> Result<(), BoxError> {
    let mut runs = 3;
    let mut jobs = 16;
    let mut par_http = std::env::current_exe()?.with_file_name("par-http");
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--runs" => runs = value()?.parse::<usize>()?.max(1),
            "--jobs" => jobs = value()?.parse::<usize>()?.max(1),
            "--par-http" => par_http = PathBuf::from(value()?),
            _ => return Err(format!("unknown option `{arg}` (see --help)").into()),
        }
    }
    if !par_http.is_file() {
        return Err(format!(
            "no par-http command at {} (build it: cargo build --release -p par-http-cli, \
             or give --par-http PATH)",
            par_http.display()
        )
        .into());
    }
    let curl = find_on_path("curl");
    let mut log = std::io::stderr();
    if curl.is_none() {
        writeln!(log, "curl is not installed: measuring par-http alone")?;
    }
    let server = Server::start()?;
    let work = TempDir::new("par-http-bench-cli")?;
    let started = Instant::now();
    let mut table = format!(
        "\n`par-http -j {jobs} -q` against `curl --parallel --parallel-max {jobs} -s`, median of \
         {runs} run(s): wall time, and the child's user and system CPU time.\n\n\
         | workload | bodies to | par-http wall ms | curl wall ms | wall par-http / curl | \
         par-http user s | curl user s | par-http sys s | curl sys s |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    for workload in &WORKLOADS {
        let urls: Vec<String> = (0..workload.count)
            .map(|i| server.url(&format!("{}i={i}", workload.path)))
            .collect();
        let url_file = work.path().join("urls.txt");
        std::fs::write(&url_file, urls.join("\n") + "\n")?;
        for output in [Output::Null, Output::Stdout, Output::Dir] {
            let mut costs: [Vec<Cost>; 2] = [Vec::new(), Vec::new()];
            for round in 0..runs {
                let mut tools = vec![Tool::ParHttp];
                if curl.is_some() {
                    tools.push(Tool::Curl);
                }
                let turn = round % tools.len();
                tools.rotate_left(turn);
                for tool in tools {
                    let bodies = work.path().join(format!("bodies-{round}"));
                    if output == Output::Dir {
                        std::fs::create_dir(&bodies)?;
                    }
                    let command = match (tool, &curl) {
                        (Tool::ParHttp, _) => {
                            let mut command = Command::new(&par_http);
                            command.args(["-j", &jobs.to_string(), "-q", "-i"]);
                            command.arg(&url_file);
                            match output {
                                Output::Null => {}
                                Output::Stdout => {
                                    command.arg("--stdout");
                                }
                                Output::Dir => {
                                    command.arg("-o").arg(&bodies);
                                }
                            }
                            command
                        }
                        (Tool::Curl, Some(curl)) => {
                            let config = work.path().join("curl.cfg");
                            std::fs::write(&config, curl_config(&urls, output, &bodies))?;
                            let mut command = Command::new(curl);
                            command.args([
                                "--parallel",
                                "--parallel-max",
                                &jobs.to_string(),
                                "-s",
                                "-S",
                                // `-s` leaves curl's parallel progress meter on (7.88).
                                "--no-progress-meter",
                                "-K",
                            ]);
                            command.arg(&config);
                            command
                        }
                        (Tool::Curl, None) => continue,
                    };
                    let cost = time_child(command)?;
                    if output == Output::Dir {
                        check_bodies(&bodies, workload)?;
                        std::fs::remove_dir_all(&bodies)?;
                    }
                    writeln!(
                        log,
                        "round {}/{runs} | {} | {:?} | {tool:?}: {:.1} ms, user {:.3} s, sys {:.3} s",
                        round + 1,
                        workload.label,
                        output,
                        cost.wall * 1e3,
                        cost.user,
                        cost.system
                    )?;
                    costs[tool as usize].push(cost);
                }
            }
            let par = median_cost(&costs[Tool::ParHttp as usize]);
            let curl_cost = median_cost(&costs[Tool::Curl as usize]);
            let cell = |cost: Option<Cost>, pick: fn(Cost) -> f64, scale: f64, digits: usize| {
                cost.map_or_else(
                    || "-".to_owned(),
                    |c| format!("{:.*}", digits, pick(c) * scale),
                )
            };
            let ratio = match (par, curl_cost) {
                (Some(par), Some(curl)) if curl.wall > 0.0 => {
                    format!("{:.2}×", par.wall / curl.wall)
                }
                _ => "-".into(),
            };
            let _ = writeln!(
                table,
                "| {} | {} | {} | {} | {ratio} | {} | {} | {} | {} |",
                workload.label,
                match output {
                    Output::Null => "discarded (curl: `-o /dev/null`)",
                    Output::Stdout => "stdout, /dev/null",
                    Output::Dir => "a directory",
                },
                cell(par, |c| c.wall, 1e3, 1),
                cell(curl_cost, |c| c.wall, 1e3, 1),
                cell(par, |c| c.user, 1.0, 3),
                cell(curl_cost, |c| c.user, 1.0, 3),
                cell(par, |c| c.system, 1.0, 3),
                cell(curl_cost, |c| c.system, 1.0, 3),
            );
        }
    }
    let _ = writeln!(
        table,
        "\nTotal time: {:.0} s; load average (1, 5, 15 min) after: {}",
        started.elapsed().as_secs_f64(),
        std::fs::read_to_string("/proc/loadavg")
            .map(|text| text
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "))
            .unwrap_or_default()
    );
    std::io::stdout().write_all(table.as_bytes())?;
    Ok(())
}

/// curl's config: every URL with its `output` (/dev/null, or a file in `dir`).
fn curl_config(urls: &[String], output: Output, dir: &Path) -> String {
    let mut config = String::new();
    for (i, url) in urls.iter().enumerate() {
        let file = match output {
            Output::Null => "/dev/null".to_owned(),
            Output::Stdout => String::new(),
            Output::Dir => dir.join(format!("body-{i}")).display().to_string(),
        };
        let _ = writeln!(config, "url = \"{url}\"");
        if !file.is_empty() {
            let _ = writeln!(config, "output = \"{file}\"");
        }
    }
    config
}

/// An error unless `dir` holds a file of the workload's size per URL.
fn check_bodies(dir: &Path, workload: &Workload) -> Result<(), BoxError> {
    let mut files = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.metadata()?.len() != workload.body_len {
            return Err(format!("{}: a body of the wrong size", entry.path().display()).into());
        }
        files += 1;
    }
    if files != workload.count {
        return Err(format!(
            "{} bodies saved in {}, {} expected",
            files,
            dir.display(),
            workload.count
        )
        .into());
    }
    Ok(())
}

/// Runs `command` (stdout and stderr thrown away) and returns its wall time and the CPU
/// time it used, from the runner's children's usage before and after it is waited for.
fn time_child(mut command: Command) -> Result<Cost, BoxError> {
    let before = children_usage()?;
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("killed after {} s", RUN_LIMIT.as_secs()).into());
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let wall = started.elapsed().as_secs_f64();
    let after = children_usage()?;
    if !status.success() {
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
        }
        let first: Vec<&str> = stderr.lines().take(5).collect();
        return Err(format!("{command:?} failed ({status}): {}", first.join(" / ")).into());
    }
    Ok(Cost {
        wall,
        user: after.0 - before.0,
        system: after.1 - before.1,
    })
}

/// User and system CPU seconds of the children waited for so far.
fn children_usage() -> Result<(f64, f64), BoxError> {
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN)?;
    Ok((
        usage.user_time().num_microseconds() as f64 / 1e6,
        usage.system_time().num_microseconds() as f64 / 1e6,
    ))
}

fn median_cost(costs: &[Cost]) -> Option<Cost> {
    let median = |pick: fn(&Cost) -> f64| {
        let mut values: Vec<f64> = costs.iter().map(pick).collect();
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied()
    };
    Some(Cost {
        wall: median(|c| c.wall)?,
        user: median(|c| c.user)?,
        system: median(|c| c.system)?,
    })
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|file| file.is_file())
}

/// A fresh directory under the system's temporary one, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> Result<Self, BoxError> {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
