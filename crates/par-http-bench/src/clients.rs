//! The clients under test, each driving one [`Job`] (N GETs of one URL, at most C at
//! once, every body read to its end in pieces and thrown away) the way its users would.
//!
//! - par-http, blocking: one thread in `Client::parallel_with`, C requests started, then,
//!   while the scope has pending responses, each `next_response` read to its end on that
//!   thread and replaced by a new request;
//! - par-http, async: the same with `AsyncParallel` on smol, on a tokio current-thread
//!   runtime and on a tokio multi-thread runtime;
//! - reqwest and hyper-util's legacy client, each request a future under
//!   `buffer_unordered(C)`, each on a tokio multi-thread runtime (`-mt`, what
//!   `#[tokio::main]` gives) and on a current-thread one (`-ct`, often the faster on two
//!   cores with the server on one of them);
//!
//! Every tokio client's job is the future of the runtime's `block_on` on the main thread,
//! as in a `#[tokio::main]` program (par-http's `AsyncParallel` is not `Sync`, so a
//! future that awaits its requests is not `Send` and cannot be `tokio::spawn`ed).
//! - ureq on C threads;
//! - par-http's one-off requests (`Client::get(url).send()`, no scope) on C threads
//!   sharing one client: at C = 1, a loop that sends one request after the other. Not in
//!   the table unless asked for (`--clients`); the instruction-count guard measures it.
//!
//! The peers are built with the `peers` feature (the default); without it, only
//! par-http's clients are (what the guard in `.ci/run` builds).
//!
//! Every client is allowed at least C connections to the host and keeps them all idle
//! between requests, so none pays for new connections the others do not.

use std::fmt;
use std::io::Read;
use std::str::FromStr;
#[cfg(feature = "peers")]
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

#[cfg(feature = "peers")]
use bytes::Bytes;
use futures_lite::AsyncReadExt;
use futures_util::{StreamExt, TryStreamExt};
#[cfg(feature = "peers")]
use http_body_util::{BodyExt, Empty};
use par_http::{AsyncClientOn, AsyncRuntime, ParallelConfig};

use crate::BoxError;

/// One batch of work: `n` GETs of `urls` (in turn: the same path on several ports of the
/// server, for more connections than one port has ephemeral ports for), at most `c` in
/// flight, each body `body_len` bytes long.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) urls: Vec<String>,
    pub(crate) n: usize,
    pub(crate) c: usize,
    pub(crate) body_len: u64,
}

impl Job {
    /// The URL of the job's `i`th request.
    pub(crate) fn url(&self, i: usize) -> &str {
        match self.urls.as_slice() {
            [one] => one,
            urls => &urls[i % urls.len()],
        }
    }

    /// The bytes every response of the job should have had, all together.
    pub(crate) fn expected_bytes(&self) -> u64 {
        self.body_len * self.n as u64
    }

    /// A read buffer for one body: the body's size (small bodies) up to 64 KiB.
    fn buffer(&self) -> Vec<u8> {
        let len = usize::try_from(self.body_len).unwrap_or(usize::MAX);
        vec![0; len.clamp(64, 64 * 1024)]
    }
}

/// The clients, in the order of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ClientName {
    ParBlocking,
    ParBlockingTokio,
    ParSmol,
    ParTokioCt,
    ParTokioMt,
    ParOneOff,
    ReqwestMt,
    ReqwestCt,
    HyperUtilMt,
    HyperUtilCt,
    Ureq,
}

impl ClientName {
    /// Every client, in the order of the table.
    pub(crate) const ALL: [Self; 11] = [
        Self::ParBlocking,
        Self::ParBlockingTokio,
        Self::ParSmol,
        Self::ParTokioCt,
        Self::ParTokioMt,
        Self::ParOneOff,
        Self::ReqwestMt,
        Self::ReqwestCt,
        Self::HyperUtilMt,
        Self::HyperUtilCt,
        Self::Ureq,
    ];

