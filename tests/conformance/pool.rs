//! The connection pool over real sockets: keep-alive reuse, the per-host connection cap,
//! connections that must not be reused, and stale keep-alive connections.

use std::time::Duration;

use crate::support::{HyperServer, ScriptedServer, WAIT};

/// Answers each request with `conn <index> <method> <target>`, keeping connections open:
/// every body says which connection carried it.
fn conn_echo_server() -> ScriptedServer {
    ScriptedServer::new(|conn| {
        while let Some(request) = conn.read_request() {
            let body = format!(
                "conn {} {} {}",
                conn.index(),
                request.method,
                request.target
            );
            conn.write_all(&crate::support::ok(&body));
        }
    })
}

#[test]
fn sequential_one_off_requests_reuse_one_connection() {
    let server = HyperServer::start();
    let client = crate::rt::client();
    for _ in 0..50 {
        let response = client.get(server.url("/small")).send().unwrap();
        assert_eq!(response.text().unwrap(), "hello, world!");
    }
    assert_eq!(server.accepted(), 1);
    assert_eq!(server.requests(), 50);
}

#[test]
fn scopes_of_one_client_share_its_pool() {
    let server = conn_echo_server();
    let client = crate::rt::client();
    for i in 0..5 {
        let text = client
            .parallel(|p| p.get(server.url(&format!("/{i}"))).get_response()?.text())
            .unwrap();
        assert_eq!(text, format!("conn 0 GET /{i}"));
    }
    assert_eq!(server.accepted(), 1);
}

#[test]
fn a_client_keeps_at_most_max_connections_per_host_open() {
    const CAP: usize = 4;
    const N: usize = 40;
    let server = crate::support::gate_server(CAP);
    let client = crate::rt::builder()
        .max_connections_per_host(CAP)
        .max_idle_per_host(CAP)
        .build()
        .unwrap();
    let bodies = client
        .parallel(|p| {
            let handles: Vec<_> = (0..N)
                .map(|i| p.get(server.url(&format!("/{i}"))))
                .collect();
            handles
                .into_iter()
                .map(|h| h.get_response()?.text())
                .collect::<par_http::Result<Vec<_>>>()
        })
        .unwrap();
    assert_eq!(bodies, (0..N).map(|i| format!("/{i}")).collect::<Vec<_>>());
    let stats = server.stats();
    assert!(stats.max_open <= CAP, "{stats:?}");
    assert_eq!(stats.max_in_flight, CAP, "{stats:?}");
    assert_eq!(stats.requests, N);
}

#[test]
fn a_response_with_connection_close_is_not_reused() {
    let server = ScriptedServer::always(crate::support::response(
        200,
        &["Connection: close"],
        b"bye",
    ));
    let client = crate::rt::client();
    for _ in 0..2 {
        let response = client.get(server.url("/")).send().unwrap();
        assert_eq!(response.text().unwrap(), "bye");
    }
    assert_eq!(server.accepted(), 2);
    assert!(server.wait_until(|s| s.closed_by_peer >= 1, WAIT));
}

