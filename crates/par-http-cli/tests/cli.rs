//! The `par-http` binary run as a user runs it, against a small HTTP/1.1 server on
//! 127.0.0.1 (std threads, one per connection) that records every request and keeps a
//! gauge of the requests it is answering at once.
//!
//! Routes: `/hold/*` waits until `?n=N` requests have been in flight together (at most
//! 5 s) then answers; `/status/CODE`; `/flaky/KEY` answers 500 the first time, then 200;
//! `/drop/KEY` closes the first connection without an answer; `/echo` returns the request
//! body; `/big/N` returns N bytes; `/slow` answers after 3 s; `/sleep/MS` after MS
//! milliseconds; `/cut/N` announces 2N bytes, sends N and closes; `/partial/N` announces
//! 2N bytes, sends N and holds the rest back (10 s at most); anything else
//! `body of PATH`.

// The helpers below are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

// --- the server -------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    seen: Mutex<Vec<Seen>>,
    hits: Mutex<HashMap<String, usize>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// `/partial/N` connections the client closed while the server held the body.
    partials_closed: AtomicUsize,
}

struct Server {
    addr: SocketAddr,
    state: Arc<State>,
}

impl Server {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let shared = state.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let state = shared.clone();
                thread::spawn(move || {
                    let _ = serve(stream, &state);
                });
            }
        });
        Self { addr, state }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    fn requests_to(&self, path: &str) -> usize {
        self.seen().iter().filter(|s| s.path == path).count()
    }

    fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }
}

fn serve(stream: TcpStream, state: &State) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut stream = stream;
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let seen = Seen {
        method,
        path: path.clone(),
        headers,
        body,
    };
    state.seen.lock().unwrap().push(seen.clone());
    let hit = {
        let mut hits = state.hits.lock().unwrap();
        let count = hits.entry(path.clone()).or_default();
        *count += 1;
        *count
    };

    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let (status, reply): (u16, Vec<u8>) = if let Some(rest) = path.strip_prefix("/hold/") {
        let want: usize = rest
            .split_once("?n=")
            .map_or(1, |(_, n)| n.parse().unwrap());
        let deadline = Instant::now() + Duration::from_secs(5);
        while state.max_in_flight.load(Ordering::SeqCst) < want && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(2));
        }
        // Held a moment longer, so that a broken limit would show in the gauge.
        thread::sleep(Duration::from_millis(30));
        (200, format!("body of {path}").into_bytes())
    } else if let Some(code) = path.strip_prefix("/status/") {
        (code.parse().unwrap(), format!("status {code}").into_bytes())
    } else if path.starts_with("/flaky/") {
        if hit == 1 {
            (500, b"not yet".to_vec())
        } else {
            (200, format!("recovered {path}").into_bytes())
        }
    } else if path.starts_with("/drop/") && hit == 1 {
        state.in_flight.fetch_sub(1, Ordering::SeqCst);
        return Ok(()); // closed without a response
    } else if path == "/echo" {
        (200, seen.body)
    } else if let Some(n) = path.strip_prefix("/big/") {
        let n: usize = n.parse().unwrap();
        let fill = b'a' + (n % 26) as u8;
        (200, vec![fill; n])
    } else if path == "/setcookie" {
        (200, b"cookie set".to_vec())
    } else if path == "/slow" {
        thread::sleep(Duration::from_secs(3));
        (200, b"late".to_vec())
    } else if let Some(ms) = path.strip_prefix("/sleep/") {
        thread::sleep(Duration::from_millis(ms.parse().unwrap()));
        (200, format!("body of {path}").into_bytes())
    } else if let Some(n) = path
        .strip_prefix("/cut/")
        .or_else(|| path.strip_prefix("/partial/"))
    {
        state.in_flight.fetch_sub(1, Ordering::SeqCst);
        let n: usize = n.parse().unwrap();
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", 2 * n);
        stream.write_all(head.as_bytes())?;
        stream.write_all(&vec![b'p'; n])?;
        stream.flush()?;
        if path.starts_with("/partial/") {
            // The rest never comes: held until the client goes (or 10 s).
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            if let Ok(0) = reader.read(&mut [0; 1]) {
                state.partials_closed.fetch_add(1, Ordering::SeqCst);
            }
        }
        return Ok(()); // closed in the middle of the body
    } else {
        (200, format!("body of {path}").into_bytes())
    };
    // Counted down before the answer: the client may start its next request at once.
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    let extra = if path == "/setcookie" {
        "Set-Cookie: from=server; Path=/; Max-Age=3600\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        reply.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(&reply)?;
    stream.flush()
}

