//! Scenario hedge: what hedged requests buy against a server with a slow tail. par-http
//! only, with and without a [`HedgePolicy`].
//!
//! ```text
//! cargo run --release -p par-http-bench -- hedge [--quick] [--runs N] [--n N] [--c C]
//! ```
//!
//! The benchmark's server (its own process, as for S1-S5) answers `/stall?every=20&ms=1000`
//! at once, except every 20th request of the route, which it holds for 1 s: 5% of the
//! requests, deterministically (the count restarts at each `/reset`, before every run).
//! N GETs (2,000; `--quick`: 1,000) run at concurrency C (16) from par-http's async client
//! on smol, each a one-off `send` under `buffer_unordered(C)` whose latency is measured from
//! its start to the end of its body. Each run builds a fresh client (and a fresh policy, so
//! a p95 policy starts with no latency known). The table shows the median over the runs of
//! each run's p50, p99 and largest latency, its wall time and the hedges sent.
//!
//! A hedge is a request too, so it moves the server's count: a hedge that lands on a
//! multiple of 20 stalls as well (the policy's limit is one extra copy, so that request
//! takes the whole second). That happens to about one hedge in twenty.

use std::io::Write;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use par_http::HedgePolicy;

use crate::BoxError;
use crate::runner::Server;

/// The route: every 20th request stalls 1 s.
const ROUTE: &str = "/stall?every=20&ms=1000";

/// The body of every answer (`hello, world!`).
const BODY_LEN: usize = crate::server::SMALL.len();

/// The policies compared, by label.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Off,
    Fixed(Duration),
    P95,
}

impl Mode {
    fn label(self) -> String {
        match self {
            Self::Off => "no hedging".to_owned(),
            Self::Fixed(delay) => format!("HedgePolicy::after({} ms)", delay.as_millis()),
            Self::P95 => "HedgePolicy::p95() (min_delay 10 ms)".to_owned(),
        }
    }

    /// A fresh policy (a p95 one with no latency known).
    fn policy(self) -> Option<HedgePolicy> {
        match self {
            Self::Off => None,
            Self::Fixed(delay) => Some(HedgePolicy::after(delay)),
            Self::P95 => Some(HedgePolicy::p95()),
        }
    }
}

/// One run's figures.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    p50: Duration,
    p99: Duration,
    max: Duration,
    wall: Duration,
    hedges: u64,
}

/// `hedge [--quick] [--runs N] [--n N] [--c C]`: every mode, then the table.
pub(crate) fn run(args: &[String]) -> Result<(), BoxError> {
    let quick = args.iter().any(|arg| arg == "--quick");
    let value = |flag: &str| -> Result<Option<usize>, BoxError> {
        match args.iter().position(|arg| arg == flag) {
            Some(at) => {
                let value = args
                    .get(at + 1)
                    .ok_or_else(|| format!("{flag} needs a value"))?;
                Ok(Some(value.parse()?))
            }
            None => Ok(None),
        }
    };
    let runs = value("--runs")?.unwrap_or(if quick { 1 } else { 3 }).max(1);
    let n = value("--n")?.unwrap_or(if quick { 1000 } else { 2000 });
    let c = value("--c")?.unwrap_or(16).max(1);
    let modes = [Mode::Off, Mode::Fixed(Duration::from_millis(20)), Mode::P95];
    let server = Server::start()?;
    let url = server.url(ROUTE);
    let mut err = std::io::stderr();
    let mut rows = Vec::new();
    for mode in modes {
        let mut samples = Vec::new();
        for run in 0..runs {
            server.control("/reset")?;
            let sample = measure(&url, n, c, mode.policy())?;
            writeln!(
                err,
                "hedge: {} run {}: p50 {:.1} ms, p99 {:.1} ms, {} hedges",
                mode.label(),
                run + 1,
                ms(sample.p50),
                ms(sample.p99),
                sample.hedges
            )?;
            samples.push(sample);
        }
        rows.push((mode, median(&samples)));
    }
    let mut out = std::io::stdout();
    writeln!(
        out,
        "hedge: {n} GETs of {ROUTE} (5% stall 1 s) at concurrency {c}, par-http smol \
         async client, median of {runs} run(s)\n"
    )?;
    writeln!(
        out,
        "| policy | p50 ms | p99 ms | max ms | wall ms | hedges sent |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|---:|")?;
    for (mode, sample) in rows {
        writeln!(
            out,
            "| {} | {:.1} | {:.1} | {:.1} | {:.0} | {} |",
            mode.label(),
            ms(sample.p50),
            ms(sample.p99),
            ms(sample.max),
            ms(sample.wall),
            sample.hedges
        )?;
    }
    Ok(())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Each figure's median over the runs.
fn median(samples: &[Sample]) -> Sample {
    let pick = |field: fn(&Sample) -> Duration| {
        let mut values: Vec<Duration> = samples.iter().map(field).collect();
        values.sort();
        values.get(values.len() / 2).copied().unwrap_or_default()
    };
    let mut hedges: Vec<u64> = samples.iter().map(|s| s.hedges).collect();
    hedges.sort_unstable();
    Sample {
        p50: pick(|s| s.p50),
        p99: pick(|s| s.p99),
        max: pick(|s| s.max),
        wall: pick(|s| s.wall),
        hedges: hedges.get(hedges.len() / 2).copied().unwrap_or_default(),
    }
}

/// The nearest-rank percentile `p` of `sorted`.
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let rank = (sorted.len() * p).div_ceil(100).max(1) - 1;
    sorted.get(rank).copied().unwrap_or_default()
}

/// One run: `n` GETs of `url` at concurrency `c` from a fresh client with `policy`.
fn measure(url: &str, n: usize, c: usize, policy: Option<HedgePolicy>) -> Result<Sample, BoxError> {
    // Room for a hedge's connection beside each request's.
    let mut builder = par_http::smol::AsyncClient::builder()
        .max_connections_per_host(4 * c)
        .max_idle_per_host(4 * c)
        .timeout(Duration::from_secs(30));
    if let Some(policy) = policy {
        builder = builder.hedge(policy);
    }
    let client = builder.build()?;
    async_io::block_on(async {
        let started = Instant::now();
        let outcomes: Vec<Result<(Duration, u32), BoxError>> = futures_util::stream::iter(0..n)
            .map(|_| {
                let client = &client;
                async move {
                    let sent = Instant::now();
                    let response = client.get(url).send().await?;
                    let hedges = response.hedges();
                    let body = response.bytes().await?;
                    if body.len() != BODY_LEN {
                        return Err(format!("a body of {} bytes", body.len()).into());
                    }
                    Ok((sent.elapsed(), hedges))
                }
            })
            .buffer_unordered(c)
            .collect()
            .await;
        let wall = started.elapsed();
        let mut latencies = Vec::with_capacity(n);
        let mut hedges = 0;
        for outcome in outcomes {
            let (latency, copies) = outcome?;
            latencies.push(latency);
            hedges += u64::from(copies);
        }
        latencies.sort();
        Ok(Sample {
            p50: percentile(&latencies, 50),
            p99: percentile(&latencies, 99),
            max: latencies.last().copied().unwrap_or_default(),
            wall,
            hedges,
        })
    })
}
