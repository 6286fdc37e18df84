//! The run: one client, one parallel scope limited to `-j N` requests in flight, and
//! `N` worker threads inside it. Each worker takes the next URL, starts its request in the
//! shared scope, waits for that request's own handle, streams the body to its
//! destination, and retries a failure (connect, timeout, broken connection, 5xx) in the
//! same scope while `--retries` allows. Every URL ends as one [`Record`].
//!
//! Why handles and not `next_response`: a response collected in completion order does
//! not say which request it answers (its URL may be a redirect's, or appear twice in the
//! list), and the CLI needs that to name the file, time the request and retry it. With a
//! worker per slot, bodies are also read in parallel instead of one after another on the
//! collecting thread.

use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use par_http::core::h1::ProtocolError;
use par_http::{Client, Error, ErrorKind, Parallel, ParallelConfig, RedirectPolicy, TimeoutPhase};

use crate::args::{BodyOutput, Options};
use crate::output::{self, BodyError, Destination};
use crate::report::Reporter;
use crate::summary::{self, Outcome, Record};

/// Stack of a worker thread: it only blocks on channels and copies through a heap buffer.
const WORKER_STACK: usize = 256 * 1024;

/// The longest pause before a retry.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Fetches every URL of `options` and prints the report; the exit code says whether all
/// succeeded (0), some failed (1), or the run could not start (2).
pub(crate) fn run(options: &Options) -> ExitCode {
    if options.insecure {
        eprintln!(
            "par-http: WARNING: --insecure: TLS certificates are NOT verified. Anyone on the \
             network path can read and change these requests and responses, credentials \
             included. Use it only against test servers."
        );
    }
    let client = match build_client(options) {
        Ok(client) => client,
        Err(err) => {
            eprintln!("par-http: {err}");
            return ExitCode::from(2);
        }
    };
    let destinations: Vec<Destination> = match &options.output {
        BodyOutput::Discard => vec![Destination::Discard; options.urls.len()],
        BodyOutput::Stdout => vec![Destination::Stdout; options.urls.len()],
        BodyOutput::Dir(dir) => {
            if let Err(err) = std::fs::create_dir_all(dir) {
                eprintln!("par-http: cannot create {}: {err}", dir.display());
                return ExitCode::from(2);
            }
            output::file_paths(dir, &options.urls)
                .into_iter()
                .map(Destination::File)
                .collect()
        }
    };
    let reporter = Reporter::new(
        options.urls.len(),
        options.output == BodyOutput::Stdout,
        !options.quiet,
        options.progress,
    );

    let started = Instant::now();
    let records = match fetch_all(&client, options, &destinations, &reporter) {
        Ok(records) => records,
        Err(err) => {
            reporter.finish(&[]);
            eprintln!("par-http: {err}");
            return ExitCode::FAILURE;
        }
    };
    let wall = started.elapsed();
    reporter.finish(&summary::summary_lines(&records, wall));
    if records.iter().all(Record::succeeded) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn build_client(options: &Options) -> par_http::Result<Client> {
    let mut builder = Client::builder().max_connections_per_host(options.jobs);
    if let Some(timeout) = options.timeout {
        builder = builder.timeout(timeout);
    }
    if let Some(token) = &options.bearer {
        builder = builder.bearer_auth(token);
    }
    if let Some((user, password)) = &options.user {
        builder = builder.basic_auth(user, password.as_deref());
    }
    if let Some(max) = options.max_redirects {
        let policy = if max == 0 {
            RedirectPolicy::none()
        } else {
            RedirectPolicy::limited(max)
        };
        builder = builder.redirect(policy);
    }
    if options.insecure {
        builder = builder.danger_accept_invalid_certs(true);
    }
    builder.build()
}

/// What the workers share.
struct Work<'a> {
    options: &'a Options,
    destinations: &'a [Destination],
    reporter: &'a Reporter,
    next: AtomicUsize,
    records: Mutex<Vec<Record>>,
}

