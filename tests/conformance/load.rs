//! Load: 2,000 requests through one scope with at most 256 in flight, against a server that
//! resets every 7th connection. Every request gets exactly one outcome: none is lost, none
//! is delivered twice, and every response carries its own request's body.

use std::collections::BTreeMap;

use crate::support::{ScriptedServer, WAIT};

const REQUESTS: usize = 2_000;
const MAX_IN_FLIGHT: usize = 256;
/// Every `RESET_EVERY`-th connection is reset once its first request has arrived.
const RESET_EVERY: usize = 7;

/// Answers each request with its target as the body, keeping connections open; every
/// `RESET_EVERY`-th connection is instead closed with a reset (RST) once a request has
/// arrived on it (the request is left unread, so the kernel resets the connection).
fn resetting_server() -> ScriptedServer {
    ScriptedServer::new(|conn| {
        if conn.index() % RESET_EVERY == RESET_EVERY - 1 {
            let mut first = [0u8; 1];
            let _ = conn.stream().set_read_timeout(Some(WAIT));
            let _ = conn.stream().peek(&mut first);
            return;
        }
        while let Some(request) = conn.read_request() {
            conn.write_all(&crate::support::ok(&request.target));
        }
    })
}

/// The request index in a `/load/<i>` URL.
fn index_of(url: &str) -> usize {
    url.rsplit('/').next().unwrap().parse().unwrap()
}

/// Checks the outcomes (index, Ok body or error): each index once, each body its own.
fn check_outcomes(outcomes: &[(usize, Result<String, par_http::Error>)], server: &ScriptedServer) {
    assert_eq!(outcomes.len(), REQUESTS, "outcomes lost or duplicated");
    let mut seen = BTreeMap::new();
    let mut errors = 0;
    for (index, outcome) in outcomes {
        assert!(
            seen.insert(*index, ()).is_none(),
            "request {index} delivered twice"
        );
        match outcome {
            Ok(body) => assert_eq!(body, &format!("/load/{index}"), "a wrong body"),
            Err(err) => {
                errors += 1;
                assert!(
                    err.is_io() || err.is_protocol() || err.is_body(),
                    "request {index}: {err:?}"
                );
            }
        }
    }
    assert_eq!(seen.len(), REQUESTS);
    assert!(seen.keys().copied().eq(0..REQUESTS), "an index is missing");
    let stats = server.stats();
    assert!(
        stats.accepted >= RESET_EVERY,
        "the resets were never met: {stats:?}"
    );
    assert!(
        errors <= stats.accepted / RESET_EVERY + 1,
        "{errors} errors, {stats:?}"
    );
    assert!(
        stats.max_in_flight <= MAX_IN_FLIGHT,
        "the scope's limit was broken: {stats:?}"
    );
}

#[test]
fn two_thousand_requests_through_one_limited_scope_each_get_one_outcome() {
    let server = resetting_server();
    let client = crate::rt::client();
    let config = par_http::ParallelConfig::new().max_in_flight(MAX_IN_FLIGHT);
    let outcomes = client
        .parallel_with(config, |p| {
            let handles: Vec<_> = (0..REQUESTS)
                .map(|i| p.get(server.url(&format!("/load/{i}"))))
                .collect();
            let mut outcomes = Vec::with_capacity(REQUESTS);
            while p.has_pending_responses() {
                match p.next_response() {
                    Ok(response) => {
                        let index = index_of(response.url().as_str());
                        outcomes.push((index, response.text()));
                    }
                    Err(err) => {
                        let index = index_of(err.url().expect("an error names its request"));
                        outcomes.push((index, Err(err)));
                    }
                }
            }
            // Every outcome went out through next_response: each handle has none left.
            for handle in handles {
                let err = handle.get_response().unwrap_err();
                assert!(err.is_already_collected(), "{err:?}");
            }
            assert!(p.next_response().unwrap_err().is_no_pending());
            Ok(outcomes)
        })
        .unwrap();
    check_outcomes(&outcomes, &server);
}

#[test]
fn two_thousand_requests_through_one_limited_async_scope_each_get_one_outcome() {
    use futures_lite::StreamExt;
    let server = resetting_server();
    let outcomes = crate::rt::block_on_multi_thread(async {
        let client = crate::rt::AsyncClient::new();
        let config = par_http::ParallelConfig::new().max_in_flight(MAX_IN_FLIGHT);
        let mut parallel = client.parallel_with(config);
        // Each start waits for a free slot under the limit; outcomes wait in the scope.
        for i in 0..REQUESTS {
            parallel.get(server.url(&format!("/load/{i}"))).await;
        }
        let mut outcomes = Vec::with_capacity(REQUESTS);
        while let Some(outcome) = parallel.next().await {
            match outcome {
                Ok(response) => {
                    let index = index_of(response.url().as_str());
                    outcomes.push((index, response.text().await));
                }
                Err(err) => {
                    let index = index_of(err.url().expect("an error names its request"));
                    outcomes.push((index, Err(err)));
                }
            }
        }
        assert!(parallel.next_response().await.unwrap_err().is_no_pending());
        outcomes
    });
    check_outcomes(&outcomes, &server);
}
