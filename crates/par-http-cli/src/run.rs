//! The run: one client, one parallel scope, and one thread (the one inside the scope's
//! closure) that starts every request and collects every outcome.
//!
//! The collecting thread keeps at most `-j N` requests open, a request being open from
//! its start until its body is delivered or it failed, so that the time of a URL (from
//! its start to the end of its body) never includes a wait for a free slot; the scope's
//! own `max_in_flight(N)` is the same limit, kept as a guarantee. Each request is tagged
//! with its URL's position in the list ([`Tag`]), so an outcome taken with
//! `next_response` in completion order names its URL, its start time and its file,
//! whatever its final URL (a redirect) or however often the URL is listed.
//!
//! Retries are the library's: the client carries the [`RetryPolicy`] that `--retries`,
//! `--retry-delay` and `--retry-max-time` make ([`retry_policy`]), so a request's outcome
//! comes once its last attempt is done, and says how many attempts it took. With
//! `--fail`, a 4xx or 5xx response ends its URL as [`Outcome::Rejected`], its body unread.
//!
//! Bodies are delivered (discarded, saved, written to stdout) where they cannot hold up
//! the run. A body the scope has surely read into memory already (a `Content-Length` up
//! to [`BODY_IN_MEMORY`]; the scope's budget is sized to cover every slot) is delivered
//! by the collecting thread itself: no hand-over, and measured clearly faster on many
//! small bodies. Any other body (longer, chunked, decompressed, or going to stdout, whose
//! lock a long body may hold) goes to a writer thread through a channel: it streams from
//! its connection while it is written, and a slow one must hold up neither the other
//! bodies nor the collecting thread. Writers are spawned when every writer is busy, up
//! to one per slot. A writer makes the URL's [`Record`] and prints its line, then hands
//! the record back through a second channel. That channel cannot wake the
//! collecting thread while it waits for the scope, so while writers hold slots that work
//! is waiting for, it waits for the scope at most [`SLOT_POLL`] at a time and then looks
//! at the channel; with nothing in the scope to collect, it waits on the channel itself.
//!
//! With `--stdout`, each body is buffered by its writer (up to 8 MiB) and written whole
//! under the stdout lock, as [`output::deliver`] describes: bodies arrive in the order
//! they finish, never interleaved. With `-o`, each is written under a temporary name
//! and renamed when whole. Every URL ends as one [`Record`].
//!
//! Ctrl-C ends the process from the handler's thread ([`on_interrupt`]): the temporary
//! files go, the requests in flight are dropped with the process, and the exit status
//! is 130.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use par_http::{
    Client, Error, ErrorKind, Jar, NoProxy, Parallel, ParallelConfig, ProgressEvent, Proxy,
    RedirectPolicy, Response, RetryPolicy, StatusCode, Url,
};

use crate::args::{BodyOutput, HttpVersion, Options};
use crate::output::{self, BodyError, Destination};
use crate::report::Reporter;
use crate::summary::{self, Outcome, Record};

/// Stack of a writer thread: it only blocks on channels and copies through a heap buffer.
const WRITER_STACK: usize = 256 * 1024;

/// The first pause before a retry (`--retries`), doubled at each one up to
/// [`MAX_BACKOFF`]; each pause is drawn at random below its bound.
const BASE_BACKOFF: Duration = Duration::from_millis(100);

/// The longest pause before a retry, unless `--retry-delay` says otherwise.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The statuses `--retries` tries again: curl's "transient" HTTP errors.
const RETRIED_STATUSES: [u16; 6] = [408, 429, 500, 502, 503, 504];

/// The part of each body the scope reads into memory before the response is delivered
/// (the library's default, named here because the run relies on it).
const BODY_IN_MEMORY: usize = 1024 * 1024;

/// The least memory the scope may give to bodies read and not yet collected (the
/// library's default); the run asks for [`BODY_IN_MEMORY`] per slot if that is more, so
/// that a body of up to [`BODY_IN_MEMORY`] always arrives read.
const BODY_BUDGET: usize = 64 * 1024 * 1024;

