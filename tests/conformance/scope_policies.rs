//! The scope's failure policies and its watching: fail-fast, a race, the counters
//! (`stats`), the progress callback, errors nobody collected, and a retry storm held by
//! the budget; blocking and async.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use par_http::{ErrorKind, ParallelConfig, ProgressEvent, RetryPolicy, ScopeStats};

use crate::support::{ScriptedServer, WAIT, response};

/// `/ok?size=N` answers 200 with N bytes (13 without a size), `/status/N` answers N,
/// `/fail` closes the connection without an answer, `/hold` holds the request until the
/// client closes the connection.
fn policy_server() -> ScriptedServer {
    ScriptedServer::new(|conn| {
        while let Some(request) = conn.read_request() {
            let target = request.target.as_str();
            if target.starts_with("/hold") {
                conn.wait_for_close(WAIT);
                return;
            }
            if target.starts_with("/fail") {
                conn.close();
                return;
            }
            if let Some(status) = target.strip_prefix("/status/") {
                let status = status.parse().unwrap_or(500);
                conn.write_all(&response(status, &[], b"status body"));
                continue;
            }
            let size = target
                .split_once("size=")
                .and_then(|(_, n)| n.parse().ok())
                .unwrap_or(13);
            conn.write_all(&response(200, &[], &vec![b'x'; size]));
        }
    })
}

fn wait_closed(server: &ScriptedServer, n: usize) -> bool {
    server.wait_until(|s| s.closed_by_peer >= n, WAIT)
}

#[test]
fn fail_fast_cancels_the_rest_and_the_next_collection_returns_the_first_error() {
    let server = policy_server();
    let client = crate::rt::client();
    let config = ParallelConfig::new().fail_fast();
    let (err, rest) = client
        .parallel_with(config, |p| {
            let held: Vec<_> = (0..3)
                .map(|i| p.get(server.url(&format!("/hold/{i}"))))
                .collect();
            assert!(server.wait_until(|s| s.requests >= 3, WAIT));
            p.get(server.url("/fail"));
            // Asked for a held request, the collection gives the failure instead.
            let mut held = held.into_iter();
            let first = held.next().map(|p| p.get_response());
            let Some(Err(err)) = first else {
                panic!("the first collection should fail");
            };
            // The others were cancelled without the scope ending.
            assert!(wait_closed(&server, 3), "{:?}", server.stats());
            let rest: Vec<_> = held.map(|p| p.get_response()).collect();
            Ok((err, rest))
        })
        .unwrap();
    assert!(err.url().is_some_and(|url| url.ends_with("/fail")), "{err}");
    assert!(!err.is_cancelled(), "{err}");
    assert_eq!(rest.len(), 2);
    for outcome in rest {
        assert!(outcome.is_err_and(|err| err.is_cancelled()));
    }
}

#[test]
fn fail_fast_with_error_for_status_stops_at_the_first_error_status() {
    let server = policy_server();
    let client = crate::rt::client();
    let config = ParallelConfig::new().fail_fast().error_for_status();
    let err = client
        .parallel_with(config, |p| {
            p.get(server.url("/hold/a"));
            p.get(server.url("/status/503"));
            let mut seen = 0;
            while p.has_pending_responses() && seen < 10 {
                p.next_response()?;
                seen += 1;
            }
            Ok(())
        })
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503), "{err}");
    assert!(wait_closed(&server, 1), "{:?}", server.stats());
}

#[test]
fn without_fail_fast_an_error_cancels_nothing() {
    let server = policy_server();
    let client = crate::rt::client();
    let statuses = client
        .parallel(|p| {
            let ok = p.get(server.url("/ok"));
            let failed = p.get(server.url("/fail"));
            assert!(failed.get_response().is_err());
            Ok(ok.get_response()?.status().as_u16())
        })
        .unwrap();
    assert_eq!(statuses, 200);
}

#[test]
fn a_race_returns_the_first_response_and_cancels_the_others_before_it_returns() {
    let server = policy_server();
    let client = crate::rt::client();
    let body = client
        .parallel(|p| {
            for i in 0..3 {
                p.get(server.url(&format!("/hold/{i}")));
            }
            assert!(server.wait_until(|s| s.requests >= 3, WAIT));
            p.get(server.url("/ok?size=5"));
            let winner = p.race()?;
            // Nothing of the race is left in the scope, and the losers' connections are
            // closed while it is still open.
            assert!(!p.has_pending_responses());
            assert!(wait_closed(&server, 3), "{:?}", server.stats());
            // The scope goes on.
            let after = p.get(server.url("/ok"));
            assert_eq!(after.get_response()?.status(), 200);
            winner.text()
        })
        .unwrap();
    assert_eq!(body, "xxxxx");
}

