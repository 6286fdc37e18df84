//! The runner: starts the server, puts every client through the same scenarios in turns
//! (round after round, the clients' order rotated each round), and prints the medians as
//! a markdown table with each peer's ratio to par-http, then the targets met or missed.
//!
//! Each measurement runs in a fresh child process (`par-http-bench measure ...`), which
//! times itself and reads its own CPU time and peak RSS; `wrk` is timed by its own
//! report and its CPU time read from the runner's children's usage.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::BoxError;
use crate::clients::ClientName;
use crate::measure;
use crate::server::SMALL;

/// How a case's figure is computed and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Metric {
    /// Requests per second, and client CPU seconds per 10,000 requests (S1).
    Throughput,
    /// Wall time of the whole job in ms (S2, S5).
    WallTime,
    /// Body bytes per second, in MB/s (S3).
    Bandwidth,
    /// Peak RSS above the one-request baseline, KiB per request in flight (S4).
    Memory,
}

/// One measured situation: a job and how to report it.
#[derive(Debug, Clone)]
struct Case {
    /// The scenario it belongs to (1 to 5).
    scenario: u8,
    label: String,
    path: String,
    /// On the server's distant port (S5), not its own.
    distant: bool,
    n: usize,
    c: usize,
    body_len: u64,
    metric: Metric,
    runs: usize,
    /// wrk measures it too (for a fixed time instead of a fixed count): S1 only, where
    /// it is the ceiling (its parser walks every body byte, so it is no ceiling for S3).
    wrk: bool,
    /// How many of the server's ports the requests take in turn (1: its own port; more
    /// for more connections than a port has ephemeral ports for: S4 at 100,000).
    ports: usize,
    /// Only par-http's clients run it (S4 at 100,000: ureq would need 100,000 threads).
    par_http_only: bool,
}

/// One measurement of one client in one case.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// The figure of the case's metric.
    value: f64,
    /// Client CPU seconds per 10,000 requests.
    cpu_per_10k: f64,
    /// S4: the most requests the server had in flight at once.
    in_flight: Option<usize>,
}

/// Who ran a measurement: one of the clients, or wrk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Runner {
    Client(ClientName),
    Wrk,
}

impl Runner {
    fn heading(self) -> &'static str {
        match self {
            Self::Client(name) => name.heading(),
            Self::Wrk => "wrk",
        }
    }
}

/// What the command line asked for.
struct Options {
    scenarios: Vec<u8>,
    quick: bool,
    runs: Option<usize>,
    clients: Vec<ClientName>,
    wrk: Option<PathBuf>,
}

fn parse_options(scenarios: &str, args: &[String]) -> Result<Options, BoxError> {
    let scenarios = if scenarios == "all" {
        vec![1, 2, 3, 4, 5]
    } else {
        scenarios
            .split(',')
            .map(|s| match s {
                "s1" => Ok(1),
                "s2" => Ok(2),
                "s3" => Ok(3),
                "s4" => Ok(4),
                "s5" => Ok(5),
                _ => Err(format!("unknown command `{s}` (see --help)")),
            })
            .collect::<Result<_, _>>()?
    };
    let mut options = Options {
        scenarios,
        quick: false,
        runs: None,
        clients: ClientName::defaults(),
        wrk: find_wrk(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--no-wrk" => options.wrk = None,
            "--runs" => {
                let runs: usize = args.next().ok_or("--runs needs a number")?.parse()?;
                options.runs = Some(runs.max(1));
            }
            "--clients" => {
                let list = args.next().ok_or("--clients needs a list")?;
                options.clients = list.split(',').map(str::parse).collect::<Result<_, _>>()?;
                if let Some(peer) = options.clients.iter().find(|name| !name.is_built()) {
                    return Err(format!(
                        "{peer}: this build has no peers (build with the default features)"
                    )
                    .into());
                }
            }
            _ => return Err(format!("unknown option `{arg}` (see --help)").into()),
        }
    }
    Ok(options)
}