/// How long the collecting thread waits for the scope at a time while a writer holds a
/// slot that work is waiting for: a writer's end cannot wake it.
const SLOT_POLL: Duration = Duration::from_millis(1);

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
    let jar = match cookie_jar(options) {
        Ok(jar) => jar,
        Err(err) => {
            eprintln!("par-http: {err}");
            return ExitCode::from(2);
        }
    };
    let client = match build_client(options, jar.clone()) {
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

    on_interrupt(reporter.bar());

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
    if let (Some(jar), Some(path)) = (&jar, &options.cookie_jar) {
        if let Err(err) = save_cookies(jar, path) {
            eprintln!(
                "par-http: cannot write cookies to {}: {err}",
                path.display()
            );
            return ExitCode::FAILURE;
        }
    }
    if records.iter().all(Record::succeeded) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Ctrl-C ends the run at once, from the handler's thread: the temporary files are
/// removed (and no other is made or renamed from then on, see [`output::interrupt`]),
/// the bar is left as it stands, and the process exits with 130 (128 + SIGINT), as a
/// shell reports a command killed by Ctrl-C. The scope is not unwound: the exit drops
/// every request in flight at once, and the system closes their connections, where an
/// orderly end would first wait for the body reads of the writer threads under way.
fn on_interrupt(bar: Option<indicatif::ProgressBar>) {
    let handler = move || {
        output::interrupt();
        if let Some(bar) = &bar {
            bar.abandon();
        }
        let newline = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            "\n"
        } else {
            ""
        };
        eprintln!("{newline}par-http: interrupted");
        std::process::exit(130);
    };
    if let Err(err) = ctrlc::set_handler(handler) {
        eprintln!("par-http: cannot handle Ctrl-C: {err}");
    }
}

/// The cookie jar of the run, when `-b` or `-c` asks for one: the files of `-b` and `-c`
/// read (a missing `-c` file is a fresh start), then each `-b NAME=VALUE` set for the
/// host of every URL.
fn cookie_jar(options: &Options) -> Result<Option<Arc<Jar>>, String> {
    if options.cookies.is_empty() && options.cookie_files.is_empty() && options.cookie_jar.is_none()
    {
        return Ok(None);
    }
    let mut files: Vec<&Path> = options.cookie_files.iter().map(PathBuf::as_path).collect();
    if let Some(path) = &options.cookie_jar {
        if path.exists() {
            files.push(path);
        }
    }
    let jar = Jar::new();
    for path in files {
        let file = std::fs::File::open(path)
            .map_err(|err| format!("cannot read cookies from {}: {err}", path.display()))?;
        let loaded = Jar::load_json(std::io::BufReader::new(file))
            .map_err(|err| format!("cannot read cookies from {}: {err}", path.display()))?;
        loaded.with_store(|from| {
            jar.with_store_mut(|to| {
                for cookie in from.iter_unexpired() {
                    if let Ok(url) = cookie_url(cookie) {
                        let _ = to.insert(cookie.clone(), &url);
                    }
                }
            });
        });
    }
    for url in &options.urls {
        let Ok(mut url) = Url::parse(url) else {
            continue;
        };
        url.set_path("/");
        for cookie in &options.cookies {
            jar.add_cookie_str(&format!("{cookie}; Path=/"), &url);
        }
    }
    Ok(Some(Arc::new(jar)))
}

/// A URL a stored cookie may be inserted for again (its domain and path).
fn cookie_url(cookie: &par_http::cookie_store::Cookie<'_>) -> Result<Url, ()> {
    let domain = cookie.domain.as_cow().ok_or(())?;
    let domain = domain.trim_start_matches('.');
    let scheme = if cookie.secure().unwrap_or(false) {
        "https"
    } else {
        "http"
    };
    // The cookie keeps its own path: the URL only has to match its domain.
    Url::parse(&format!("{scheme}://{domain}/")).map_err(|_| ())
}

/// Writes every cookie of `jar` (session cookies included, as curl's `-c` does) to `path`.
fn save_cookies(jar: &Jar, path: &Path) -> Result<(), String> {
    let mut out = Vec::new();
    jar.save_all_json(&mut out).map_err(|err| err.to_string())?;
    std::fs::write(path, out).map_err(|err| err.to_string())
}

