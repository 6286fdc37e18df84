//! Rule 6 of the design, the scope side: many requests really run at once, and a scope
//! limit caps how many (backpressure, not an error). Parallelism is measured by the
//! server's in-flight gauge, never by a stopwatch.

use crate::support::{HyperServer, gate_server};
use par_http::ParallelConfig;

#[test]
fn a_hundred_requests_are_in_flight_at_once() {
    const N: usize = 100;
    let server = HyperServer::start();
    let client = crate::rt::client();
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
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(server.max_in_flight(), N);
}

#[test]
fn a_scope_limit_caps_requests_in_flight() {
    const LIMIT: usize = 8;
    const N: usize = 20;
    let server = gate_server(LIMIT);
    let client = crate::rt::client();
    let bodies = client
        .parallel_with(ParallelConfig::new().max_in_flight(LIMIT), |p| {
            let handles: Vec<_> = (0..N)
                .map(|i| p.get(server.url(&format!("/{i}"))))
                .collect();
            handles
                .into_iter()
                .map(|h| h.get_response()?.text())
                .collect::<par_http::Result<Vec<_>>>()
        })
        .unwrap();
    let expected: Vec<_> = (0..N).map(|i| format!("/{i}")).collect();
    assert_eq!(bodies, expected);
    assert_eq!(server.max_in_flight(), LIMIT);
    assert_eq!(server.requests(), N);
}

#[test]
fn a_scope_limit_works_with_next_response() {
    const LIMIT: usize = 3;
    const N: usize = 10;
    let server = gate_server(LIMIT);
    let client = crate::rt::client();
    let count = client
        .parallel_with(ParallelConfig::new().max_in_flight(LIMIT), |p| {
            for i in 0..N {
                p.get(server.url(&format!("/{i}")));
            }
            let mut count = 0;
            while p.has_pending_responses() {
                assert_eq!(p.next_response()?.status(), 200);
                count += 1;
                assert!(count <= N);
            }
            Ok(count)
        })
        .unwrap();
    assert_eq!(count, N);
    assert_eq!(server.max_in_flight(), LIMIT);
}

#[test]
fn a_limit_of_one_runs_requests_one_after_another() {
    let server = gate_server(1);
    let client = crate::rt::client();
    client
        .parallel_with(ParallelConfig::new().max_in_flight(1), |p| {
            let handles: Vec<_> = (0..5)
                .map(|i| p.get(server.url(&format!("/{i}"))))
                .collect();
            for (i, h) in handles.into_iter().enumerate() {
                assert_eq!(h.get_response()?.text()?, format!("/{i}"));
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(server.max_in_flight(), 1);
}
