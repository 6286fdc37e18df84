//! Rule 3 of the design: leaving the scope (return, `?`, panic) cancels every pending
//! request, and cancelled requests release their sockets. The server sees each close;
//! a connection left half-read is closed, never handed to a later request.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::support::{HyperServer, ScriptedServer, WAIT};

const HELD: usize = 5;

/// Starts `HELD` requests that the server never answers and waits until all arrived.
fn start_held(p: &par_http::Parallel<'_>, server: &ScriptedServer) {
    for i in 0..HELD {
        p.get(server.url(&format!("/held/{i}")));
    }
    assert!(server.wait_until(|s| s.in_flight == HELD, WAIT));
}

/// The client still works: a fresh request on the same client succeeds.
fn assert_client_still_works(client: &par_http::Client) {
    let fresh = ScriptedServer::always(crate::support::ok("fresh"));
    let response = client.get(fresh.url("/")).send().unwrap();
    assert_eq!(response.text().unwrap(), "fresh");
    let text = client
        .parallel(|p| p.get(fresh.url("/")).get_response()?.text())
        .unwrap();
    assert_eq!(text, "fresh");
}

#[test]
fn returning_from_the_scope_cancels_and_closes_pending_requests() {
    let server = crate::support::holding_server();
    let client = crate::rt::client();
    client
        .parallel(|p| {
            start_held(p, &server);
            Ok(())
        })
        .unwrap();
    assert!(
        server.wait_until(|s| s.closed_by_peer == HELD && s.open == 0, WAIT),
        "{:?}",
        server.stats()
    );
    assert_client_still_works(&client);
}

#[test]
fn an_error_returned_with_question_mark_cancels_pending_requests() {
    let server = crate::support::holding_server();
    let client = crate::rt::client();
    let err = client
        .parallel(|p| {
            start_held(p, &server);
            p.get(crate::support::closed_port_url()).get_response()?;
            Ok(())
        })
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert!(
        server.wait_until(|s| s.closed_by_peer == HELD && s.open == 0, WAIT),
        "{:?}",
        server.stats()
    );
    assert_client_still_works(&client);
}

#[test]
fn a_panic_in_the_scope_cancels_pending_requests() {
    let server = crate::support::holding_server();
    let client = crate::rt::client();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        client.parallel(|p| -> par_http::Result<()> {
            start_held(p, &server);
            panic!("boom inside the scope");
        })
    }));
    let payload = outcome.unwrap_err();
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"boom inside the scope")
    );
    assert!(
        server.wait_until(|s| s.closed_by_peer == HELD && s.open == 0, WAIT),
        "{:?}",
        server.stats()
    );
    assert_client_still_works(&client);
}

#[test]
fn the_module_level_scope_cancels_too() {
    let server = crate::support::holding_server();
    par_http::parallel(|p| {
        start_held(p, &server);
        Ok(())
    })
    .unwrap();
    assert!(server.wait_until(|s| s.closed_by_peer == HELD && s.open == 0, WAIT));
}

#[test]
fn cancelling_releases_requests_held_by_a_real_server() {
    let server = HyperServer::start();
    let client = crate::rt::client();
    client
        .parallel(|p| {
            for _ in 0..HELD {
                p.get(server.url("/never"));
            }
            let small = p.get(server.url("/small"));
            assert_eq!(small.get_response()?.text()?, "hello, world!");
            assert!(server.wait_until(|s| s.in_flight == HELD, WAIT));
            Ok(())
        })
        .unwrap();
    // hyper sees every held connection go away; the /small one may stay pooled.
    assert!(
        server.wait_until(|s| s.in_flight == 0 && s.open <= 1, WAIT),
        "{:?}",
        server.stats()
    );
    let again = client.get(server.url("/small")).send().unwrap();
    assert_eq!(again.text().unwrap(), "hello, world!");
}

/// The first connection gets a response head and part of its body, then nothing; later
/// connections are answered normally.
fn half_answering_server() -> ScriptedServer {
    ScriptedServer::new(|conn| {
        if conn.index() == 0 {
            if conn.read_request().is_some() {
                conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly part");
                conn.wait_for_close(WAIT);
            }
            return;
        }
        while conn.read_request().is_some() {
            conn.write_all(&crate::support::ok("fresh"));
        }
    })
}

#[test]
fn a_connection_cancelled_mid_body_is_closed_not_reused() {
    let server = half_answering_server();
    let client = crate::rt::client();
    client
        .parallel(|p| {
            p.get(server.url("/partial"));
            // The server has written the head and part of the body.
            assert!(server.wait_until(|s| s.requests == 1 && s.in_flight == 0, WAIT));
            Ok(())
        })
        .unwrap();
    assert!(server.wait_until(|s| s.closed_by_peer == 1, WAIT));
    let response = client.get(server.url("/next")).send().unwrap();
    assert_eq!(response.text().unwrap(), "fresh");
    assert_eq!(server.accepted(), 2);
}

#[test]
fn a_response_dropped_mid_body_closes_its_connection() {
    let server = half_answering_server();
    let client = crate::rt::client();
    let response = client.get(server.url("/partial")).send().unwrap();
    assert_eq!(response.status(), 200);
    drop(response);
    assert!(server.wait_until(|s| s.closed_by_peer == 1, WAIT));
    let response = client.get(server.url("/next")).send().unwrap();
    assert_eq!(response.text().unwrap(), "fresh");
    assert_eq!(server.accepted(), 2);
}

#[test]
fn a_connection_cancelled_mid_head_is_closed_not_reused() {
    let server = ScriptedServer::new(|conn| {
        if conn.index() == 0 {
            if conn.read_request().is_some() {
                conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Len");
                conn.wait_for_close(WAIT);
            }
            return;
        }
        while conn.read_request().is_some() {
            conn.write_all(&crate::support::ok("fresh"));
        }
    });
    let client = crate::rt::client();
    client
        .parallel(|p| {
            p.get(server.url("/partial-head"));
            assert!(server.wait_until(|s| s.requests == 1 && s.in_flight == 0, WAIT));
            Ok(())
        })
        .unwrap();
    assert!(server.wait_until(|s| s.closed_by_peer == 1, WAIT));
    assert_eq!(
        client
            .get(server.url("/next"))
            .send()
            .unwrap()
            .text()
            .unwrap(),
        "fresh"
    );
    assert_eq!(server.accepted(), 2);
}
