//! The pool against hostile servers: a connection is reused only after a complete, cleanly
//! framed exchange that allows it (RFC 9112 §9.3); everything else is closed, and a stale
//! or broken connection never costs a request its right outcome.
//!
//! Each case sends several GETs in turn through each API and counts the connections the
//! server accepted.

use std::io::Read;
use std::time::{Duration, Instant};

use super::Kind::Protocol;
use super::{APIS, Api, Expect, Serve, check_sequence, err, ok};
use crate::support::{ScriptedServer, ServerConn, WAIT};

/// A server that answers every request on a connection with `reply`, until the client closes.
fn always(reply: &'static [u8]) -> Serve {
    Serve::script(move |conn| {
        while conn.read_request().is_some() {
            conn.write_all(reply);
        }
    })
}

/// `n` expected outcomes, each `ok(body)`.
fn oks(n: usize, body: &str) -> Vec<Expect> {
    (0..n).map(|_| ok(body)).collect()
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

#[test]
fn keep_alive_reuses_one_connection() {
    check_sequence(
        "keep_alive_reuses_one_connection",
        &always(OK),
        &oks(4, "ok"),
        1,
    );
}

#[test]
fn chunked_with_trailers_is_reused() {
    let reply =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\n";
    check_sequence(
        "chunked_with_trailers_is_reused",
        &always(reply),
        &oks(4, "ok"),
        1,
    );
}

#[test]
fn connection_close_is_not_reused() {
    let reply = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok";
    check_sequence(
        "connection_close_is_not_reused",
        &always(reply),
        &oks(3, "ok"),
        3,
    );
}

#[test]
fn connection_close_among_other_options_is_not_reused() {
    let reply = b"HTTP/1.1 200 OK\r\nConnection: x-a, CLOSE\r\nContent-Length: 2\r\n\r\nok";
    check_sequence(
        "connection_close_among_other_options_is_not_reused",
        &always(reply),
        &oks(3, "ok"),
        3,
    );
}

#[test]
fn http_1_0_without_keep_alive_is_not_reused() {
    let reply = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok";
    check_sequence(
        "http_1_0_without_keep_alive",
        &always(reply),
        &oks(3, "ok"),
        3,
    );
}

#[test]
fn http_1_0_with_keep_alive_is_reused() {
    let reply = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok";
    check_sequence("http_1_0_with_keep_alive", &always(reply), &oks(3, "ok"), 1);
}

#[test]
fn a_close_delimited_body_is_not_reused() {
    let serve = Serve::script(|conn| {
        if conn.read_request().is_some() {
            conn.write_all(b"HTTP/1.1 200 OK\r\n\r\nok");
            conn.close();
        }
    });
    check_sequence(
        "a_close_delimited_body_is_not_reused",
        &serve,
        &oks(3, "ok"),
        3,
    );
}

#[test]
fn transfer_encoding_with_content_length_is_not_reused() {
    let reply =
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
    check_sequence("te_with_cl_is_not_reused", &always(reply), &oks(3, "ok"), 3);
}

#[test]
fn transfer_encoding_in_http_1_0_is_not_reused() {
    let reply = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
    check_sequence(
        "te_in_http_1_0_is_not_reused",
        &always(reply),
        &oks(3, "ok"),
        3,
    );
}

#[test]
fn extra_bytes_after_the_body_are_not_reused() {
    let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil";
    check_sequence(
        "extra_bytes_after_the_body",
        &always(reply),
        &oks(3, "ok"),
        3,
    );
}

#[test]
fn a_server_that_closes_after_two_requests() {
    // No `Connection: close`: the server just closes its idle connection (FIN) after two
    // exchanges. The pool notices the close, or the request meets it and is retried on a
    // fresh connection (GET is idempotent); either way each request gets its own answer.
    let serve = Serve::script(|conn| {
        for _ in 0..2 {
            let Some(request) = conn.read_request() else {
                return;
            };
            conn.write_all(&crate::support::ok(&request.target));
        }
        conn.close();
    });
    let expect: Vec<Expect> = (0..5).map(|i| ok(format!("/{i}"))).collect();
    check_sequence("closes_after_two_requests", &serve, &expect, 3);
}

#[test]
fn a_server_that_says_close_on_its_second_response() {
    let serve = Serve::script(|conn| {
        if let Some(request) = conn.read_request() {
            conn.write_all(&crate::support::ok(&request.target));
        }
        if let Some(request) = conn.read_request() {
            let body = request.target.as_bytes();
            conn.write_all(&crate::support::response(200, &["Connection: close"], body));
            conn.close();
        }
    });
    let expect: Vec<Expect> = (0..5).map(|i| ok(format!("/{i}"))).collect();
    check_sequence("says_close_on_its_second_response", &serve, &expect, 3);
}

#[test]
fn a_stale_connection_is_replaced() {
    // One exchange per connection, then the server closes the idle connection at once.
    let serve = Serve::script(|conn| {
        if let Some(request) = conn.read_request() {
            conn.write_all(&crate::support::ok(&request.target));
            conn.close();
        }
    });
    let expect: Vec<Expect> = (0..4).map(|i| ok(format!("/{i}"))).collect();
    check_sequence("a_stale_connection_is_replaced", &serve, &expect, 4);
}

#[test]
fn a_stale_connection_that_was_reset_is_replaced() {
    // As above, but the idle connection is reset (closed with the next request unread).
    let serve = Serve::script(|conn| {
        if let Some(request) = conn.read_request() {
            conn.write_all(&crate::support::ok(&request.target));
            let mut byte = [0u8; 1];
            let _ = conn.stream().set_read_timeout(Some(WAIT));
            let _ = conn.stream().peek(&mut byte);
        }
    });
    let expect: Vec<Expect> = (0..4).map(|i| ok(format!("/{i}"))).collect();
    check_sequence("a_stale_connection_that_was_reset", &serve, &expect, 4);
}

#[test]
fn a_framing_error_does_not_poison_the_pool() {
    let serve = Serve::script(|conn| {
        let reply: &[u8] = if conn.index() == 0 {
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!"
        } else {
            OK
        };
        while conn.read_request().is_some() {
            conn.write_all(reply);
        }
    });
    let expect = [err(Protocol), ok("ok"), ok("ok")];
    check_sequence(
        "a_framing_error_does_not_poison_the_pool",
        &serve,
        &expect,
        2,
    );
}

#[test]
fn a_truncated_body_does_not_poison_the_pool() {
    let serve = Serve::script(|conn| {
        if conn.index() == 0 {
            if conn.read_request().is_some() {
                conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf");
                conn.close();
            }
            return;
        }
        while conn.read_request().is_some() {
            conn.write_all(OK);
        }
    });
    let expect = [err(super::Kind::Body), ok("ok"), ok("ok")];
    check_sequence(
        "a_truncated_body_does_not_poison_the_pool",
        &serve,
        &expect,
        2,
    );
}

/// Connection 0 answers with `first` and holds the connection; later connections answer
/// `fresh` to every request.
fn first_then_fresh(first: &'static [u8]) -> ScriptedServer {
    ScriptedServer::new(move |conn: &mut ServerConn| {
        if conn.index() == 0 {
            if conn.read_request().is_some() {
                conn.write_all(first);
                conn.wait_for_close(WAIT);
            }
            return;
        }
        while conn.read_request().is_some() {
            conn.write_all(&crate::support::ok("fresh"));
        }
    })
}

/// A head announcing a long body and the first 64 KiB of it.
fn half_a_body() -> &'static [u8] {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(|| {
        let mut out = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n".to_vec();
        out.extend(std::iter::repeat_n(b'x', 64 * 1024));
        out
    })
}

