//! Retries (`RetryPolicy`): what is tried again, how many times, after how long, and
//! the client's budget that bounds them all, for one-off requests, blocking and async
//! scopes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use par_http::{ParallelConfig, RetryPolicy};

use crate::support::{ScriptedServer, response};

/// A server whose first `failures` requests (counted over all connections) get `status`
/// with `headers`, and the rest `200 ok`.
fn failing_server(
    failures: usize,
    status: u16,
    headers: &'static [&'static str],
) -> ScriptedServer {
    let seen = Arc::new(AtomicUsize::new(0));
    ScriptedServer::new(move |conn| {
        while conn.read_request().is_some() {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            if n < failures {
                conn.write_all(&response(status, headers, b"not now"));
            } else {
                conn.write_all(&response(200, &[], b"ok"));
            }
        }
    })
}

/// Retries at once: the tests count attempts, not delays.
fn no_wait(attempts: u32) -> RetryPolicy {
    RetryPolicy::new()
        .max_attempts(attempts)
        .backoff(Duration::ZERO, Duration::ZERO)
}

#[test]
fn a_503_is_tried_again_until_it_succeeds_and_the_response_counts_the_attempts() {
    let server = failing_server(2, 503, &[]);
    let client = crate::rt::builder().retry(no_wait(4)).build().unwrap();
    let response = client.get(server.url("/")).send().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.attempts(), 3);
    assert_eq!(response.text().unwrap(), "ok");
    assert_eq!(server.requests(), 3);
}

#[test]
fn the_last_attempt_is_the_outcome_when_every_one_fails() {
    let server = failing_server(usize::MAX, 502, &[]);
    let client = crate::rt::builder().retry(no_wait(3)).build().unwrap();
    let response = client.get(server.url("/")).send().unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(response.attempts(), 3);
    assert_eq!(server.requests(), 3);
}

#[test]
fn a_status_outside_the_policy_is_not_retried() {
    let server = failing_server(1, 500, &[]);
    let client = crate::rt::builder().retry(no_wait(3)).build().unwrap();
    let response = client.get(server.url("/")).send().unwrap();
    assert_eq!((response.status().as_u16(), response.attempts()), (500, 1));
    assert_eq!(server.requests(), 1);
}

#[test]
fn retry_after_is_honoured_and_one_beyond_the_cap_is_the_outcome() {
    let server = failing_server(1, 503, &["Retry-After: 1"]);
    let client = crate::rt::builder().retry(no_wait(3)).build().unwrap();
    let started = Instant::now();
    let response = client.get(server.url("/")).send().unwrap();
    assert_eq!((response.status().as_u16(), response.attempts()), (200, 2));
    // Not a stopwatch test: the second attempt may not come sooner than asked.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    let server = failing_server(1, 429, &["Retry-After: 3600"]);
    let client = crate::rt::builder()
        .retry(no_wait(3).retry_after_cap(Duration::from_secs(5)))
        .build()
        .unwrap();
    let response = client.get(server.url("/")).send().unwrap();
    assert_eq!((response.status().as_u16(), response.attempts()), (429, 1));
}

#[test]
fn a_post_is_retried_only_when_the_policy_allows_it() {
    let server = failing_server(usize::MAX, 503, &[]);
    let client = crate::rt::builder().retry(no_wait(3)).build().unwrap();
    let response = client.post(server.url("/")).body("x").send().unwrap();
    assert_eq!(response.attempts(), 1);
    assert_eq!(server.requests(), 1);

    let client = crate::rt::builder()
        .retry(no_wait(3).non_idempotent(true))
        .build()
        .unwrap();
    let response = client.post(server.url("/")).body("x").send().unwrap();
    assert_eq!(response.attempts(), 3);
    assert_eq!(server.requests(), 4);
}

#[test]
fn a_connect_error_is_retried_and_the_error_counts_the_attempts() {
    let client = crate::rt::builder().retry(no_wait(3)).build().unwrap();
    let err = client
        .get(crate::support::closed_port_url())
        .send()
        .unwrap_err();
    assert!(err.is_connect(), "{err}");
    assert_eq!(err.attempts(), 3);
}

