//! Leaks: 1,000 scopes, each ended with 20 requests in flight to a server that holds them,
//! must leave no socket and no task behind.
//!
//! Counting the process's file descriptors (`/proc/self/fd`) only means something when no
//! other test opens or closes any meanwhile, and the tests of one binary run in parallel.
//! So each test here re-runs itself alone, in a child process of the same test binary
//! (`--exact`, one test thread), and the parent only checks that the child passed. Inside
//! the child, the client and the server are made (and one scope run) before the baseline
//! is taken; after the loop the count must come back to it exactly, and
//! [`par_http_core::live_request_tasks`] back to zero.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::support::{ScriptedServer, WAIT, holding_server};

/// Scopes per test.
const SCOPES: usize = 1_000;
/// Requests in flight when each scope ends.
const IN_FLIGHT: usize = 20;

/// Serializes the counting tests, should two ever run in one process.
static COUNTING: Mutex<()> = Mutex::new(());

/// True in the child process (run the test); in the parent, runs `test` alone in a child
/// process ([`crate::support::isolated`]) and asserts that it passed there.
fn run_alone(test: &str) -> bool {
    match crate::support::isolated(module_path!(), test) {
        None => true,
        Some(passed) => {
            assert!(
                passed,
                "{test} failed in its own process (see its output above)"
            );
            false
        }
    }
}

/// The number of open file descriptors of this process.
fn open_fds() -> usize {
    // `read_dir` holds one descriptor of its own while it counts, every time alike.
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// How many open descriptors of this process are TCP connections from or to `port` (the
/// test server's connections and the client's, not its listener), from the socket inodes
/// of `/proc/self/fd` and the ports of `/proc/net/tcp`.
fn connections_on(port: u16) -> usize {
    let mut inodes = std::collections::HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let port_of = |address: &str| {
                address
                    .rsplit(':')
                    .next()
                    .and_then(|hex| u16::from_str_radix(hex, 16).ok())
            };
            let (Some(local), Some(remote), Some(state), Some(inode)) =
                (fields.get(1), fields.get(2), fields.get(3), fields.get(9))
            else {
                continue;
            };
            // 0A is LISTEN: the server's listener stays open all along.
            let ours = port_of(local) == Some(port) || port_of(remote) == Some(port);
            if ours && *state != "0A" {
                inodes.insert(format!("socket:[{inode}]"));
            }
        }
    }
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| inodes.contains(&target.to_string_lossy().into_owned()))
        .count()
}

/// What each open file descriptor is (for failure messages).
fn fd_list() -> Vec<String> {
    let mut list: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let target = std::fs::read_link(entry.path()).ok()?;
            Some(format!(
                "{}: {}",
                entry.file_name().to_string_lossy(),
                target.display()
            ))
        })
        .collect();
    list.sort();
    list
}

