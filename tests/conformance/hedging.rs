//! Hedged requests (`HedgePolicy`): a second copy of an idempotent request after a delay
//! without a response head, the first head winning and the loser's connection closed;
//! never for a POST, not when the answer comes first, within the retry budget, and the
//! p95 delay's fallback until enough latencies are known. Every assertion is on what the
//! server saw (requests per path, connections the client closed), none on a stopwatch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use par_http::{HedgePolicy, ParallelConfig, RetryPolicy};

use crate::support::{ScriptedServer, Switches, WAIT, ok};

/// The delay of the tests' fixed policies: short, the servers hold far longer.
const DELAY: Duration = Duration::from_millis(20);

/// How long a `/short/..` first copy is held before the server answers it anyway.
const SHORT_HOLD: Duration = Duration::from_millis(300);

/// How long a `/slow/..` request takes: far above [`SHORT_HOLD`], so latencies observed
/// there put a p95 policy's delay well beyond it.
const SLOW: Duration = Duration::from_secs(1);

/// What a [`hedge_server`] saw.
#[derive(Default)]
struct Seen {
    /// Copies received per path.
    copies: Mutex<HashMap<String, usize>>,
    /// First copies whose connection the client closed after a second copy came.
    losers_closed: AtomicUsize,
}

impl Seen {
    fn copies(&self, path: &str) -> usize {
        let copies = self.copies.lock().unwrap_or_else(PoisonError::into_inner);
        copies.get(path).copied().unwrap_or(0)
    }

    fn total(&self) -> usize {
        let copies = self.copies.lock().unwrap_or_else(PoisonError::into_inner);
        copies.values().sum()
    }
}

/// A server for hedging, by path:
/// - the first copy of a path is held until a second copy of the same path arrives; it
///   then answers nothing and waits for the client to close its connection (counted in
///   `losers_closed`). A first copy no second one joins is answered `first` after
///   [`SHORT_HOLD`] for paths under `/short/`, after [`WAIT`] otherwise;
/// - a second (or later) copy is answered `hedge` at once;
/// - paths under `/slow/` are answered `slow` after [`SLOW`], every copy.
fn hedge_server() -> (ScriptedServer, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let switches = Switches::new();
    let server_seen = seen.clone();
    let server = ScriptedServer::new(move |conn| {
        while let Some(request) = conn.read_request() {
            let path = request.target.clone();
            let copy = {
                let mut copies =
                    (server_seen.copies.lock()).unwrap_or_else(PoisonError::into_inner);
                let count = copies.entry(path.clone()).or_insert(0);
                *count += 1;
                *count
            };
            if path.starts_with("/slow/") {
                std::thread::sleep(SLOW);
                conn.write_all(&ok("slow"));
            } else if copy == 1 {
                let hold = if path.starts_with("/short/") {
                    SHORT_HOLD
                } else {
                    WAIT
                };
                if switches.wait_for(&path, hold) {
                    if conn.wait_for_close(WAIT) {
                        server_seen.losers_closed.fetch_add(1, Ordering::SeqCst);
                    }
                    return;
                }
                conn.write_all(&ok("first"));
            } else {
                switches.turn_on(&path);
                conn.write_all(&ok("hedge"));
            }
        }
    });
    (server, seen)
}