/// `wrk` on the PATH, if any.
fn find_wrk() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("wrk"))
        .find(|file| file.is_file())
}

/// The cases of the chosen scenarios, full size or quick.
fn cases(options: &Options) -> Vec<Case> {
    let quick = options.quick;
    let runs = |full: usize, short: usize| options.runs.unwrap_or(if quick { short } else { full });
    let small = SMALL.len() as u64;
    let mut cases = Vec::new();
    if options.scenarios.contains(&1) {
        let n = if quick { 5_000 } else { 20_000 };
        for c in [1, 16, 64, 256] {
            cases.push(Case {
                scenario: 1,
                label: format!("S1 {n} × /small, c={c}"),
                path: "/small".into(),
                distant: false,
                n,
                c,
                body_len: small,
                metric: Metric::Throughput,
                runs: runs(5, 2),
                wrk: true,
                ports: 1,
                par_http_only: false,
            });
        }
    }
    if options.scenarios.contains(&2) {
        cases.push(Case {
            scenario: 2,
            label: "S2 200 × /delay?ms=50, c=200".into(),
            path: "/delay?ms=50".into(),
            distant: false,
            n: 200,
            c: 200,
            body_len: small,
            metric: Metric::WallTime,
            runs: runs(5, 2),
            wrk: false,
            ports: 1,
            par_http_only: false,
        });
    }
    if options.scenarios.contains(&3) {
        let (single, each) = if quick {
            (256 << 20, 4 << 20)
        } else {
            (1 << 30, 16 << 20)
        };
        cases.push(Case {
            scenario: 3,
            label: format!("S3 1 × {}", size_name(single)),
            path: format!("/bytes?n={single}"),
            distant: false,
            n: 1,
            c: 1,
            body_len: single,
            metric: Metric::Bandwidth,
            runs: runs(5, 2),
            wrk: false,
            ports: 1,
            par_http_only: false,
        });
        cases.push(Case {
            scenario: 3,
            label: format!("S3 64 × {}, c=64", size_name(each)),
            path: format!("/bytes?n={each}"),
            distant: false,
            n: 64,
            c: 64,
            body_len: each,
            metric: Metric::Bandwidth,
            runs: runs(5, 2),
            wrk: false,
            ports: 1,
            par_http_only: false,
        });
    }
    if options.scenarios.contains(&4) {
        let (n, ms) = if quick { (2_000, 500) } else { (10_000, 2_000) };
        cases.push(Case {
            scenario: 4,
            label: format!("S4 {n} in flight × /delay?ms={ms}"),
            path: format!("/delay?ms={ms}"),
            distant: false,
            n,
            c: n,
            body_len: small,
            metric: Metric::Memory,
            runs: runs(3, 1),
            wrk: false,
            ports: 1,
            par_http_only: false,
        });
        if !quick {
            // One scope holding 100,000 requests, in one process, against a server that
            // holds them all: par-http's clients only. Spread over the server's ports
            // (at most BIG_PER_PORT connections to each).
            let n = BIG_IN_FLIGHT;
            cases.push(Case {
                scenario: 4,
                label: format!(
                    "S4 {} in flight × /delay?ms={BIG_DELAY_MS}",
                    grouped(n as f64)
                ),
                path: format!("/delay?ms={BIG_DELAY_MS}"),
                distant: false,
                n,
                c: n,
                body_len: small,
                metric: Metric::Memory,
                runs: runs(1, 1),
                wrk: false,
                ports: n.div_ceil(BIG_PER_PORT),
                par_http_only: true,
            });
        }
    }
    if options.scenarios.contains(&5) {
        // The same sizes in quick mode: the case takes a few seconds per blocking client
        // and round, and much less for the others.
        let (each, rate) = (1 << 20, 10_000_000);
        cases.push(Case {
            scenario: 5,
            label: format!(
                "S5 64 × {} throttled at {} MB/s each, c=64",
                size_name(each),
                rate / 1_000_000
            ),
            path: format!("/throttled?n={each}&rate={rate}"),
            distant: true,
            n: 64,
            c: 64,
            body_len: each,
            metric: Metric::WallTime,
            runs: runs(5, 2),
            wrk: false,
            ports: 1,
            par_http_only: false,
        });
    }
    cases
}