impl Work<'_> {
    /// Takes URLs until none is left.
    fn work(&self, parallel: &Parallel<'_>) {
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            if index >= self.options.urls.len() {
                return;
            }
            let record = self.fetch(parallel, index);
            self.reporter.finished(&record);
            self.records
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(record);
        }
    }

    /// One URL, retried while it fails in a retryable way and retries are left.
    fn fetch(&self, parallel: &Parallel<'_>, index: usize) -> Record {
        let url = &self.options.urls[index];
        let destination = &self.destinations[index];
        let mut retries = 0;
        loop {
            let may_retry = retries < self.options.retries;
            let started = Instant::now();
            let attempt = self.attempt(parallel, url, destination, may_retry);
            let elapsed = started.elapsed();
            match attempt {
                Attempt::Retry => {
                    retries += 1;
                    std::thread::sleep(backoff(retries));
                }
                Attempt::Done { outcome, bytes } => {
                    let file = match (&outcome, destination) {
                        (Outcome::Response(_), Destination::File(path)) => Some(path.clone()),
                        _ => None,
                    };
                    return Record {
                        url: url.clone(),
                        outcome,
                        bytes,
                        elapsed,
                        retries,
                        file,
                    };
                }
            }
        }
    }

    /// One request: start it in the scope, wait for its handle, deliver its body.
    fn attempt(
        &self,
        parallel: &Parallel<'_>,
        url: &str,
        destination: &Destination,
        may_retry: bool,
    ) -> Attempt {
        let options = self.options;
        let mut request = parallel.request(options.method.clone(), url);
        for (name, value) in &options.headers {
            request = request.header(name.clone(), value.clone());
        }
        if let Some(body) = &options.body {
            request = request.body(body.clone());
        }
        let mut response = match request.send().get_response() {
            Ok(response) => response,
            Err(err) if may_retry && retryable(&err) => return Attempt::Retry,
            Err(err) => return Attempt::failed(None, &err),
        };
        let status = response.status();
        if status.is_server_error() && may_retry {
            // Dropped unread: its connection is closed, not pooled.
            return Attempt::Retry;
        }
        match output::deliver(&mut response, destination, &self.reporter.live().bytes) {
            Ok(bytes) => Attempt::Done {
                outcome: Outcome::Response(status),
                bytes,
            },
            Err(BodyError::Read { error, committed }) => {
                let inner = error
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<Error>());
                match inner {
                    Some(err) if may_retry && !committed && retryable(err) => Attempt::Retry,
                    Some(err) => Attempt::failed(Some(status), err),
                    None if may_retry && !committed => Attempt::Retry,
                    None => Attempt::Done {
                        outcome: Outcome::Failed {
                            status: Some(status),
                            kind: "body",
                            message: format!("error reading the response body: {error}"),
                        },
                        bytes: 0,
                    },
                }
            }
            Err(BodyError::Write(error)) => {
                let target = match destination {
                    Destination::File(path) => path.display().to_string(),
                    _ => "stdout".to_owned(),
                };
                Attempt::Done {
                    outcome: Outcome::Failed {
                        status: Some(status),
                        kind: "write",
                        message: format!("cannot write {target}: {error}"),
                    },
                    bytes: 0,
                }
            }
        }
    }
}

/// How one attempt ended.
enum Attempt {
    Retry,
    Done { outcome: Outcome, bytes: u64 },
}

impl Attempt {
    fn failed(status: Option<par_http::StatusCode>, err: &Error) -> Self {
        Self::Done {
            outcome: Outcome::Failed {
                status,
                kind: kind_name(err),
                message: message(err),
            },
            bytes: 0,
        }
    }
}

