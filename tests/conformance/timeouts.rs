//! Time limits, through the parallel scope (blocking and async) on this runtime: connect,
//! read (idle time between received bytes, for the head and the body), total per request
//! (head and body), and the scope-wide deadline. Each failure is an `is_timeout()` error
//! naming its phase and its request; a timed-out connection is closed.
//!
//! Waits are sub-second; assertions are on phases, outcomes and server gauges, never on
//! elapsed time.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use futures_lite::StreamExt;
use par_http::{ParallelConfig, TimeoutPhase};

use crate::rt;
use crate::support::{ScriptedServer, ScriptedStats, WAIT, holding_server};

const SHORT: Duration = Duration::from_millis(300);

/// Waits, without blocking the runtime, until the server's gauges satisfy `cond`.
async fn eventually(server: &ScriptedServer, cond: impl Fn(&ScriptedStats) -> bool) -> bool {
    super::eventually(|| server.stats(), cond).await
}

fn assert_timeout(err: &par_http::Error, phase: TimeoutPhase) {
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.timeout_phase(), Some(phase), "{err:?}");
    assert!(err.url().is_some(), "a timeout names its request: {err:?}");
}

/// Answers each request with a head and `body` announced by Content-Length, writing the
/// body one byte every `gap`.
fn trickling_server(body: &'static [u8], gap: Duration) -> ScriptedServer {
    ScriptedServer::new(move |conn| {
        while conn.read_request().is_some() {
            conn.write_all(
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes(),
            );
            for byte in body {
                std::thread::sleep(gap);
                conn.write_all(&[*byte]);
            }
        }
    })
}

/// Sends a head and the first half of a 10-byte body, then stalls until the client closes.
fn stalling_body_server() -> ScriptedServer {
    ScriptedServer::new(|conn| {
        if conn.read_request().is_some() {
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello");
            conn.wait_for_close(WAIT);
        }
    })
}

#[test]
fn a_read_timeout_fires_while_the_head_does_not_come() {
    let server = holding_server();
    let client = rt::builder().read_timeout(SHORT).build().unwrap();
    let err = client
        .parallel(|p| p.get(server.url("/silent")).get_response())
        .unwrap_err();
    assert_timeout(&err, TimeoutPhase::Head);
    assert!(
        server.wait_until(|s| s.closed_by_peer == 1, WAIT),
        "{:?}",
        server.stats()
    );
}

#[test]
fn a_total_timeout_fires_while_the_head_does_not_come() {
    let server = holding_server();
    let client = rt::builder().timeout(SHORT).build().unwrap();
    let err = client
        .parallel(|p| p.get(server.url("/silent")).get_response())
        .unwrap_err();
    assert_timeout(&err, TimeoutPhase::Total);
    assert!(
        server.wait_until(|s| s.closed_by_peer == 1, WAIT),
        "{:?}",
        server.stats()
    );
}

#[test]
fn a_per_request_timeout_overrides_the_clients() {
    let server = holding_server();
    let client = rt::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let err = client
        .parallel(|p| {
            p.request(par_http::Method::GET, server.url("/silent"))
                .timeout(SHORT)
                .send()
                .get_response()
        })
        .unwrap_err();
    assert_timeout(&err, TimeoutPhase::Total);
}

#[test]
fn a_trickling_body_passes_a_read_timeout_but_not_a_total_one() {
    // Four bytes, one every 200 ms: never idle for 1 s, but longer than 500 ms in all.
    let server = trickling_server(b"abcd", Duration::from_millis(200));
    let patient = rt::builder()
        .read_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let body = patient
        .parallel(|p| p.get(server.url("/trickle")).get_response()?.bytes())
        .unwrap();
    assert_eq!(&body[..], b"abcd");

    let hurried = rt::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let err = hurried
        .parallel(|p| {
            // The head comes at once: the deadline goes on with the body.
            let response = p.get(server.url("/trickle")).get_response()?;
            assert_eq!(response.status(), 200);
            response.bytes()
        })
        .unwrap_err();
    assert_timeout(&err, TimeoutPhase::Total);
}

#[test]
fn a_read_timeout_fires_between_body_bytes_and_closes_the_connection() {
    let server = stalling_body_server();
    let client = rt::builder().read_timeout(SHORT).build().unwrap();
    let err = client
        .parallel(|p| {
            let response = p.get(server.url("/stall")).get_response()?;
            assert_eq!(response.status(), 200);
            // Read on this thread, outside the client's runtime.
            response.bytes()
        })
        .unwrap_err();
    assert_timeout(&err, TimeoutPhase::Body);
    assert!(
        server.wait_until(|s| s.closed_by_peer == 1, WAIT),
        "{:?}",
        server.stats()
    );
}