/// S4's large line: requests in flight at once in one scope.
const BIG_IN_FLIGHT: usize = 100_000;

/// How long the server holds each request of S4's large line: longer than the client
/// takes to open its connections and send them all.
const BIG_DELAY_MS: u64 = 15_000;

/// Connections to one port of the server at most: from 127.0.0.1 to one address and
/// port, the client has one ephemeral port per connection, about 28,000 by default
/// (`net.ipv4.ip_local_port_range`).
const BIG_PER_PORT: usize = 20_000;

/// Open files a process needs besides its sockets.
const SPARE_FILES: usize = 1_000;

/// Lowers the requests of S4's large line to what `files` open files allow (the client
/// and the server each hold one socket per request), with a note; an error if another
/// case needs more than that.
fn fit_open_files(cases: &mut [Case], files: usize, log: &mut impl Write) -> Result<(), BoxError> {
    for case in cases.iter_mut() {
        if case.c + SPARE_FILES <= files {
            continue;
        }
        if !case.par_http_only {
            return Err(format!(
                "open files limited to {files}, and {} are needed",
                case.c + SPARE_FILES
            )
            .into());
        }
        let n = files.saturating_sub(SPARE_FILES).max(1);
        writeln!(
            log,
            "NOTE: open files limited to {files} (the hard limit, which this process may not \
             raise): `{}` runs with {n} requests instead of {}",
            case.label, case.n
        )?;
        case.label = case.label.replacen(
            &grouped(case.n as f64),
            &format!(
                "{} (scaled down from {})",
                grouped(n as f64),
                grouped(case.n as f64)
            ),
            1,
        );
        case.n = n;
        case.c = n;
        case.ports = n.div_ceil(BIG_PER_PORT);
    }
    Ok(())
}

fn size_name(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{} GiB", bytes >> 30)
    } else {
        format!("{} MiB", bytes >> 20)
    }
}

/// The server process; killed when dropped.
pub(crate) struct Server {
    child: Child,
    port: u16,
    /// The port of the same routes through a distant host's small buffers (S5).
    distant_port: u16,
    /// More ports serving what `port` serves (S4's large line).
    extra_ports: Vec<u16>,
}

impl Server {
    pub(crate) fn start() -> Result<Self, BoxError> {
        Self::start_with_extra_ports(0)
    }

