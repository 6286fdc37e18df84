//! Time-driven behaviour under a virtual clock (`support::VirtualClock`): retry backoff,
//! `Retry-After`, the scope's deadline and the pool's idle timeout, each taking minutes of
//! virtual time and no real waiting. The test waits until the client is asleep on the
//! timer it expects, checks what the server saw so far, and moves time past it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use par_http::{ParallelConfig, RetryPolicy, TimeoutPhase};

use crate::support::{ScriptedServer, VirtualClock, WAIT, holding_server, response};

/// A server whose first `failures` requests get 503 with `headers`, the rest 200.
fn failing(failures: usize, headers: &'static [&'static str]) -> ScriptedServer {
    let seen = Arc::new(AtomicUsize::new(0));
    ScriptedServer::new(move |conn| {
        while conn.read_request().is_some() {
            if seen.fetch_add(1, Ordering::SeqCst) < failures {
                conn.write_all(&response(503, headers, b"later"));
            } else {
                conn.write_all(&response(200, &[], b"done"));
            }
        }
    })
}

fn clock() -> VirtualClock {
    VirtualClock::new(crate::rt::runtime())
}

#[test]
fn retries_back_off_exponentially_in_virtual_time() {
    let server = failing(2, &[]);
    let clock = clock();
    let client = crate::rt::builder()
        .runtime(clock.runtime())
        .retry(
            RetryPolicy::new()
                .max_attempts(3)
                .backoff(Duration::from_secs(10), Duration::from_secs(60))
                .jitter(false),
        )
        .build()
        .unwrap();
    let url = server.url("/flaky");
    let sent = std::thread::spawn(move || client.get(url).send());
    // First attempt failed: the client sleeps 10 s, then 20 s, before its next attempts.
    for (delay, attempts_so_far) in [(10, 1), (20, 2)] {
        let delay = Duration::from_secs(delay);
        let left = clock.wait_for_sleep(|left| left == delay, WAIT);
        assert_eq!(
            left,
            Some(delay),
            "the backoff after attempt {attempts_so_far}"
        );
        assert_eq!(server.requests(), attempts_so_far);
        clock.advance(delay);
    }
    let response = sent.join().unwrap().unwrap();
    assert_eq!((response.status().as_u16(), response.attempts()), (200, 3));
    assert_eq!(server.requests(), 3);
    assert_eq!(clock.elapsed(), Duration::from_secs(30));
}

#[test]
fn retry_after_in_seconds_is_waited_for_exactly() {
    let server = failing(1, &["Retry-After: 120"]);
    let clock = clock();
    let client = crate::rt::builder()
        .runtime(clock.runtime())
        .retry(
            RetryPolicy::new()
                .max_attempts(2)
                .retry_after_cap(Duration::from_secs(300)),
        )
        .build()
        .unwrap();
    let url = server.url("/busy");
    let sent = std::thread::spawn(move || client.get(url).send());
    let wait = Duration::from_secs(120);
    assert_eq!(clock.wait_for_sleep(|left| left == wait, WAIT), Some(wait));
    // A second short of the wait, the client has not tried again.
    clock.advance(Duration::from_secs(119));
    assert_eq!(
        clock.wait_for_sleep(|left| left == Duration::from_secs(1), WAIT),
        Some(Duration::from_secs(1))
    );
    assert_eq!(server.requests(), 1);
    clock.advance(Duration::from_secs(1));
    let response = sent.join().unwrap().unwrap();
    assert_eq!((response.status().as_u16(), response.attempts()), (200, 2));
}

#[test]
fn the_scope_deadline_ends_held_requests_in_virtual_time() {
    let server = holding_server();
    let clock = clock();
    let client = crate::rt::builder()
        .runtime(clock.runtime())
        .build()
        .unwrap();
    let url = server.url("/held");
    let deadline = Duration::from_secs(300);
    let scope = std::thread::spawn(move || {
        client.parallel_with(ParallelConfig::new().deadline(deadline), |p| {
            let pending: Vec<_> = (0..3).map(|_| p.get(url.as_str())).collect();
            Ok(pending
                .into_iter()
                .map(|p| p.get_response().map(|r| r.status()))
                .collect::<Vec<_>>())
        })
    });
    assert!(
        server.wait_until(|s| s.requests >= 3, WAIT),
        "{:?}",
        server.stats()
    );
    assert_eq!(
        clock.wait_for_sleep(|left| left == deadline, WAIT),
        Some(deadline)
    );
    clock.advance(deadline);
    let outcomes = scope.join().unwrap().unwrap();
    for outcome in outcomes {
        let err = outcome.unwrap_err();
        assert_eq!(
            err.timeout_phase(),
            Some(TimeoutPhase::ScopeDeadline),
            "{err}"
        );
    }
    assert!(
        server.wait_until(|s| s.closed_by_peer >= 3, WAIT),
        "{:?}",
        server.stats()
    );
}

#[test]
fn an_idle_connection_is_closed_at_the_idle_timeout_in_virtual_time() {
    let server = failing(0, &[]);
    let clock = clock();
    let idle = Duration::from_secs(600);
    let client = crate::rt::builder()
        .runtime(clock.runtime())
        .idle_timeout(idle)
        .build()
        .unwrap();
    assert_eq!(
        client.get(server.url("/")).send().unwrap().text().unwrap(),
        "done"
    );
    // The pool's sweeper sleeps while the connection is idle; before the timeout the
    // connection stays open.
    assert!(
        clock
            .wait_for_sleep(|left| left > Duration::ZERO, WAIT)
            .is_some()
    );
    clock.advance(idle - Duration::from_secs(1));
    assert_eq!(server.stats().closed_by_peer, 0);
    assert!(
        clock
            .wait_for_sleep(|left| left > Duration::ZERO, WAIT)
            .is_some()
    );
    clock.advance(Duration::from_secs(2));
    assert!(
        server.wait_until(|s| s.closed_by_peer == 1, WAIT),
        "{:?}",
        server.stats()
    );
    // A new request opens a new connection.
    assert_eq!(
        client.get(server.url("/")).send().unwrap().text().unwrap(),
        "done"
    );
    assert_eq!(server.stats().accepted, 2);
}

#[test]
fn a_hedge_goes_out_when_its_delay_passes_in_virtual_time() {
    // The first request is held until its connection closes; later ones are answered.
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    let server = ScriptedServer::new(move |conn| {
        while conn.read_request().is_some() {
            if count.fetch_add(1, Ordering::SeqCst) == 0 {
                conn.wait_for_close(WAIT);
                return;
            }
            conn.write_all(&response(200, &[], b"hedge"));
        }
    });
    let clock = clock();
    let delay = Duration::from_secs(30);
    let client = crate::rt::builder()
        .runtime(clock.runtime())
        .hedge(par_http::HedgePolicy::after(delay))
        .build()
        .unwrap();
    let url = server.url("/slow");
    let sent = std::thread::spawn(move || client.get(url).send());
    assert!(
        server.wait_until(|s| s.requests == 1, WAIT),
        "{:?}",
        server.stats()
    );
    assert_eq!(
        clock.wait_for_sleep(|left| left == delay, WAIT),
        Some(delay)
    );
    // Until the delay passes, no second copy.
    assert_eq!(server.stats().requests, 1);
    clock.advance(delay);
    let response = sent.join().unwrap().unwrap();
    assert_eq!(
        (response.hedges(), response.text().unwrap()),
        (1, "hedge".to_owned())
    );
    // The loser's connection is closed.
    assert!(
        server.wait_until(|s| s.closed_by_peer >= 1, WAIT),
        "{:?}",
        server.stats()
    );
}