#[test]
fn a_race_that_all_fail_gives_every_error() {
    let server = policy_server();
    let client = crate::rt::client();
    let err = client
        .parallel(|p| {
            for i in 0..3 {
                p.get(server.url(&format!("/fail/{i}")));
            }
            p.race()
        })
        .unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::AllFailed, "{err}");
    let errors = err.all_failed().unwrap_or_default();
    assert_eq!(errors.len(), 3, "{err}");
    let mut urls: Vec<_> = errors.iter().filter_map(|e| e.url()).collect();
    urls.sort_unstable();
    assert!(
        urls[0].ends_with("/fail/0") && urls[2].ends_with("/fail/2"),
        "{urls:?}"
    );

    let nothing = client.parallel(|p| p.race()).unwrap_err();
    assert!(nothing.is_no_pending(), "{nothing}");
}

/// The kinds of progress events seen, per request index.
#[derive(Default)]
struct Seen {
    sent: usize,
    heads: usize,
    done: usize,
    failed: usize,
    /// The last `received` of each request's body events.
    bytes: std::collections::HashMap<usize, u64>,
    done_bytes: u64,
}

#[test]
fn stats_and_progress_count_every_request_and_byte() {
    let server = policy_server();
    let client = crate::rt::client();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let record = seen.clone();
    let config = ParallelConfig::new().on_progress(move |progress| {
        let mut seen = record.lock().unwrap();
        match progress.event {
            ProgressEvent::Sent => seen.sent += 1,
            ProgressEvent::Head { .. } => seen.heads += 1,
            ProgressEvent::Body { received, .. } => {
                seen.bytes.insert(progress.index, received);
            }
            ProgressEvent::Done { received, .. } => {
                seen.done += 1;
                seen.done_bytes += received;
            }
            ProgressEvent::Failed { .. } => seen.failed += 1,
            _ => {}
        }
    });
    const SIZE: usize = 300 * 1024;
    let stats = client
        .parallel_with(config, |p| {
            assert_eq!(p.stats(), ScopeStats::default());
            for _ in 0..4 {
                p.get(server.url(&format!("/ok?size={SIZE}")));
            }
            p.get(server.url("/status/404"));
            p.get(server.url("/fail"));
            p.get("not a url");
            while p.has_pending_responses() {
                let _ = p.next_response();
            }
            Ok(p.stats())
        })
        .unwrap();
    let expected_bytes = 4 * SIZE as u64 + "status body".len() as u64;
    assert_eq!(stats.started, 7, "{stats:?}");
    assert_eq!(
        (stats.done, stats.failed, stats.cancelled),
        (5, 2, 0),
        "{stats:?}"
    );
    assert_eq!((stats.in_flight, stats.queued), (0, 0), "{stats:?}");
    assert_eq!(stats.bytes_received, expected_bytes, "{stats:?}");
    let seen = seen.lock().unwrap();
    assert_eq!(
        (seen.sent, seen.heads, seen.done, seen.failed),
        (6, 5, 5, 2)
    );
    assert_eq!(seen.bytes.values().sum::<u64>(), expected_bytes);
    assert_eq!(seen.done_bytes, expected_bytes);
}