/// Waits (at most `WAIT`) until `value()` equals `expected`; returns the last value.
fn settles(expected: usize, value: impl Fn() -> usize) -> usize {
    let deadline = Instant::now() + WAIT;
    loop {
        let now = value();
        if now == expected || Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until the server has seen `requests` requests in all, and has no connection open.
fn server_settled(server: &ScriptedServer, requests: usize) {
    assert!(
        server.wait_until(|s| s.requests == requests && s.open == 0, WAIT),
        "{:?}",
        server.stats()
    );
}

/// One blocking scope that starts `IN_FLIGHT` requests, waits until the server holds all
/// of them, and returns (which cancels them).
fn blocking_scope(client: &par_http::Client, server: &ScriptedServer, round: usize) {
    client
        .parallel(|p| {
            for n in 0..IN_FLIGHT {
                p.get(server.url(&format!("/{round}/{n}")));
            }
            let arrived = (round + 1) * IN_FLIGHT;
            assert!(
                server.wait_until(|s| s.requests >= arrived, WAIT),
                "{:?}",
                server.stats()
            );
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_thousand_cancelled_blocking_scopes_leave_no_socket_and_no_task() {
    if !run_alone("a_thousand_cancelled_blocking_scopes_leave_no_socket_and_no_task") {
        return;
    }
    let _counting = COUNTING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let server = holding_server();
    let client = crate::rt::client();
    // Round 0 warms up whatever is made lazily (the executor's reactor, the pool's map).
    blocking_scope(&client, &server, 0);
    server_settled(&server, IN_FLIGHT);
    let port = server.addr().port();
    assert_eq!(settles(0, || connections_on(port)), 0, "{:#?}", fd_list());
    let baseline = open_fds();
    let before = fd_list();
    assert_eq!(par_http_core::live_request_tasks(), 0);

    for round in 1..=SCOPES {
        blocking_scope(&client, &server, round);
    }
    server_settled(&server, (SCOPES + 1) * IN_FLIGHT);
    assert_eq!(
        server.closed_by_peer(),
        (SCOPES + 1) * IN_FLIGHT,
        "every cancelled request's connection is closed by the client"
    );
    assert_eq!(
        settles(0, || connections_on(port)),
        0,
        "connections left open: {:#?}",
        fd_list()
    );
    assert_eq!(
        settles(baseline, open_fds),
        baseline,
        "file descriptors leaked: before {before:#?}, after {:#?}",
        fd_list()
    );
    assert_eq!(
        settles(0, par_http_core::live_request_tasks),
        0,
        "request tasks outlived their scope"
    );
}

#[test]
fn a_thousand_dropped_async_scopes_leave_no_socket_and_no_task() {
    if !run_alone("a_thousand_dropped_async_scopes_leave_no_socket_and_no_task") {
        return;
    }
    let _counting = COUNTING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let server = holding_server();
    let port = server.addr().port();
    crate::rt::block_on(async {
        let client = crate::rt::AsyncClient::new();
        let mut baseline = None;
        for round in 0..=SCOPES {
            let parallel = client.parallel();
            for n in 0..IN_FLIGHT {
                parallel.get(server.url(&format!("/{round}/{n}"))).await;
            }
            let arrived = (round + 1) * IN_FLIGHT;
            let deadline = Instant::now() + WAIT;
            while server.requests() < arrived && Instant::now() < deadline {
                crate::rt::sleep(Duration::from_millis(1)).await;
            }
            assert!(server.requests() >= arrived, "{:?}", server.stats());
            // Dropping the scope cancels its requests without waiting for the teardown.
            drop(parallel);
            if round == 0 {
                // Round 0 warms up what is made lazily; the baseline is taken after it.
                let deadline = Instant::now() + WAIT;
                while (server.open() > 0
                    || par_http_core::live_request_tasks() > 0
                    || connections_on(port) > 0)
                    && Instant::now() < deadline
                {
                    crate::rt::sleep(Duration::from_millis(5)).await;
                }
                assert_eq!(connections_on(port), 0, "{:#?}", fd_list());
                baseline = Some((open_fds(), fd_list()));
            }
        }
        // Let the executor finish tearing down the last scopes.
        let deadline = Instant::now() + WAIT;
        while (server.open() > 0
            || par_http_core::live_request_tasks() > 0
            || connections_on(port) > 0)
            && Instant::now() < deadline
        {
            crate::rt::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            par_http_core::live_request_tasks(),
            0,
            "request tasks outlived their scope"
        );
        assert_eq!(
            connections_on(port),
            0,
            "connections left open: {:#?}",
            fd_list()
        );
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            // On tokio, the executor itself must have no task left either.
            let deadline = Instant::now() + WAIT;
            while handle.metrics().num_alive_tasks() > 0 && Instant::now() < deadline {
                crate::rt::sleep(Duration::from_millis(5)).await;
            }
            assert_eq!(handle.metrics().num_alive_tasks(), 0, "tokio tasks left");
        }
        let (baseline, before) = baseline.unwrap();
        let deadline = Instant::now() + WAIT;
        while open_fds() != baseline && Instant::now() < deadline {
            crate::rt::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            open_fds(),
            baseline,
            "file descriptors leaked: before {before:#?}, after {:#?}",
            fd_list()
        );
    });
    server_settled(&server, (SCOPES + 1) * IN_FLIGHT);
    assert_eq!(server.closed_by_peer(), (SCOPES + 1) * IN_FLIGHT);
}
