//! The `par-http` binary against an HTTP/2 server on plain TCP (h2c): with
//! `--http2-prior-knowledge` every URL is a stream of one connection, and without it
//! (HTTP/1.1, the default on `http://`, or `--http1.1`) the server cannot be spoken to.
//!
//! The server is the `h2` crate's, on a tokio runtime on a thread of its own. It records
//! each request (its connection, version, method, path and body) and a gauge of the
//! requests it is answering at once. Routes: `/hold/*?n=N` waits until N requests are
//! in flight together (at most 5 s) and answers `held`; `/echo` returns the request
//! body; anything else `body of PATH`.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    connection: usize,
    version: http::Version,
    method: String,
    path: String,
    body: Vec<u8>,
}

#[derive(Debug, Default)]
struct Stats {
    accepted: usize,
    seen: Vec<Seen>,
    in_flight: usize,
    max_in_flight: usize,
}

#[derive(Default)]
struct State {
    stats: Mutex<Stats>,
    changed: Condvar,
}

impl State {
    fn update<T>(&self, f: impl FnOnce(&mut Stats) -> T) -> T {
        let out = f(&mut self.stats.lock().unwrap_or_else(PoisonError::into_inner));
        self.changed.notify_all();
        out
    }

    /// Waits until `n` requests are in flight at once, or 5 s pass.
    fn wait_in_flight(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut stats = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        while stats.max_in_flight < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            stats = self
                .changed
                .wait_timeout(stats, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// An h2c server on `127.0.0.1:0`; dropping it stops its runtime and joins its thread.
struct H2cServer {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl H2cServer {
    fn start() -> Self {
        let state = Arc::new(State::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let server_state = Arc::clone(&state);
        let thread = thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let accept = async {
                    loop {
                        let Ok((stream, _)) = listener.accept().await else {
                            continue;
                        };
                        let number = server_state.update(|s| {
                            s.accepted += 1;
                            s.accepted
                        });
                        tokio::spawn(connection(Arc::clone(&server_state), stream, number));
                    }
                };
                tokio::select! {
                    _ = stopped => {}
                    () = accept => {}
                }
            });
            rt.shutdown_timeout(Duration::from_secs(2));
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        Self {
            addr,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn stats<T>(&self, f: impl FnOnce(&Stats) -> T) -> T {
        f(&self
            .state
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner))
    }
}

impl Drop for H2cServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serves one connection: each stream on a task of its own.
async fn connection(state: Arc<State>, stream: tokio::net::TcpStream, number: usize) {
    // Not an HTTP/2 preface (an HTTP/1.1 request): the handshake fails, the socket closes.
    let Ok(mut conn) = h2::server::handshake(stream).await else {
        return;
    };
    loop {
        let next = tokio::time::timeout(Duration::from_secs(30), conn.accept()).await;
        let Ok(Some(Ok((request, respond)))) = next else {
            return;
        };
        tokio::spawn(answer(Arc::clone(&state), request, respond, number));
    }
}

async fn answer(
    state: Arc<State>,
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    connection: usize,
) {
    let (parts, mut body) = request.into_parts();
    let mut received = Vec::new();
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else { return };
        received.extend_from_slice(&chunk);
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let path = parts.uri.path().to_owned();
    state.update(|s| {
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
        s.seen.push(Seen {
            connection,
            version: parts.version,
            method: parts.method.to_string(),
            path: path.clone(),
            body: received.clone(),
        });
    });
    let reply = if path.starts_with("/hold/") {
        let n = parts
            .uri
            .query()
            .and_then(|q| q.strip_prefix("n="))
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        let waiting = Arc::clone(&state);
        let _ = tokio::task::spawn_blocking(move || waiting.wait_in_flight(n)).await;
        Bytes::from_static(b"held")
    } else if path == "/echo" {
        Bytes::from(received)
    } else {
        Bytes::from(format!("body of {path}"))
    };
    state.update(|s| s.in_flight -= 1);
    let Ok(mut send) = respond.send_response(http::Response::new(()), false) else {
        return;
    };
    let _ = send.send_data(reply, true);
}

/// What a run of the binary printed, and its exit code.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the binary with `args`, the proxy variables removed; killed after 60 s so a hang
/// fails the test.
fn par_http(args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_par-http"));
    for name in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
    ] {
        command.env_remove(name);
    }
    let mut child = command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let mut buf = String::new();
        let _ = out.read_to_string(&mut buf);
        buf
    });
    let err = thread::spawn(move || {
        let mut buf = String::new();
        let _ = err.read_to_string(&mut buf);
        buf
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("par-http did not finish in 60 s");
        }
        thread::sleep(Duration::from_millis(10));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

#[test]
fn prior_knowledge_sends_every_url_as_a_stream_of_one_connection() {
    let server = H2cServer::start();
    let urls: Vec<String> = (0..10)
        .map(|i| server.url(&format!("/hold/{i}?n=10")))
        .collect();
    let mut args = vec!["--http2-prior-knowledge", "-j", "10"];
    args.extend(urls.iter().map(String::as_str));
    let run = par_http(&args);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    for url in &urls {
        let line = run
            .stdout
            .lines()
            .find(|line| line.contains(&format!("  {url}")))
            .unwrap_or_else(|| panic!("no line for {url} in:\n{}", run.stdout));
        assert!(line.starts_with("200 "), "{line}");
        assert!(line.contains(" 4 B "), "{line}"); // "held"
    }
    assert!(
        run.stdout
            .contains("requests: 10 total, 10 succeeded, 0 failed\n"),
        "{}",
        run.stdout
    );
    server.stats(|stats| {
        assert_eq!(stats.accepted, 1, "one connection: {stats:?}");
        assert_eq!(stats.seen.len(), 10, "{stats:?}");
        assert!(
            stats
                .seen
                .iter()
                .all(|s| s.version == http::Version::HTTP_2),
            "{stats:?}"
        );
        // The ten were streams in flight together on that connection.
        assert_eq!(stats.max_in_flight, 10, "{stats:?}");
    });
}

#[test]
fn a_body_and_a_method_go_over_h2c() {
    let server = H2cServer::start();
    let payload = "x".repeat(100_000);
    let run = par_http(&[
        "--http2-prior-knowledge",
        "-X",
        "PUT",
        "-d",
        &payload,
        &server.url("/echo"),
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let line = run.stdout.lines().next().unwrap_or_default();
    assert!(line.starts_with("200 "), "{}", run.stdout);
    server.stats(|stats| {
        let seen = &stats.seen;
        assert_eq!(seen.len(), 1, "{stats:?}");
        assert_eq!(seen[0].method, "PUT");
        assert_eq!(seen[0].path, "/echo");
        assert_eq!(seen[0].connection, 1);
        assert_eq!(seen[0].version, http::Version::HTTP_2);
        assert_eq!(seen[0].body, payload.as_bytes());
    });
}

#[test]
fn without_prior_knowledge_an_h2c_server_is_not_spoken_to() {
    let server = H2cServer::start();
    // HTTP/1.1 is the default on http://, and what --http1.1 asks for.
    for flags in [&[][..], &["--http1.1"][..]] {
        let url = server.url("/plain");
        let mut args = flags.to_vec();
        args.push(&url);
        let run = par_http(&args);
        assert_eq!(run.code, 1, "{flags:?}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stdout
                .contains("requests: 1 total, 0 succeeded, 1 failed\n"),
            "{flags:?}: {}",
            run.stdout
        );
    }
    server.stats(|stats| {
        assert_eq!(stats.accepted, 2, "{stats:?}");
        assert!(stats.seen.is_empty(), "no request got through: {stats:?}");
    });
}
