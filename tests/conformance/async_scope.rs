//! The async scope on this runtime: the same rules as the blocking one, awaited.
//! Waits inside async code poll the server's gauges with the runtime's own timer, never
//! by blocking the runtime's thread (a current-thread runtime would stall).

use futures_lite::StreamExt;
use futures_lite::future;

use crate::rt;
use crate::support::{HyperServer, ScriptedServer, ScriptedStats, WAIT, holding_server};

/// Waits, without blocking the runtime, until the server's gauges satisfy `cond`.
async fn eventually(server: &ScriptedServer, cond: impl Fn(&ScriptedStats) -> bool) -> bool {
    super::eventually(|| server.stats(), cond).await
}

#[test]
fn handles_next_response_and_the_stream_each_deliver_once() {
    let server = HyperServer::start();
    rt::block_on(async {
        let client = rt::AsyncClient::new();
        let mut parallel = client.parallel();
        let first = parallel.get(server.url("/delay?ms=1")).await;
        let second = parallel.get(server.url("/delay?ms=2")).await;
        let _third = parallel.get(server.url("/delay?ms=3")).await;
        let bad = parallel.get("http://bad host/").await;

        let response = second.get_response().await.unwrap();
        assert_eq!(response.text().await.unwrap(), "/delay?ms=2");
        let err = bad.get_response().await.unwrap_err();
        assert!(err.is_invalid_url(), "{err:?}");

        let taken = parallel.next_response().await.unwrap();
        let taken_path = taken.url().to_string();
        let mut seen = vec![taken.text().await.unwrap()];
        // `first` is still collectable unless next_response just took it.
        if taken_path.ends_with("ms=1") {
            assert!(
                first
                    .get_response()
                    .await
                    .unwrap_err()
                    .is_already_collected()
            );
        } else {
            seen.push(first.get_response().await.unwrap().text().await.unwrap());
        }
        while let Some(outcome) = parallel.next().await {
            seen.push(outcome.unwrap().text().await.unwrap());
        }
        seen.sort();
        assert_eq!(seen, ["/delay?ms=1", "/delay?ms=3"]);
        assert!(!parallel.has_pending_responses());
        assert!(parallel.next_response().await.unwrap_err().is_no_pending());
    });
}

#[test]
fn a_ninth_get_waits_in_line_under_a_limit_of_eight_without_blocking_the_start() {
    let server = HyperServer::start();
    rt::block_on(async {
        let client = rt::AsyncClient::new();
        let parallel = client.parallel_with(par_http::ParallelConfig::new().max_in_flight(8));
        let mut first = Vec::new();
        for _ in 0..8 {
            first.push(parallel.get(server.url("/gate?n=8")).await);
        }
        // Starting never waits: the ninth is started at once and waits in line.
        let mut ninth = Box::pin(parallel.get(server.url("/small")));
        let ninth = future::poll_once(&mut ninth)
            .await
            .expect("starting a ninth request must not wait for a slot");
        for pending in first {
            assert_eq!(pending.get_response().await.unwrap().status(), 200);
        }
        assert_eq!(ninth.get_response().await.unwrap().status(), 200);
        assert_eq!(server.max_in_flight(), 8, "{:?}", server.stats());
    });
}

fn cancel_fifty_then_reuse(multi_thread: bool) {
    let server = holding_server();
    let fresh = HyperServer::start();
    let test = async {
        let client = rt::AsyncClient::new();
        let parallel = client.parallel();
        for n in 0..50 {
            parallel.get(server.url(&format!("/never/{n}"))).await;
        }
        assert!(
            eventually(&server, |s| s.requests == 50).await,
            "{:?}",
            server.stats()
        );
        drop(parallel);
        assert!(
            eventually(&server, |s| s.closed_by_peer == 50 && s.open == 0).await,
            "after the scope was dropped: {:?}",
            server.stats()
        );
        // The client is unharmed: a fresh request works.
        let response = client.get(fresh.url("/small")).send().await.unwrap();
        assert_eq!(response.text().await.unwrap(), "hello, world!");
    };
    if multi_thread {
        rt::block_on_multi_thread(test);
    } else {
        rt::block_on(test);
    }
}