#[test]
fn a_read_timeout_in_the_async_scope() {
    let silent = holding_server();
    let stalling = stalling_body_server();
    rt::block_on(async {
        let client = rt::AsyncClient::builder()
            .read_timeout(SHORT)
            .build()
            .unwrap();
        let parallel = client.parallel();
        let head = parallel.get(silent.url("/silent")).await;
        // Read in the background, the body's timeout is the outcome itself...
        let body = parallel.get(stalling.url("/stall")).await;
        // ...and streamed, it comes from the body.
        let streamed = parallel
            .request(par_http::Method::GET, stalling.url("/stall"))
            .stream()
            .send()
            .await;
        let err = head.get_response().await.unwrap_err();
        assert_timeout(&err, TimeoutPhase::Head);
        let err = body.get_response().await.unwrap_err();
        assert_timeout(&err, TimeoutPhase::Body);
        assert_eq!(err.index(), Some(1));
        let response = streamed.get_response().await.unwrap();
        let err = response.bytes().await.unwrap_err();
        assert_timeout(&err, TimeoutPhase::Body);
        assert!(eventually(&stalling, |s| s.closed_by_peer == 2).await);
    });
}

#[test]
fn trickling_bodies_in_the_async_scope_on_a_multi_thread_runtime() {
    let server = trickling_server(b"abcd", Duration::from_millis(200));
    rt::block_on_multi_thread(async {
        let patient = rt::AsyncClient::builder()
            .read_timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        let parallel = patient.parallel();
        let one = parallel.get(server.url("/1")).await;
        let two = parallel.get(server.url("/2")).await;
        for pending in [one, two] {
            let body = pending.get_response().await.unwrap().bytes().await.unwrap();
            assert_eq!(&body[..], b"abcd");
        }

        let hurried = rt::AsyncClient::builder()
            .timeout(Duration::from_millis(500))
            .build()
            .unwrap();
        let parallel = hurried.parallel_with(par_http::ParallelConfig::new().stream_bodies());
        parallel.get(server.url("/3")).await;
        let response = parallel.next_response().await.unwrap();
        let err = response.bytes().await.unwrap_err();
        assert_timeout(&err, TimeoutPhase::Total);
        // Read in the background, the timeout is the outcome.
        let parallel = hurried.parallel();
        parallel.get(server.url("/4")).await;
        let err = parallel.next_response().await.unwrap_err();
        assert_timeout(&err, TimeoutPhase::Total);
    });
}

/// A listener on 127.0.0.1 whose accept queue is full (backlog 0, never accepted), so a
/// further connection attempt waits for an answer to its SYN that does not come. `None`
/// if this system completes connections anyway (then a connect timeout cannot be shown
/// without a non-routable address, which tests must never use).
fn full_backlog_listener() -> Option<(socket2::Socket, Vec<TcpStream>, SocketAddr)> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).ok()?;
    let addr: SocketAddr = "127.0.0.1:0".parse().ok()?;
    socket.bind(&addr.into()).ok()?;
    socket.listen(0).ok()?;
    let addr = socket.local_addr().ok()?.as_socket()?;
    let mut queued = Vec::new();
    for _ in 0..8 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(stream) => queued.push(stream),
            Err(_) => return Some((socket, queued, addr)),
        }
    }
    None
}

#[test]
fn a_connect_timeout_fires_when_the_server_does_not_complete_the_handshake() {
    let Some((_listener, _queued, addr)) = full_backlog_listener() else {
        eprintln!("skipped: this system completes connections past a full backlog");
        return;
    };
    let client = rt::builder().connect_timeout(SHORT).build().unwrap();
    let url = format!("http://{addr}/");
    let err = client.parallel(|p| p.get(&url).get_response()).unwrap_err();
    assert_timeout(&err, TimeoutPhase::Connect);
    let err = rt::block_on(async {
        let client = rt::AsyncClient::builder()
            .connect_timeout(SHORT)
            .build()
            .unwrap();
        let parallel = client.parallel();
        parallel.get(&url).await.get_response().await.unwrap_err()
    });
    assert_timeout(&err, TimeoutPhase::Connect);
}

/// Answers `/fast` at once and holds every other request until the client closes.
fn fast_or_held_server() -> ScriptedServer {
    ScriptedServer::new(|conn| {
        while let Some(request) = conn.read_request() {
            if request.path() == "/fast" {
                conn.write_all(&crate::support::ok("fast"));
            } else {
                conn.wait_for_close(WAIT);
                return;
            }
        }
    })
}

