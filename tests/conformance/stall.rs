//! Where a wait could never end, a typed error says why (rule 1 of the design). A scope
//! reads parked bodies into memory when a waiting caller needs their connection, but a
//! response the caller asked to `stream()` is left as it is: if such responses, not yet
//! collected, hold every connection to a host (or every slot under the scope's limit)
//! while the caller waits for another request, that request ends with `is_stalled()`,
//! naming what holds it, instead of a hang.

use std::time::Duration;

use crate::rt;
use crate::support::{ScriptedServer, WAIT};

/// Answers with a head and the first bytes of a 1 MiB body, then holds the rest until
/// the client closes.
fn half_sent_server() -> ScriptedServer {
    ScriptedServer::new(|conn| {
        if conn.read_request().is_some() {
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\nstart");
            conn.wait_for_close(WAIT);
        }
    })
}

/// Runs `scenario` on a thread and fails (instead of hanging) if it takes longer than `WAIT`.
fn bounded<T: Send + 'static>(scenario: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(scenario());
    });
    outcome
        .recv_timeout(WAIT + Duration::from_secs(5))
        .expect("the scope hung instead of reporting a stall")
}

#[test]
fn uncollected_streamed_responses_holding_every_connection_stall_a_waiting_request() {
    let server = half_sent_server();
    let server = std::sync::Arc::new(server);
    let (first, second, third) = (server.url("/0"), server.url("/1"), server.url("/2"));
    let seen = server.clone();
    let err = bounded(move || {
        let client = rt::builder().max_connections_per_host(2).build().unwrap();
        client.parallel(|p| {
            let _a = p.request(par_http::Method::GET, first).stream().send();
            let _b = p.request(par_http::Method::GET, second).stream().send();
            // The first two hold both connections before the third starts.
            assert!(
                seen.wait_until(|s| s.requests == 2, WAIT),
                "{:?}",
                seen.stats()
            );
            let c = p.request(par_http::Method::GET, third).stream().send();
            c.get_response().map(|_| ())
        })
    })
    .unwrap_err();
    assert!(err.is_stalled(), "{err:?}");
    assert_eq!(err.index(), Some(2));
    let text = format!("{err}");
    assert!(
        text.contains("every connection to http://127.0.0.1:"),
        "{text}"
    );
}

#[test]
fn uncollected_streamed_responses_holding_every_slot_stall_a_waiting_request() {
    let server = std::sync::Arc::new(half_sent_server());
    let urls: Vec<String> = (0..3).map(|n| server.url(&format!("/{n}"))).collect();
    let seen = server.clone();
    let err = bounded(move || {
        let client = rt::client();
        let config = par_http::ParallelConfig::new()
            .max_in_flight(2)
            .stream_bodies();
        client.parallel_with(config, |p| {
            p.get(urls[0].as_str());
            p.get(urls[1].as_str());
            // The first two hold both slots before the third starts.
            assert!(
                seen.wait_until(|s| s.requests == 2, WAIT),
                "{:?}",
                seen.stats()
            );
            p.get(urls[2].as_str()).get_response().map(|_| ())
        })
    })
    .unwrap_err();
    assert!(err.is_stalled(), "{err:?}");
    assert!(format!("{err}").contains("max_in_flight (2)"), "{err}");
}

#[test]
fn parked_bodies_are_read_instead_so_the_same_order_completes() {
    // The same order without stream(): the parked bodies give their connections back.
    let server = crate::support::HyperServer::start();
    let n = 2 << 20;
    let urls: Vec<String> = (0..3)
        .map(|_| server.url(&format!("/bytes?n={n}")))
        .collect();
    let lengths = bounded(move || {
        let client = rt::builder().max_connections_per_host(2).build().unwrap();
        client.parallel(|p| {
            let handles: Vec<_> = urls.iter().map(|url| p.get(url.as_str())).collect();
            let mut lengths = Vec::new();
            for handle in handles.into_iter().rev() {
                lengths.push(handle.get_response()?.bytes()?.len());
            }
            Ok(lengths)
        })
    })
    .unwrap();
    assert_eq!(lengths, [n, n, n]);
}