/// Waits (bounded) until the server counted `n` closed losers.
fn losers_closed(seen: &Seen, n: usize) -> bool {
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline {
        if seen.losers_closed.load(Ordering::SeqCst) >= n {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    seen.losers_closed.load(Ordering::SeqCst) >= n
}

#[test]
fn a_stalled_get_is_hedged_on_another_connection_and_the_loser_is_closed() {
    let (server, seen) = hedge_server();
    let client = crate::rt::builder()
        .hedge(HedgePolicy::after(DELAY))
        .timeout(WAIT)
        .build()
        .unwrap();
    let response = client.get(server.url("/a")).send().unwrap();
    assert_eq!((response.attempts(), response.hedges()), (1, 1));
    assert_eq!(response.text().unwrap(), "hedge");
    assert_eq!(seen.copies("/a"), 2);
    // The first copy held its connection: the hedge went out on a second one.
    assert_eq!(server.accepted(), 2);
    // The loser was cancelled: its connection closed, not kept for the pool.
    assert!(
        losers_closed(&seen, 1),
        "the stalled connection stayed open"
    );
    drop(client);
}

#[test]
fn a_post_is_never_hedged() {
    let (server, seen) = hedge_server();
    let client = crate::rt::builder()
        .hedge(HedgePolicy::after(DELAY))
        .timeout(WAIT)
        .build()
        .unwrap();
    let response = client
        .post(server.url("/short/post"))
        .body("x")
        .send()
        .unwrap();
    assert_eq!(response.hedges(), 0);
    assert_eq!(response.text().unwrap(), "first");
    assert_eq!(seen.copies("/short/post"), 1);
}

#[test]
fn no_hedge_goes_out_when_the_answer_comes_before_the_delay() {
    let server = ScriptedServer::new(|conn| {
        while conn.read_request().is_some() {
            conn.write_all(&ok("at once"));
        }
    });
    let client = crate::rt::builder()
        .hedge(HedgePolicy::after(Duration::from_secs(2)))
        .build()
        .unwrap();
    for _ in 0..5 {
        let response = client.get(server.url("/fast")).send().unwrap();
        assert_eq!(response.hedges(), 0);
        assert_eq!(response.text().unwrap(), "at once");
    }
    assert_eq!(server.requests(), 5);
    assert_eq!(server.accepted(), 1, "one connection, reused");
}

#[test]
fn a_copy_that_fails_does_not_end_the_request() {
    // The first copy's connection is closed without an answer once the hedge has
    // arrived; the hedge answers a little later.
    let switches = Switches::new();
    let first_failed = Switches::new();
    let server = ScriptedServer::new(move |conn| {
        while let Some(request) = conn.read_request() {
            if conn.index() == 0 {
                switches.wait_for(&request.target, WAIT);
                conn.close();
                first_failed.turn_on(&request.target);
                return;
            }
            switches.turn_on(&request.target);
            first_failed.wait_for(&request.target, WAIT);
            std::thread::sleep(Duration::from_millis(30));
            conn.write_all(&ok("hedge"));
        }
    });
    let client = crate::rt::builder()
        .hedge(HedgePolicy::after(DELAY))
        .timeout(WAIT)
        .build()
        .unwrap();
    let response = client.get(server.url("/x")).send().unwrap();
    assert_eq!(response.hedges(), 1);
    assert_eq!(response.text().unwrap(), "hedge");

    // When every copy fails, the request fails, and says a hedge was sent.
    let failing = ScriptedServer::new(|conn| {
        if conn.read_request().is_some() {
            if conn.index() == 0 {
                conn.wait_until(|s| s.requests >= 2, WAIT);
            }
            conn.close();
        }
    });
    let err = client.get(failing.url("/y")).send().unwrap_err();
    assert_eq!((err.attempts(), err.hedges()), (1, 1), "{err}");
    assert_eq!(failing.requests(), 2);
}

#[test]
fn hedges_spend_from_the_retry_budget_and_stop_when_it_is_spent() {
    let (server, seen) = hedge_server();
    // No share of the requests, a floor of 1 a second over the 10-second window: 10.
    let client = crate::rt::builder()
        .retry(RetryPolicy::none().budget(0.0, 1))
        .hedge(HedgePolicy::after(DELAY))
        .timeout(WAIT)
        .build()
        .unwrap();
    let bodies = client
        .parallel(|p| {
            let pending: Vec<_> = (0..12)
                .map(|i| p.get(server.url(&format!("/short/{i}"))))
                .collect();
            let bodies = pending
                .into_iter()
                .map(|p| {
                    let response = p.get_response()?;
                    let hedges = response.hedges();
                    Ok((hedges, response.text()?))
                })
                .collect::<par_http::Result<Vec<_>>>()?;
            // The scope's counters see the same hedges.
            assert_eq!(p.stats().hedges, 10, "{:?}", p.stats());
            Ok(bodies)
        })
        .unwrap();
    let hedged = bodies.iter().filter(|(h, body)| *h == 1 && body == "hedge");
    let alone = bodies.iter().filter(|(h, body)| *h == 0 && body == "first");
    assert_eq!((hedged.count(), alone.count()), (10, 2), "{bodies:?}");
    assert_eq!(seen.total(), 22);
    assert!(losers_closed(&seen, 10));

    // With nothing left in the budget, a stalled request waits for its only copy.
    let spent = crate::rt::builder()
        .retry(RetryPolicy::none().budget(0.0, 0))
        .hedge(HedgePolicy::after(DELAY))
        .build()
        .unwrap();
    let response = spent.get(server.url("/short/spent")).send().unwrap();
    assert_eq!(
        (response.hedges(), response.text().unwrap()),
        (0, "first".to_owned())
    );
    assert_eq!(seen.copies("/short/spent"), 1);
}

#[test]
fn the_p95_delay_falls_back_to_its_minimum_until_enough_latencies_are_known() {
    let (server, seen) = hedge_server();
    let client = crate::rt::builder().timeout(WAIT).build().unwrap();
    let policy = HedgePolicy::p95().min_delay(DELAY);
    let config = ParallelConfig::new().hedge(policy.clone());
    client
        .parallel_with(config, |p| {
            // No latency known yet: the minimum delay hedges a stalled request.
            let first = p.get(server.url("/stalled")).get_response()?;
            assert_eq!((first.hedges(), first.text()?), (1, "hedge".to_owned()));
            // Twenty slow answers: the 95th percentile is now above SLOW.
            let slow: Vec<_> = (0..20)
                .map(|i| p.get(server.url(&format!("/slow/{i}"))))
                .collect();
            for pending in slow {
                pending.get_response()?.text()?;
            }
            assert!(policy.observed() > HedgePolicy::MIN_SAMPLES);
            assert!(policy.delay() >= SLOW, "{:?}", policy.delay());
            // An answer after SHORT_HOLD now comes well before the delay: no hedge.
            let late = p.get(server.url("/short/late")).get_response()?;
            assert_eq!((late.hedges(), late.text()?), (0, "first".to_owned()));
            Ok(())
        })
        .unwrap();
    assert_eq!(seen.copies("/stalled"), 2);
    assert_eq!(seen.copies("/short/late"), 1);
}

#[test]
fn the_total_timeout_and_the_scope_deadline_bound_every_copy() {
    let server = crate::support::holding_server();
    let client = crate::rt::builder()
        .hedge(HedgePolicy::after(DELAY))
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = client.get(server.url("/held")).send().unwrap_err();
    assert_eq!(
        err.timeout_phase(),
        Some(par_http::TimeoutPhase::Total),
        "{err}"
    );
    // Both copies went out, and both connections were closed when the time ran out.
    assert!(
        server.wait_until(|s| s.requests == 2 && s.closed_by_peer == 2, WAIT),
        "{:?}",
        server.stats()
    );

    let server = crate::support::holding_server();
    let client = crate::rt::builder()
        .hedge(HedgePolicy::after(DELAY))
        .build()
        .unwrap();
    let config = ParallelConfig::new()
        .max_in_flight(1)
        .deadline(Duration::from_millis(300));
    let err = client
        .parallel_with(config, |p| p.get(server.url("/held")).get_response())
        .unwrap_err();
    assert_eq!(
        err.timeout_phase(),
        Some(par_http::TimeoutPhase::ScopeDeadline),
        "{err}"
    );
    // The hedge ran in its request's one slot: two copies, one request.
    assert!(
        server.wait_until(|s| s.requests == 2 && s.closed_by_peer == 2, WAIT),
        "{:?}",
        server.stats()
    );
}

#[test]
fn a_request_and_a_scope_override_the_client_policy() {
    let (server, seen) = hedge_server();
    let client = crate::rt::builder()
        .hedge(HedgePolicy::after(DELAY))
        .timeout(WAIT)
        .build()
        .unwrap();
    let own = client
        .get(server.url("/short/own"))
        .hedge(HedgePolicy::none())
        .send()
        .unwrap();
    assert_eq!((own.hedges(), own.text().unwrap()), (0, "first".to_owned()));
    let scoped = client
        .parallel_with(ParallelConfig::new().hedge(HedgePolicy::none()), |p| {
            let off = p.get(server.url("/short/scoped")).get_response()?;
            let on = p
                .request(par_http::Method::GET, server.url("/on"))
                .hedge(HedgePolicy::after(DELAY))
                .send()
                .get_response()?;
            Ok((off.hedges(), on.hedges()))
        })
        .unwrap();
    assert_eq!(scoped, (0, 1));
    assert_eq!(
        (
            seen.copies("/short/own"),
            seen.copies("/short/scoped"),
            seen.copies("/on")
        ),
        (1, 1, 2)
    );
}

#[test]
fn an_async_client_hedges_and_retries_together() {
    let (server, seen) = hedge_server();
    crate::rt::block_on(async {
        let client = crate::rt::AsyncClient::builder()
            .retry(RetryPolicy::new().max_attempts(3))
            .hedge(HedgePolicy::after(DELAY))
            .timeout(WAIT)
            .build()
            .unwrap();
        let response = client.get(server.url("/async")).send().await.unwrap();
        assert_eq!((response.attempts(), response.hedges()), (1, 1));
        let hedges = client
            .scope(async |p| {
                let pending = p.get(server.url("/async-scoped")).await;
                pending.get_response().await.map(|r| r.hedges())
            })
            .await
            .unwrap();
        assert_eq!(hedges, 1);
    });
    assert!(losers_closed(&seen, 2));
}

#[cfg(feature = "http2")]
#[test]
fn over_http2_the_hedge_is_another_stream_and_the_loser_is_reset() {
    use crate::support::{Behaviour, H2Options, H2Server};

    let server = H2Server::start(H2Options::new(Behaviour::HoldFirst));
    let client = crate::rt::builder()
        .http2_prior_knowledge()
        .hedge(HedgePolicy::after(DELAY))
        .timeout(WAIT)
        .build()
        .unwrap();
    let response = client.get(server.url("/h2")).send().unwrap();
    assert_eq!(response.hedges(), 1);
    assert_eq!(response.text().unwrap(), "/h2");
    // The loser's stream was reset (CANCEL); both streams shared one connection.
    assert!(
        server.wait_until(|s| !s.resets.is_empty(), WAIT),
        "{:?}",
        server.stats()
    );
    let stats = server.stats();
    assert_eq!((stats.accepted, stats.requests), (1, 2), "{stats:?}");
    assert_eq!(stats.resets, vec![0x8], "{stats:?}");
}