/// Polls `cond` on `server` until it holds or `WAIT` passes, sleeping with the runtime's
/// timer (async code must not block its thread).
async fn eventually(
    server: &ScriptedServer,
    cond: impl Fn(&crate::support::ScriptedStats) -> bool,
) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if cond(&server.stats()) {
            return true;
        }
        crate::rt::sleep(Duration::from_millis(5)).await;
    }
    cond(&server.stats())
}

/// A request whose response is half there when its scope ends (or, one-off, whose response
/// is dropped half-read) has its connection closed; the next request uses a fresh one.
fn cancelled_mid_response_is_never_reused(first: &'static [u8]) {
    for api in APIS {
        let server = first_then_fresh(first);
        let held = server.url("/held");
        let next = server.url("/next");
        let after = match api {
            Api::OneOff => {
                let client = crate::rt::client();
                // Mid-head, `send` waits for the rest: give it up with a time limit.
                match client.get(&held).timeout(Duration::from_millis(500)).send() {
                    Ok(mut response) => {
                        let mut some = [0u8; 16];
                        let _ = response.read(&mut some);
                        // Dropped half-read.
                    }
                    Err(err) => assert!(err.is_timeout(), "{err:?}"),
                }
                client.get(&next).send().unwrap().text().unwrap()
            }
            Api::BlockingScope => {
                let client = crate::rt::client();
                client
                    .parallel(|p| {
                        p.get(&held);
                        assert!(server.wait_until(|s| s.requests == 1 && s.in_flight == 0, WAIT));
                        Ok(())
                    })
                    .unwrap();
                client.get(&next).send().unwrap().text().unwrap()
            }
            Api::AsyncScope => crate::rt::block_on(async {
                let client = crate::rt::AsyncClient::new();
                let parallel = client.parallel();
                parallel.get(&held).await;
                assert!(eventually(&server, |s| s.requests == 1 && s.in_flight == 0).await);
                drop(parallel);
                let response = client.get(&next).send().await.unwrap();
                response.text().await.unwrap()
            }),
        };
        assert_eq!(after, "fresh", "{api:?}");
        assert!(
            server.wait_until(|s| s.closed_by_peer >= 1 && s.accepted == 2, WAIT),
            "{api:?}: the half-read connection was not closed: {:?}",
            server.stats()
        );
    }
}

#[test]
fn a_half_read_body_of_a_cancelled_request_is_never_reused() {
    cancelled_mid_response_is_never_reused(half_a_body());
}

#[test]
fn a_half_read_head_of_a_cancelled_request_is_never_reused() {
    cancelled_mid_response_is_never_reused(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Half");
}
