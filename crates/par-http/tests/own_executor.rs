//! A smol application's requests run on the application's own executor: a client built
//! with `SmolRuntime::with_executor` starts no `par-http-runtime` thread.
//!
//! A test binary of its own, so that no other test's client starts that thread first.
#![cfg(feature = "smol")]
// A test: failing to bind 127.0.0.1 is a failed test.
#![allow(clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use par_http::smol::SmolRuntime;

/// Threads of this process whose name is `par-http-runtime` (Linux keeps 15 bytes).
fn runtime_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
        .filter(|name| name.trim() == "par-http-runtim")
        .count()
}

/// Answers `ok` to every request on every connection, keep-alive, until the process ends.
fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || answer(stream));
        }
    });
    format!("http://{addr}/")
}

fn answer(mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    // Bounded: a connection ends when the client closes it or after 10,000 requests.
    for _ in 0..10_000 {
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
        let end = seen.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0) + 4;
        seen.drain(..end);
        if stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .is_err()
        {
            return;
        }
    }
}

#[test]
fn a_smol_apps_requests_run_on_its_own_executor() {
    let url = serve();
    let executor = Arc::new(async_executor::Executor::new());
    let (stop, stopped) = async_channel::bounded::<()>(1);
    let app_threads: Vec<_> = (0..2)
        .map(|i| {
            let executor = executor.clone();
            let stopped = stopped.clone();
            thread::Builder::new()
                .name(format!("app-executor-{i}"))
                .spawn(move || futures_lite::future::block_on(executor.run(stopped.recv())))
                .expect("an app thread")
        })
        .collect();

    let runtime = Arc::new(SmolRuntime::with_executor(executor.clone()));
    let client = par_http::smol::AsyncClient::builder()
        .runtime(runtime)
        .build()
        .expect("a client on the app's executor");
    let bodies = futures_lite::future::block_on(client.scope(async |p| {
        let mut pending = Vec::new();
        for _ in 0..20 {
            pending.push(p.get(&url).await);
        }
        let mut bodies = Vec::new();
        for handle in pending {
            let response = handle.get_response().await?;
            bodies.push(response.text().await?);
        }
        Ok::<_, par_http::Error>(bodies)
    }))
    .expect("20 responses");
    assert_eq!(bodies.len(), 20);
    assert!(bodies.iter().all(|b| b == "ok"));
    // The blocking client on the same executor too.
    let blocking = par_http::Client::builder()
        .runtime(Arc::new(SmolRuntime::with_executor(executor.clone())))
        .build()
        .expect("a blocking client on the app's executor");
    let text = blocking.get(&url).send().and_then(|r| r.text());
    assert_eq!(text.ok().as_deref(), Some("ok"));
    assert_eq!(
        runtime_threads(),
        0,
        "no par-http thread for the app's clients"
    );

    // The check itself can fail: a client on par-http's own smol runtime starts one.
    let own = par_http::smol::AsyncClient::new();
    let text = futures_lite::future::block_on(async { own.get(&url).send().await?.text().await });
    assert_eq!(text.ok().as_deref(), Some("ok"));
    assert_eq!(runtime_threads(), 1, "par-http's own smol runtime thread");

    drop(stop);
    for thread in app_threads {
        let _ = thread.join();
    }
}
