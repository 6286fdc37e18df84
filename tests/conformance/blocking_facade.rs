//! The blocking facade itself: it needs no runtime in the caller, works from inside one
//! and from many threads at once, queues 10,000 requests without running out of sockets,
//! and stops its runtime thread when the client goes away.

use crate::support::{HyperServer, WAIT};

fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(Result::ok)
                .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
                .map(|name| name.trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn runtime_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
        // Linux keeps 15 bytes of a thread name: "par-http-runtime" reads "par-http-runtim".
        .filter(|name| "par-http-runtime".starts_with(name.trim()) && name.trim().len() >= 15)
        .count()
}

/// Tests here that count process-wide threads and descriptors run in a child process of
/// their own (`support::isolated`); the others still run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

#[test]
fn the_default_client_runs_a_scope() {
    let _serial = serial();
    let server = HyperServer::start();
    let url = server.url("/small");
    let (a, b) = par_http::parallel(|p| {
        let a = p.get(&url);
        let b = p.head(&url);
        Ok((a.get_response()?.text()?, b.get_response()?.status()))
    })
    .unwrap();
    assert_eq!(a, "hello, world!");
    assert_eq!(b, 200);
}

#[test]
fn blocking_calls_from_inside_async_runtimes_do_not_panic() {
    let _serial = serial();
    let server = HyperServer::start();
    let url = server.url("/small");
    let client = crate::rt::client();
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let text = current.block_on(async {
        let one = client.get(&url).send().unwrap().text().unwrap();
        let two = client
            .parallel(|p| p.get(&url).get_response()?.text())
            .unwrap();
        (one, two)
    });
    assert_eq!(text.0, "hello, world!");
    assert_eq!(text.1, "hello, world!");

    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let handle = multi.spawn({
        let client = client.clone();
        let url = url.clone();
        async move { client.get(&url).send().unwrap().text().unwrap() }
    });
    assert_eq!(multi.block_on(handle).unwrap(), "hello, world!");
}

#[test]
fn ten_thousand_requests_in_one_scope_queue_for_connections() {
    if let Some(passed) = crate::support::isolated(
        module_path!(),
        "ten_thousand_requests_in_one_scope_queue_for_connections",
    ) {
        assert!(
            passed,
            "ten_thousand_requests_in_one_scope_queue_for_connections failed in its own process (see its output above)"
        );
        return;
    }
    let server = HyperServer::start();
    let url = server.url("/small");
    let client = crate::rt::builder()
        .max_connections_per_host(100)
        .build()
        .unwrap();
    let before = open_fds();
    let ok = client
        .parallel(|p| {
            for _ in 0..10_000 {
                p.get(&url);
            }
            let mut ok = 0;
            let mut peak_fds = 0;
            while p.has_pending_responses() {
                let response = p.next_response()?;
                assert_eq!(response.status(), 200);
                assert_eq!(response.bytes()?.as_ref(), b"hello, world!");
                ok += 1;
                if ok % 500 == 0 {
                    peak_fds = peak_fds.max(open_fds());
                }
            }
            // The per-host cap bounds the sockets: 100 client ends (plus the server's
            // 100 in this same process) and a little slack for the runtimes.
            assert!(
                peak_fds < before + 250,
                "{peak_fds} fds open, {before} before"
            );
            Ok(ok)
        })
        .unwrap();
    assert_eq!(ok, 10_000);
    assert!(server.stats().max_open <= 100, "{:?}", server.stats());
}

#[test]
fn dropping_the_client_stops_its_runtime_thread() {
    if let Some(passed) = crate::support::isolated(
        module_path!(),
        "dropping_the_client_stops_its_runtime_thread",
    ) {
        assert!(
            passed,
            "dropping_the_client_stops_its_runtime_thread failed in its own process (see its output above)"
        );
        return;
    }
    let server = HyperServer::start();
    let url = server.url("/small");
    let before = runtime_threads();
    let client = crate::rt::client();
    // Its runtime thread (threads it starts inherit the name on Linux); none on an
    // application's runtime.
    assert_eq!(
        runtime_threads() > before,
        crate::rt::CLIENT_THREAD,
        "threads: {:?}",
        thread_names()
    );
    let response = client.get(&url).send().unwrap();
    // A response keeps the runtime alive until it is dropped.
    drop(client);
    assert_eq!(response.text().unwrap(), "hello, world!");
    // Joined in Drop: the thread is gone, and so are the client's connections.
    assert_eq!(runtime_threads(), before, "threads: {:?}", thread_names());
    assert!(
        server.wait_until(|s| s.open == 0, WAIT),
        "{:?}",
        server.stats()
    );
}