#[test]
fn a_streamed_body_is_in_flight_until_it_is_read_and_a_dropped_one_is_cancelled() {
    let server = policy_server();
    let client = crate::rt::client();
    let config = ParallelConfig::new().stream_bodies().max_in_flight(4);
    client
        .parallel_with(config, |p| {
            let response = p.get(server.url("/ok?size=100000")).get_response()?;
            let stats = p.stats();
            assert_eq!((stats.in_flight, stats.done), (1, 0), "{stats:?}");
            assert_eq!(response.bytes()?.len(), 100_000);
            let stats = p.stats();
            assert_eq!((stats.in_flight, stats.done), (0, 1), "{stats:?}");
            assert_eq!(stats.bytes_received, 100_000, "{stats:?}");

            let dropped = p.get(server.url("/ok?size=100000")).get_response()?;
            drop(dropped);
            let stats = p.stats();
            assert_eq!((stats.in_flight, stats.cancelled), (0, 1), "{stats:?}");
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_line_under_max_in_flight_shows_as_queued() {
    let server = policy_server();
    let client = crate::rt::client();
    let config = ParallelConfig::new().max_in_flight(2);
    client
        .parallel_with(config, |p| {
            for i in 0..5 {
                p.get(server.url(&format!("/hold/{i}")));
            }
            assert!(server.wait_until(|s| s.requests >= 2, WAIT));
            let mut stats = p.stats();
            for _ in 0..200 {
                if stats.queued == 3 {
                    break;
                }
                // The blocking scope's tasks run while the caller waits on it.
                let _ = p.next_response_timeout(Duration::from_millis(5));
                stats = p.stats();
            }
            assert_eq!((stats.started, stats.in_flight, stats.queued), (5, 2, 3));
            Ok(())
        })
        .unwrap();
}

#[test]
fn an_error_left_in_the_scope_is_reported_once() {
    let server = policy_server();
    let client = crate::rt::client();
    let reported = Arc::new(AtomicUsize::new(0));
    let report = reported.clone();
    let config = ParallelConfig::new().on_uncollected_error(move |err| {
        assert!(err.url().is_some_and(|url| url.ends_with("/fail")), "{err}");
        report.fetch_add(1, Ordering::SeqCst);
    });
    client
        .parallel_with(config, |p| {
            let failed = p.get(server.url("/fail"));
            let ok = p.get(server.url("/ok"));
            ok.get_response()?;
            // Wait for the failure without collecting it.
            for _ in 0..400 {
                if failed.is_ready() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            assert!(failed.is_ready());
            Ok(())
        })
        .unwrap();
    assert_eq!(reported.load(Ordering::SeqCst), 1);
}

#[test]
fn a_storm_of_ten_thousand_failing_requests_stays_within_the_retry_budget() {
    let server = ScriptedServer::always(response(503, &[], b"down"));
    // Retries: at most 10% of the requests plus 1 a second over the 10-second window.
    let client = crate::rt::builder()
        .retry(
            RetryPolicy::new()
                .max_attempts(5)
                .backoff(Duration::ZERO, Duration::ZERO)
                .budget(0.1, 1),
        )
        .max_connections_per_host(16)
        .build()
        .unwrap();
    let config = ParallelConfig::new().max_in_flight(64);
    let (failed, retries) = client
        .parallel_with(config, |p| {
            for i in 0..10_000 {
                p.get(server.url(&format!("/{i}")));
            }
            let mut failed = 0;
            while p.has_pending_responses() {
                if p.next_response()?.status() == 503 {
                    failed += 1;
                }
            }
            Ok((failed, p.stats().retries))
        })
        .unwrap();
    assert_eq!(failed, 10_000);
    let requests = server.requests() as u64;
    assert_eq!(requests, 10_000 + retries);
    // Without the budget: 50,000. With it: 1,000 and a floor of 1 a second (10 s window).
    assert!(retries <= 1_000 + 10 + 60, "{retries} retries");
}

#[test]
fn an_async_scope_has_the_same_policies_and_counters() {
    let server = policy_server();
    crate::rt::block_on(async {
        let client = crate::rt::AsyncClient::new();
        // A race.
        let p = client.parallel();
        p.get(server.url("/hold/a")).await;
        p.get(server.url("/ok?size=3")).await;
        let winner = p.race().await.unwrap();
        assert_eq!(winner.text().await.unwrap(), "xxx");
        assert!(!p.has_pending_responses());
        let stats = p.stats();
        assert_eq!(
            (stats.started, stats.done, stats.cancelled),
            (2, 1, 1),
            "{stats:?}"
        );
        p.close().await;
        assert!(wait_closed(&server, 1), "{:?}", server.stats());

        // Fail-fast.
        let p = client.parallel_with(ParallelConfig::new().fail_fast());
        let held = p.get(server.url("/hold/b")).await;
        p.get(server.url("/fail")).await;
        let err = held.get_response().await.unwrap_err();
        assert!(err.url().is_some_and(|url| url.ends_with("/fail")), "{err}");
        let next = p.next_response().await.unwrap_err();
        assert!(next.is_cancelled(), "{next}");
        p.close().await;
        assert!(wait_closed(&server, 2), "{:?}", server.stats());
    });
}

#[test]
fn a_panicking_progress_callback_stops_nothing() {
    let server = policy_server();
    let client = crate::rt::client();
    let config = ParallelConfig::new()
        .on_progress(|_| panic!("a user's callback panics"))
        .on_uncollected_error(|_| panic!("this one too"));
    let statuses = client
        .parallel_with(config, |p| {
            let pending: Vec<_> = (0..4)
                .map(|i| p.get(server.url(&format!("/ok/{i}"))))
                .collect();
            p.get(server.url("/fail"));
            pending
                .into_iter()
                .map(|p| p.get_response().map(|r| r.status().as_u16()))
                .collect::<par_http::Result<Vec<_>>>()
        })
        .unwrap();
    assert_eq!(statuses, [200; 4]);
}
