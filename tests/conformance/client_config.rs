//! Rule 5 of the design: `client.parallel(..)` applies the client's configuration to every
//! request in the scope: default headers, timeouts, framing limits and its dispatch (here
//! a mock, which also shows that no dispatch future outlives its scope).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{ScriptedServer, WAIT};
use par_http::core::{Boxed, Dispatch, Request, Response, ResponseBody};
use par_http::{Method, StatusCode};

#[test]
fn default_headers_and_user_agent_go_out_with_scope_and_one_off_requests() {
    let server = ScriptedServer::always(crate::support::ok("ok"));
    let client = crate::rt::builder()
        .default_header("x-team", "parallel")
        .user_agent("suite/1")
        .build()
        .unwrap();
    client
        .parallel(|p| {
            p.get(server.url("/scope")).get_response()?;
            p.request(Method::GET, server.url("/own"))
                .header("x-team", "own")
                .send()
                .get_response()?;
            Ok(())
        })
        .unwrap();
    client.get(server.url("/one-off")).send().unwrap();

    let log = server.request_log();
    assert_eq!(log.len(), 3);
    for request in &log {
        assert_eq!(request.header("user-agent"), Some("suite/1"), "{request:?}");
    }
    let team = |r: &crate::support::RawRequest| -> Vec<String> {
        r.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("x-team"))
            .map(|(_, v)| v.clone())
            .collect()
    };
    assert_eq!(team(&log[0]), ["parallel"]);
    assert_eq!(
        team(&log[1]),
        ["own"],
        "a request's own header replaces the default"
    );
    assert_eq!(team(&log[2]), ["parallel"]);
}

#[test]
fn the_default_user_agent_names_par_http() {
    let server = ScriptedServer::always(crate::support::ok("ok"));
    crate::rt::client().get(server.url("/")).send().unwrap();
    let log = server.request_log();
    let agent = log[0].header("user-agent").unwrap_or_default();
    assert!(agent.starts_with("par-http/"), "{agent}");
}

#[test]
fn the_client_timeout_applies_in_a_scope() {
    let server = crate::support::holding_server();
    let client = crate::rt::builder()
        .timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    let url = server.url("/slow");
    client
        .parallel(|p| {
            let err = p.get(url.as_str()).get_response().unwrap_err();
            assert!(err.is_timeout(), "{err:?}");
            assert_eq!(err.url(), Some(url.as_str()));
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_request_timeout_overrides_the_client_default() {
    let server = crate::support::holding_server();
    let client = crate::rt::client();
    client
        .parallel(|p| {
            let err = p
                .request(Method::GET, server.url("/slow"))
                .timeout(Duration::from_millis(150))
                .send()
                .get_response()
                .unwrap_err();
            assert!(err.is_timeout(), "{err:?}");
            Ok(())
        })
        .unwrap();
    assert!(server.wait_until(|s| s.closed_by_peer == 1, WAIT));
}

#[test]
fn configured_framing_limits_apply_in_a_scope() {
    let mut many = String::from("HTTP/1.1 200 OK\r\n");
    for i in 0..6 {
        many.push_str(&format!("X-H-{i}: v\r\n"));
    }
    many.push_str("Content-Length: 0\r\n\r\n");
    let many_headers = ScriptedServer::always(many.into_bytes());
    let big_head = ScriptedServer::always(crate::support::response(
        200,
        &[&format!("X-Big: {}", "b".repeat(2048))],
        b"",
    ));
    let client = crate::rt::builder()
        .max_response_headers(5)
        .max_response_head_bytes(1024)
        .build()
        .unwrap();
    client
        .parallel(|p| {
            let too_many = p.get(many_headers.url("/"));
            let too_big = p.get(big_head.url("/"));
            assert!(too_many.get_response().unwrap_err().is_limit());
            assert!(too_big.get_response().unwrap_err().is_limit());
            Ok(())
        })
        .unwrap();
}

/// A dispatch that answers from memory and records what it was asked.
#[derive(Debug, Default)]
struct Recording {
    seen: Mutex<Vec<(Method, String, Option<String>)>>,
}

#[derive(Debug, Clone, Default)]
struct Mock(Arc<Recording>);

impl Dispatch for Mock {
    fn send(&self, request: Request) -> Boxed<par_http::Result<Response>> {
        let header = request
            .headers
            .get("x-default")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.0
            .seen
            .lock()
            .unwrap()
            .push((request.method.clone(), request.url.to_string(), header));
        Box::pin(async move {
            let body = ResponseBody::from(format!("mock {}", request.url.path()));
            Ok(Response::new(
                request.method,
                request.url,
                StatusCode::OK,
                http::HeaderMap::new(),
                body,
            ))
        })
    }
}

#[test]
fn a_scope_uses_the_client_dispatch() {
    let mock = Mock::default();
    let client = crate::rt::builder()
        .dispatch(mock.clone())
        .default_header("x-default", "yes")
        .build()
        .unwrap();
    // Nothing listens there: only the mock can answer.
    let base = crate::support::closed_port_url();
    let bodies = client
        .parallel(|p| {
            let a = p.get(format!("{base}/a"));
            let b = p.post(format!("{base}/b"), "x");
            Ok((a.get_response()?.text()?, b.get_response()?.text()?))
        })
        .unwrap();
    assert_eq!(
        bodies,
        ("mock /nothing-here/a".into(), "mock /nothing-here/b".into())
    );
    let seen = mock.0.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert!(
        seen.iter().all(|(_, _, h)| h.as_deref() == Some("yes")),
        "{seen:?}"
    );
    let one_off = client.get(format!("{base}/c")).send().unwrap();
    assert_eq!(one_off.text().unwrap(), "mock /nothing-here/c");
}

/// A dispatch whose requests never finish; it counts the futures dropped.
#[derive(Debug, Clone, Default)]
struct Never {
    started: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

struct CountDrop(Arc<AtomicUsize>);

impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Dispatch for Never {
    fn send(&self, _request: Request) -> Boxed<par_http::Result<Response>> {
        self.started.fetch_add(1, Ordering::SeqCst);
        let guard = CountDrop(Arc::clone(&self.dropped));
        Box::pin(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
            unreachable!("a pending future never completes")
        })
    }
}

#[test]
fn no_dispatch_future_outlives_its_scope() {
    const N: usize = 7;
    let never = Never::default();
    let client = crate::rt::builder()
        .dispatch(never.clone())
        .build()
        .unwrap();
    client
        .parallel(|p| {
            for i in 0..N {
                p.get(format!("http://127.0.0.1:9/{i}"));
            }
            Ok(())
        })
        .unwrap();
    // Checked at once: closing the scope waits until every task has stopped.
    assert_eq!(
        never.dropped.load(Ordering::SeqCst),
        never.started.load(Ordering::SeqCst)
    );
    assert!(never.started.load(Ordering::SeqCst) <= N);
}

#[test]
fn a_dispatch_error_reaches_the_caller_with_its_request() {
    #[derive(Debug)]
    struct Refuse;
    impl Dispatch for Refuse {
        fn send(&self, _request: Request) -> Boxed<par_http::Result<Response>> {
            Box::pin(async { Err(par_http::Error::new(par_http::ErrorKind::Connect)) })
        }
    }
    let client = crate::rt::builder().dispatch(Refuse).build().unwrap();
    let err = client
        .parallel(|p| p.patch("http://127.0.0.1:9/x", "y").get_response())
        .map(|_| ())
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert_eq!(err.method(), Some(&Method::PATCH));
    assert_eq!(err.url(), Some("http://127.0.0.1:9/x"));
}