    /// The name on the command line.
    pub(crate) fn id(self) -> &'static str {
        match self {
            Self::ParBlocking => "par-http-blocking",
            Self::ParBlockingTokio => "par-http-blocking-tokio",
            Self::ParSmol => "par-http-smol",
            Self::ParTokioCt => "par-http-tokio-ct",
            Self::ParTokioMt => "par-http-tokio-mt",
            Self::ParOneOff => "par-http-oneoff",
            Self::ReqwestMt => "reqwest-mt",
            Self::ReqwestCt => "reqwest-ct",
            Self::HyperUtilMt => "hyper-util-mt",
            Self::HyperUtilCt => "hyper-util-ct",
            Self::Ureq => "ureq",
        }
    }

    /// The column heading in the table.
    pub(crate) fn heading(self) -> &'static str {
        match self {
            Self::ParBlocking => "par-http blocking",
            Self::ParBlockingTokio => "par-http blocking (tokio)",
            Self::ParSmol => "par-http smol",
            Self::ParTokioCt => "par-http tokio-ct",
            Self::ParTokioMt => "par-http tokio-mt",
            Self::ParOneOff => "par-http one-off",
            Self::ReqwestMt => "reqwest mt",
            Self::ReqwestCt => "reqwest ct",
            Self::HyperUtilMt => "hyper-util mt",
            Self::HyperUtilCt => "hyper-util ct",
            Self::Ureq => "ureq",
        }
    }

    /// True for the two variants of hyper-util's legacy client.
    pub(crate) fn is_hyper_util(self) -> bool {
        matches!(self, Self::HyperUtilMt | Self::HyperUtilCt)
    }

    /// True for par-http's own clients.
    pub(crate) fn is_par_http(self) -> bool {
        matches!(
            self,
            Self::ParBlocking
                | Self::ParBlockingTokio
                | Self::ParSmol
                | Self::ParTokioCt
                | Self::ParTokioMt
                | Self::ParOneOff
        )
    }

    /// The clients the runner measures unless `--clients` says otherwise: every one this
    /// build has, but the one-off requests (sequential: asked for by name).
    pub(crate) fn defaults() -> Vec<Self> {
        Self::ALL
            .into_iter()
            .filter(|name| *name != Self::ParOneOff && name.is_built())
            .collect()
    }

    /// False for the peers in a build without the `peers` feature.
    pub(crate) fn is_built(self) -> bool {
        cfg!(feature = "peers") || self.is_par_http()
    }
}

impl fmt::Display for ClientName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for ClientName {
    type Err = BoxError;

    fn from_str(s: &str) -> Result<Self, BoxError> {
        Self::ALL
            .into_iter()
            .find(|name| name.id() == s)
            .ok_or_else(|| format!("unknown client `{s}`").into())
    }
}

/// A client ready to run jobs.
pub(crate) trait Fetcher {
    /// Runs `job` and returns the body bytes read, all responses together.
    fn run(&mut self, job: &Job) -> Result<u64, BoxError>;
}

/// Builds client `name`, allowed `max_connections` connections to the host (at least).
pub(crate) fn make(name: ClientName, max_connections: usize) -> Result<Box<dyn Fetcher>, BoxError> {
    let max = max_connections.max(100);
    Ok(match name {
        ClientName::ParBlocking => Box::new(ParBlocking {
            client: par_http::Client::builder()
                .max_connections_per_host(max)
                .max_idle_per_host(max)
                .build()?,
        }),
        ClientName::ParBlockingTokio => Box::new(ParBlocking {
            client: par_http::Client::builder()
                .executor(par_http::Executor::Tokio)
                .max_connections_per_host(max)
                .max_idle_per_host(max)
                .build()?,
        }),
        ClientName::ParSmol => Box::new(ParSmol {
            client: par_http::smol::AsyncClient::builder()
                .max_connections_per_host(max)
                .max_idle_per_host(max)
                .build()?,
        }),
        ClientName::ParTokioCt | ClientName::ParTokioMt => {
            let runtime = tokio_runtime(name == ClientName::ParTokioMt)?;
            // Made inside the runtime: its requests are spawned onto it.
            let client = {
                let _inside = runtime.enter();
                par_http::tokio::AsyncClient::builder()
                    .max_connections_per_host(max)
                    .max_idle_per_host(max)
                    .build()?
            };
            Box::new(ParTokio { runtime, client })
        }
        ClientName::ParOneOff => Box::new(ParOneOff {
            client: par_http::Client::builder()
                .max_connections_per_host(max)
                .max_idle_per_host(max)
                .build()?,
        }),
        #[cfg(feature = "peers")]
        ClientName::ReqwestMt | ClientName::ReqwestCt => {
            let runtime = tokio_runtime(name == ClientName::ReqwestMt)?;
            let client = {
                let _inside = runtime.enter();
                reqwest::Client::builder()
                    .no_proxy()
                    .tcp_nodelay(true)
                    .pool_max_idle_per_host(max)
                    .build()?
            };
            Box::new(Reqwest { runtime, client })
        }
        #[cfg(feature = "peers")]
        ClientName::HyperUtilMt | ClientName::HyperUtilCt => {
            let runtime = tokio_runtime(name == ClientName::HyperUtilMt)?;
            let client = {
                let _inside = runtime.enter();
                let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
                connector.set_nodelay(true);
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .pool_max_idle_per_host(max)
                    .build(connector)
            };
            Box::new(HyperUtil { runtime, client })
        }
        #[cfg(feature = "peers")]
        ClientName::Ureq => {
            let config = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_idle_connections(max)
                .max_idle_connections_per_host(max)
                .build();
            Box::new(Ureq {
                agent: ureq::Agent::new_with_config(config),
            })
        }
        #[cfg(not(feature = "peers"))]
        peer => {
            return Err(format!("{peer}: this build has no peers (the `peers` feature)").into());
        }
    })
}