    /// The server with `extra` more ports serving what its own port serves.
    fn start_with_extra_ports(extra: usize) -> Result<Self, BoxError> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["server", "--port", "0", "--extra-ports", &extra.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            BufReader::new(stdout).read_line(&mut line)?;
        }
        let ports: Option<Vec<u16>> = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|ports| ports.split(' ').map(|port| port.parse().ok()).collect());
        match ports.as_deref() {
            Some([port, distant_port, extra_ports @ ..]) if extra_ports.len() == extra => {
                Ok(Self {
                    child,
                    port: *port,
                    distant_port: *distant_port,
                    extra_ports: extra_ports.to_vec(),
                })
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("the server did not start (it said `{}`)", line.trim()).into())
            }
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The URL of `path` on the distant port.
    fn distant_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.distant_port)
    }

    /// A plain GET of the server's own `/stats` or `/reset` route.
    pub(crate) fn control(&self, path: &str) -> Result<String, BoxError> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"
        )?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        Ok(body.to_owned())
    }

    /// The largest number of requests the server had in flight at once since the last
    /// reset.
    fn max_in_flight(&self) -> Result<usize, BoxError> {
        let stats = self.control("/stats")?;
        let max = stats
            .split_whitespace()
            .nth(1)
            .ok_or("no max_in_flight in /stats")?;
        Ok(max.parse()?)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs one measurement of `client` in a child process.
fn measure_client(server: &Server, case: &Case, client: ClientName) -> Result<Sample, BoxError> {
    let mut urls = vec![if case.distant {
        server.distant_url(&case.path)
    } else {
        server.url(&case.path)
    }];
    for port in server.extra_ports.iter().take(case.ports.saturating_sub(1)) {
        urls.push(format!("http://127.0.0.1:{port}{}", case.path));
    }
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["measure", "--client", client.id()]);
    for url in &urls {
        command.args(["--url", url]);
    }
    command.args([
        "--n",
        &case.n.to_string(),
        "--c",
        &case.c.to_string(),
        "--body-len",
        &case.body_len.to_string(),
    ]);
    if case.metric == Metric::Memory {
        command.arg("--baseline");
        server.control("/reset")?;
    }
    let output = run_with_deadline(command, Duration::from_secs(300))?;
    let line = output
        .lines()
        .find_map(|line| line.strip_prefix("result "))
        .ok_or("the measurement printed no result")?;
    let fields: HashMap<&str, f64> = line
        .split_whitespace()
        .filter_map(|field| {
            let (key, value) = field.split_once('=')?;
            Some((key, value.parse().ok()?))
        })
        .collect();
    let field = |key: &str| {
        fields
            .get(key)
            .copied()
            .ok_or_else(|| format!("no {key} in the result"))
    };
    let wall = field("wall_us")? / 1e6;
    let cpu = field("cpu_us")? / 1e6;
    let requests = case.n as f64;
    let mut in_flight = None;
    let value = match case.metric {
        Metric::Throughput => requests / wall,
        Metric::WallTime => wall * 1e3,
        Metric::Bandwidth => field("bytes")? / wall / 1e6,
        Metric::Memory => {
            in_flight = Some(server.max_in_flight()?);
            (field("peak_kib")? - field("baseline_kib")?) / requests
        }
    };
    Ok(Sample {
        value,
        cpu_per_10k: cpu * 10_000.0 / requests,
        in_flight,
    })
}

/// Runs `command`, killing it after `limit`, and returns its stdout; an error if it
/// failed.
fn run_with_deadline(mut command: Command, limit: Duration) -> Result<String, BoxError> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("killed after {} s", limit.as_secs()).into());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut output = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_string(&mut output)?;
    }
    if status.success() {
        Ok(output)
    } else {
        Err(format!("the measurement failed ({status})").into())
    }
}

/// Runs `wrk` for the case (one thread, the case's connections, `secs` seconds).
fn measure_wrk(wrk: &PathBuf, server: &Server, case: &Case, secs: u64) -> Result<Sample, BoxError> {
    let cpu_before = measure::children_cpu_time()?;
    let mut command = Command::new(wrk);
    command.args([
        "-t1",
        &format!("-c{}", case.c),
        &format!("-d{secs}s"),
        "--timeout",
        "30s",
        &server.url(&case.path),
    ]);
    let output = run_with_deadline(command, Duration::from_secs(secs + 60))?;
    let cpu = (measure::children_cpu_time()? - cpu_before).as_secs_f64();
    // "  123456 requests in 2.00s, 14.57MB read"
    let (requests, secs) = output
        .lines()
        .find_map(|line| {
            let (count, rest) = line.trim().split_once(" requests in ")?;
            let secs = rest.split_once("s,")?.0;
            Some((count.parse::<f64>().ok()?, secs.parse::<f64>().ok()?))
        })
        .ok_or("no request count in wrk's report")?;
    if let Some(errors) = output
        .lines()
        .find(|line| line.contains("Non-2xx") || line.contains("Socket errors"))
    {
        return Err(format!("wrk: {}", errors.trim()).into());
    }
    if case.metric != Metric::Throughput {
        return Err("wrk measures requests per second only".into());
    }
    Ok(Sample {
        value: requests / secs,
        cpu_per_10k: cpu * 10_000.0 / requests.max(1.0),
        in_flight: None,
    })
}

