//! Checks the test servers themselves with plain `std::net::TcpStream` clients, so that
//! a failure elsewhere in the suite can be blamed on the library, not on the equipment.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use support::{HyperServer, ScriptedServer, WAIT};

fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream
}

fn get(stream: &mut TcpStream, buf: &mut Vec<u8>, target: &str) -> support::RawResponse {
    let request = format!("GET {target} HTTP/1.1\r\nHost: test\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    support::read_response(stream, buf).unwrap()
}

/// Runs `f` on a thread and says whether it finished within `WAIT`.
fn finishes(f: impl FnOnce() + Send + 'static) -> bool {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    rx.recv_timeout(WAIT).is_ok()
}

#[test]
fn scripted_always_answers_every_request_on_one_connection() {
    let server = ScriptedServer::always(support::ok("same"));
    let mut stream = connect(server.addr());
    let mut buf = Vec::new();
    for _ in 0..3 {
        let response = get(&mut stream, &mut buf, "/x");
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"same");
    }
    assert_eq!(server.accepted(), 1);
    assert_eq!(server.requests(), 3);
    drop(stream);
    assert!(server.wait_until(|s| s.closed_by_peer == 1 && s.open == 0, WAIT));
}

#[test]
fn scripted_reads_request_bodies_by_length_and_chunked() {
    let server = ScriptedServer::always(support::ok(""));
    let mut stream = connect(server.addr());
    let mut buf = Vec::new();
    stream
        .write_all(b"POST /a?q=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    support::read_response(&mut stream, &mut buf).unwrap();
    stream
        .write_all(
            b"PUT /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
              3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n",
        )
        .unwrap();
    support::read_response(&mut stream, &mut buf).unwrap();

    let log = server.request_log();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].method, "POST");
    assert_eq!(log[0].target, "/a?q=1");
    assert_eq!(log[0].path(), "/a");
    assert_eq!(log[0].header("content-length"), Some("5"));
    assert_eq!(log[0].body, b"hello");
    assert!(log[0].head.ends_with(b"\r\n\r\n"));
    assert_eq!(log[1].method, "PUT");
    assert_eq!(log[1].body, b"abcde");
}

#[test]
fn scripted_replies_serve_the_list_then_close() {
    let server = ScriptedServer::replies(vec![support::ok("one"), support::ok("two")]);
    let mut stream = connect(server.addr());
    let mut buf = Vec::new();
    assert_eq!(get(&mut stream, &mut buf, "/1").body, b"one");
    assert_eq!(get(&mut stream, &mut buf, "/2").body, b"two");
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty() && buf.is_empty());
    drop(stream);
    assert!(server.wait_until(|s| s.open == 0, WAIT));
    assert_eq!(server.accepted(), 1);
}

#[test]
fn scripted_sees_the_client_close() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handler_seen = Arc::clone(&seen);
    let server = ScriptedServer::new(move |conn| {
        if conn.read_request().is_some() {
            let closed = conn.wait_for_close(WAIT);
            handler_seen.lock().unwrap().push((conn.index(), closed));
        }
    });
    let mut stream = connect(server.addr());
    stream
        .write_all(b"GET /never HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert!(server.wait_until(|s| s.in_flight == 1, WAIT));
    drop(stream);
    assert!(server.wait_until(|s| s.closed_by_peer == 1 && s.open == 0, WAIT));
    assert_eq!(*seen.lock().unwrap(), vec![(0, true)]);
    // The request never got a reply; its in-flight count ended with the connection.
    assert_eq!(server.stats().in_flight, 0);
}

#[test]
fn scripted_in_flight_gauge_counts_parallel_requests() {
    const N: usize = 4;
    let server = ScriptedServer::new(|conn| {
        while conn.read_request().is_some() {
            conn.wait_until(|s| s.max_in_flight >= N, WAIT);
            conn.write_all(&support::ok("gated"));
        }
    });
    let addr = server.addr();
    thread::scope(|scope| {
        for _ in 0..N {
            scope.spawn(move || {
                let mut stream = connect(addr);
                let response = get(&mut stream, &mut Vec::new(), "/gate");
                assert_eq!(response.body, b"gated");
            });
        }
    });
    let stats = server.stats();
    assert_eq!(stats.max_in_flight, N);
    assert_eq!(stats.accepted, N);
    assert_eq!(stats.max_open, N);
    assert_eq!(stats.in_flight, 0);
}