fn tokio_runtime(multi_thread: bool) -> Result<tokio::runtime::Runtime, BoxError> {
    let mut builder = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    Ok(builder.enable_all().build()?)
}

/// An error unless `status` is 200.
fn check(status: u16, url: &str) -> Result<(), BoxError> {
    if status == 200 {
        Ok(())
    } else {
        Err(format!("GET {url}: status {status}").into())
    }
}

/// Reads `reader` to its end into `buf` (overwritten), returning the byte count.
fn drain(mut reader: impl Read, buf: &mut [u8]) -> Result<u64, BoxError> {
    let mut total = 0;
    loop {
        match reader.read(buf)? {
            0 => return Ok(total),
            n => total += n as u64,
        }
    }
}

struct ParBlocking {
    client: par_http::Client,
}

impl Fetcher for ParBlocking {
    fn run(&mut self, job: &Job) -> Result<u64, BoxError> {
        let mut buf = job.buffer();
        let config = ParallelConfig::new().max_in_flight(job.c);
        // The scope's closure returns par-http's `Result`; the job's own errors travel
        // inside it.
        self.client.parallel_with(config, |p| {
            let mut work = || -> Result<u64, BoxError> {
                let mut started = 0;
                while started < job.n.min(job.c) {
                    p.get(job.url(started));
                    started += 1;
                }
                let mut total = 0;
                // In the order the responses come, one body at a time (S5 measures it).
                while p.has_pending_responses() {
                    let response = p.next_response()?;
                    check(response.status().as_u16(), job.url(0))?;
                    total += drain(response, &mut buf)?;
                    if started < job.n {
                        p.get(job.url(started));
                        started += 1;
                    }
                }
                Ok(total)
            };
            Ok(work())
        })?
    }
}

/// par-http's one-off requests, no scope: `client.get(url).send()` and the body read to
/// its end, one after the other on each of `c` threads sharing the client (at `c` = 1,
/// on the caller's thread alone).
struct ParOneOff {
    client: par_http::Client,
}

impl Fetcher for ParOneOff {
    fn run(&mut self, job: &Job) -> Result<u64, BoxError> {
        let client = &self.client;
        on_threads(job, |i, buf| {
            let response = client.get(job.url(i)).send()?;
            check(response.status().as_u16(), job.url(i))?;
            drain(response, buf)
        })
    }
}

/// Runs `fetch` for each request `i` of the job, on `job.c` threads (on the caller's
/// alone when `c` is 1), each with its own read buffer, and sums what it returns.
fn on_threads<F>(job: &Job, fetch: F) -> Result<u64, BoxError>
where
    F: Fn(usize, &mut [u8]) -> Result<u64, BoxError> + Sync,
{
    let next = AtomicUsize::new(0);
    let total = AtomicU64::new(0);
    let work = || -> Result<(), BoxError> {
        let mut buf = job.buffer();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= job.n {
                return Ok(());
            }
            total.fetch_add(fetch(i, &mut buf)?, Ordering::Relaxed);
        }
    };
    if job.c.min(job.n) <= 1 {
        work()?;
        return Ok(total.into_inner());
    }
    std::thread::scope(|threads| {
        let workers = (0..job.c.min(job.n))
            .map(|_| std::thread::Builder::new().spawn_scoped(threads, work))
            .collect::<Result<Vec<_>, _>>()?;
        for worker in workers {
            worker
                .join()
                .map_err(|_| "a client thread panicked".to_owned())??;
        }
        Ok::<_, BoxError>(())
    })?;
    Ok(total.into_inner())
}

/// par-http's async scope on runtime `R`: C requests started, then each response taken
/// in completion order, its body read, and a new request started in its place.
async fn par_async<R: AsyncRuntime>(client: &AsyncClientOn<R>, job: &Job) -> Result<u64, BoxError> {
    if job.n <= job.c && job.body_len > 64 * 1024 {
        return par_async_bodies(client, job).await;
    }
    let mut buf = job.buffer();
    let scope = client.parallel_with(ParallelConfig::new().max_in_flight(job.c));
    let mut started = 0;
    while started < job.n.min(job.c) {
        scope.get(job.url(started)).await;
        started += 1;
    }
    let mut total = 0;
    for _ in 0..job.n {
        let response = scope.next_response().await?;
        check(response.status().as_u16(), job.url(0))?;
        let mut body = response.into_body();
        loop {
            match body.read(&mut buf).await? {
                0 => break,
                n => total += n as u64,
            }
        }
        if started < job.n {
            scope.get(job.url(started)).await;
            started += 1;
        }
    }
    scope.close().await;
    Ok(total)
}