/// Fetches every URL with `jobs` workers in one scope of `client`.
fn fetch_all(
    client: &Client,
    options: &Options,
    destinations: &[Destination],
    reporter: &Reporter,
) -> par_http::Result<Vec<Record>> {
    let work = Work {
        options,
        destinations,
        reporter,
        next: AtomicUsize::new(0),
        records: Mutex::new(Vec::with_capacity(options.urls.len())),
    };
    let workers = options.jobs.min(options.urls.len());
    let config = ParallelConfig::new().max_in_flight(options.jobs);
    client.parallel_with(config, |parallel| {
        std::thread::scope(|threads| {
            let mut started = 0;
            for n in 0..workers {
                let spawned = std::thread::Builder::new()
                    .name(format!("par-http-worker-{n}"))
                    .stack_size(WORKER_STACK)
                    .spawn_scoped(threads, || work.work(parallel));
                if spawned.is_err() {
                    break;
                }
                started += 1;
            }
            if started == 0 {
                // No thread could be started: fetch on this one, one URL at a time.
                work.work(parallel);
            }
        });
        Ok(())
    })?;
    Ok(work
        .records
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner()))
}

/// Connect failures, timeouts (but the scope's deadline) and broken connections: an IO
/// error, or a connection closed before or during the response.
fn retryable(err: &Error) -> bool {
    match err.kind() {
        ErrorKind::Connect | ErrorKind::Io | ErrorKind::Body => true,
        ErrorKind::Timeout(phase) => *phase != TimeoutPhase::ScopeDeadline,
        ErrorKind::Protocol => matches!(
            err.protocol_error(),
            Some(
                ProtocolError::ClosedBeforeResponse
                    | ProtocolError::TruncatedHead
                    | ProtocolError::TruncatedBody
            )
        ),
        _ => false,
    }
}

/// The pause before retry number `n` (from 1): 100 ms, doubling, at most [`MAX_BACKOFF`].
fn backoff(n: u32) -> Duration {
    let exponent = n.saturating_sub(1).min(10);
    (Duration::from_millis(100) * 2u32.pow(exponent)).min(MAX_BACKOFF)
}

/// The short name an error is counted under in the summary.
fn kind_name(err: &Error) -> &'static str {
    match err.kind() {
        ErrorKind::Connect => "connect",
        ErrorKind::Timeout(_) => "timeout",
        ErrorKind::Io => "io",
        ErrorKind::Body => "body",
        ErrorKind::Protocol => "protocol",
        ErrorKind::Limit => "limit",
        ErrorKind::Tls | ErrorKind::TlsConfig => "tls",
        ErrorKind::InvalidUrl => "invalid-url",
        ErrorKind::InvalidRequest => "invalid-request",
        ErrorKind::Redirect => "redirect",
        ErrorKind::Decompress => "decompress",
        _ => "other",
    }
}

/// The error's text without the ` (METHOD URL)` it ends with: the line shows the URL.
fn message(err: &Error) -> String {
    let text = err.to_string();
    let suffix = match (err.method(), err.url()) {
        (Some(method), Some(url)) => format!(" ({method} {url})"),
        (None, Some(url)) => format!(" ({url})"),
        _ => return text,
    };
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(2), Duration::from_millis(200));
        assert_eq!(backoff(5), Duration::from_millis(1600));
        assert_eq!(backoff(6), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn what_is_retried() {
        assert!(retryable(&Error::new(ErrorKind::Connect)));
        assert!(retryable(&Error::new(ErrorKind::Timeout(
            TimeoutPhase::Head
        ))));
        assert!(!retryable(&Error::new(ErrorKind::Timeout(
            TimeoutPhase::ScopeDeadline
        ))));
        assert!(!retryable(&Error::new(ErrorKind::InvalidUrl)));
        let closed =
            Error::new(ErrorKind::Protocol).with_source(ProtocolError::ClosedBeforeResponse);
        assert!(retryable(&closed));
        assert!(!retryable(&Error::new(ErrorKind::Protocol)));
        assert!(!retryable(&Error::new(ErrorKind::Tls)));
    }

    #[test]
    fn messages_drop_the_request_name() {
        let err = Error::new(ErrorKind::Connect)
            .with_request(&par_http::Method::GET, "http://127.0.0.1:1/");
        assert_eq!(message(&err), "connection failed");
        assert_eq!(kind_name(&err), "connect");
    }
}