/// A port with nothing listening on it.
fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/nobody")
}

// --- running the binary ---------------------------------------------------------------

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    raw_stdout: Vec<u8>,
}

impl Run {
    fn line_for(&self, url: &str) -> &str {
        let ends = |line: &&str| line.contains(&format!("  {url}"));
        self.stdout
            .lines()
            .find(ends)
            .unwrap_or_else(|| panic!("no line for {url} in:\n{}", self.stdout))
    }
}

fn par_http(args: &[&str]) -> Run {
    par_http_with_stdin(args, b"")
}

/// The binary with `args`, the proxy variables of the test's own environment removed.
fn command(args: &[&str]) -> Command {
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
    command.args(args);
    command
}

/// Waits for `child` at most `limit`; kills it and fails the test past that.
fn wait_bounded(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("par-http did not finish in {limit:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Runs the binary with `stdin`; killed after 60 s so a hang fails the test.
fn par_http_with_stdin(args: &[&str], stdin: &[u8]) -> Run {
    par_http_in_env(args, stdin, &[])
}

/// Runs the binary with `stdin` and the environment variables `env` (the proxy variables
/// of the test's own environment removed first).
fn par_http_in_env(args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Run {
    let mut command = command(args);
    command.envs(env.iter().copied());
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let writer = thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let mut buf = Vec::new();
        out.read_to_end(&mut buf).unwrap();
        buf
    });
    let err = thread::spawn(move || {
        let mut buf = Vec::new();
        err.read_to_end(&mut buf).unwrap();
        buf
    });
    let status = wait_bounded(&mut child, Duration::from_secs(60));
    writer.join().unwrap();
    let raw_stdout = out.join().unwrap();
    let stderr = String::from_utf8_lossy(&err.join().unwrap()).into_owned();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&raw_stdout).into_owned(),
        stderr,
        raw_stdout,
    }
}

/// A fresh directory under the target's temp dir.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("par-http-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

// --- the tests --------------------------------------------------------------------------