/// Entry point of `all` and `s1`..`s5`.
pub(crate) fn run(scenarios: &str, args: &[String]) -> Result<(), BoxError> {
    let options = parse_options(scenarios, args)?;
    let mut cases = cases(&options);
    let mut log = std::io::stderr();
    let needed = cases.iter().map(|case| case.c).max().unwrap_or(1) + SPARE_FILES;
    let files = measure::raise_open_files(needed.max(65_536) as u64)?;
    fit_open_files(&mut cases, usize::try_from(files)?, &mut log)?;
    let extra_ports = cases.iter().map(|case| case.ports).max().unwrap_or(1) - 1;
    let server = Server::start_with_extra_ports(extra_ports)?;
    let started = Instant::now();
    let load_before = load_average();
    writeln!(
        log,
        "server on 127.0.0.1:{} (distant: {}); clients: {}; wrk: {}",
        server.port,
        server.distant_port,
        options
            .clients
            .iter()
            .map(|c| c.id())
            .collect::<Vec<_>>()
            .join(", "),
        options.wrk.as_ref().map_or_else(
            || "not installed or left out".into(),
            |path| path.display().to_string()
        ),
    )?;
    let wrk_secs = if options.quick { 1 } else { 2 };
    let mut samples: HashMap<(usize, Runner), Vec<Sample>> = HashMap::new();
    let mut failures: Vec<String> = Vec::new();
    let rounds = cases.iter().map(|case| case.runs).max().unwrap_or(0);
    for round in 0..rounds {
        for (index, case) in cases.iter().enumerate() {
            if round >= case.runs {
                continue;
            }
            let mut runners: Vec<Runner> = options
                .clients
                .iter()
                .copied()
                .filter(|name| name.is_par_http() || !case.par_http_only)
                .map(Runner::Client)
                .collect();
            if case.wrk && options.wrk.is_some() {
                runners.push(Runner::Wrk);
            }
            let turn = round % runners.len().max(1);
            runners.rotate_left(turn);
            for runner in runners {
                let sample = match (runner, &options.wrk) {
                    (Runner::Client(client), _) => measure_client(&server, case, client),
                    (Runner::Wrk, Some(wrk)) => measure_wrk(wrk, &server, case, wrk_secs),
                    (Runner::Wrk, None) => continue,
                };
                match sample {
                    Ok(sample) => {
                        writeln!(
                            log,
                            "round {}/{} | {} | {}: {}",
                            round + 1,
                            case.runs,
                            case.label,
                            runner.heading(),
                            show(case.metric, sample.value),
                        )?;
                        samples.entry((index, runner)).or_default().push(sample);
                    }
                    Err(err) => {
                        let failure = format!("{} | {}: {err}", case.label, runner.heading());
                        writeln!(log, "FAILED {failure}")?;
                        failures.push(failure);
                    }
                }
            }
        }
    }
    let mut report = report(&options, &cases, &samples, &failures, started.elapsed());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let _ = writeln!(
        report,
        "Machine: {cores} cores; load average (1, 5, 15 min) before: {load_before}, after: {}",
        load_average()
    );
    std::io::stdout().write_all(report.as_bytes())?;
    Ok(())
}

/// The first three fields of `/proc/loadavg`: how busy the machine was besides.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".into(),
        |text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        },
    )
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        f64::midpoint(values[mid - 1], values[mid])
    })
}

/// A number with thousands separators.
fn grouped(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if value < 0.0 { format!("-{out}") } else { out }
}

fn show(metric: Metric, value: f64) -> String {
    match metric {
        Metric::Throughput => format!("{} req/s", grouped(value)),
        Metric::WallTime => format!("{value:.1} ms"),
        Metric::Bandwidth => format!("{} MB/s", grouped(value)),
        Metric::Memory => format!("{value:.1} KiB/req"),
    }
}

/// A row of the table: one figure of one case.
struct Row {
    case: usize,
    title: String,
    cpu: bool,
}