#[test]
fn dropping_the_scope_cancels_fifty_requests_and_closes_their_connections() {
    cancel_fifty_then_reuse(false);
}

#[test]
fn dropping_the_scope_cancels_on_a_multi_thread_runtime_too() {
    cancel_fifty_then_reuse(true);
}

#[test]
fn close_waits_until_every_connection_is_closed() {
    let server = holding_server();
    rt::block_on(async {
        let client = rt::AsyncClient::new();
        let parallel = client.parallel();
        for n in 0..10 {
            parallel.get(server.url(&format!("/held/{n}"))).await;
        }
        assert!(eventually(&server, |s| s.requests == 10).await);
        parallel.close().await;
    });
    // Joined: every client socket is closed when close() returns; the server notices.
    assert!(
        server.wait_until(|s| s.closed_by_peer == 10, WAIT),
        "{:?}",
        server.stats()
    );
}

#[test]
fn one_off_async_requests_and_body_streaming() {
    use futures_lite::io::AsyncReadExt;
    let server = HyperServer::start();
    rt::block_on(async {
        let client = rt::AsyncClient::new();
        let text = client.get(server.url("/small")).send().await.unwrap();
        assert_eq!(text.text().await.unwrap(), "hello, world!");
        let n = 1 << 20;
        let mut response = client
            .get(server.url(&format!("/bytes?n={n}")))
            .send()
            .await
            .unwrap();
        let mut body = Vec::new();
        response.body_mut().read_to_end(&mut body).await.unwrap();
        assert_eq!(body, crate::support::pattern(n));
        let err = client.get("http://").send().await.unwrap_err();
        assert!(err.is_invalid_url(), "{err:?}");
    });
    let _ = rt::NAME;
}

/// A tokio user spawns tasks that hold a scope across awaits: the scope and its futures
/// must be `Send` and `Sync`.
#[test]
fn the_async_scope_and_its_futures_are_send_and_sync() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let server = HyperServer::start();
    rt::block_on(async {
        let client = rt::AsyncClient::new();
        let parallel = client.parallel();
        send_sync(&parallel);
        let get = parallel.get(server.url("/small"));
        send(&get);
        let pending = get.await;
        send_sync(&pending);
        let response = pending.get_response();
        send(&response);
        assert_eq!(response.await.unwrap().status(), 200);
    });
}

/// How the block form of the async scope is left, in [`the_block_form_awaits_its_teardown`].
#[derive(Clone, Copy, Debug)]
enum Exit {
    Return,
    Question,
    Panic,
}

/// `client.scope(async |p| ..)` (Python's `async with`): however the block ends, five
/// requests the server never answers are cancelled and their sockets closed by the time
/// the outer future completes, on this runtime, without driving it again afterwards.
fn the_block_form_awaits_its_teardown(exit: Exit) {
    let server = holding_server();
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt::block_on(async {
            let client = rt::AsyncClient::new();
            client
                .scope(async |p| {
                    for n in 0..5 {
                        p.get(server.url(&format!("/held/{n}"))).await;
                    }
                    assert!(eventually(&server, |s| s.requests == 5).await);
                    match exit {
                        Exit::Return => Ok::<_, par_http::Error>(5),
                        Exit::Question => {
                            let err = p.get("not a url").await.get_response().await?;
                            Ok(err.status().as_u16() as usize)
                        }
                        Exit::Panic => panic!("the block panics"),
                    }
                })
                .await
        })
    }));
    match (exit, run) {
        (Exit::Return, Ok(Ok(n))) => assert_eq!(n, 5),
        (Exit::Question, Ok(Err(err))) => assert!(err.is_invalid_url(), "{err:?}"),
        (Exit::Panic, Err(_)) => {}
        (exit, other) => panic!("{exit:?}: unexpected end {:?}", other.map(|r| r.is_ok())),
    }
    // Joined: the sockets were closed before the block's future completed.
    assert!(
        server.wait_until(
            |s| s.closed_by_peer == 5,
            std::time::Duration::from_millis(500)
        ),
        "{exit:?}: {:?}",
        server.stats()
    );
}

