//! Hostile servers: each case is a scripted raw-TCP server on 127.0.0.1 and the outcome
//! the client must make of it, written next to it.
//!
//! A case is declared with [`hostile!`]: a name, what the server does (usually the exact
//! reply bytes) and the expected outcome, either `ok(body)` (the exact body, status 200),
//! `ok_status(code, body)`, or `err(Kind)` (optionally `.because(ProtocolError::..)`, the
//! framing error behind it). [`check`] then runs the case three times, each on a fresh
//! client and a fresh connection: through the one-off API (`client.request(..).send()`),
//! through a blocking parallel scope, and through an async scope on this runtime. All three
//! must give the expected outcome; an error must also name its request.
//!
//! The expected outcomes come from RFC 9112/9110 and from what curl and reqwest (hyper) do,
//! not from what par-http happens to do; where a case had to pick between readings, its
//! comment says which and why.
//!
//! Groups: `framing` (RFC 9112 §6, §7), `head` (status line and header fields, limits),
//! `faults` (closes, resets, silence, trickles, early responses, extra bytes), `pool`
//! (which connections may be reused), `security` (request-side injection, redirects).

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::Method;
pub(super) use par_http_core::h1::ProtocolError;

use crate::support::{ScriptedServer, ServerConn, WAIT};

/// Declares hostile-server cases, one `#[test]` each: `name: case => expected;`.
///
/// `case` is anything that converts into a [`Case`] (reply bytes, or a built `Case`).
macro_rules! hostile {
    ($( $(#[$meta:meta])* $name:ident : $case:expr => $expect:expr ; )*) => {
        $(
            $(#[$meta])*
            #[test]
            fn $name() {
                $crate::conformance::hostile::check(stringify!($name), $case, $expect);
            }
        )*
    };
}

mod faults;
mod framing;
mod head;
mod pool;
mod security;

/// The kind of error a case expects, by the `is_*` predicate that must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// `is_protocol()`: the server broke the framing rules.
    Protocol,
    /// `is_limit()`: a configured limit was hit.
    Limit,
    /// `is_body()`: the body could not be read to its end.
    Body,
    /// `is_timeout()`.
    Timeout,
    /// `is_connect()`.
    Connect,
    /// `is_io()`: the connection failed before the head was complete.
    Io,
    /// `is_invalid_request()`: the request was refused before anything was sent.
    InvalidRequest,
    /// `is_redirect()`: a redirect the policy refuses.
    Redirect,
    /// `is_decompress()`: the body could not be decompressed (or is too large once it is).
    Decompress,
}

impl Kind {
    fn holds(self, err: &par_http::Error) -> bool {
        match self {
            Self::Protocol => err.is_protocol(),
            Self::Limit => err.is_limit(),
            Self::Body => err.is_body(),
            Self::Timeout => err.is_timeout(),
            Self::Connect => err.is_connect(),
            Self::Io => err.is_io(),
            Self::InvalidRequest => err.is_invalid_request(),
            Self::Redirect => err.is_redirect(),
            Self::Decompress => err.is_decompress(),
        }
    }
}

/// What a case must give.
#[derive(Debug, Clone)]
pub(super) enum Expect {
    /// A response with this status and exactly this body.
    Ok { status: u16, body: Vec<u8> },
    /// An error of this kind, and when given, with this framing error behind it.
    Err {
        kind: Kind,
        cause: Option<ProtocolError>,
    },
}

impl Expect {
    /// The framing error that must be behind the error.
    pub(super) fn because(self, cause: ProtocolError) -> Self {
        match self {
            Self::Err { kind, .. } => Self::Err {
                kind,
                cause: Some(cause),
            },
            ok @ Self::Ok { .. } => panic!("`because` on a success: {ok:?}"),
        }
    }
}

/// A `200` response with exactly `body`.
pub(super) fn ok(body: impl AsRef<[u8]>) -> Expect {
    ok_status(200, body)
}

/// A `status` response with exactly `body`.
pub(super) fn ok_status(status: u16, body: impl AsRef<[u8]>) -> Expect {
    Expect::Ok {
        status,
        body: body.as_ref().to_vec(),
    }
}

/// An error of `kind`.
pub(super) fn err(kind: Kind) -> Expect {
    Expect::Err { kind, cause: None }
}

type Script = Arc<dyn Fn(&mut ServerConn) + Send + Sync>;

/// What the server does on each connection.
#[derive(Clone)]
pub(super) enum Serve {
    /// Reads the request, writes the bytes, closes gracefully (FIN).
    Reply(Vec<u8>),
    /// Writes the bytes as soon as the request starts to arrive, then closes with a reset
    /// (RST: the request is left unread in the server's socket when it is closed).
    ReplyThenReset(Vec<u8>),
    /// Reads the request, writes the bytes, keeps the connection open until the client
    /// closes it.
    ReplyThenHold(Vec<u8>),
    /// Reads the request, then writes the bytes one at a time, `gap` apart.
    Trickle(Vec<u8>, Duration),
    /// Reads the request, writes `prefix`, then `filler` over and over (at most
    /// [`ENDLESS_CAP`] bytes) until the client closes. The case fails if the cap is reached:
    /// the client must give up after a bounded amount.
    Endless { prefix: Vec<u8>, filler: Vec<u8> },
    /// A handler of its own.
    Script(Script),
    /// Nothing listens: the request goes to a closed port of 127.0.0.1.
    ClosedPort,
}

/// How much an [`Serve::Endless`] server writes at most: far beyond every default limit
/// and every socket buffer, so reaching it means the client kept reading.
pub(super) const ENDLESS_CAP: usize = 64 << 20;

impl Serve {
    /// A handler of its own.
    pub(super) fn script(f: impl Fn(&mut ServerConn) + Send + Sync + 'static) -> Self {
        Self::Script(Arc::new(f))
    }
}

/// Client settings a case needs (each run builds its own client with them).
#[derive(Clone, Default)]
pub(super) struct Settings {
    /// `ClientBuilder::read_timeout`.
    pub(super) read_timeout: Option<Duration>,
    /// `ClientBuilder::bearer_auth`.
    pub(super) bearer_auth: Option<String>,
    /// `ClientBuilder::add_root_certificate_pem`.
    pub(super) root_pem: Option<String>,
    /// `ClientBuilder::max_decompressed_bytes`.
    pub(super) max_decompressed_bytes: Option<u64>,
}

impl Settings {
    fn apply<C: par_http::BuildClient>(
        &self,
        mut builder: par_http::ClientBuilder<C>,
    ) -> par_http::ClientBuilder<C> {
        if let Some(timeout) = self.read_timeout {
            builder = builder.read_timeout(timeout);
        }
        if let Some(token) = &self.bearer_auth {
            builder = builder.bearer_auth(token);
        }
        if let Some(pem) = &self.root_pem {
            builder = builder.add_root_certificate_pem(pem.as_bytes());
        }
        if let Some(max) = self.max_decompressed_bytes {
            builder = builder.max_decompressed_bytes(max);
        }
        builder
    }
}

/// One hostile-server case: the server's behaviour and the request sent to it.
#[derive(Clone)]
pub(super) struct Case {
    serve: Serve,
    method: Method,
    path: String,
    body: Option<Vec<u8>>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    timeout: Option<Duration>,
    /// The request must be refused before anything is sent: no connection is accepted.
    nothing_sent: bool,
    /// Checks on the server after the three runs.
    after: Option<fn(&ScriptedServer)>,
    /// The client's settings.
    settings: Settings,
    /// Sends to this URL instead of the scripted server's.
    url: Option<String>,
}

impl Case {
    /// A GET of `/case` to a server that behaves as `serve`.
    pub(super) fn new(serve: Serve) -> Self {
        Self {
            serve,
            method: Method::GET,
            path: "/case".to_owned(),
            body: None,
            headers: Vec::new(),
            timeout: None,
            nothing_sent: false,
            after: None,
            settings: Settings::default(),
            url: None,
        }
    }

    /// A GET of `/case` answered with `reply`, then a graceful close.
    pub(super) fn reply(reply: impl AsRef<[u8]>) -> Self {
        Self::new(Serve::Reply(reply.as_ref().to_vec()))
    }

    /// Sends `method` instead of GET.
    pub(super) fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Requests `path` (appended to the server's address as is) instead of `/case`.
    pub(super) fn path(mut self, path: &str) -> Self {
        self.path = path.to_owned();
        self
    }

    /// Sends `body`.
    pub(super) fn body(mut self, body: impl AsRef<[u8]>) -> Self {
        self.body = Some(body.as_ref().to_vec());
        self
    }

    /// Adds a request header, as raw bytes (invalid ones included).
    pub(super) fn header(mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Self {
        self.headers
            .push((name.as_ref().to_vec(), value.as_ref().to_vec()));
        self
    }

    /// Sets the request's time limit.
    pub(super) fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The request must fail before it is sent: the server accepts no connection.
    pub(super) fn nothing_sent(mut self) -> Self {
        self.nothing_sent = true;
        self
    }

    /// Builds each client with `settings`.
    pub(super) fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Sends the request to `url` instead of the scripted server.
    pub(super) fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Runs `check` on the server once the three runs are done.
    pub(super) fn after(mut self, check: fn(&ScriptedServer)) -> Self {
        self.after = Some(check);
        self
    }
}

impl<const N: usize> From<&[u8; N]> for Case {
    fn from(reply: &[u8; N]) -> Self {
        Self::reply(reply)
    }
}

impl From<Vec<u8>> for Case {
    fn from(reply: Vec<u8>) -> Self {
        Self::reply(reply)
    }
}

impl From<String> for Case {
    fn from(reply: String) -> Self {
        Self::reply(reply)
    }
}

impl From<Serve> for Case {
    fn from(serve: Serve) -> Self {
        Self::new(serve)
    }
}

/// A short time limit for cases that must time out: long enough for a loaded machine to
/// have sent a request, short enough to keep the suite fast.
pub(super) const SHORT: Duration = Duration::from_millis(300);

/// Starts the server of `serve`. Returns it and a flag set if an endless server hit its cap.
fn start(serve: &Serve) -> (ScriptedServer, Arc<AtomicBool>) {
    let hit_cap = Arc::new(AtomicBool::new(false));
    let flag = hit_cap.clone();
    let server = match serve.clone() {
        Serve::Reply(bytes) => ScriptedServer::new(move |conn| {
            if conn.read_request().is_some() {
                conn.write_all(&bytes);
                conn.close();
            }
        }),
        Serve::ReplyThenReset(bytes) => ScriptedServer::new(move |conn| {
            // Wait for the first request byte without consuming it: closing a socket
            // with unread input makes the kernel send RST instead of FIN.
            let mut first = [0u8; 1];
            let _ = conn.stream().set_read_timeout(Some(WAIT));
            if matches!(conn.stream().peek(&mut first), Ok(1)) {
                let _ = conn.stream().write_all(&bytes);
            }
            // Returning drops the connection (its last handle) with the request unread.
        }),
        Serve::ReplyThenHold(bytes) => ScriptedServer::new(move |conn| {
            if conn.read_request().is_some() {
                conn.write_all(&bytes);
                conn.wait_for_close(WAIT);
            }
        }),
        Serve::Trickle(bytes, gap) => ScriptedServer::new(move |conn| {
            if conn.read_request().is_some() {
                for byte in &bytes {
                    if conn.stream().write_all(std::slice::from_ref(byte)).is_err() {
                        return;
                    }
                    std::thread::sleep(gap);
                }
                conn.close();
            }
        }),
        Serve::Endless { prefix, filler } => ScriptedServer::new(move |conn| {
            if conn.read_request().is_none() {
                return;
            }
            let _ = conn.stream().set_write_timeout(Some(WAIT));
            if conn.stream().write_all(&prefix).is_err() {
                return;
            }
            let mut block = Vec::new();
            while block.len() < 16 * 1024 {
                block.extend_from_slice(&filler);
            }
            let mut written = prefix.len();
            while written < ENDLESS_CAP {
                if conn.stream().write_all(&block).is_err() {
                    return;
                }
                written += block.len();
            }
            flag.store(true, Ordering::SeqCst);
        }),
        Serve::Script(script) => ScriptedServer::new(move |conn| script(conn)),
        Serve::ClosedPort => ScriptedServer::new(|_| {}),
    };
    (server, hit_cap)
}

/// The bytes a server of `serve` answers with, when that is fixed (for the fuzz corpora).
fn reply_bytes(serve: &Serve) -> Option<Vec<u8>> {
    match serve {
        Serve::Reply(bytes)
        | Serve::ReplyThenReset(bytes)
        | Serve::ReplyThenHold(bytes)
        | Serve::Trickle(bytes, _) => Some(bytes.clone()),
        Serve::Endless { prefix, filler } => {
            let mut out = prefix.clone();
            for _ in 0..8 {
                out.extend_from_slice(filler);
            }
            Some(out)
        }
        Serve::Script(_) | Serve::ClosedPort => None,
    }
}

/// What one run of a case gave: status and body, or the error.
type Outcome = par_http::Result<(u16, Vec<u8>)>;

/// One way of running a case (one API).
type Run = fn(&Case, &str) -> Outcome;

/// Runs `case` through the one-off API, a blocking scope and an async scope, each on a
/// fresh client, and asserts that each gives `expect`.
pub(super) fn check(name: &str, case: impl Into<Case>, expect: Expect) {
    let case = case.into();
    if let Some(bytes) = reply_bytes(&case.serve) {
        write_corpus(name, &bytes);
    }
    let (server, hit_cap) = start(&case.serve);
    let url = match (&case.url, &case.serve) {
        (Some(url), _) => url.clone(),
        (None, Serve::ClosedPort) => crate::support::closed_port_url(),
        (None, _) => server.url(&case.path),
    };
    let runs: [(&str, Run); 3] = [
        ("one-off", one_off),
        ("blocking scope", blocking_scope),
        ("async scope", async_scope),
    ];
    for (api, run) in runs {
        let outcome = run(&case, &url);
        assert_outcome(name, api, &case.method, &url, &outcome, &expect);
    }
    assert!(
        !hit_cap.load(Ordering::SeqCst),
        "{name}: the client read {ENDLESS_CAP} bytes of an endless response"
    );
    if case.nothing_sent {
        assert_eq!(
            server.accepted(),
            0,
            "{name}: a refused request reached the server: {:?}",
            server.request_log()
        );
    }
    if let Some(after) = case.after {
        after(&server);
    }
}

fn assert_outcome(
    name: &str,
    api: &str,
    method: &Method,
    url: &str,
    outcome: &Outcome,
    expect: &Expect,
) {
    let rt = crate::rt::NAME;
    match (outcome, expect) {
        (Ok((status, body)), Expect::Ok { status: s, body: b }) => {
            assert_eq!(
                (*status, String::from_utf8_lossy(body)),
                (*s, String::from_utf8_lossy(b)),
                "{name} ({api}, {rt}): wrong response"
            );
            assert_eq!(body, b, "{name} ({api}, {rt}): wrong body bytes");
        }
        (Err(err), Expect::Err { kind, cause }) => {
            assert!(
                kind.holds(err),
                "{name} ({api}, {rt}): expected a {kind:?} error, got {err:?}"
            );
            if let Some(cause) = cause {
                assert_eq!(
                    err.protocol_error(),
                    Some(cause),
                    "{name} ({api}, {rt}): wrong cause in {err:?}"
                );
            }
            assert_eq!(
                err.method(),
                Some(method),
                "{name} ({api}, {rt}): the error does not name its method: {err:?}"
            );
            assert_eq!(
                err.url().map(|u| u.trim_end_matches('/')),
                Some(url.trim_end_matches('/')),
                "{name} ({api}, {rt}): the error does not name its url: {err:?}"
            );
        }
        (Ok((status, body)), Expect::Err { .. }) => panic!(
            "{name} ({api}, {rt}): expected {expect:?}, got {status} with body {:?}",
            String::from_utf8_lossy(body)
        ),
        (Err(err), Expect::Ok { .. }) => {
            panic!("{name} ({api}, {rt}): expected {expect:?}, got {err:?}")
        }
    }
}

fn one_off(case: &Case, url: &str) -> Outcome {
    let client = case.settings.apply(crate::rt::builder()).build()?;
    let mut request = client.request(case.method.clone(), url);
    for (name, value) in &case.headers {
        request = request.header(&name[..], &value[..]);
    }
    if let Some(body) = &case.body {
        request = request.body(body.clone());
    }
    if let Some(timeout) = case.timeout {
        request = request.timeout(timeout);
    }
    let response = request.send()?;
    let status = response.status().as_u16();
    Ok((status, response.bytes()?.to_vec()))
}

fn blocking_scope(case: &Case, url: &str) -> Outcome {
    let client = case.settings.apply(crate::rt::builder()).build()?;
    client.parallel(|p| {
        let mut request = p.request(case.method.clone(), url);
        for (name, value) in &case.headers {
            request = request.header(&name[..], &value[..]);
        }
        if let Some(body) = &case.body {
            request = request.body(body.clone());
        }
        if let Some(timeout) = case.timeout {
            request = request.timeout(timeout);
        }
        let response = request.send().get_response()?;
        let status = response.status().as_u16();
        Ok((status, response.bytes()?.to_vec()))
    })
}

fn async_scope(case: &Case, url: &str) -> Outcome {
    crate::rt::block_on(async {
        let client = case
            .settings
            .apply(crate::rt::AsyncClient::builder())
            .build()?;
        let parallel = client.parallel();
        let mut request = parallel.request(case.method.clone(), url);
        for (name, value) in &case.headers {
            request = request.header(&name[..], &value[..]);
        }
        if let Some(body) = &case.body {
            request = request.body(body.clone());
        }
        if let Some(timeout) = case.timeout {
            request = request.timeout(timeout);
        }
        let response = request.send().await.get_response().await?;
        let status = response.status().as_u16();
        let body = response.bytes().await?;
        Ok((status, body.to_vec()))
    })
}

/// Reads what a client sent on `conn` (head and `Content-Length` body) without the
/// test server's parser: for scripts that must answer before the body is read.
pub(super) fn read_head_only(conn: &mut ServerConn) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    let _ = conn.stream().set_read_timeout(Some(WAIT));
    while !head.ends_with(b"\r\n\r\n") {
        match conn.stream().read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(head)
}

/// Writes the reply of case `name` as a seed file under `<root>/<target>/` for each fuzz
/// target, when `PAR_HTTP_WRITE_CORPUS=<root>` is set (for example
/// `PAR_HTTP_WRITE_CORPUS=$PWD/fuzz/corpus cargo test --test smol hostile`).
fn write_corpus(name: &str, reply: &[u8]) {
    let Some(root) = std::env::var_os("PAR_HTTP_WRITE_CORPUS") else {
        return;
    };
    // Huge seeds only slow the fuzzer down; the tiny limits it also runs with reach every
    // limit with small inputs.
    if reply.len() > 32 * 1024 {
        return;
    }
    let root = std::path::PathBuf::from(root);
    let body = find(reply, b"\r\n\r\n").map(|end| &reply[end + 4..]);
    let chunked = String::from_utf8_lossy(reply)
        .to_ascii_lowercase()
        .contains("chunked");
    let seeds: [(&str, Option<&[u8]>); 3] = [
        ("response_head", Some(reply)),
        ("response", Some(reply)),
        // The chunked target decodes a chunked body: seed it with what follows the head.
        ("chunked", body.filter(|_| chunked)),
    ];
    for (target, bytes) in seeds {
        let Some(bytes) = bytes else { continue };
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::File::create(dir.join(name))
            .and_then(|mut f| f.write_all(bytes))
            .unwrap();
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The three ways a request is sent, for cases made of several requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Api {
    /// `client.get(url).send()`, one after another on one blocking client.
    OneOff,
    /// `p.get(url).get_response()`, one after another in one blocking scope.
    BlockingScope,
    /// `parallel.get(url).await.get_response().await`, in one async scope.
    AsyncScope,
}

/// Every [`Api`].
pub(super) const APIS: [Api; 3] = [Api::OneOff, Api::BlockingScope, Api::AsyncScope];

/// GETs each of `urls` in turn through one client of `api`, reading each body to its end.
pub(super) fn sequence(api: Api, urls: &[String]) -> Vec<Outcome> {
    match api {
        Api::OneOff => {
            let client = crate::rt::client();
            urls.iter()
                .map(|url| {
                    let response = client.get(url).send()?;
                    let status = response.status().as_u16();
                    Ok((status, response.bytes()?.to_vec()))
                })
                .collect()
        }
        Api::BlockingScope => {
            let client = crate::rt::client();
            client
                .parallel(|p| {
                    Ok(urls
                        .iter()
                        .map(|url| {
                            let response = p.get(url).get_response()?;
                            let status = response.status().as_u16();
                            Ok((status, response.bytes()?.to_vec()))
                        })
                        .collect())
                })
                .unwrap()
        }
        Api::AsyncScope => crate::rt::block_on(async {
            let client = crate::rt::AsyncClient::new();
            let parallel = client.parallel();
            let mut outcomes = Vec::new();
            for url in urls {
                let outcome = async {
                    let response = parallel.get(url).await.get_response().await?;
                    let status = response.status().as_u16();
                    Ok((status, response.bytes().await?.to_vec()))
                };
                outcomes.push(outcome.await);
            }
            outcomes
        }),
    }
}

/// Runs `expect.len()` GETs in turn (to `/0`, `/1`, ...) through each [`Api`], each on a
/// fresh server of `serve` and a fresh client; each must give its expected outcome and
/// the server must have accepted `connections` connections.
pub(super) fn check_sequence(name: &str, serve: &Serve, expect: &[Expect], connections: usize) {
    for api in APIS {
        let (server, _) = start(serve);
        let urls: Vec<String> = (0..expect.len())
            .map(|i| server.url(&format!("/{i}")))
            .collect();
        let outcomes = sequence(api, &urls);
        for (i, (outcome, expect)) in outcomes.iter().zip(expect).enumerate() {
            let label = format!("{api:?}, request {i}");
            assert_outcome(name, &label, &Method::GET, &urls[i], outcome, expect);
        }
        assert_eq!(
            server.accepted(),
            connections,
            "{name} ({api:?}, {}): connections used: {:?}",
            crate::rt::NAME,
            server.stats()
        );
    }
}
