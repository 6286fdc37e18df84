//! HTTP/2: a scope's requests to one origin as streams on one connection.
//!
//! Against hyper's HTTP/2 server behind rustls with ALPN (`h2` and `http/1.1`), and
//! with prior knowledge on plain TCP; against `h2`'s own server for scripted
//! misbehaviour (a limit of one stream, a window of one byte, `GOAWAY` with streams in
//! flight, a reset among many streams, a `SETTINGS` change mid-flight, a header list over
//! the limit, a server that stops reading, a connection closed mid-stream). Each case
//! ends in a response, a typed error or a correct retry, within a bounded time.

use std::time::Duration;

use crate::rt;
use crate::support::{Behaviour, H2Options, H2Server, HyperServer, TestPki, WAIT};

/// An HTTPS hyper server offering `alpn`, and a client trusting its CA.
fn tls_server(alpn: &[&str]) -> (HyperServer, par_http::ClientBuilder) {
    let pki = TestPki::new("par-http h2 test CA");
    let server = HyperServer::start_tls(&pki.server_cert(&["localhost"]), alpn);
    let builder = rt::builder().add_root_certificate_pem(pki.ca_pem().as_bytes());
    (server, builder)
}

/// A client speaking HTTP/2 with prior knowledge.
fn h2c_client() -> par_http::Client {
    rt::builder()
        .http2_prior_knowledge()
        .build()
        .expect("an h2c client")
}

#[test]
fn a_scope_of_100_requests_uses_one_connection_all_in_flight_at_once() {
    let (server, builder) = tls_server(&["h2", "http/1.1"]);
    let client = builder.build().unwrap();
    let url = server.https_url("/gate?n=100");
    let responses = client
        .parallel(|p| {
            let handles: Vec<_> = (0..100).map(|_| p.get(&url)).collect();
            let mut out = Vec::new();
            for handle in handles {
                let response = handle.get_response()?;
                assert_eq!(response.version(), http::Version::HTTP_2);
                out.push(response.text()?);
            }
            Ok(out)
        })
        .unwrap();
    // Exactly once: 100 outcomes, each a 200 body from the gate.
    assert_eq!(responses.len(), 100);
    assert!(
        responses.iter().all(|body| body == "/gate?n=100"),
        "{responses:?}"
    );
    let stats = server.stats();
    assert_eq!(stats.accepted, 1, "{} one connection: {stats:?}", rt::NAME);
    assert_eq!(stats.max_in_flight, 100, "{stats:?}");
    assert_eq!(stats.requests, 100);
}

#[test]
fn completion_order_over_h2_delivers_each_outcome_once() {
    let (server, builder) = tls_server(&["h2", "http/1.1"]);
    let client = builder.build().unwrap();
    let mut indices = client
        .parallel(|p| {
            for ms in 0..50 {
                p.get(server.https_url(&format!("/delay?ms={}", ms % 7)));
            }
            let mut seen = Vec::new();
            while p.has_pending_responses() {
                let response = p.next_response()?;
                seen.push(response.index().unwrap());
            }
            Ok(seen)
        })
        .unwrap();
    indices.sort_unstable();
    assert_eq!(indices, (0..50).collect::<Vec<_>>());
    assert_eq!(server.stats().accepted, 1);
}

#[test]
fn bodies_methods_and_versions_over_h2() {
    let (server, builder) = tls_server(&["h2", "http/1.1"]);
    let client = builder.build().unwrap();
    let response = client
        .post(server.https_url("/echo"))
        .body("over h2")
        .send()
        .unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.headers()["x-method"], "POST");
    assert_eq!(response.text().unwrap(), "over h2");
    let big = client
        .get(server.https_url("/bytes?n=3000000"))
        .send()
        .unwrap();
    assert_eq!(
        big.bytes().unwrap().as_ref(),
        crate::support::pattern(3_000_000).as_slice()
    );
    let chunked = client
        .get(server.https_url("/chunked?n=100000"))
        .send()
        .unwrap();
    assert_eq!(chunked.bytes().unwrap().len(), 100_000);
    let status = client.get(server.https_url("/status/404")).send().unwrap();
    assert_eq!(status.status(), 404);
    assert_eq!(server.stats().accepted, 1);
}