#[test]
fn scripted_drop_does_not_hang_on_live_connections() {
    let server = ScriptedServer::new(|conn| {
        conn.read_request();
        conn.wait_for_close(Duration::from_secs(60));
    });
    let mut stream = connect(server.addr());
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert!(server.wait_until(|s| s.in_flight == 1, WAIT));
    assert!(finishes(move || drop(server)));
    // The server shut the connection down on drop.
    let mut rest = Vec::new();
    assert!(matches!(stream.read_to_end(&mut rest), Ok(0) | Err(_)));
}

#[test]
fn closed_port_refuses_connections() {
    let url = support::closed_port_url();
    let addr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn hyper_routes_answer_on_one_keep_alive_connection() {
    let server = HyperServer::start();
    let mut stream = connect(server.addr());
    let mut buf = Vec::new();

    let small = get(&mut stream, &mut buf, "/small");
    assert_eq!(
        (small.status, small.body.as_slice()),
        (200, &b"hello, world!"[..])
    );
    assert_eq!(small.header("x-connection"), Some("0"));

    let delay = get(&mut stream, &mut buf, "/delay?ms=5");
    assert_eq!(delay.body, b"/delay?ms=5");

    assert_eq!(get(&mut stream, &mut buf, "/status/404").status, 404);
    let no_content = get(&mut stream, &mut buf, "/status/204");
    assert_eq!((no_content.status, no_content.body.len()), (204, 0));

    let bytes = get(&mut stream, &mut buf, "/bytes?n=5000");
    assert_eq!(bytes.header("content-length"), Some("5000"));
    assert_eq!(bytes.body, support::pattern(5000));

    let chunked = get(&mut stream, &mut buf, "/chunked?n=3001");
    assert_eq!(chunked.header("transfer-encoding"), Some("chunked"));
    assert_eq!(chunked.body, support::pattern(3001));

    stream
        .write_all(b"PATCH /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nping")
        .unwrap();
    let echo = support::read_response(&mut stream, &mut buf).unwrap();
    assert_eq!(echo.body, b"ping");
    assert_eq!(echo.header("x-method"), Some("PATCH"));

    let stats = server.stats();
    assert_eq!((stats.accepted, stats.requests, stats.in_flight), (1, 7, 0));
}

#[test]
fn hyper_gate_answers_once_n_requests_wait_together() {
    const N: usize = 5;
    let server = HyperServer::start();
    let addr = server.addr();
    thread::scope(|scope| {
        for _ in 0..N {
            scope.spawn(move || {
                let mut stream = connect(addr);
                let response = get(&mut stream, &mut Vec::new(), &format!("/gate?n={N}"));
                assert_eq!(response.status, 200);
            });
        }
    });
    assert_eq!(server.max_in_flight(), N);
    assert_eq!(server.accepted(), N);
}

#[test]
fn hyper_never_is_released_when_the_client_goes_away() {
    let server = HyperServer::start();
    let mut stream = connect(server.addr());
    stream
        .write_all(b"GET /never HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert!(server.wait_until(|s| s.in_flight == 1, WAIT));
    drop(stream);
    assert!(server.wait_until(|s| s.open == 0 && s.in_flight == 0, WAIT));
}

#[test]
fn hyper_drop_does_not_hang_with_a_held_request() {
    let server = HyperServer::start();
    let mut stream = connect(server.addr());
    stream
        .write_all(b"GET /never HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert!(server.wait_until(|s| s.in_flight == 1, WAIT));
    assert!(finishes(move || drop(server)));
    let mut rest = Vec::new();
    assert!(matches!(stream.read_to_end(&mut rest), Ok(0) | Err(_)));
}
