//! par-http's benchmark against the clients its users would otherwise pick: reqwest,
//! hyper-util's legacy client and ureq, with `wrk` as the ceiling when it is installed.
//!
//! ```text
//! cargo run --release -p par-http-bench -- all            # every scenario, a few minutes
//! cargo run --release -p par-http-bench -- all --quick    # about a minute
//! cargo run --release -p par-http-bench -- s1             # one scenario (s1 to s5)
//! cargo run --release -p par-http-bench -- hedge          # hedged requests (hedge.rs)
//! ```
//!
//! The runner (`runner.rs`) starts the server (`server.rs`) in a process of its own, then
//! runs every measurement in a fresh child process of this same binary (`measure`), so a
//! client's CPU time and peak memory are its own. `clients.rs` holds the clients,
//! `measure.rs` what a process reads off itself. See the README beside `Cargo.toml`.

#![forbid(unsafe_code)]

mod cli;
mod clients;
mod hedge;
mod instructions;
mod measure;
mod runner;
#[cfg(feature = "peers")]
mod s5_h2;
mod server;

use std::io::Write;
use std::time::Instant;

use clients::{ClientName, Job};

/// The error type of the whole benchmark: any error, with its message.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

const USAGE: &str = "\
usage: par-http-bench COMMAND [OPTIONS]

commands:
  all                 every scenario (S1 to S5), then the table
  s1 | .. | s5        one scenario (several: s1,s3)
  s5-h2 [--quick]     scenario S5-h2: HTTPS, HTTP/2 against HTTP/1.1 (s5_h2.rs; needs
                      the peers feature)
  hedge [--quick] [--runs N] [--n N] [--c C]
                      hedged requests: p50/p99 latency of GETs against a server where
                      every 20th request stalls 1 s, with and without a HedgePolicy
  server [--port P] [--extra-ports K]
                      the benchmark server alone (prints `listening PORT DISTANT_PORT`,
                      then the K extra ports serving the same as PORT)
  clients             the client names
  cli [--runs N] [--jobs J] [--par-http PATH]
                      the par-http command against curl --parallel (needs
                      cargo build --release -p par-http-cli)
  instructions [--check FILE | --update FILE] [--n1 N] [--n2 N] [--runs R] [--jobs J] [CLIENT ..]
                      user-space instructions per request under callgrind (see instructions.sh)

options of all / s1..s5:
  --quick             fewer requests and runs (all: about a minute)
  --runs N            runs of each measurement (the median is shown)
  --clients A,B,..    only these clients (see `clients`); wrk runs unless --no-wrk
  --no-wrk            leave wrk out even when it is installed
";

fn main() {
    if let Err(err) = run() {
        let _ = writeln!(std::io::stderr(), "par-http-bench: {err}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        return Err(USAGE.into());
    };
    match command.as_str() {
        "server" => {
            let (mut port, mut extra) = (0, 0);
            let mut args = rest.iter();
            while let Some(flag) = args.next() {
                let value = args.next().ok_or(USAGE)?;
                match flag.as_str() {
                    "--port" => port = value.parse()?,
                    "--extra-ports" => extra = value.parse()?,
                    _ => return Err(USAGE.into()),
                }
            }
            server::serve(port, extra)
        }
        "measure" => measure_child(rest),
        "instructions" => instructions::run(rest),
        "cli" => cli::run(rest),
        "hedge" => hedge::run(rest),
        #[cfg(feature = "peers")]
        "s5-h2" => s5_h2::run(rest),
        #[cfg(feature = "peers")]
        "s5-h2-client" => s5_h2::child(rest),
        "clients" => {
            let mut out = std::io::stdout();
            for name in ClientName::ALL {
                writeln!(out, "{name}")?;
            }
            Ok(())
        }
        "-h" | "--help" | "help" => {
            std::io::stdout().write_all(USAGE.as_bytes())?;
            Ok(())
        }
        scenarios => runner::run(scenarios, rest),
    }
}

/// `measure --client NAME --url URL [--url URL ..] --n N --c C --body-len L [--baseline]`:
/// one measurement in this fresh process, printed as one `result` line for the runner.
/// With several URLs, the requests take them in turn.
///
/// With `--baseline`, one request of the same URL runs first, and the peak RSS after it
/// is the baseline the job's peak is compared with (scenario S4).
fn measure_child(args: &[String]) -> Result<(), BoxError> {
    let mut client = None;
    let (mut urls, mut n, mut c, mut body_len, mut baseline) =
        (Vec::new(), None, None, None, false);
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        if flag == "--baseline" {
            baseline = true;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--client" => client = Some(value.parse::<ClientName>()?),
            "--url" => urls.push(value.clone()),
            "--n" => n = Some(value.parse()?),
            "--c" => c = Some(value.parse()?),
            "--body-len" => body_len = Some(value.parse()?),
            _ => return Err(format!("unknown option {flag}").into()),
        }
    }
    let (Some(client), Some(n), Some(c), Some(body_len)) = (client, n, c, body_len) else {
        return Err("measure needs --client, --url, --n, --c and --body-len".into());
    };
    if urls.is_empty() {
        return Err("measure needs --url (several: the requests take them in turn)".into());
    }
    let job = Job {
        urls,
        n,
        c,
        body_len,
    };
    let mut fetcher = clients::make(client, c)?;
    let baseline_kib = if baseline {
        let one = Job {
            n: 1,
            c: 1,
            ..job.clone()
        };
        fetcher.run(&one)?;
        Some(measure::peak_rss_kib()?)
    } else {
        None
    };
    let (cpu_before, started) = (measure::cpu_time()?, Instant::now());
    let bytes = fetcher.run(&job)?;
    let (wall, cpu) = (started.elapsed(), measure::cpu_time()? - cpu_before);
    let peak_kib = measure::peak_rss_kib()?;
    let rss_kib = measure::rss_kib()?;
    if bytes != job.expected_bytes() {
        return Err(format!(
            "{client}: read {bytes} body bytes, expected {}",
            job.expected_bytes()
        )
        .into());
    }
    drop(fetcher);
    let mut out = std::io::stdout();
    writeln!(
        out,
        "result wall_us={} cpu_us={} bytes={bytes} peak_kib={peak_kib} rss_kib={rss_kib} baseline_kib={}",
        wall.as_micros(),
        cpu.as_micros(),
        baseline_kib.unwrap_or(0),
    )?;
    out.flush()?;
    Ok(())
}