#[test]
fn urls_from_arguments_get_a_line_each_and_a_summary() {
    let server = Server::start();
    let urls = [server.url("/a"), server.url("/b"), server.url("/c")];
    let run = par_http(&[&urls[0], &urls[1], &urls[2]]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    for url in &urls {
        let line = run.line_for(url);
        assert!(line.starts_with("200 "), "{line}");
        assert!(line.contains(" 10 B "), "{line}"); // "body of /a"
        assert!(line.contains(" ms "), "{line}");
    }
    assert!(
        run.stdout
            .contains("requests: 3 total, 3 succeeded, 0 failed\n")
    );
    assert!(run.stdout.contains("status: 200 x3\n"));
    assert!(run.stdout.contains("bytes: 30 B in "));
    assert!(run.stdout.contains("latency: p50 "));
    assert!(run.stdout.contains(", p90 ") && run.stdout.contains(", p99 "));
    assert_eq!(server.seen().len(), 3);
    assert!(server.seen().iter().all(|s| s.method == "GET"));
}

#[test]
fn urls_from_a_file_and_from_stdin() {
    let server = Server::start();
    let dir = temp_dir("list");
    let list = dir.join("urls.txt");
    std::fs::write(
        &list,
        format!(
            "# the list\n\n{}\n   {}   \n#{}\n",
            server.url("/f1"),
            server.url("/f2"),
            server.url("/commented")
        ),
    )
    .unwrap();
    let run = par_http(&["-i", list.to_str().unwrap(), &server.url("/arg")]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("requests: 3 total"), "{}", run.stdout);
    let mut paths: Vec<String> = server.seen().into_iter().map(|s| s.path).collect();
    paths.sort();
    assert_eq!(paths, ["/arg", "/f1", "/f2"]);

    let input = format!("{}\n\n# skip\n{}\n", server.url("/s1"), server.url("/s2"));
    let run = par_http_with_stdin(&["-i", "-"], input.as_bytes());
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("requests: 2 total, 2 succeeded"));
    assert_eq!(server.requests_to("/s1"), 1);
    assert_eq!(server.requests_to("/s2"), 1);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn jobs_limits_the_requests_in_flight() {
    // (flag, limit, urls): the default is 16.
    for (flag, limit, count) in [(Some("2"), 2, 8), (Some("5"), 5, 15), (None, 16, 24)] {
        let server = Server::start();
        let urls: Vec<String> = (0..count)
            .map(|n| server.url(&format!("/hold/{n}?n={limit}")))
            .collect();
        let mut args: Vec<&str> = urls.iter().map(String::as_str).collect();
        if let Some(flag) = flag {
            args.extend(["-j", flag]);
        }
        let run = par_http(&args);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        assert_eq!(server.seen().len(), count);
        assert_eq!(server.max_in_flight(), limit, "-j {flag:?}");
    }
}

#[test]
fn output_dir_saves_each_body_under_a_name_from_its_url() {
    let server = Server::start();
    let dir = temp_dir("out");
    let out = dir.join("downloads"); // created by par-http
    let urls = [
        server.url("/files/a.txt"),
        server.url("/other/a.txt"),
        server.url("/"),
        server.url("/search?q=x y"),
        server.url("/..%2F..%2Fescape"),
        server.url("/big/200000"),
    ];
    let mut args: Vec<&str> = urls.iter().map(String::as_str).collect();
    args.extend(["-o", out.to_str().unwrap()]);
    let run = par_http(&args);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        file_names(&out),
        [
            "200000",
            "_._.._escape",
            "a-1.txt",
            "a.txt",
            "index.html",
            "search_q=x_y"
        ]
    );
    assert_eq!(
        file_names(&dir),
        ["downloads"],
        "nothing escaped the directory"
    );
    let read = |name: &str| std::fs::read(out.join(name)).unwrap();
    assert_eq!(read("a.txt"), b"body of /files/a.txt");
    assert_eq!(read("a-1.txt"), b"body of /other/a.txt");
    assert_eq!(read("index.html"), b"body of /");
    assert_eq!(read("_._.._escape"), b"body of /..%2F..%2Fescape");
    assert_eq!(read("200000"), vec![b'a' + (200_000 % 26) as u8; 200_000]);
    let line = run.line_for(&urls[0]);
    assert!(
        line.ends_with(&format!("-> {}", out.join("a.txt").display())),
        "{line}"
    );
    let saved: u64 = file_names(&out)
        .iter()
        .map(|name| std::fs::metadata(out.join(name)).unwrap().len())
        .sum();
    assert!(
        run.stdout.contains(&format!("({saved} B) in ")),
        "{saved}: {}",
        run.stdout
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn output_dir_keeps_no_file_for_a_failed_body() {
    let server = Server::start();
    let dir = temp_dir("out-failed");
    let run = par_http(&[
        "-o",
        dir.to_str().unwrap(),
        &server.url("/ok.txt"),
        &closed_port_url(),
    ]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(file_names(&dir), ["ok.txt"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn stdout_gets_every_body_whole() {
    let server = Server::start();
    // Distinct letters (n % 26): 8, 1, 12, 11, 9.
    let sizes = [70_000usize, 1, 300_000, 5_003, 123_457];
    let urls: Vec<String> = sizes
        .iter()
        .map(|n| server.url(&format!("/big/{n}")))
        .collect();
    let mut args: Vec<&str> = urls.iter().map(String::as_str).collect();
    args.push("--stdout");
    let run = par_http(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Each body is one run of its own letter, whole: no two bodies interleave.
    let mut runs: Vec<(u8, usize)> = Vec::new();
    for &byte in &run.raw_stdout {
        match runs.last_mut() {
            Some((b, n)) if *b == byte => *n += 1,
            _ => runs.push((byte, 1)),
        }
    }
    let mut got: Vec<usize> = runs.iter().map(|(_, n)| *n).collect();
    got.sort_unstable();
    let mut want = sizes.to_vec();
    want.sort_unstable();
    assert_eq!(got, want);
    for (byte, n) in runs {
        assert_eq!(byte, b'a' + (n % 26) as u8);
    }
    // The report goes to stderr.
    assert!(
        run.stderr.contains("requests: 5 total, 5 succeeded"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(&format!("  {}", urls[0])));
}

#[test]
fn headers_bearer_and_basic_auth_are_sent() {
    let server = Server::start();
    let run = par_http(&[
        "-H",
        "X-One: 1",
        "--header",
        "x-two:  two words ",
        "--bearer",
        "t0k3n",
        &server.url("/h1"),
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let run = par_http(&["--user", "ann:se:cret", &server.url("/h2")]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let run = par_http(&["-u", "bob", &server.url("/h3")]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    let seen = server.seen();
    let get = |path: &str| seen.iter().find(|s| s.path == path).unwrap();
    assert_eq!(get("/h1").header("x-one"), Some("1"));
    assert_eq!(get("/h1").header("x-two"), Some("two words"));
    assert_eq!(get("/h1").header("authorization"), Some("Bearer t0k3n"));
    // base64("ann:se:cret") and base64("bob:")
    assert_eq!(
        get("/h2").header("authorization"),
        Some("Basic YW5uOnNlOmNyZXQ=")
    );
    assert_eq!(get("/h3").header("authorization"), Some("Basic Ym9iOg=="));
}

#[test]
fn a_body_from_a_file_or_a_literal() {
    let server = Server::start();
    let dir = temp_dir("body");
    let file = dir.join("body.bin");
    let payload: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    std::fs::write(&file, &payload).unwrap();
    let at_file = format!("@{}", file.display());

    let run = par_http(&["-X", "POST", "-d", &at_file, &server.url("/echo")]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let run = par_http(&["-X", "PUT", "-d", "a literal", &server.url("/put")]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let run = par_http(&["-d", "implied post", &server.url("/implied")]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let run = par_http_with_stdin(&["-d", "@-", &server.url("/stdin")], b"from stdin");
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let run = par_http(&["-X", "DELETE", &server.url("/gone")]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    let seen = server.seen();
    let get = |path: &str| seen.iter().find(|s| s.path == path).unwrap();
    assert_eq!(get("/echo").method, "POST");
    assert_eq!(get("/echo").body, payload);
    assert_eq!(get("/put").method, "PUT");
    assert_eq!(get("/put").body, b"a literal");
    assert_eq!(get("/implied").method, "POST");
    assert_eq!(get("/implied").body, b"implied post");
    assert_eq!(get("/stdin").body, b"from stdin");
    assert_eq!(get("/gone").method, "DELETE");
    assert!(get("/gone").body.is_empty());

    // The same body goes with every URL.
    let run = par_http(&["-d", "twice", &server.url("/echo"), &server.url("/echo")]);
    assert_eq!(run.code, 0);
    let echoes: Vec<Seen> = server
        .seen()
        .into_iter()
        .filter(|s| s.path == "/echo")
        .collect();
    assert_eq!(echoes.len(), 3);
    assert!(echoes[1..].iter().all(|s| s.body == b"twice"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn exit_code_is_1_when_any_request_fails() {
    let server = Server::start();
    let ok = server.url("/fine");
    let error_status = server.url("/status/500");
    let run = par_http(&[&ok, &error_status]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.line_for(&error_status).starts_with("500 "));
    assert!(
        run.stdout
            .contains("requests: 2 total, 1 succeeded, 1 failed\n")
    );
    assert!(
        run.stdout.contains("status: 200 x1, 500 x1\n"),
        "{}",
        run.stdout
    );

    let closed = closed_port_url();
    let run = par_http(&[&ok, &closed]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let line = run.line_for(&closed);
    assert!(line.starts_with("ERR "), "{line}");
    assert!(line.contains("error: connection failed"), "{line}");
    assert!(
        run.stdout.contains("status: 200 x1, error(connect) x1\n"),
        "{}",
        run.stdout
    );

    // An invalid URL fails its request, not the run.
    let run = par_http(&[&ok, "not a url"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("error(invalid-url) x1"),
        "{}",
        run.stdout
    );

    // 3xx counts as success; 4xx does not.
    assert_eq!(par_http(&[&server.url("/status/304")]).code, 0);
    assert_eq!(par_http(&[&server.url("/status/404")]).code, 1);
}

#[test]
fn exit_code_is_2_on_bad_usage() {
    let url = "http://127.0.0.1:1/";
    for args in [
        &[][..],
        &["--bogus", url],
        &["-j", "0", url],
        &["-j", "x", url],
        &["-H", "no-colon", url],
        &["-H", "X-Bad: a\r\nInjected: 1", url],
        &["-o", "/tmp", "--stdout", url],
        &["--timeout", "soon", url],
        &["--retries", "-1", url],
        &["--retry-delay", "soon", url],
        &["--retry-max-time", "-3", url],
        &["-d", "@/nonexistent/par-http-body", url],
        &["-i", "/nonexistent/par-http-list"],
        &["-j"],
    ] {
        let run = par_http(args);
        assert_eq!(run.code, 2, "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stderr.starts_with("par-http: "),
            "{args:?}: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
    }
}

#[test]
fn retries_repeat_a_flaky_request_in_the_same_run() {
    let server = Server::start();
    let flaky = server.url("/flaky/a");
    let run = par_http(&["--retries", "2", &flaky, &server.url("/steady")]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(server.requests_to("/flaky/a"), 2);
    assert_eq!(server.requests_to("/steady"), 1);
    let line = run.line_for(&flaky);
    assert!(
        line.starts_with("200 ") && line.ends_with("(1 retry)"),
        "{line}"
    );
    assert!(
        run.stdout.contains("retries: 1 (of 1 urls)\n"),
        "{}",
        run.stdout
    );

    // Without --retries the first answer stands.
    let run = par_http(&[&server.url("/flaky/b")]);
    assert_eq!(run.code, 1);
    assert_eq!(server.requests_to("/flaky/b"), 1);

    // A connection closed before any answer is retried too.
    let run = par_http(&["--retries", "1", &server.url("/drop/c")]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(server.requests_to("/drop/c"), 2);
}

#[test]
fn retries_give_up_after_n() {
    let server = Server::start();
    let run = par_http(&["--retries", "2", &server.url("/status/503")]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(server.requests_to("/status/503"), 3);
    assert!(run.stdout.contains("status: 503 x1\n"), "{}", run.stdout);
    assert!(
        run.line_for(&server.url("/status/503"))
            .ends_with("(2 retries)")
    );
    // Not retried: a 4xx.
    let run = par_http(&["--retries", "2", &server.url("/status/404")]);
    assert_eq!(run.code, 1);
    assert_eq!(server.requests_to("/status/404"), 1);
}

#[test]
fn timeout_fails_a_slow_request() {
    let server = Server::start();
    let run = par_http(&[
        "--timeout",
        "0.2",
        &server.url("/slow"),
        &server.url("/quick"),
    ]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.line_for(&server.url("/slow"))
            .contains("error: request timed out")
    );
    assert!(
        run.stdout.contains("status: 200 x1, error(timeout) x1\n"),
        "{}",
        run.stdout
    );
}

/// An HTTPS server with a self-signed certificate for `localhost`: every request gets
/// `200 secure`. Returns its `https://localhost:PORT/` URL.
fn self_signed_https_server() -> String {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { return };
            let config = config.clone();
            thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
                let connection = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(connection, tcp);
                // A client that refuses the certificate ends here with an error.
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match tls.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let reply =
                    "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecure";
                let _ = tls.write_all(reply.as_bytes());
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    format!("https://localhost:{port}/")
}

#[test]
fn insecure_accepts_a_self_signed_certificate_and_warns_loudly() {
    let url = self_signed_https_server();
    let run = par_http(&[&url]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("status: error(tls) x1\n"),
        "{}",
        run.stdout
    );
    assert!(!run.stderr.contains("WARNING"), "{}", run.stderr);

    let run = par_http(&["--insecure", &url]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.line_for(&url).starts_with("200 "));
    assert!(run.stderr.contains("WARNING"), "{}", run.stderr);
    assert!(run.stderr.contains("NOT verified"), "{}", run.stderr);
}

#[test]
fn quiet_prints_the_summary_only() {
    let server = Server::start();
    let run = par_http(&["-q", &server.url("/q1"), &server.url("/q2")]);
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.starts_with("requests: 2 total"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("/q1"));
}

#[test]
fn help_and_version() {
    let run = par_http(&["--help"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.starts_with("usage: par-http"));
    for flag in [
        "-j, --jobs",
        "-o, --output-dir",
        "--stdout",
        "--retries",
        "--retry-delay",
        "--retry-max-time",
        "-f, --fail",
        "--insecure",
        "--http1.1",
        "--http2",
        "--http2-prior-knowledge",
    ] {
        assert!(run.stdout.contains(flag), "{flag}");
    }
    let run = par_http(&["-V"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.starts_with("par-http 0."));
}

#[test]
fn proxy_noproxy_and_the_environment() {
    let proxy = Server::start();
    let proxy_url = format!("http://{}", proxy.addr);
    // The test server answers the absolute-form target it was sent: it acts as the proxy.
    let run = par_http(&["--proxy", &proxy_url, "http://app.test:9/x"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(proxy.requests_to("http://app.test:9/x"), 1);
    let run = par_http_in_env(&["http://env.test:9/y"], b"", &[("http_proxy", &proxy_url)]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(proxy.requests_to("http://env.test:9/y"), 1);
    // --noproxy sends a listed host direct, whatever the environment says.
    let direct = Server::start();
    let run = par_http_in_env(
        &["--noproxy", "127.0.0.1", &direct.url("/d")],
        b"",
        &[("http_proxy", &closed_port_url())],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(direct.requests_to("/d"), 1);
    let run = par_http(&["--proxy", "ftp://nope", "http://a.test/"]);
    assert_eq!(run.code, 2);
}

#[test]
fn cookies_from_the_command_line_and_a_jar_file() {
    let server = Server::start();
    let dir = temp_dir("cookies");
    let jar = dir.join("jar.json");
    let jar_arg = jar.to_str().unwrap();
    let run = par_http(&["-b", "a=1", "-c", jar_arg, &server.url("/setcookie")]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let seen = server.seen();
    assert_eq!(seen[0].header("cookie"), Some("a=1"));
    let saved = std::fs::read_to_string(&jar).unwrap();
    assert!(saved.contains("from"), "{saved}");
    // Read back with -b FILE: the server's cookie and the command line's.
    let run = par_http(&["-b", jar_arg, &server.url("/again")]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let seen = server.seen();
    let again = seen.iter().find(|s| s.path == "/again").unwrap();
    let mut cookies: Vec<&str> = again.header("cookie").unwrap().split("; ").collect();
    cookies.sort_unstable();
    assert_eq!(cookies, ["a=1", "from=server"]);
}

#[test]
fn retries_use_the_policy_and_count_the_attempts() {
    let server = Server::start();
    // The server fails each URL's first attempt (500, or a connection closed without
    // an answer) and counts the attempts it sees.
    let flaky = server.url("/flaky/policy");
    let dropped = server.url("/drop/policy");
    let run = par_http(&["--retries", "3", "--retry-delay", "0.05", &flaky, &dropped]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(server.requests_to("/flaky/policy"), 2);
    assert_eq!(server.requests_to("/drop/policy"), 2);
    for url in [&flaky, &dropped] {
        let line = run.line_for(url);
        assert!(
            line.starts_with("200 ") && line.ends_with("(1 retry)"),
            "{line}"
        );
    }
    assert!(
        run.stdout.contains("retries: 2 (of 2 urls)\n"),
        "{}",
        run.stdout
    );
    // A POST (-d) is retried too, as curl does.
    let run = par_http(&["--retries", "1", "-d", "x", &server.url("/flaky/post")]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(server.requests_to("/flaky/post"), 2);
}

#[test]
fn retry_max_time_stops_retries_that_would_start_too_late() {
    let server = Server::start();
    // Each retry would wait 30 s, past the 0.5 s allowed: the first 503 stands. (Were the
    // limit ignored, the run would take 90 s and the helper would fail it at 60 s.)
    let url = server.url("/status/503");
    let run = par_http(&[
        "--retries",
        "3",
        "--retry-delay",
        "30",
        "--retry-max-time",
        "0.5",
        &url,
    ]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(server.requests_to("/status/503"), 1);
    assert!(!run.line_for(&url).contains("retr"), "{}", run.stdout);
}

#[test]
fn fail_makes_an_error_status_a_failure_without_a_file() {
    let server = Server::start();
    let dir = temp_dir("fail");
    let missing = server.url("/status/404");
    let broken = server.url("/status/500");
    let run = par_http(&[
        "-f",
        "-o",
        dir.to_str().unwrap(),
        &server.url("/ok.txt"),
        &missing,
        &broken,
    ]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(file_names(&dir), ["ok.txt"]);
    let line = run.line_for(&missing);
    assert!(line.starts_with("404 "), "{line}");
    assert!(line.contains("error: HTTP 404 Not Found"), "{line}");
    assert!(!line.contains("->"), "{line}");
    assert!(
        run.stdout
            .contains("requests: 3 total, 1 succeeded, 2 failed\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("status: 200 x1, 404 x1, 500 x1\n"),
        "{}",
        run.stdout
    );
    // Without --fail the body of the 404 is saved, and still fails the run.
    let run = par_http(&["-o", dir.to_str().unwrap(), &missing]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(file_names(&dir), ["404", "ok.txt"]);
    // Nor is the body written to stdout.
    let run = par_http(&["--fail", "--stdout", &missing, &server.url("/fine")]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.stdout, "body of /fine");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_body_broken_off_leaves_neither_its_file_nor_a_temporary() {
    let server = Server::start();
    let dir = temp_dir("cut");
    // 100 KB of a 200 KB body, then the connection closes: a file streamed by a writer.
    let cut = server.url("/cut/100000");
    let small_cut = server.url("/cut/10");
    let run = par_http(&[
        "-o",
        dir.to_str().unwrap(),
        &cut,
        &small_cut,
        &server.url("/whole.txt"),
    ]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.line_for(&cut).contains("error: "), "{}", run.stdout);
    assert!(
        run.line_for(&small_cut).contains("error: "),
        "{}",
        run.stdout
    );
    assert_eq!(file_names(&dir), ["whole.txt"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[cfg(unix)]
#[test]
fn ctrl_c_cancels_the_run_and_removes_the_temporaries() {
    let server = Server::start();
    let dir = temp_dir("ctrl-c");
    // 1.5 MB of a 3 MB body arrive, then the server holds the rest; another URL is never
    // answered before the run ends.
    let mut child = command(&[
        "-o",
        dir.to_str().unwrap(),
        &server.url("/partial/1500000"),
        &server.url("/hold/never?n=99"),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let pid = child.id();
    let part = dir.join(format!(".1500000.part-{pid}"));
    // The body is being written under its temporary name (10 s at most).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !part.exists() {
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!("no {} appeared: {:?}", part.display(), file_names(&dir));
        }
        thread::sleep(Duration::from_millis(10));
    }
    let kill = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = wait_bounded(&mut child, Duration::from_secs(20));
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("par-http: interrupted"), "{stderr}");
    assert_eq!(file_names(&dir), Vec::<String>::new());
    // The request in flight was dropped: its connection is closed (5 s at most).
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.state.partials_closed.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "the held connection is still open"
        );
        thread::sleep(Duration::from_millis(10));
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// Runs the binary with stdout and stderr in one file, as a terminal shows them or as
/// `> FILE 2>&1` writes them; returns the file's text and the exit code.
fn par_http_one_stream(args: &[&str], name: &str) -> (String, i32) {
    let dir = temp_dir(name);
    let path = dir.join("out.txt");
    let file = std::fs::File::create(&path).unwrap();
    let mut child = command(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(file.try_clone().unwrap()))
        .stderr(Stdio::from(file))
        .spawn()
        .unwrap();
    let status = wait_bounded(&mut child, Duration::from_secs(60));
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_dir_all(dir).unwrap();
    (text, status.code().unwrap_or(-1))
}

#[test]
fn stdout_bodies_without_a_newline_do_not_swallow_the_report() {
    let server = Server::start();
    let urls = [server.url("/n1"), server.url("/n2"), server.url("/n3")];
    let (text, code) = par_http_one_stream(
        &["--stdout", "-j", "1", &urls[0], &urls[1], &urls[2]],
        "one-stream",
    );
    assert_eq!(code, 0, "{text}");
    // Each body, which has no newline of its own, is followed by a line break before
    // the report's line; the summary starts a line too.
    for url in &urls {
        let path = url.rsplit('/').next().unwrap();
        let line = text
            .lines()
            .find(|line| line.contains(&format!("  {url}")))
            .unwrap_or_else(|| panic!("no line for {url} in:\n{text}"));
        assert!(line.starts_with("200 "), "{line:?} in:\n{text}");
        assert!(text.contains(&format!("body of /{path}\n200 ")), "{text}");
    }
    assert!(
        text.lines()
            .any(|line| line.starts_with("requests: 3 total, 3 succeeded")),
        "{text}"
    );
}

/// The progress bar as a terminal sees it: the binary runs with stdout and stderr on a
/// pseudo-terminal (rustix), and what it draws is read from the other end.
#[cfg(unix)]
#[test]
fn the_progress_bar_draws_on_a_terminal() {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};

    let open = || -> std::io::Result<(std::fs::File, std::fs::File)> {
        let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
        let master = openpt(flags)?;
        grantpt(&master)?;
        unlockpt(&master)?;
        let name = ptsname(&master, Vec::new())?;
        let size = rustix::termios::Winsize {
            ws_row: 40,
            ws_col: 160,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&master, size)?;
        let slave = rustix::fs::open(
            name.as_c_str(),
            rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )?;
        Ok((std::fs::File::from(master), std::fs::File::from(slave)))
    };
    let (mut master, slave) = match open() {
        Ok(pair) => pair,
        Err(err) => {
            eprintln!("skipped: no pseudo-terminal on this machine ({err})");
            return;
        }
    };

    let server = Server::start();
    // Two bodies of 10 bytes at once, then one that takes a second: the bar has time
    // to show 2 of 3 done and 20 B.
    let urls = [
        server.url("/a"),
        server.url("/b"),
        server.url("/sleep/1000"),
    ];
    let mut child = {
        let mut command = command(&[&urls[0], &urls[1], &urls[2]]);
        command
            .env("TERM", "xterm-256color")
            .stdin(Stdio::null())
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        command.spawn().unwrap()
        // `command` goes here with its ends of the terminal: the child holds the last.
    };
    let (sender, received) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        // Ends with EIO (Linux) or 0 once the child's ends are closed.
        while let Ok(n @ 1..) = master.read(&mut buf) {
            seen.extend_from_slice(&buf[..n]);
        }
        let _ = sender.send(seen);
    });
    let status = wait_bounded(&mut child, Duration::from_secs(60));
    let seen = received.recv_timeout(Duration::from_secs(10)).unwrap();
    let text = String::from_utf8_lossy(&seen);
    assert_eq!(status.code(), Some(0), "{text}");
    // The bar: done/total and bytes, then its line cleared for the report.
    assert!(text.contains("2/3  20 B"), "no bar in {text:?}");
    assert!(text.contains("failed"), "{text:?}");
    assert!(text.contains("requests: 3 total, 3 succeeded"), "{text:?}");
}