#[test]
fn the_budget_keeps_a_failing_scope_from_becoming_a_storm() {
    let server = failing_server(usize::MAX, 503, &[]);
    // At most 10% of the requests plus 1 a second over the 10-second window.
    let client = crate::rt::builder()
        .retry(no_wait(5).budget(0.1, 1))
        .max_connections_per_host(16)
        .build()
        .unwrap();
    let statuses = client
        .parallel(|p| {
            let pending: Vec<_> = (0..100)
                .map(|i| p.get(server.url(&format!("/{i}"))))
                .collect();
            pending
                .into_iter()
                .map(|p| p.get_response().map(|r| r.status().as_u16()))
                .collect::<par_http::Result<Vec<_>>>()
        })
        .unwrap();
    assert!(statuses.iter().all(|s| *s == 503));
    let requests = server.requests();
    // Without a budget: 500. With it: 100 first attempts and 20 retries at the most.
    assert!((101..=120).contains(&requests), "{requests} requests");
}

#[test]
fn a_scope_and_a_request_may_set_their_own_policy() {
    let server = failing_server(usize::MAX, 503, &[]);
    let client = crate::rt::client();
    let (scoped, own) = client
        .parallel_with(ParallelConfig::new().retry(no_wait(3)), |p| {
            let scoped = p.get(server.url("/a"));
            let own = p
                .request(par_http::Method::GET, server.url("/b"))
                .retry(RetryPolicy::none())
                .send();
            Ok((
                scoped.get_response()?.attempts(),
                own.get_response()?.attempts(),
            ))
        })
        .unwrap();
    assert_eq!((scoped, own), (3, 1));
    // The client itself has no policy.
    let response = client.get(server.url("/c")).send().unwrap();
    assert_eq!(response.attempts(), 1);
}

#[test]
fn retries_stay_within_the_total_timeout() {
    let server = failing_server(usize::MAX, 503, &[]);
    let client = crate::rt::builder()
        .retry(
            RetryPolicy::new()
                .max_attempts(1_000)
                .backoff(Duration::from_millis(50), Duration::from_millis(50)),
        )
        .timeout(Duration::from_millis(400))
        .build()
        .unwrap();
    let err = client.get(server.url("/")).send().unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(server.requests() < 100, "{} requests", server.requests());
}

#[test]
fn an_async_client_retries_the_same_way() {
    let server = failing_server(2, 503, &[]);
    crate::rt::block_on(async {
        let client = crate::rt::AsyncClient::builder()
            .retry(no_wait(4))
            .build()
            .unwrap();
        let response = client.get(server.url("/one-off")).send().await.unwrap();
        assert_eq!(response.attempts(), 3);
        let attempts = client
            .scope(async |p| {
                let pending = p.get(server.url("/scoped")).await;
                pending.get_response().await.map(|r| r.attempts())
            })
            .await
            .unwrap();
        assert_eq!(attempts, 1, "the server has recovered");
    });
}

#[test]
fn no_retry_starts_after_the_max_retry_time() {
    // A fixed delay of an hour, beyond a limit of a second: the 503 stands, at once.
    let hour = Duration::from_secs(3600);
    let server = failing_server(1, 503, &[]);
    let policy = RetryPolicy::new()
        .max_attempts(3)
        .backoff(hour, hour)
        .jitter(false)
        .max_retry_time(Duration::from_secs(1));
    let client = crate::rt::builder().retry(policy).build().unwrap();
    let response = client.get(server.url("/")).send().unwrap();
    assert_eq!((response.status().as_u16(), response.attempts()), (503, 1));
    // Within the limit, the retry is made.
    let client = crate::rt::builder()
        .retry(no_wait(3).max_retry_time(Duration::from_secs(60)))
        .build()
        .unwrap();
    let response = client.get(server.url("/")).send().unwrap();
    assert_eq!((response.status().as_u16(), response.attempts()), (200, 1));
    assert_eq!(server.requests(), 2);
}

#[test]
fn a_connection_closed_before_the_response_is_retried_when_the_policy_says_so() {
    let closing_server = || {
        let seen = Arc::new(AtomicUsize::new(0));
        ScriptedServer::new(move |conn| {
            if conn.read_request().is_some() && seen.fetch_add(1, Ordering::SeqCst) > 0 {
                conn.write_all(&response(200, &[], b"ok"));
            }
            // The first request's connection closes without a byte of answer.
        })
    };
    let server = closing_server();
    let client = crate::rt::builder().retry(no_wait(3)).build().unwrap();
    let err = client.get(server.url("/")).send().unwrap_err();
    assert_eq!(err.attempts(), 1, "{err}");

    let server = closing_server();
    let client = crate::rt::builder()
        .retry(no_wait(3).closed_connections(true))
        .build()
        .unwrap();
    let response = client.get(server.url("/")).send().unwrap();
    assert_eq!((response.status().as_u16(), response.attempts()), (200, 2));
}