fn build_client(options: &Options, jar: Option<Arc<Jar>>) -> par_http::Result<Client> {
    let mut builder = Client::builder().max_connections_per_host(options.jobs);
    let no_proxy = options.noproxy.as_deref().map(NoProxy::from_list);
    match (&options.proxy, &options.noproxy) {
        (Some(proxy), _) => {
            let mut proxy = Proxy::all(proxy)?;
            if let Some(no_proxy) = no_proxy {
                proxy = proxy.no_proxy(no_proxy);
            }
            builder = builder.proxy(proxy);
        }
        (None, Some(list)) => {
            // The environment's proxies, with this list in place of NO_PROXY.
            let rules = Proxy::from_env_with(|name| match name {
                "no_proxy" | "NO_PROXY" => Some(list.clone()),
                _ => std::env::var(name).ok(),
            });
            builder = builder.no_proxy();
            for rule in rules {
                builder = builder.proxy(rule);
            }
        }
        (None, None) => {}
    }
    if let Some(jar) = jar {
        builder = builder.cookie_provider(jar);
    }
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
    builder = builder.retry(retry_policy(options));
    builder = match options.http {
        HttpVersion::Negotiate => builder,
        HttpVersion::Http1Only => builder.http1_only(),
        HttpVersion::Http2PriorKnowledge => builder.http2_prior_knowledge(),
    };
    builder.build()
}

/// The retry policy of `options`: `--retries N` makes N+1 attempts in all, for connect
/// errors, timeouts before any response byte, connections closed before any answer and
/// [`RETRIED_STATUSES`], whatever the method (as curl does); the pauses are the
/// library's exponential backoff with full jitter from [`BASE_BACKOFF`] up to
/// [`MAX_BACKOFF`], or `--retry-delay` exactly; `--retry-max-time` bounds when a retry
/// may start. The client's retry budget stays the library's default.
fn retry_policy(options: &Options) -> RetryPolicy {
    if options.retries == 0 {
        return RetryPolicy::none();
    }
    let mut policy = RetryPolicy::new()
        .max_attempts(options.retries.saturating_add(1))
        .statuses(RETRIED_STATUSES)
        .closed_connections(true)
        .non_idempotent(true)
        .backoff(BASE_BACKOFF, MAX_BACKOFF);
    if let Some(delay) = options.retry_delay {
        policy = policy.backoff(delay, delay).jitter(false);
    }
    if let Some(limit) = options.retry_max_time {
        policy = policy.max_retry_time(limit);
    }
    policy
}

/// The tag of every request: which URL of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tag {
    url: usize,
}

/// How a URL's request ended: its outcome and the body bytes delivered.
struct Attempt {
    outcome: Outcome,
    bytes: u64,
}

impl Attempt {
    fn failed(status: Option<StatusCode>, err: &Error) -> Self {
        Self {
            outcome: Outcome::Failed {
                status,
                kind: kind_name(err),
                message: message(err),
            },
            bytes: 0,
        }
    }
}

/// A response whose body is to be delivered, with what its record needs.
struct Delivery<'a> {
    tag: Tag,
    url: &'a str,
    destination: &'a Destination,
    response: Response,
    started: Instant,
    /// Attempts after the first, made by the retry policy.
    retries: u32,
}

/// How a delivery ended, sent back to the collecting thread.
enum Delivered {
    /// The URL is done; its line is printed.
    Done(Record),
    /// The writer panicked while delivering it.
    Lost(Tag),
}

impl Delivery<'_> {
    /// Delivers the body, makes the record and prints its line.
    fn run(mut self, reporter: &Reporter) -> Delivered {
        let Attempt { outcome, bytes } = deliver(&mut self.response, self.destination);
        let record = record(
            self.url,
            self.destination,
            outcome,
            bytes,
            self.started.elapsed(),
            self.retries,
        );
        reporter.finished(&record);
        Delivered::Done(record)
    }
}