#[test]
fn a_streamed_body_can_be_read_incrementally() {
    let _serial = serial();
    use std::io::Read;
    let server = HyperServer::start();
    let client = crate::rt::client();
    let n = 3 * 1024 * 1024;
    let mut response = client
        .get(server.url(&format!("/chunked?n={n}")))
        .send()
        .unwrap();
    let mut total = Vec::new();
    let mut buf = [0u8; 7000];
    let mut reads = 0;
    loop {
        let got = response.read(&mut buf).unwrap();
        if got == 0 {
            break;
        }
        total.extend_from_slice(&buf[..got]);
        reads += 1;
        assert!(reads < 100_000);
    }
    assert!(reads > 1);
    assert_eq!(total, crate::support::pattern(n));
    // Read to the end: the connection went back to the pool and is reused.
    let again = client.get(server.url("/small")).send().unwrap();
    assert_eq!(again.text().unwrap(), "hello, world!");
    assert_eq!(server.accepted(), 1);
}

/// One client shared by threads that all make blocking calls at once (one-off requests,
/// scopes, streamed bodies): each gets its own answers. With tokio the threads take turns
/// at driving the client's runtime; a thread waiting for its turn must still be served.
#[test]
fn one_client_serves_many_threads_at_once() {
    let _serial = serial();
    let server = HyperServer::start();
    let client = crate::rt::client();
    let (done, results) = std::sync::mpsc::channel();
    for worker in 0..8usize {
        let (client, done) = (client.clone(), done.clone());
        let small = server.url("/small");
        let slow = server.url("/delay?ms=30");
        let bytes = server.url("/bytes?n=300000");
        std::thread::spawn(move || {
            let run = || -> par_http::Result<usize> {
                let mut answers = 0;
                for round in 0..5 {
                    let text = client.get(&small).send()?.text()?;
                    assert_eq!(text, "hello, world!");
                    answers += 1;
                    // Half the threads hold a slow request while the others go on.
                    if (worker + round) % 2 == 0 {
                        assert_eq!(client.get(&slow).send()?.status(), 200);
                        answers += 1;
                    }
                    let body = client.get(&bytes).send()?.bytes()?;
                    assert_eq!(body.len(), 300_000);
                    answers += 1;
                    answers += client.parallel(|p| {
                        let pending: Vec<_> = (0..4).map(|_| p.get(&small)).collect();
                        let mut n = 0;
                        for one in pending {
                            assert_eq!(one.get_response()?.text()?, "hello, world!");
                            n += 1;
                        }
                        Ok(n)
                    })?;
                }
                Ok(answers)
            };
            let _ = done.send((worker, run()));
        });
    }
    drop(done);
    for _ in 0..8 {
        // Bounded: a thread that never gets its turn fails the test instead of hanging it.
        let (worker, answers) = results
            .recv_timeout(WAIT)
            .expect("every worker finishes (or panics) in time");
        let slow = (0..5).filter(|round| (worker + round) % 2 == 0).count();
        assert_eq!(
            answers.expect("a worker's request failed"),
            5 * (1 + 1 + 4) + slow,
            "worker {worker}"
        );
    }
    // The client still works afterwards, from this thread.
    assert_eq!(
        client.get(server.url("/small")).send().unwrap().status(),
        200
    );
}

/// The timed and the non-waiting forms of `next_response`, and a scope whose closure
/// returns its own error type.
#[test]
fn timed_and_non_waiting_collection_and_a_closure_with_its_own_error_type() {
    let held = crate::support::holding_server();
    let fresh = HyperServer::start();
    let client = crate::rt::client();
    #[derive(Debug)]
    struct Mine(String);
    impl From<par_http::Error> for Mine {
        fn from(err: par_http::Error) -> Self {
            Self(err.to_string())
        }
    }
    let result: Result<usize, Mine> = client.scope(|p| {
        let slow = p.get(held.url("/held"));
        assert!(p.try_next_response().is_none());
        assert!(
            p.next_response_timeout(std::time::Duration::from_millis(50))
                .is_none()
        );
        assert!(slow.cancel());
        p.get(fresh.url("/small")).tag("fresh");
        let response = p
            .next_response_timeout(crate::support::WAIT)
            .expect("a response within the wait")?;
        assert_eq!(response.tag::<&str>(), Some(&"fresh"));
        assert_eq!(response.index(), Some(1));
        assert!(p.next_response().unwrap_err().is_no_pending());
        if response.status() != 200 {
            return Err(Mine(format!("status {}", response.status())));
        }
        Ok(response.bytes()?.len())
    });
    match result {
        Ok(len) => assert_eq!(len, 13),
        Err(Mine(why)) => panic!("{why}"),
    }
}