#[test]
fn an_http_1_0_response_without_keep_alive_is_not_reused() {
    let server =
        ScriptedServer::always(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold".to_vec());
    let client = crate::rt::client();
    for _ in 0..2 {
        let response = client.get(server.url("/")).send().unwrap();
        assert_eq!(response.version(), http::Version::HTTP_10);
        assert_eq!(response.text().unwrap(), "old");
    }
    assert_eq!(server.accepted(), 2);
}

#[test]
fn max_idle_per_host_zero_keeps_no_connection() {
    let server = conn_echo_server();
    let client = crate::rt::builder().max_idle_per_host(0).build().unwrap();
    for i in 0..3 {
        let text = client.get(server.url("/")).send().unwrap().text().unwrap();
        assert_eq!(text, format!("conn {i} GET /"));
    }
    assert_eq!(server.accepted(), 3);
    assert!(server.wait_until(|s| s.closed_by_peer == 3, WAIT));
}

#[test]
fn an_idle_connection_past_idle_timeout_is_not_reused() {
    const IDLE: Duration = Duration::from_millis(100);
    let server = conn_echo_server();
    let client = crate::rt::builder().idle_timeout(IDLE).build().unwrap();
    assert_eq!(
        client.get(server.url("/")).send().unwrap().text().unwrap(),
        "conn 0 GET /"
    );
    // Not synchronisation: the point of the test is that this much idle time passed.
    std::thread::sleep(IDLE * 3);
    assert_eq!(
        client.get(server.url("/")).send().unwrap().text().unwrap(),
        "conn 1 GET /"
    );
}

/// Like [`conn_echo_server`], saying `Keep-Alive: timeout=1` with each answer (and
/// keeping every connection open whatever it says).
fn keep_alive_one_second_server() -> ScriptedServer {
    ScriptedServer::new(|conn| {
        while let Some(request) = conn.read_request() {
            let body = format!("conn {} {}", conn.index(), request.target);
            let reply = format!(
                "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1, max=100\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            conn.write_all(reply.as_bytes());
        }
    })
}

#[test]
fn a_server_keep_alive_timeout_retires_the_connection_before_the_server_would() {
    let server = keep_alive_one_second_server();
    let client = crate::rt::client();
    let get = |path: &str| client.get(server.url(path)).send().unwrap().text().unwrap();
    assert_eq!(get("/a"), "conn 0 /a");
    // Within the server's second (less a margin), the connection is reused.
    assert_eq!(get("/b"), "conn 0 /b");
    // Not synchronisation: the point of the test is that the server's second passed.
    std::thread::sleep(Duration::from_millis(1_100));
    // The server still holds the first connection open, yet the client does not send
    // into it: a server that keeps its word would be closing it right now.
    assert_eq!(get("/c"), "conn 1 /c");
    // And the client closes it itself, without waiting for the pool's 90 s.
    assert!(
        server.wait_until(|s| s.closed_by_peer >= 1, WAIT),
        "{:?}",
        server.stats()
    );
}

#[test]
fn a_parallel_scope_honours_the_server_keep_alive_timeout_too() {
    let server = keep_alive_one_second_server();
    let client = crate::rt::client();
    let first = client
        .parallel(|p| p.get(server.url("/a")).get_response()?.text())
        .unwrap();
    assert_eq!(first, "conn 0 /a");
    // Not synchronisation: the point of the test is that the server's second passed.
    std::thread::sleep(Duration::from_millis(1_100));
    let second = client
        .parallel(|p| p.get(server.url("/b")).get_response()?.text())
        .unwrap();
    assert_eq!(second, "conn 1 /b");
}

/// Answers one request per connection, then closes the idle connection (FIN), as a
/// server with a short keep-alive timeout does.
fn one_per_connection_server() -> ScriptedServer {
    ScriptedServer::new(|conn| {
        if let Some(request) = conn.read_request() {
            let body = format!(
                "conn {} {} {}",
                conn.index(),
                request.method,
                request.target
            );
            conn.write_all(&crate::support::response(200, &[], body.as_bytes()));
            conn.close();
        }
    })
}

/// A server that closes each connection after one answer, a client that has had its
/// first answer, and the server has closed that connection (which the client may have
/// pooled).
fn after_the_server_closed_the_first_connection() -> (ScriptedServer, par_http::Client) {
    let server = one_per_connection_server();
    let client = crate::rt::client();
    let first = client
        .get(server.url("/one"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(first, "conn 0 GET /one");
    assert!(server.wait_until(|s| s.closed_by_server == 1, WAIT));
    (server, client)
}

/// The server received exactly one POST, with the body `payload`.
fn assert_one_post_of_payload(server: &ScriptedServer) {
    let posts: Vec<_> = server
        .request_log()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].body, b"payload");
}

#[test]
fn a_get_on_a_stale_keep_alive_connection_succeeds_on_a_fresh_one() {
    let (server, client) = after_the_server_closed_the_first_connection();
    let second = client
        .get(server.url("/two"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(second, "conn 1 GET /two");
    assert_eq!(server.accepted(), 2);
}

#[test]
fn a_post_after_the_server_closed_the_idle_connection_goes_out_on_a_fresh_one() {
    let (server, client) = after_the_server_closed_the_first_connection();
    // The close is on the client's socket by now (loopback), whether or not the client's
    // runtime has looked at it: a request that cannot be retried is not risked on that
    // connection (the pool reads the socket itself before reusing it for one).
    std::thread::sleep(Duration::from_millis(20));
    let text = client
        .post(server.url("/two"))
        .body("payload")
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(text, "conn 1 POST /two");
    assert_one_post_of_payload(&server);
}

#[test]
fn a_post_on_a_stale_keep_alive_connection_never_gets_a_wrong_body() {
    let (server, client) = after_the_server_closed_the_first_connection();
    // Either the pool noticed the close and used a fresh connection, or the POST fails:
    // a non-idempotent request is not silently replayed.
    match client.post(server.url("/two")).body("payload").send() {
        Ok(response) => {
            let text = response.text().unwrap();
            assert_eq!(text, "conn 1 POST /two");
            assert_one_post_of_payload(&server);
        }
        Err(err) => {
            assert!(!err.is_status() && !err.is_invalid_url(), "{err:?}");
            assert_eq!(err.method(), Some(&http::Method::POST));
        }
    }
}

/// A connection cap raised above the default idle cap raises the idle cap with it: the
/// connections of a batch as wide as the cap are all kept, and the next batch reuses them
/// instead of opening new ones.
#[test]
fn a_raised_connection_cap_keeps_every_connection_for_reuse() {
    const N: usize = 150;
    let server = HyperServer::start();
    let client = crate::rt::builder()
        .max_connections_per_host(N)
        .build()
        .unwrap();
    for round in 0..2 {
        let statuses = client
            .parallel(|p| {
                let handles: Vec<_> = (0..N)
                    .map(|_| p.get(server.url(&format!("/gate?n={N}"))))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| Ok(h.get_response()?.status()))
                    .collect::<par_http::Result<Vec<_>>>()
            })
            .unwrap();
        assert!(
            statuses.iter().all(|s| *s == 200),
            "round {round}: {statuses:?}"
        );
    }
    assert_eq!(server.accepted(), N, "{:?}", server.stats());
}