/// Reads `response`'s body into `destination` and says how the request ended.
fn deliver(response: &mut Response, destination: &Destination) -> Attempt {
    let status = response.status();
    match output::deliver(response, destination) {
        Ok(bytes) => Attempt {
            outcome: Outcome::Response(status),
            bytes,
        },
        Err(BodyError::Read(error)) => {
            let inner = error
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<Error>());
            match inner {
                Some(err) => Attempt::failed(Some(status), err),
                None => Attempt {
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
            Attempt {
                outcome: Outcome::Failed {
                    status: Some(status),
                    kind: "write",
                    message: format!("cannot write {target}: {error}"),
                },
                bytes: 0,
            }
        }
        Err(BodyError::Interrupted) => Attempt {
            outcome: Outcome::Failed {
                status: Some(status),
                kind: "interrupted",
                message: "interrupted".to_owned(),
            },
            bytes: 0,
        },
    }
}

/// The record of a URL whose last attempt (after `retries` others) ended with `outcome`.
fn record(
    url: &str,
    destination: &Destination,
    outcome: Outcome,
    bytes: u64,
    elapsed: Duration,
    retries: u32,
) -> Record {
    let file = match (&outcome, destination) {
        (Outcome::Response(_), Destination::File(path)) => Some(path.clone()),
        _ => None,
    };
    Record {
        url: url.to_owned(),
        outcome,
        bytes,
        elapsed,
        retries,
        file,
    }
}

/// A writer thread: delivers bodies until the collecting thread closes the channel.
fn write_bodies(
    deliveries: &Mutex<Receiver<Delivery<'_>>>,
    delivered: &Sender<Delivered>,
    reporter: &Reporter,
) {
    loop {
        let delivery = deliveries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        let Ok(delivery) = delivery else { return };
        let mut lost = Lost {
            delivered,
            tag: Some(delivery.tag),
        };
        let done = delivery.run(reporter);
        lost.tag = None;
        if delivered.send(done).is_err() {
            return;
        }
    }
}

/// Tells the collecting thread about a delivery whose writer panicked, so that it does
/// not wait for it forever (the panic then ends the run when the threads are joined).
struct Lost<'a> {
    delivered: &'a Sender<Delivered>,
    tag: Option<Tag>,
}

impl Drop for Lost<'_> {
    fn drop(&mut self) {
        if let Some(tag) = self.tag.take() {
            let _ = self.delivered.send(Delivered::Lost(tag));
        }
    }
}

/// The writer threads, spawned as deliveries need them.
struct Writers<'scope, 'env, 'a> {
    threads: &'scope thread::Scope<'scope, 'env>,
    deliveries: Sender<Delivery<'a>>,
    queue: &'env Mutex<Receiver<Delivery<'a>>>,
    delivered: &'env Sender<Delivered>,
    reporter: &'env Reporter,
    spawned: usize,
    max: usize,
}

impl<'a> Writers<'_, '_, 'a> {
    /// Hands `delivery` to a writer, `busy` being the deliveries not yet done before it;
    /// gives it back if no writer runs nor can be started.
    fn send(&mut self, delivery: Delivery<'a>, busy: usize) -> Option<Delivery<'a>> {
        if busy >= self.spawned && self.spawned < self.max {
            let (queue, delivered, reporter) = (self.queue, self.delivered, self.reporter);
            let spawned = thread::Builder::new()
                .name(format!("par-http-writer-{}", self.spawned))
                .stack_size(WRITER_STACK)
                .spawn_scoped(self.threads, move || {
                    write_bodies(queue, delivered, reporter);
                });
            if spawned.is_ok() {
                self.spawned += 1;
            }
        }
        if self.spawned == 0 {
            return Some(delivery);
        }
        self.deliveries.send(delivery).err().map(|err| err.0)
    }
}

/// The collecting thread's state.
struct Collector<'a> {
    options: &'a Options,
    destinations: &'a [Destination],
    reporter: &'a Reporter,
    /// Per URL: the start of its request waiting in the scope, if one is.
    requested: Vec<Option<Instant>>,
    /// The next URL never started.
    fresh: usize,
    /// Requests started whose outcome the scope has not given yet.
    uncollected: usize,
    /// Bodies handed to a writer and not yet delivered.
    delivering: usize,
    records: Vec<Record>,
}

impl<'a> Collector<'a> {
    fn new(options: &'a Options, destinations: &'a [Destination], reporter: &'a Reporter) -> Self {
        Self {
            options,
            destinations,
            reporter,
            requested: vec![None; options.urls.len()],
            fresh: 0,
            uncollected: 0,
            delivering: 0,
            records: Vec::with_capacity(options.urls.len()),
        }
    }

    /// Requests started and not yet ended.
    fn open(&self) -> usize {
        self.uncollected + self.delivering
    }