#[test]
fn a_scope_deadline_cancels_what_is_left_with_timeouts_delivered_once() {
    const HELD: usize = 4;
    let server = fast_or_held_server();
    let client = rt::client();
    let config = ParallelConfig::new().deadline(Duration::from_millis(600));
    client
        .parallel_with(config, |p| {
            let fast = p.get(server.url("/fast"));
            let held: Vec<_> = (0..HELD)
                .map(|i| p.get(server.url(&format!("/held/{i}"))))
                .collect();
            assert_eq!(fast.get_response()?.text()?, "fast");
            // One through its handle, the rest in completion order.
            let mut held = held.into_iter();
            if let Some(first) = held.next() {
                assert_timeout(
                    &first.get_response().unwrap_err(),
                    TimeoutPhase::ScopeDeadline,
                );
            }
            drop(held);
            let mut timeouts = 1;
            while p.has_pending_responses() {
                let err = p.next_response().unwrap_err();
                assert_timeout(&err, TimeoutPhase::ScopeDeadline);
                timeouts += 1;
            }
            assert_eq!(timeouts, HELD);
            assert!(p.next_response().unwrap_err().is_no_pending());
            // The deadline has passed: a new request fails at once, without a connection.
            let requests = server.requests();
            let late = p.get(server.url("/fast")).get_response().unwrap_err();
            assert_timeout(&late, TimeoutPhase::ScopeDeadline);
            assert_eq!(server.requests(), requests);
            Ok(())
        })
        .unwrap();
    assert!(
        server.wait_until(|s| s.closed_by_peer >= HELD, WAIT),
        "every held connection is closed: {:?}",
        server.stats()
    );
}

#[test]
fn a_scope_deadline_also_ends_a_body_still_being_read() {
    let server = stalling_body_server();
    let client = rt::client();
    let config = ParallelConfig::new().deadline(SHORT);
    let err = client
        .parallel_with(config, |p| {
            p.get(server.url("/stall")).get_response()?.bytes()
        })
        .unwrap_err();
    assert_timeout(&err, TimeoutPhase::ScopeDeadline);
    assert!(
        server.wait_until(|s| s.closed_by_peer == 1, WAIT),
        "{:?}",
        server.stats()
    );
}

#[test]
fn a_scope_deadline_in_the_async_scope() {
    const HELD: usize = 4;
    let server = fast_or_held_server();
    rt::block_on(async {
        let client = rt::AsyncClient::new();
        let mut parallel =
            client.parallel_with(ParallelConfig::new().deadline(Duration::from_millis(600)));
        parallel.get(server.url("/fast")).await;
        for i in 0..HELD {
            parallel.get(server.url(&format!("/held/{i}"))).await;
        }
        let (mut fast, mut timeouts) = (0, 0);
        while let Some(outcome) = parallel.next().await {
            match outcome {
                Ok(response) => {
                    assert_eq!(response.text().await.unwrap(), "fast");
                    fast += 1;
                }
                Err(err) => {
                    assert_timeout(&err, TimeoutPhase::ScopeDeadline);
                    timeouts += 1;
                }
            }
        }
        assert_eq!((fast, timeouts), (1, HELD));
        let late = parallel
            .get(server.url("/fast"))
            .await
            .get_response()
            .await
            .unwrap_err();
        assert_timeout(&late, TimeoutPhase::ScopeDeadline);
        assert!(
            eventually(&server, |s| s.closed_by_peer >= HELD).await,
            "{:?}",
            server.stats()
        );
    });
}

#[test]
fn a_scope_deadline_stops_a_start_waiting_for_a_slot() {
    let server = holding_server();
    rt::block_on(async {
        let client = rt::AsyncClient::new();
        let config = ParallelConfig::new().max_in_flight(1).deadline(SHORT);
        let parallel = client.parallel_with(config);
        let held = parallel.get(server.url("/held")).await;
        // No free slot until the deadline cancels `held`: this start must not hang.
        let waiting = parallel.get(server.url("/waiting")).await;
        assert_timeout(
            &held.get_response().await.unwrap_err(),
            TimeoutPhase::ScopeDeadline,
        );
        assert_timeout(
            &waiting.get_response().await.unwrap_err(),
            TimeoutPhase::ScopeDeadline,
        );
    });
    assert_eq!(server.requests(), 1, "the second request never went out");
}

#[test]
fn without_limits_a_slow_answer_is_still_received() {
    // The timers are armed and re-armed on a keep-alive connection across requests:
    // a second exchange on the same connection must not see a stale deadline.
    let server = ScriptedServer::new(|conn| {
        while conn.read_request().is_some() {
            std::thread::sleep(Duration::from_millis(100));
            conn.write_all(&crate::support::ok("late"));
        }
    });
    let client = rt::builder()
        .read_timeout(Duration::from_millis(400))
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for _ in 0..2 {
        let text = client
            .parallel(|p| p.get(server.url("/slow")).get_response()?.text())
            .unwrap();
        assert_eq!(text, "late");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(server.accepted(), 1, "{:?}", server.stats());
}