#[test]
fn the_block_form_awaits_its_teardown_on_return() {
    the_block_form_awaits_its_teardown(Exit::Return);
}

#[test]
fn the_block_form_awaits_its_teardown_on_question_mark() {
    the_block_form_awaits_its_teardown(Exit::Question);
}

#[test]
fn the_block_form_awaits_its_teardown_on_panic() {
    the_block_form_awaits_its_teardown(Exit::Panic);
}

/// Every response and error of `next_response` says which request it answers: its start
/// index and the tag attached at start, even when two requests share one URL.
#[test]
fn responses_and_errors_from_next_response_say_whose_they_are() {
    let server = HyperServer::start();
    rt::block_on(async {
        let client = rt::AsyncClient::new();
        let parallel = client.parallel();
        let url = server.url("/small");
        let a = parallel.get(&url).await.tag("a");
        let b = parallel
            .request(par_http::Method::GET, &url)
            .tag(7u32)
            .send()
            .await;
        let bad = parallel.get("http://").await.tag("bad");
        assert_eq!((a.index(), b.index(), bad.index()), (0, 1, 2));
        drop((a, b, bad));
        let mut seen = Vec::new();
        while let Some(outcome) = parallel.next_response_timeout(WAIT).await {
            match outcome {
                Ok(response) => {
                    let index = response.index().expect("a scope's response has an index");
                    match index {
                        0 => assert_eq!(response.tag::<&str>(), Some(&"a")),
                        1 => assert_eq!(response.tag::<u32>(), Some(&7)),
                        other => panic!("unexpected index {other}"),
                    }
                    seen.push(index);
                }
                Err(err) if err.is_no_pending() => break,
                Err(err) => {
                    assert!(err.is_invalid_url(), "{err:?}");
                    assert_eq!(err.index(), Some(2));
                    assert_eq!(err.tag::<&str>(), Some(&"bad"));
                    seen.push(2);
                }
            }
        }
        seen.sort();
        assert_eq!(seen, [0, 1, 2]);
        assert!(parallel.try_next_response().is_none());
    });
}

/// `Pending::cancel` ends one request: its socket is closed, nothing arrives for it, and
/// the others go on.
#[test]
fn cancelling_one_request_closes_its_connection_and_delivers_nothing() {
    let held = holding_server();
    let fresh = HyperServer::start();
    rt::block_on(async {
        let client = rt::AsyncClient::new();
        let parallel = client.parallel();
        let doomed = parallel.get(held.url("/held")).await;
        let kept = parallel.get(fresh.url("/small")).await;
        assert!(eventually(&held, |s| s.requests == 1).await);
        assert!(doomed.cancel());
        assert!(
            held.stats().closed_by_peer == 1 || eventually(&held, |s| s.closed_by_peer == 1).await
        );
        assert_eq!(kept.get_response().await.unwrap().status(), 200);
        assert!(parallel.next_response().await.unwrap_err().is_no_pending());
    });
}

/// The async client's one-off methods (the blocking client has them too), and `chunk()`,
/// a way to stream a body without an IO trait (for tokio users).
#[test]
fn async_one_off_methods_and_chunked_reading() {
    let server = HyperServer::start();
    rt::block_on(async {
        let client = rt::AsyncClient::new();
        let url = server.url("/echo");
        for (method, response) in [
            ("PUT", client.put(&url).body("put").send().await),
            ("PATCH", client.patch(&url).body("patch").send().await),
            ("DELETE", client.delete(&url).send().await),
            ("HEAD", client.head(&url).send().await),
        ] {
            let response = response.unwrap();
            assert_eq!(response.headers()["x-method"], method);
            let body = response.text().await.unwrap();
            let expected = match method {
                "PUT" => "put",
                "PATCH" => "patch",
                _ => "",
            };
            assert_eq!(body, expected, "{method}");
        }
        let n = 300_000;
        let mut response = client
            .get(server.url(&format!("/bytes?n={n}")))
            .send()
            .await
            .unwrap();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.unwrap() {
            body.extend_from_slice(&chunk);
        }
        assert_eq!(body, crate::support::pattern(n));
    });
}