/// par-http's async scope with large bodies, all started at once: the scope is a stream
/// of responses in completion order, and their bodies are read concurrently as they
/// come (as the peers' `buffer_unordered` reads theirs), so no connection stalls while
/// another body is read.
async fn par_async_bodies<R: AsyncRuntime>(
    client: &AsyncClientOn<R>,
    job: &Job,
) -> Result<u64, BoxError> {
    let url = job.url(0);
    let mut scope = client.parallel_with(ParallelConfig::new().max_in_flight(job.c));
    for i in 0..job.n {
        scope.get(job.url(i)).await;
    }
    let total = AtomicU64::new(0);
    scope
        .by_ref()
        .map_err(BoxError::from)
        .try_for_each_concurrent(None, |response| {
            let total = &total;
            async move {
                check(response.status().as_u16(), url)?;
                let mut body = response.into_body();
                let mut buf = job.buffer();
                loop {
                    match body.read(&mut buf).await? {
                        0 => break,
                        n => total.fetch_add(n as u64, Ordering::Relaxed),
                    };
                }
                Ok::<(), BoxError>(())
            }
        })
        .await?;
    scope.close().await;
    Ok(total.load(Ordering::Relaxed))
}

struct ParSmol {
    client: par_http::smol::AsyncClient,
}

impl Fetcher for ParSmol {
    fn run(&mut self, job: &Job) -> Result<u64, BoxError> {
        // As a smol application runs (`smol::block_on`): the caller drives the reactor.
        async_io::block_on(par_async(&self.client, job))
    }
}

struct ParTokio {
    runtime: tokio::runtime::Runtime,
    client: par_http::tokio::AsyncClient,
}

impl Fetcher for ParTokio {
    fn run(&mut self, job: &Job) -> Result<u64, BoxError> {
        self.runtime.block_on(par_async(&self.client, job))
    }
}

/// Runs `fetch` for each request `i` of the job, at most `job.c` at once, as futures
/// under `buffer_unordered` in one task, and sums what they return.
#[cfg(feature = "peers")]
async fn unordered<F, Fut>(job: Arc<Job>, fetch: F) -> Result<u64, BoxError>
where
    F: Fn(Arc<Job>, usize) -> Fut,
    Fut: Future<Output = Result<u64, BoxError>>,
{
    futures_util::stream::iter(0..job.n)
        .map(|i| fetch(job.clone(), i))
        .buffer_unordered(job.c)
        .try_fold(0, |total, n| async move { Ok(total + n) })
        .await
}

#[cfg(feature = "peers")]
struct Reqwest {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

#[cfg(feature = "peers")]
impl Fetcher for Reqwest {
    fn run(&mut self, job: &Job) -> Result<u64, BoxError> {
        let client = self.client.clone();
        self.runtime
            .block_on(unordered(Arc::new(job.clone()), move |job, i| {
                let client = client.clone();
                async move {
                    let mut response = client.get(job.url(i)).send().await?;
                    check(response.status().as_u16(), job.url(i))?;
                    let mut total = 0;
                    while let Some(chunk) = response.chunk().await? {
                        total += chunk.len() as u64;
                    }
                    Ok(total)
                }
            }))
    }
}

#[cfg(feature = "peers")]
type HyperClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Empty<Bytes>,
>;

#[cfg(feature = "peers")]
struct HyperUtil {
    runtime: tokio::runtime::Runtime,
    client: HyperClient,
}

#[cfg(feature = "peers")]
impl Fetcher for HyperUtil {
    fn run(&mut self, job: &Job) -> Result<u64, BoxError> {
        let client = self.client.clone();
        self.runtime
            .block_on(unordered(Arc::new(job.clone()), move |job, i| {
                let client = client.clone();
                async move {
                    let uri: hyper::Uri = job.url(i).parse()?;
                    let response = client.get(uri).await?;
                    check(response.status().as_u16(), job.url(i))?;
                    let mut body = response.into_body();
                    let mut total = 0;
                    while let Some(frame) = body.frame().await {
                        if let Some(data) = frame?.data_ref() {
                            total += data.len() as u64;
                        }
                    }
                    Ok(total)
                }
            }))
    }
}

#[cfg(feature = "peers")]
struct Ureq {
    agent: ureq::Agent,
}

#[cfg(feature = "peers")]
impl Fetcher for Ureq {
    fn run(&mut self, job: &Job) -> Result<u64, BoxError> {
        let agent = &self.agent;
        on_threads(job, |i, buf| {
            let mut response = agent.get(job.url(i)).call()?;
            check(response.status().as_u16(), job.url(i))?;
            drain(response.body_mut().as_reader(), buf)
        })
    }
}