    /// Runs every URL to its end.
    fn run(
        &mut self,
        parallel: &Parallel<'_>,
        writers: &mut Writers<'_, '_, 'a>,
        delivered: &Receiver<Delivered>,
    ) {
        loop {
            while let Ok(done) = delivered.try_recv() {
                self.delivered(done);
            }
            self.start_fresh(parallel);
            let waiting = self.fresh < self.options.urls.len();
            if !waiting && self.open() == 0 {
                return;
            }
            // URLs wait for a slot (all are taken, or `start_fresh` would have used it):
            // a writer's end frees one too, and cannot wake a wait for the scope.
            let wake = (waiting && self.delivering > 0).then_some(SLOT_POLL);
            if self.uncollected > 0 {
                let outcome = match wake {
                    Some(wait) => parallel.next_response_timeout(wait),
                    None => Some(parallel.next_response()),
                };
                if let Some(outcome) = outcome {
                    self.collected(outcome, writers);
                }
            } else {
                // Nothing in the scope: wait for a writer.
                match delivered.recv() {
                    Ok(done) => self.delivered(done),
                    // Unreachable (`writers` holds a sender): end instead of spinning.
                    Err(_) => return,
                }
            }
        }
    }

    /// Starts fresh URLs while slots are free.
    fn start_fresh(&mut self, parallel: &Parallel<'_>) {
        while self.open() < self.options.jobs && self.fresh < self.options.urls.len() {
            self.fresh += 1;
            self.start(
                parallel,
                Tag {
                    url: self.fresh - 1,
                },
            );
        }
    }

    /// Starts one request; its outcome comes from `next_response`.
    fn start(&mut self, parallel: &Parallel<'_>, tag: Tag) {
        let options = self.options;
        let mut request = parallel.request(options.method.clone(), options.urls[tag.url].as_str());
        for (name, value) in &options.headers {
            request = request.header(name.clone(), value.clone());
        }
        if let Some(body) = &options.body {
            request = request.body(body.clone());
        }
        self.requested[tag.url] = Some(Instant::now());
        self.uncollected += 1;
        // The handle is not needed: dropping it leaves the outcome to `next_response`.
        drop(request.tag(tag).send());
    }

    /// Takes an outcome from the scope: a failure, a response `--fail` rejects, or a
    /// body to deliver.
    fn collected(
        &mut self,
        outcome: par_http::Result<Response>,
        writers: &mut Writers<'_, '_, 'a>,
    ) {
        let tag = match &outcome {
            Ok(response) => response.tag::<Tag>().copied(),
            Err(err) => err.tag::<Tag>().copied(),
        };
        let started = tag.and_then(|tag| self.requested.get(tag.url).copied().flatten());
        let (Some(tag), Some(started)) = (tag, started) else {
            if let Err(err) = &outcome {
                if err.is_no_pending() {
                    self.lost(err);
                }
            }
            return; // not one of ours: cannot happen
        };
        self.requested[tag.url] = None;
        self.uncollected -= 1;
        let response = match outcome {
            Ok(response) => response,
            Err(err) => {
                let retries = err.attempts().saturating_sub(1);
                return self.settle(tag, Attempt::failed(None, &err), started, retries);
            }
        };
        let retries = response.attempts().saturating_sub(1);
        let status = response.status();
        if self.options.fail && (status.is_client_error() || status.is_server_error()) {
            // Dropped unread: a body not read to its end closes its connection.
            drop(response);
            let attempt = Attempt {
                outcome: Outcome::Rejected(status),
                bytes: 0,
            };
            return self.settle(tag, attempt, started, retries);
        }
        let delivery = Delivery {
            tag,
            url: &self.options.urls[tag.url],
            destination: &self.destinations[tag.url],
            response,
            started,
            retries,
        };
        self.delivering += 1;
        if is_in_memory(&delivery) {
            let done = delivery.run(self.reporter);
            self.delivered(done);
            return;
        }
        if let Some(delivery) = writers.send(delivery, self.delivering - 1) {
            // No writer thread could be started: deliver here.
            let done = delivery.run(self.reporter);
            self.delivered(done);
        }
    }

    /// A writer's report.
    fn delivered(&mut self, done: Delivered) {
        self.delivering -= 1;
        match done {
            Delivered::Done(record) => self.records.push(record),
            Delivered::Lost(tag) => {
                let outcome = Outcome::Failed {
                    status: None,
                    kind: "other",
                    message: "the thread writing the body panicked".to_owned(),
                };
                let attempt = Attempt { outcome, bytes: 0 };
                self.settle(tag, attempt, Instant::now(), 0);
            }
        }
    }

    /// Ends `tag`'s URL with `attempt`, made after `retries` others, and prints its line.
    fn settle(&mut self, tag: Tag, attempt: Attempt, started: Instant, retries: u32) {
        let record = record(
            &self.options.urls[tag.url],
            &self.destinations[tag.url],
            attempt.outcome,
            attempt.bytes,
            started.elapsed(),
            retries,
        );
        self.reporter.finished(&record);
        self.records.push(record);
    }