/// The medians of every row and runner.
struct Medians {
    values: HashMap<(usize, bool, Runner), f64>,
    counts: HashMap<(usize, Runner), usize>,
    /// S4: the fewest requests the server saw in flight at once, over the runs.
    in_flight: HashMap<(usize, Runner), usize>,
}

impl Medians {
    fn get(&self, case: usize, cpu: bool, runner: Runner) -> Option<f64> {
        self.values.get(&(case, cpu, runner)).copied()
    }
}

fn medians(samples: &HashMap<(usize, Runner), Vec<Sample>>) -> Medians {
    let mut values = HashMap::new();
    let mut counts = HashMap::new();
    let mut in_flight = HashMap::new();
    for (&(case, runner), list) in samples {
        let mut value: Vec<f64> = list.iter().map(|s| s.value).collect();
        let mut cpu: Vec<f64> = list.iter().map(|s| s.cpu_per_10k).collect();
        if let Some(m) = median(&mut value) {
            values.insert((case, false, runner), m);
        }
        if let Some(m) = median(&mut cpu) {
            values.insert((case, true, runner), m);
        }
        counts.insert((case, runner), list.len());
        if let Some(fewest) = list.iter().filter_map(|s| s.in_flight).min() {
            in_flight.insert((case, runner), fewest);
        }
    }
    Medians {
        values,
        counts,
        in_flight,
    }
}

