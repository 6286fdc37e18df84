//! Rules 1 and 2 of the design: starting a request never fails, and every outcome is
//! delivered exactly once, through its handle or through `next_response`.

use std::collections::BTreeSet;

use crate::support::{ScriptedServer, Switches, WAIT};
use http::Method;

/// Answers every request with its own target as the body, keeping connections open.
fn target_echo_server() -> ScriptedServer {
    ScriptedServer::new(|conn| {
        while let Some(request) = conn.read_request() {
            conn.write_all(&crate::support::ok(&request.target));
        }
    })
}

/// Holds each request until the test turns on the switch named by its target.
fn switched_server(switches: &std::sync::Arc<Switches>) -> ScriptedServer {
    let switches = std::sync::Arc::clone(switches);
    ScriptedServer::new(move |conn| {
        while let Some(request) = conn.read_request() {
            switches.wait_for(&request.target, WAIT);
            conn.write_all(&crate::support::ok(&request.target));
        }
    })
}

#[test]
fn an_invalid_url_is_reported_by_get_response_not_by_get() {
    let server = target_echo_server();
    par_http::parallel(|p| {
        let bad = p.get("not a url");
        let good = p.get(server.url("/good"));
        let err = bad.get_response().unwrap_err();
        assert!(err.is_invalid_url(), "{err:?}");
        assert_eq!(err.method(), Some(&Method::GET));
        assert_eq!(err.url(), Some("not a url"));
        assert_eq!(good.get_response()?.text()?, "/good");
        Ok(())
    })
    .unwrap();
}

#[test]
fn an_invalid_url_is_reported_by_next_response_with_its_method() {
    let client = crate::rt::client();
    client
        .parallel(|p| {
            drop(p.post("http://", "body"));
            let err = p.next_response().unwrap_err();
            assert!(err.is_invalid_url(), "{err:?}");
            assert_eq!(err.method(), Some(&Method::POST));
            assert_eq!(err.url(), Some("http://"));
            assert!(!p.has_pending_responses());
            Ok(())
        })
        .unwrap();
}

#[test]
fn every_way_to_start_a_request_defers_its_errors() {
    let client = crate::rt::client();
    client
        .parallel(|p| {
            let started = vec![
                (Method::GET, p.get("::")),
                (Method::HEAD, p.head("::")),
                (Method::DELETE, p.delete("::")),
                (Method::POST, p.post("::", "a")),
                (Method::PUT, p.put("::", String::from("b"))),
                (Method::PATCH, p.patch("::", vec![b'c'])),
                (
                    Method::OPTIONS,
                    p.request(Method::OPTIONS, "::").header("x-a", "1").send(),
                ),
            ];
            for (method, pending) in started {
                let err = pending.get_response().unwrap_err();
                assert!(err.is_invalid_url(), "{method}: {err:?}");
                assert_eq!(err.method(), Some(&method));
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn next_response_with_nothing_pending_answers_no_pending() {
    let server = target_echo_server();
    crate::rt::client()
        .parallel(|p| {
            assert!(!p.has_pending_responses());
            assert!(p.next_response().unwrap_err().is_no_pending());

            let one = p.get(server.url("/one"));
            assert!(p.has_pending_responses());
            assert_eq!(one.get_response()?.text()?, "/one");
            assert!(!p.has_pending_responses());
            // Still a clear answer after everything was drained, and again.
            assert!(p.next_response().unwrap_err().is_no_pending());
            assert!(p.next_response().unwrap_err().is_no_pending());
            Ok(())
        })
        .unwrap();
}

#[test]
fn each_outcome_goes_to_its_handle_or_to_next_response_never_both() {
    const N: usize = 6;
    let server = target_echo_server();
    crate::rt::client()
        .parallel(|p| {
            let handles: Vec<_> = (0..N)
                .map(|i| p.get(server.url(&format!("/{i}"))))
                .collect();
            let mut seen = BTreeSet::new();
            for _ in 0..N / 2 {
                let text = p.next_response()?.text()?;
                assert!(seen.insert(text.clone()), "{text} delivered twice");
            }
            let mut already_collected = 0;
            for handle in handles {
                match handle.get_response() {
                    Ok(response) => {
                        let text = response.text()?;
                        assert!(seen.insert(text.clone()), "{text} delivered twice");
                    }
                    Err(err) if err.is_already_collected() => already_collected += 1,
                    Err(err) => panic!("unexpected error: {err:?}"),
                }
            }
            assert_eq!(already_collected, N / 2);
            let expected: BTreeSet<_> = (0..N).map(|i| format!("/{i}")).collect();
            assert_eq!(seen, expected, "an outcome was lost");
            assert!(!p.has_pending_responses());
            assert!(p.next_response().unwrap_err().is_no_pending());
            Ok(())
        })
        .unwrap();
}

#[test]
fn an_already_collected_error_names_its_request() {
    let server = target_echo_server();
    let url = server.url("/taken");
    crate::rt::client()
        .parallel(|p| {
            let handle = p.put(url.as_str(), "x");
            assert_eq!(p.next_response()?.text()?, "/taken");
            let err = handle.get_response().unwrap_err();
            assert!(err.is_already_collected(), "{err:?}");
            assert_eq!(err.method(), Some(&Method::PUT));
            assert_eq!(err.url(), Some(url.as_str()));
            Ok(())
        })
        .unwrap();
}

#[test]
fn dropping_a_pending_does_not_cancel_its_request() {
    let switches = Switches::new();
    let server = switched_server(&switches);
    crate::rt::client()
        .parallel(|p| {
            for i in 0..3 {
                drop(p.get(server.url(&format!("/{i}"))));
            }
            // All three reached the server after their handles were dropped ...
            assert!(server.wait_until(|s| s.in_flight == 3, WAIT));
            assert!(p.has_pending_responses());
            for i in 0..3 {
                switches.turn_on(&format!("/{i}"));
            }
            // ... and their outcomes come from next_response.
            let mut seen = BTreeSet::new();
            while p.has_pending_responses() {
                assert!(seen.insert(p.next_response()?.text()?));
                assert!(seen.len() <= 3, "more outcomes than requests");
            }
            assert_eq!(seen.len(), 3);
            Ok(())
        })
        .unwrap();
    // No connection was closed while its request was pending.
    assert_eq!(server.stats().requests, 3);
}

#[test]
fn responses_returned_from_the_scope_stay_readable() {
    let server = crate::support::HyperServer::start();
    let client = crate::rt::client();
    let (big, small) = client
        .parallel(|p| {
            let big = p.get(server.url("/bytes?n=300000"));
            let small = p.get(server.url("/small"));
            Ok((big.get_response()?, small.get_response()?))
        })
        .unwrap();
    assert_eq!(small.text().unwrap(), "hello, world!");
    assert_eq!(big.bytes().unwrap(), crate::support::pattern(300_000));
}

#[test]
fn the_scope_returns_the_closure_value_and_error() {
    let client = crate::rt::client();
    assert_eq!(client.parallel(|_| Ok(42)).unwrap(), 42);
    let err = client
        .parallel(|p| {
            p.get("no scheme").get_response()?;
            Ok(())
        })
        .unwrap_err();
    assert!(err.is_invalid_url());
}