#[test]
fn alpn_falls_back_to_http1_with_keep_alive() {
    let (server, builder) = tls_server(&["http/1.1"]);
    let client = builder.build().unwrap();
    for _ in 0..3 {
        let response = client.get(server.https_url("/small")).send().unwrap();
        assert_eq!(response.version(), http::Version::HTTP_11);
        assert_eq!(response.text().unwrap(), "hello, world!");
    }
    assert_eq!(server.stats().accepted, 1, "keep-alive over HTTP/1.1");
}

#[test]
fn http1_only_stays_on_http1_with_an_h2_server() {
    let (server, builder) = tls_server(&["h2", "http/1.1"]);
    let client = builder.http1_only().build().unwrap();
    let response = client.get(server.https_url("/small")).send().unwrap();
    assert_eq!(response.version(), http::Version::HTTP_11);
    assert_eq!(response.headers()["x-version"], "HTTP/1.1");
}

#[test]
fn prior_knowledge_speaks_h2c() {
    let server = HyperServer::start_h2c();
    let client = h2c_client();
    let response = client.get(server.url("/small")).send().unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.headers()["x-version"], "HTTP/2.0");
    assert_eq!(response.text().unwrap(), "hello, world!");
}

#[test]
fn cookies_set_over_h2_are_sent_back_over_h2() {
    let (server, builder) = tls_server(&["h2", "http/1.1"]);
    let client = builder.cookie_store(true).build().unwrap();
    let set = client
        .get(server.https_url("/set-cookie?sid=42;%20Path=/"))
        .send()
        .unwrap();
    assert_eq!(set.version(), http::Version::HTTP_2);
    assert_eq!(set.text().unwrap(), "set");
    let cookie_lines = |body: String| -> Vec<String> {
        body.lines()
            .filter(|line| line.starts_with("cookie:"))
            .map(str::to_owned)
            .collect()
    };
    // A one-off request, then four streams of a scope on the same connection, each
    // with the cookie (HTTP/2 may split `cookie` into fields, RFC 9113 §8.2.3; hyper
    // hands them over joined or not: both are the one cookie here).
    let one = client.get(server.https_url("/headers")).send().unwrap();
    assert_eq!(one.version(), http::Version::HTTP_2);
    assert_eq!(cookie_lines(one.text().unwrap()), vec!["cookie: sid=42"]);
    let url = server.https_url("/headers");
    let in_scope = client
        .parallel(|p| {
            let handles: Vec<_> = (0..4).map(|_| p.get(&url)).collect();
            handles
                .into_iter()
                .map(|h| {
                    let response = h.get_response()?;
                    assert_eq!(response.version(), http::Version::HTTP_2);
                    response.text()
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap();
    for body in in_scope {
        assert_eq!(cookie_lines(body), vec!["cookie: sid=42"]);
    }
    let stats = server.stats();
    assert_eq!((stats.accepted, stats.requests), (1, 6), "{stats:?}");
    // A client without a store sends none.
    let (plain_server, plain) = tls_server(&["h2", "http/1.1"]);
    let plain = plain.build().unwrap();
    plain
        .get(plain_server.https_url("/set-cookie?sid=42"))
        .send()
        .unwrap();
    let body = plain
        .get(plain_server.https_url("/headers"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(cookie_lines(body), Vec::<String>::new());
}

#[test]
fn a_redirect_from_an_h2_origin_to_an_h1_origin() {
    let pki = TestPki::new("par-http h2 redirect CA");
    let leaf = pki.server_cert(&["localhost"]);
    let h2_origin = HyperServer::start_tls(&leaf, &["h2", "http/1.1"]);
    let h1_origin = HyperServer::start_tls(&leaf, &["http/1.1"]);
    let client = rt::builder()
        .add_root_certificate_pem(pki.ca_pem().as_bytes())
        .build()
        .unwrap();
    let start = h2_origin.https_url(&format!("/redirect?to={}", h1_origin.https_url("/small")));
    let response = client.parallel(|p| p.get(&start).get_response()).unwrap();
    assert_eq!(response.version(), http::Version::HTTP_11);
    assert_eq!(response.redirect_history().len(), 1);
    assert_eq!(response.text().unwrap(), "hello, world!");
    assert_eq!(h2_origin.stats().requests, 1);
    assert_eq!(h1_origin.stats().requests, 1);
}

#[test]
fn leaving_the_scope_resets_every_stream_before_parallel_returns() {
    let server = H2Server::start(H2Options::new(Behaviour::Hold));
    let client = h2c_client();
    client
        .parallel(|p| {
            for _ in 0..100 {
                p.get(server.url("/held"));
            }
            assert!(
                server.wait_until(|s| s.in_flight == 100, WAIT),
                "{:?}",
                server.stats()
            );
            Ok(())
        })
        .unwrap();
    // The resets were written before `parallel` returned; the server reads them off
    // its socket a moment later.
    assert!(
        server.wait_until(|s| s.resets.len() == 100, Duration::from_millis(500)),
        "{}: {:?}",
        rt::NAME,
        server.stats()
    );
    let stats = server.stats();
    assert!(
        stats.resets.iter().all(|&code| code == 0x8),
        "CANCEL: {stats:?}"
    );
    assert_eq!(stats.accepted, 1);
    // The connection stays for the client's next requests.
    let echo = H2Server::start(H2Options::new(Behaviour::Echo));
    assert_eq!(
        client
            .get(echo.url("/after"))
            .send()
            .unwrap()
            .text()
            .unwrap(),
        "/after"
    );
}

#[test]
fn max_concurrent_streams_of_one_queues_or_opens_connections() {
    let mut options = H2Options::new(Behaviour::Echo);
    options.max_concurrent_streams = Some(1);
    let server = H2Server::start(options);
    let client = rt::builder()
        .http2_prior_knowledge()
        .max_connections_per_host(2)
        .build()
        .unwrap();
    let bodies = client
        .parallel(|p| {
            let handles: Vec<_> = (0..20)
                .map(|i| p.get(server.url(&format!("/{i}"))))
                .collect();
            handles
                .into_iter()
                .map(|h| h.get_response()?.text())
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap();
    assert_eq!(bodies, (0..20).map(|i| format!("/{i}")).collect::<Vec<_>>());
    let stats = server.stats();
    assert!(stats.accepted <= 2, "{stats:?}");
    assert_eq!(
        stats.requests, 20,
        "no stream refused and retried: {stats:?}"
    );
    // `h2`'s server refuses a stream over the limit before the server sees it: a gap in
    // the stream ids. None: not even before the server's SETTINGS arrived did the
    // client open a second stream on a connection.
    assert_eq!(stats.unaccepted_stream_ids(), vec![], "{stats:?}");
}

#[test]
fn a_burst_on_new_connections_waits_for_the_servers_settings() {
    // Every connection is new when the burst comes, and allows 2 streams: none of the
    // 60 requests may be refused, on any of the connections, however their SETTINGS
    // and the requests interleave.
    let mut options = H2Options::new(Behaviour::Echo);
    options.max_concurrent_streams = Some(2);
    let server = H2Server::start(options);
    let client = rt::builder()
        .http2_prior_knowledge()
        .max_connections_per_host(4)
        .build()
        .unwrap();
    let bodies = client
        .parallel(|p| {
            for i in 0..60 {
                p.get(server.url(&format!("/{i}")));
            }
            let mut bodies = Vec::new();
            while p.has_pending_responses() {
                bodies.push(p.next_response()?.text()?);
            }
            Ok(bodies)
        })
        .unwrap();
    let mut bodies = bodies;
    bodies.sort_by_key(|body| body.trim_start_matches('/').parse::<u32>().unwrap_or(0));
    assert_eq!(bodies, (0..60).map(|i| format!("/{i}")).collect::<Vec<_>>());
    let stats = server.stats();
    assert!(stats.accepted <= 4, "{stats:?}");
    assert_eq!(stats.requests, 60, "each request once: {stats:?}");
    assert_eq!(
        stats.unaccepted_stream_ids(),
        vec![],
        "none refused: {stats:?}"
    );
    assert!(stats.max_in_flight <= 2 * stats.accepted, "{stats:?}");
}

#[test]
fn a_window_of_one_byte_still_uploads() {
    let mut options = H2Options::new(Behaviour::Echo);
    options.initial_window_size = Some(1);
    let server = H2Server::start(options);
    let client = h2c_client();
    let body = vec![b'z'; 3000];
    let response = client.post(server.url("/up")).body(body).send().unwrap();
    assert_eq!(response.text().unwrap(), "/up");
    assert_eq!(server.stats().bodies, vec![3000]);
}

#[test]
fn goaway_with_streams_in_flight_moves_later_requests_to_a_new_connection() {
    let server = H2Server::start(H2Options::new(Behaviour::GoAwayAfter(10)));
    let client = h2c_client();
    let first = client
        .parallel(|p| {
            let handles: Vec<_> = (0..10)
                .map(|i| p.get(server.url(&format!("/{i}"))))
                .collect();
            handles
                .into_iter()
                .map(|h| h.get_response()?.text())
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap();
    assert_eq!(first.len(), 10);
    let later = client
        .get(server.url("/later"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(later, "/later");
    assert_eq!(server.stats().accepted, 2, "{:?}", server.stats());
}

#[test]
fn a_refused_stream_is_retried_once_on_another_connection() {
    let server = H2Server::start(H2Options::new(Behaviour::RefuseFirst));
    let client = h2c_client();
    let response = client
        .post(server.url("/again"))
        .body("replayable")
        .send()
        .unwrap();
    assert_eq!(response.text().unwrap(), "/again");
    let stats = server.stats();
    assert_eq!(stats.refused, vec![(1, "/again".to_owned())], "{stats:?}");
    // The retry went to a new connection, not back to the one that refused it (which
    // is still open and has room).
    assert_eq!(stats.answered_on("/again"), vec![2], "{stats:?}");
    assert_eq!((stats.accepted, stats.requests), (2, 2), "{stats:?}");
}

#[test]
fn a_stream_refused_again_on_its_retry_is_a_typed_error() {
    let server = H2Server::start(H2Options::new(Behaviour::RefuseAll));
    let client = h2c_client();
    let err = client
        .post(server.url("/never"))
        .body("replayable")
        .send()
        .unwrap_err();
    assert!(err.is_http2(), "{err:?}");
    assert_eq!(err.h2_reason(), Some(0x7), "REFUSED_STREAM: {err:?}");
    let stats = server.stats();
    // Sent twice, no more, each time on a connection of its own.
    let refused_on: Vec<_> = stats.refused.iter().map(|(conn, _)| *conn).collect();
    assert_eq!(refused_on, vec![1, 2], "{stats:?}");
}

#[test]
fn streams_a_connection_refuses_are_each_retried_once_elsewhere() {
    let server = H2Server::start(H2Options::new(Behaviour::RefuseFirstConnection));
    let client = h2c_client();
    let bodies = client
        .parallel(|p| {
            let handles: Vec<_> = (0..20)
                .map(|i| p.post(server.url(&format!("/{i}")), format!("body {i}")))
                .collect();
            handles
                .into_iter()
                .map(|h| h.get_response()?.text())
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap();
    assert_eq!(bodies, (0..20).map(|i| format!("/{i}")).collect::<Vec<_>>());
    let stats = server.stats();
    assert!(!stats.refused.is_empty(), "{stats:?}");
    for i in 0..20 {
        let path = format!("/{i}");
        let refused = stats.refused.iter().filter(|(_, p)| *p == path).count();
        assert!(refused <= 1, "{path} refused {refused} times: {stats:?}");
        let answered = stats.answered_on(&path);
        assert_eq!(answered.len(), 1, "{path} answered once: {stats:?}");
        assert_ne!(
            answered,
            vec![1],
            "not by the refusing connection: {stats:?}"
        );
    }
    assert_eq!(stats.requests, 20 + stats.refused.len(), "{stats:?}");
}

#[test]
fn a_reset_on_one_stream_of_many_fails_only_that_one() {
    let server = H2Server::start(H2Options::new(Behaviour::ResetSome));
    let client = h2c_client();
    client
        .parallel(|p| {
            let good: Vec<_> = (0..10)
                .map(|i| p.get(server.url(&format!("/ok{i}"))))
                .collect();
            let bad = p.get(server.url("/reset"));
            let err = bad.get_response().unwrap_err();
            assert!(err.is_http2(), "{err:?}");
            assert_eq!(err.h2_reason(), Some(0x2), "INTERNAL_ERROR: {err:?}");
            for (i, h) in good.into_iter().enumerate() {
                assert_eq!(h.get_response()?.text()?, format!("/ok{i}"));
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(server.stats().accepted, 1);
}

#[test]
fn a_settings_change_mid_flight_is_followed() {
    let mut options = H2Options::new(Behaviour::SettingsChangeAfter(5));
    options.initial_window_size = Some(16);
    let server = H2Server::start(options);
    let client = rt::builder()
        .http2_prior_knowledge()
        .max_connections_per_host(1)
        .build()
        .unwrap();
    let bodies = client
        .parallel(|p| {
            let handles: Vec<_> = (0..15)
                .map(|i| p.post(server.url(&format!("/{i}")), vec![b'u'; 5000]))
                .collect();
            handles
                .into_iter()
                .map(|h| h.get_response()?.text())
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap();
    assert_eq!(bodies, (0..15).map(|i| format!("/{i}")).collect::<Vec<_>>());
    // Every upload arrived whole: 16 bytes at a time until the change, then faster.
    assert_eq!(server.stats().bodies, vec![5000; 15]);
}

#[test]
fn a_header_list_over_the_limit_is_a_typed_error() {
    // Over the field count: the client's own check.
    let server = H2Server::start(H2Options::new(Behaviour::ManyHeaders(300)));
    let client = h2c_client();
    let err = client.get(server.url("/many")).send().unwrap_err();
    assert!(err.is_limit(), "{err:?}");
    // Over the head size, announced to the server as SETTINGS_MAX_HEADER_LIST_SIZE.
    let small_heads = rt::builder()
        .http2_prior_knowledge()
        .max_response_head_bytes(2000)
        .max_response_headers(1000)
        .build()
        .unwrap();
    let err = small_heads.get(server.url("/many")).send().unwrap_err();
    assert!(err.is_limit() || err.is_http2(), "{err:?}");
    // A smaller list passes, for both clients.
    let ok = H2Server::start(H2Options::new(Behaviour::ManyHeaders(10)));
    assert_eq!(client.get(ok.url("/few")).send().unwrap().status(), 200);
    assert_eq!(
        small_heads.get(ok.url("/few")).send().unwrap().status(),
        200
    );
}

#[test]
fn a_server_that_stops_reading_times_out_and_is_reset() {
    let mut options = H2Options::new(Behaviour::StopReading);
    options.initial_window_size = Some(1024);
    let server = H2Server::start(options);
    let client = rt::builder()
        .http2_prior_knowledge()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let err = client
        .post(server.url("/stuck"))
        .body(vec![0u8; 100_000])
        .send()
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(
        server.wait_until(|s| s.resets.len() == 1, WAIT),
        "{:?}",
        server.stats()
    );
}

#[test]
fn a_connection_closed_mid_stream_is_a_typed_error() {
    let server = H2Server::start(H2Options::new(Behaviour::CloseMidStream));
    let client = h2c_client();
    let response = client.get(server.url("/cut")).send().unwrap();
    let err = response.bytes().unwrap_err();
    assert!(err.is_body() || err.is_http2(), "{err:?}");
}

#[test]
fn the_read_timeout_limits_the_wait_for_the_head_over_h2() {
    let server = HyperServer::start_h2c();
    let client = rt::builder()
        .http2_prior_knowledge()
        .read_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let err = client.get(server.url("/delay?ms=2000")).send().unwrap_err();
    assert_eq!(
        err.timeout_phase(),
        Some(par_http::TimeoutPhase::Head),
        "{err:?}"
    );
    // The connection serves the next request.
    assert_eq!(
        client.get(server.url("/small")).send().unwrap().status(),
        200
    );
    assert_eq!(server.stats().accepted, 1);
}

#[test]
fn the_scope_deadline_and_max_in_flight_hold_over_h2() {
    let server = HyperServer::start_h2c();
    let client = h2c_client();
    let config = par_http::ParallelConfig::new()
        .max_in_flight(4)
        .deadline(Duration::from_millis(300));
    let outcomes = client
        .parallel_with(config, |p| {
            let quick: Vec<_> = (0..12).map(|_| p.get(server.url("/delay?ms=20"))).collect();
            let slow = p.get(server.url("/never"));
            let quick: Vec<_> = quick
                .into_iter()
                .map(|h| h.get_response().is_ok())
                .collect();
            Ok((quick, slow.get_response().unwrap_err()))
        })
        .unwrap();
    assert!(outcomes.0.iter().all(|ok| *ok), "{outcomes:?}");
    assert_eq!(
        outcomes.1.timeout_phase(),
        Some(par_http::TimeoutPhase::ScopeDeadline),
        "{:?}",
        outcomes.1
    );
    let stats = server.stats();
    assert!(stats.max_in_flight <= 4, "{stats:?}");
    assert_eq!(stats.accepted, 1, "{stats:?}");
}

#[test]
fn headers_follow_rfc_9113_and_auth_and_decompression_work_over_h2() {
    let (server, builder) = tls_server(&["h2", "http/1.1"]);
    let client = builder.bearer_auth("t0ken").build().unwrap();
    // hyper's HTTP/2 server refuses a request that carries a connection-specific field:
    // a 200 proves they were stripped.
    let response = client
        .get(server.https_url("/headers"))
        .header("Connection", "keep-alive, x-hop")
        .header("X-Hop", "gone")
        .header("Keep-Alive", "timeout=5")
        .header("Upgrade", "websocket")
        .header("TE", "gzip")
        .header("Host", "ignored.test")
        .header("X-Kept", "Yes")
        .send()
        .unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    let text = response.text().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.contains(&"authorization: Bearer t0ken"), "{lines:?}");
    assert!(lines.contains(&"x-kept: Yes"), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("user-agent: par-http/")),
        "{lines:?}"
    );
    for gone in ["connection", "x-hop", "keep-alive", "upgrade", "te", "host"] {
        assert!(
            !lines.iter().any(|l| l.starts_with(&format!("{gone}:"))),
            "{gone} in {lines:?}"
        );
    }
    let gzipped = client.get(server.https_url("/gzip")).send().unwrap();
    assert_eq!(gzipped.text().unwrap(), "hello, world!");
    assert_eq!(server.stats().accepted, 1);
}

#[test]
fn an_idle_h2_connection_is_closed_after_the_idle_timeout() {
    let server = HyperServer::start_h2c();
    let client = rt::builder()
        .http2_prior_knowledge()
        .idle_timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    assert_eq!(
        client.get(server.url("/small")).send().unwrap().status(),
        200
    );
    assert!(
        server.wait_until(|s| s.accepted == 1 && s.open == 0, WAIT),
        "{:?}",
        server.stats()
    );
    // A new request opens a new connection.
    assert_eq!(
        client.get(server.url("/small")).send().unwrap().status(),
        200
    );
    assert_eq!(server.stats().accepted, 2);
}

#[test]
fn the_connection_outlives_scopes_and_their_cancellations() {
    let server = HyperServer::start_h2c();
    let client = h2c_client();
    for round in 0..3 {
        client
            .parallel(|p| {
                let quick: Vec<_> = (0..10).map(|_| p.get(server.url("/small"))).collect();
                // Left pending: reset when the scope ends.
                p.get(server.url("/never"));
                for handle in quick {
                    assert_eq!(handle.get_response()?.text()?, "hello, world!");
                }
                Ok(())
            })
            .unwrap();
        let stats = server.stats();
        assert_eq!(stats.accepted, 1, "round {round}: {stats:?}");
        assert!(
            server.wait_until(|s| s.in_flight == 0, WAIT),
            "the held request was reset: {:?}",
            server.stats()
        );
    }
    let async_client = rt::AsyncClient::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let body = rt::block_on(async {
        let response = async_client.get(server.url("/small")).send().await?;
        assert_eq!(response.version(), http::Version::HTTP_2);
        response.text().await
    })
    .unwrap();
    assert_eq!(body, "hello, world!");
}

#[test]
fn a_body_nobody_reads_stalls_only_its_own_stream() {
    let (server, builder) = tls_server(&["h2", "http/1.1"]);
    let client = builder.build().unwrap();
    let config = par_http::ParallelConfig::new().stream_bodies();
    client
        .parallel_with(config, |p| {
            // 20 MB that nobody reads until the end: the server fills its stream's
            // window, and the connection's other streams go on.
            let big = p.get(server.https_url("/bytes?n=20000000"));
            let big = big.get_response()?;
            let others: Vec<_> = (0..10)
                .map(|_| p.get(server.https_url("/bytes?n=500000")))
                .collect();
            for handle in others {
                assert_eq!(handle.get_response()?.bytes()?.len(), 500_000);
            }
            assert_eq!(big.bytes()?.len(), 20_000_000);
            Ok(())
        })
        .unwrap();
    assert_eq!(server.stats().accepted, 1);
}

#[test]
fn streams_a_goaway_left_unprocessed_are_retried_on_a_new_connection() {
    let upstream = H2Server::start(H2Options::new(Behaviour::Echo));
    let (addr, seen) = crate::support::goaway_refusing_server(&upstream);
    let client = h2c_client();
    let bodies = client
        .parallel(|p| {
            let handles: Vec<_> = (0..10)
                .map(|i| p.get(crate::support::url_for(addr, &format!("/{i}"))))
                .collect();
            handles
                .into_iter()
                .map(|h| h.get_response()?.text())
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap();
    // Stream 1 (whichever request it carried) was answered "first" on the first
    // connection; every other request got its own path echoed by the upstream.
    let firsts: Vec<_> = (0..10).filter(|i| bodies[*i] == "first").collect();
    assert_eq!(firsts.len(), 1, "{bodies:?}");
    for (i, body) in bodies.iter().enumerate() {
        assert!(body == "first" || *body == format!("/{i}"), "{bodies:?}");
    }
    // Stream 1 was answered on the first connection; the nine the GOAWAY left
    // unprocessed were sent again, once each, on a second connection.
    assert_eq!(*seen.lock().unwrap(), 10);
    let stats = upstream.stats();
    assert_eq!((stats.accepted, stats.requests), (1, 9), "{stats:?}");
}

#[test]
fn uncollected_streamed_responses_holding_every_h2_stream_stall_a_waiting_request() {
    // One stream per connection, one connection: the first response, streamed and not
    // collected, holds the only stream; the second request can never get one.
    let mut options = H2Options::new(Behaviour::HeadThenHold);
    options.max_concurrent_streams = Some(1);
    let server = std::sync::Arc::new(H2Server::start(options));
    let seen = server.clone();
    let status = server.clone();
    let err = crate::support::run_bounded(
        "h2 stall",
        move || format!("{:?}", status.stats()),
        move || {
            let client = rt::builder()
                .http2_prior_knowledge()
                .max_connections_per_host(1)
                .build()
                .unwrap();
            client.parallel(|p| {
                let _first = p
                    .request(par_http::Method::GET, seen.url("/0"))
                    .stream()
                    .send();
                assert!(
                    seen.wait_until(|s| s.requests == 1, WAIT),
                    "{:?}",
                    seen.stats()
                );
                let second = p
                    .request(par_http::Method::GET, seen.url("/1"))
                    .stream()
                    .send();
                second.get_response().map(|_| ())
            })
        },
    )
    .unwrap_err();
    assert!(err.is_stalled(), "{err:?}");
    assert_eq!(err.index(), Some(1));
    let text = format!("{err}");
    assert!(
        text.contains("every HTTP/2 stream to http://127.0.0.1:"),
        "{text}"
    );
    // The scope's exit reset the first stream (`CANCEL`). (`h2` may still put the
    // cancelled second one on the wire once the first frees the slot, reset at once.)
    assert!(
        server.wait_until(|s| s.resets.first() == Some(&8), WAIT),
        "{:?}",
        server.stats()
    );
    let stats = server.stats();
    assert_eq!(
        stats.streams.first().map(|s| s.2.as_str()),
        Some("/0"),
        "{stats:?}"
    );
    assert!(stats.resets.iter().all(|code| *code == 8), "{stats:?}");
}

#[test]
fn a_parked_body_gives_its_stream_back_to_a_request_that_waits_for_one() {
    // `/big` is larger than the stream window and the scope's body budget: it parks,
    // its stream open. The next request waits for that stream (one per connection, one
    // connection); collecting it first reads the parked body into memory, which frees
    // the stream, instead of a hang.
    let mut options = H2Options::new(Behaviour::BigAt(4 * 1024 * 1024));
    options.max_concurrent_streams = Some(1);
    let server = std::sync::Arc::new(H2Server::start(options));
    let urls = (server.url("/big"), server.url("/small"));
    let status = server.clone();
    let (small, big) = crate::support::run_bounded(
        "h2 parked body",
        move || format!("{:?}", status.stats()),
        move || {
            let client = rt::builder()
                .http2_prior_knowledge()
                .max_connections_per_host(1)
                .build()
                .unwrap();
            let config = par_http::ParallelConfig::new().body_budget(64 * 1024);
            client
                .parallel_with(config, |p| {
                    let big = p.get(&urls.0);
                    let small = p.get(&urls.1);
                    let small = small.get_response()?.text()?;
                    let big = big.get_response()?.bytes()?.len();
                    Ok((small, big))
                })
                .unwrap()
        },
    );
    assert_eq!(small, "/small");
    assert_eq!(big, 4 * 1024 * 1024);
    let stats = server.stats();
    assert_eq!((stats.accepted, stats.requests), (1, 2), "{stats:?}");
}