fn report(
    options: &Options,
    cases: &[Case],
    samples: &HashMap<(usize, Runner), Vec<Sample>>,
    failures: &[String],
    elapsed: Duration,
) -> String {
    let medians = medians(samples);
    let mut runners: Vec<Runner> = options
        .clients
        .iter()
        .copied()
        .map(Runner::Client)
        .collect();
    if options.wrk.is_some() && cases.iter().any(|case| case.wrk) {
        runners.push(Runner::Wrk);
    }
    // The par-http client the peers are compared with: smol, the default runtime.
    let reference = [
        ClientName::ParSmol,
        ClientName::ParTokioCt,
        ClientName::ParTokioMt,
        ClientName::ParBlocking,
    ]
    .into_iter()
    .find(|name| options.clients.contains(name))
    .map(Runner::Client);
    let mut rows = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let unit = match case.metric {
            Metric::Throughput => "req/s",
            Metric::WallTime => "wall ms",
            Metric::Bandwidth => "MB/s",
            Metric::Memory => "peak RSS KiB per request in flight",
        };
        rows.push(Row {
            case: index,
            title: format!("{}: {unit}", case.label),
            cpu: false,
        });
        if case.metric == Metric::Throughput {
            rows.push(Row {
                case: index,
                title: format!("{}: client CPU s / 10k req", case.label),
                cpu: true,
            });
        }
    }
    let mut out = String::new();
    let runs: Vec<String> = cases.iter().map(|case| case.runs.to_string()).collect();
    let _ = writeln!(
        out,
        "\n{} mode, median of {} run(s) per cell. In parentheses: the peer's figure / {}'s \
         (above 1: the peer is faster for req/s and MB/s, needs more for CPU, ms and KiB).\n",
        if options.quick { "quick" } else { "full" },
        runs.join("/"),
        reference.map_or("par-http", Runner::heading),
    );
    let _ = write!(out, "| scenario |");
    for runner in &runners {
        let _ = write!(out, " {} |", runner.heading());
    }
    let _ = write!(out, "\n|---|");
    for _ in &runners {
        let _ = write!(out, "---:|");
    }
    out.push('\n');
    for row in &rows {
        let _ = write!(out, "| {} |", row.title);
        for &runner in &runners {
            let cell = match medians.get(row.case, row.cpu, runner) {
                None if runner == Runner::Wrk && !cases[row.case].wrk => String::new(),
                None if cases[row.case].par_http_only
                    && !matches!(runner, Runner::Client(name) if name.is_par_http()) =>
                {
                    String::new()
                }
                None => "failed".into(),
                Some(value) => {
                    let mut cell = if row.cpu {
                        format!("{value:.3}")
                    } else {
                        match cases[row.case].metric {
                            Metric::Throughput | Metric::Bandwidth => grouped(value),
                            Metric::WallTime | Metric::Memory => format!("{value:.1}"),
                        }
                    };
                    let peer = match runner {
                        Runner::Client(name) => !name.is_par_http(),
                        Runner::Wrk => true,
                    };
                    let base = reference.and_then(|r| medians.get(row.case, row.cpu, r));
                    if let (true, Some(base)) = (peer, base) {
                        if base > 0.0 {
                            let _ = write!(cell, " ({:.2}×)", value / base);
                        }
                    }
                    let missing = cases[row.case].runs
                        - medians
                            .counts
                            .get(&(row.case, runner))
                            .copied()
                            .unwrap_or(0);
                    if missing > 0 && runner != Runner::Wrk {
                        let _ = write!(cell, " [{missing} failed]");
                    }
                    match medians.in_flight.get(&(row.case, runner)) {
                        Some(&seen) if seen < cases[row.case].n => {
                            let _ = write!(cell, " [only {} at once]", grouped(seen as f64));
                        }
                        _ => {}
                    }
                    cell
                }
            };
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    out.push_str(&targets(options, cases, &medians));
    if !failures.is_empty() {
        let _ = writeln!(out, "\nFailures:");
        for failure in failures {
            let _ = writeln!(out, "- {failure}");
        }
    }
    let _ = writeln!(out, "\nTotal time: {:.0} s", elapsed.as_secs_f64());
    out
}

/// The targets, each checked for every par-http async client of the run (S5's
/// for the blocking ones).
fn targets(options: &Options, cases: &[Case], medians: &Medians) -> String {
    let mut out = String::from("\nTargets:\n");
    let asyncs: Vec<ClientName> = [
        ClientName::ParSmol,
        ClientName::ParTokioCt,
        ClientName::ParTokioMt,
    ]
    .into_iter()
    .filter(|name| options.clients.contains(name))
    .collect();
    let peers: Vec<ClientName> = options
        .clients
        .iter()
        .copied()
        .filter(|name| !name.is_par_http())
        .collect();
    let get =
        |case: usize, cpu: bool, name: ClientName| medians.get(case, cpu, Runner::Client(name));
    let mark = |ok: bool| if ok { "met" } else { "MISSED" };
    let mut line = |text: String| {
        out.push_str("- ");
        out.push_str(&text);
        out.push('\n');
    };
    for (index, case) in cases.iter().enumerate() {
        match case.metric {
            Metric::Throughput if case.c == 16 || case.c == 64 => {
                // The faster of hyper-util's two runtimes.
                let hyper = peers
                    .iter()
                    .filter(|peer| peer.is_hyper_util())
                    .filter_map(|&peer| get(index, false, peer).map(|v| (peer, v)))
                    .max_by(|a, b| a.1.total_cmp(&b.1));
                if let Some((hyper_name, hyper)) = hyper {
                    let parts: Vec<String> = asyncs
                        .iter()
                        .filter_map(|&name| {
                            let ratio = get(index, false, name)? / hyper;
                            Some(format!("{} {ratio:.2}× {}", name.id(), mark(ratio >= 1.1)))
                        })
                        .collect();
                    line(format!(
                        "S1 c={}: async ≥ 1.1× hyper-util ({} {} req/s): {}",
                        case.c,
                        hyper_name.id(),
                        grouped(hyper),
                        parts.join(", ")
                    ));
                }
                let lowest_peer = peers
                    .iter()
                    .filter_map(|&peer| get(index, true, peer).map(|cpu| (peer, cpu)))
                    .min_by(|a, b| a.1.total_cmp(&b.1));
                if let Some((peer, peer_cpu)) = lowest_peer {
                    let parts: Vec<String> = asyncs
                        .iter()
                        .filter_map(|&name| {
                            let cpu = get(index, true, name)?;
                            Some(format!("{} {cpu:.3} s {}", name.id(), mark(cpu < peer_cpu)))
                        })
                        .collect();
                    line(format!(
                        "S1 c={}: CPU per request below every peer (lowest: {} {peer_cpu:.3} s / 10k): {}",
                        case.c,
                        peer.id(),
                        parts.join(", ")
                    ));
                }
                // Each blocking client against the async client on its executor: smol (par-http's
                // default) and tokio (`Executor::Tokio`, against the current-thread runtime).
                let pairs = [
                    (
                        ClientName::ParBlocking,
                        ClientName::ParSmol,
                        "blocking",
                        "smol",
                    ),
                    (
                        ClientName::ParBlockingTokio,
                        ClientName::ParTokioCt,
                        "blocking (tokio)",
                        "tokio-ct",
                    ),
                ];
                for (blocking, asynchronous, blocking_label, async_label) in pairs {
                    let pair = (get(index, false, blocking), get(index, false, asynchronous));
                    if let (Some(blocking), Some(asynchronous)) = pair {
                        let ratio = blocking / asynchronous;
                        line(format!(
                            "S1 c={}: {blocking_label} within 10% of async ({async_label}): {ratio:.2}× {}",
                            case.c,
                            mark(ratio >= 0.9)
                        ));
                    }
                }
            }
            Metric::WallTime if case.scenario == 5 => {
                // The async peers: reqwest and hyper-util (ureq reads on 64 threads).
                let best = peers
                    .iter()
                    .filter(|&&peer| peer != ClientName::Ureq)
                    .filter_map(|&peer| get(index, false, peer).map(|ms| (peer, ms)))
                    .min_by(|a, b| a.1.total_cmp(&b.1));
                if let Some((peer, best)) = best {
                    let parts: Vec<String> =
                        [ClientName::ParBlocking, ClientName::ParBlockingTokio]
                            .into_iter()
                            .filter_map(|name| {
                                let ratio = get(index, false, name)? / best;
                                Some(format!("{} {ratio:.2}× {}", name.id(), mark(ratio <= 1.2)))
                            })
                            .collect();
                    line(format!(
                        "S5: the blocking scope (next_response) within 1.2× of the best async \
                         peer's wall time ({} {best:.1} ms): {}",
                        peer.id(),
                        parts.join(", ")
                    ));
                }
            }
            Metric::WallTime => {
                let parts: Vec<String> = asyncs
                    .iter()
                    .filter_map(|&name| {
                        let ms = get(index, false, name)?;
                        Some(format!("{} {ms:.1} ms {}", name.id(), mark(ms <= 65.0)))
                    })
                    .collect();
                line(format!("S2 ≤ 65 ms: {}", parts.join(", ")));
            }
            Metric::Bandwidth => {
                let best = peers
                    .iter()
                    .filter_map(|&peer| get(index, false, peer).map(|v| (peer, v)))
                    .max_by(|a, b| a.1.total_cmp(&b.1));
                if let Some((peer, best)) = best {
                    let parts: Vec<String> = asyncs
                        .iter()
                        .filter_map(|&name| {
                            let value = get(index, false, name)?;
                            Some(format!(
                                "{} {:.2}× {}",
                                name.id(),
                                value / best,
                                mark(value >= best)
                            ))
                        })
                        .collect();
                    line(format!(
                        "{}: ≥ the best peer ({} {} MB/s): {}",
                        case.label,
                        peer.id(),
                        grouped(best),
                        parts.join(", ")
                    ));
                }
            }
            Metric::Memory => {
                let parts: Vec<String> = asyncs
                    .iter()
                    .filter_map(|&name| {
                        let kib = get(index, false, name)?;
                        Some(format!("{} {kib:.1} KiB {}", name.id(), mark(kib <= 8.0)))
                    })
                    .collect();
                line(format!(
                    "{}: ≤ 8 KiB per request in flight: {}",
                    case.label,
                    parts.join(", ")
                ));
            }
            Metric::Throughput => {}
        }
    }
    out
}