    /// The scope has nothing left while requests wait for it (cannot happen): they fail
    /// with its error rather than wait forever.
    fn lost(&mut self, err: &Error) {
        for url in 0..self.requested.len() {
            if let Some(started) = self.requested[url].take() {
                self.uncollected -= 1;
                self.settle(Tag { url }, Attempt::failed(None, err), started, 0);
            }
        }
    }
}

/// Fetches every URL in one scope of `client`, at most `jobs` at a time.
fn fetch_all(
    client: &Client,
    options: &Options,
    destinations: &[Destination],
    reporter: &Reporter,
) -> par_http::Result<Vec<Record>> {
    let (deliveries, queue) = mpsc::channel();
    let queue = Mutex::new(queue);
    let (delivered_tx, delivered) = mpsc::channel();
    let mut collector = Collector::new(options, destinations, reporter);
    // The bar counts body bytes as the scope receives them, from its progress events.
    let live = reporter.live().clone();
    let config = ParallelConfig::new()
        .on_progress(move |progress| {
            if let ProgressEvent::Body { chunk, .. } = progress.event {
                live.bytes.fetch_add(chunk, Ordering::Relaxed);
            }
        })
        .max_in_flight(options.jobs)
        .max_body_in_memory(BODY_IN_MEMORY)
        .body_budget(options.jobs.saturating_mul(BODY_IN_MEMORY).max(BODY_BUDGET));
    client.parallel_with(config, |parallel| {
        thread::scope(|threads| {
            let mut writers = Writers {
                threads,
                deliveries,
                queue: &queue,
                delivered: &delivered_tx,
                reporter,
                spawned: 0,
                max: options.jobs.min(options.urls.len()),
            };
            collector.run(parallel, &mut writers, &delivered);
            // Dropping `writers` closes the channel: the writers end and are joined.
        });
        Ok(())
    })?;
    Ok(collector.records)
}

/// True when `delivery`'s body is sure to be in memory already (its length is within
/// what the scope reads before delivering, and the scope's budget covers every slot),
/// so that delivering it cannot wait for the network; not for stdout, whose lock a
/// writer may hold while a long body streams.
fn is_in_memory(delivery: &Delivery<'_>) -> bool {
    !matches!(delivery.destination, Destination::Stdout)
        && delivery
            .response
            .content_length()
            .is_some_and(|length| length <= BODY_IN_MEMORY as u64)
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

    fn options(args: &[&str]) -> Options {
        match crate::args::parse(args.iter().copied(), &mut std::io::empty()) {
            Ok(crate::args::Command::Run(options)) => *options,
            other => panic!("not a run: {other:?}"),
        }
    }

    #[test]
    fn the_retry_policy_follows_the_options() {
        let url = "http://a.test/";
        assert_eq!(retry_policy(&options(&[url])), RetryPolicy::none());
        let policy = retry_policy(&options(&["--retries", "3", url]));
        assert_eq!(policy.attempts(), 4);
        assert_eq!(
            policy,
            RetryPolicy::new()
                .max_attempts(4)
                .statuses(RETRIED_STATUSES)
                .closed_connections(true)
                .non_idempotent(true)
                .backoff(BASE_BACKOFF, MAX_BACKOFF)
        );
        let policy = retry_policy(&options(&[
            "--retries",
            "2",
            "--retry-delay",
            "0.25",
            "--retry-max-time",
            "9",
            url,
        ]));
        let quarter = Duration::from_millis(250);
        assert_eq!(
            policy,
            RetryPolicy::new()
                .max_attempts(3)
                .statuses(RETRIED_STATUSES)
                .closed_connections(true)
                .non_idempotent(true)
                .backoff(quarter, quarter)
                .jitter(false)
                .max_retry_time(Duration::from_secs(9))
        );
        // Without --retries, the delay options change nothing.
        let policy = retry_policy(&options(&["--retry-delay", "1", url]));
        assert_eq!(policy, RetryPolicy::none());
    }

    #[test]
    fn messages_drop_the_request_name() {
        let err = Error::new(ErrorKind::Connect)
            .with_request(&par_http::Method::GET, "http://127.0.0.1:1/");
        assert_eq!(message(&err), "connection failed");
        assert_eq!(kind_name(&err), "connect");
    }
}
