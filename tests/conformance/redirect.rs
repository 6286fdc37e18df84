//! Redirects (`RedirectPolicy`), applied to every request of a client's scopes, blocking
//! and async: which statuses are followed and how the method and body change, relative
//! `Location`s, loops and the hop limit, credentials dropped on a cross-origin hop, the
//! https to http downgrade, and the 3xx body discarded without losing the connection.
//! Scripted servers on 127.0.0.1 play the origins; the mock plays https origins and the
//! async cases, and shows that each hop goes through the dispatch.

use std::time::Duration;

use par_http::mock::{MockDispatch, MockResponse};
use par_http::{Body, Method, RedirectError, RedirectPolicy, StatusCode};

use crate::rt;
use crate::support::{RawRequest, ScriptedServer, ok, response};

/// A server that answers each request with `answer(request)`, keeping connections open.
fn answering(answer: impl Fn(&RawRequest) -> Vec<u8> + Send + Sync + 'static) -> ScriptedServer {
    ScriptedServer::new(move |conn| {
        while let Some(request) = conn.read_request() {
            conn.write_all(&answer(&request));
        }
    })
}

/// A redirect with `status` to `location`, with a short body.
fn redirect(status: u16, location: &str) -> Vec<u8> {
    response(status, &[&format!("Location: {location}")], b"moved")
}

/// `/to/{status}/{path..}` redirects with `status` to `/{path..}`; anything else answers
/// `METHOD target body-length` so the tests can see what arrived.
fn redirector() -> ScriptedServer {
    answering(|request| {
        let path = request.path();
        if let Some(rest) = path.strip_prefix("/to/") {
            let (status, location) = rest.split_once('/').unwrap_or((rest, ""));
            return redirect(status.parse().unwrap_or(302), &format!("/{location}"));
        }
        ok(&format!(
            "{} {} {}",
            request.method,
            request.target,
            request.body.len()
        ))
    })
}

fn redirect_cause(err: &par_http::Error) -> RedirectError {
    let source = std::error::Error::source(err).expect("a redirect error has a cause");
    source
        .downcast_ref::<RedirectError>()
        .expect("the cause is a RedirectError")
        .clone()
}

#[test]
fn a_chain_is_followed_and_the_response_has_the_final_url_and_history() {
    let server = ScriptedServer::new(|conn| {
        while let Some(request) = conn.read_request() {
            let reply = match request.path() {
                "/start" => redirect(301, "/middle"),
                // Absolute Location on the same origin.
                "/middle" => {
                    let port = conn.stream().local_addr().unwrap().port();
                    redirect(302, &format!("http://127.0.0.1:{port}/end"))
                }
                _ => ok("the end"),
            };
            conn.write_all(&reply);
        }
    });
    let client = rt::client();
    let (url, history, text) = client
        .parallel(|p| {
            let response = p.get(server.url("/start")).get_response()?;
            let history: Vec<String> = response
                .redirect_history()
                .iter()
                .map(ToString::to_string)
                .collect();
            Ok((response.url().to_string(), history, response.text()?))
        })
        .unwrap();
    assert_eq!(text, "the end");
    assert_eq!(url, server.url("/end"));
    assert_eq!(history, [server.url("/start"), server.url("/middle")]);
    // The small 3xx bodies were read: every hop reused the one connection.
    assert_eq!(server.accepted(), 1);
    assert_eq!(server.requests(), 3);
}

#[test]
fn a_slow_small_3xx_body_is_read_so_the_connection_is_reused() {
    let server = ScriptedServer::new(|conn| {
        while let Some(request) = conn.read_request() {
            if request.path() == "/slow-body" {
                // The head first, the body a little later: the client must read it.
                conn.write_all(
                    b"HTTP/1.1 302 Found\r\nLocation: /end\r\nContent-Length: 4096\r\n\r\n",
                );
                std::thread::sleep(Duration::from_millis(50));
                conn.write_all(&[b'x'; 4096]);
            } else {
                conn.write_all(&ok("end"));
            }
        }
    });
    let client = rt::client();
    let text = client
        .parallel(|p| p.get(server.url("/slow-body")).get_response()?.text())
        .unwrap();
    assert_eq!(text, "end");
    assert_eq!(server.accepted(), 1, "{:?}", server.stats());
}

#[test]
fn a_large_3xx_body_is_not_read_its_connection_is_closed() {
    let big = vec![b'x'; 300 * 1024];
    let server = ScriptedServer::new(move |conn| {
        while let Some(request) = conn.read_request() {
            if request.path() == "/big" {
                conn.write_all(&response(302, &["Location: /end"], &big));
            } else {
                conn.write_all(&ok("end"));
            }
        }
    });
    let client = rt::client();
    let text = client
        .parallel(|p| p.get(server.url("/big")).get_response()?.text())
        .unwrap();
    assert_eq!(text, "end");
    assert_eq!(
        server.accepted(),
        2,
        "the follow-up needed a fresh connection"
    );
    assert!(server.wait_until(|s| s.closed_by_peer >= 1, crate::support::WAIT));
}

#[test]
fn post_on_301_and_302_and_anything_on_303_become_a_get_without_body() {
    let server = redirector();
    let client = rt::client();
    let texts = client
        .parallel(|p| {
            let starts = [
                (Method::POST, "/to/301/landing"),
                (Method::POST, "/to/302/landing"),
                (Method::PUT, "/to/303/landing"),
                (Method::DELETE, "/to/303/landing"),
            ];
            let pending: Vec<_> = starts
                .into_iter()
                .map(|(method, path)| {
                    p.request(method, server.url(path))
                        .header("content-type", "text/plain")
                        .header("x-keep", "1")
                        .body("payload")
                        .send()
                })
                .collect();
            pending
                .into_iter()
                .map(|pending| pending.get_response()?.text())
                .collect::<par_http::Result<Vec<_>>>()
        })
        .unwrap();
    assert!(texts.iter().all(|t| t == "GET /landing 0"), "{texts:?}");
    let landings: Vec<_> = server
        .request_log()
        .into_iter()
        .filter(|r| r.path() == "/landing")
        .collect();
    assert_eq!(landings.len(), 4);
    for landing in landings {
        assert_eq!(landing.method, "GET");
        assert!(landing.body.is_empty());
        assert_eq!(landing.header("content-type"), None, "{landing:?}");
        assert_eq!(landing.header("content-length"), None, "{landing:?}");
        assert_eq!(landing.header("x-keep"), Some("1"), "other fields stay");
    }
}

#[test]
fn head_stays_head_on_303_and_other_methods_keep_theirs_on_302() {
    let server = redirector();
    let client = rt::client();
    let (head, put) = client
        .parallel(|p| {
            let head = p.head(server.url("/to/303/landing"));
            let put = p.put(server.url("/to/302/landing"), "abc");
            Ok((head.get_response()?, put.get_response()?.text()?))
        })
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.method(), Method::HEAD);
    assert_eq!(put, "PUT /landing 3");
}

#[test]
fn status_307_and_308_keep_the_method_and_body() {
    let server = redirector();
    let client = rt::client();
    let texts = client
        .parallel(|p| {
            let a = p
                .request(Method::POST, server.url("/to/307/landing"))
                .header("content-type", "text/plain")
                .body("seven")
                .send();
            let b = p.patch(server.url("/to/308/landing"), "eight!");
            Ok((a.get_response()?.text()?, b.get_response()?.text()?))
        })
        .unwrap();
    assert_eq!(texts, ("POST /landing 5".into(), "PATCH /landing 6".into()));
    let log = server.request_log();
    let post = log
        .iter()
        .find(|r| r.path() == "/landing" && r.method == "POST")
        .unwrap();
    assert_eq!(post.body, b"seven");
    assert_eq!(post.header("content-type"), Some("text/plain"));
}

#[test]
fn a_streamed_body_is_not_replayed_the_307_is_returned() {
    let server = redirector();
    let client = rt::client();
    let (status, location, streamed_303) = client
        .parallel(|p| {
            let stream = |bytes: &'static [u8]| {
                Body::from_reader(
                    futures_lite::io::Cursor::new(bytes),
                    Some(bytes.len() as u64),
                )
            };
            let kept = p.post(server.url("/to/307/landing"), stream(b"once"));
            let changed = p.post(server.url("/to/303/landing"), stream(b"once"));
            let kept = kept.get_response()?;
            let location = kept.headers()["location"].to_str().unwrap().to_owned();
            Ok((kept.status(), location, changed.get_response()?.text()?))
        })
        .unwrap();
    assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(location, "/landing");
    // A redirect that drops the body can be followed even with a streamed body.
    assert_eq!(streamed_303, "GET /landing 0");
}

#[test]
fn a_relative_location_resolves_against_the_request_url_and_inherits_its_fragment() {
    let server = answering(|request| match request.path() {
        "/docs/guide/start" => redirect(302, "../api/page?x=1"),
        "/docs/api/page" => redirect(302, "next"),
        _ => ok(&request.target),
    });
    let client = rt::client();
    let (url, text) = client
        .parallel(|p| {
            let response = p.get(server.url("/docs/guide/start")).get_response()?;
            Ok((response.url().to_string(), response.text()?))
        })
        .unwrap();
    assert_eq!(url, server.url("/docs/api/next"));
    assert_eq!(text, "/docs/api/next");
    let log = server.request_log();
    let targets: Vec<&str> = log.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(
        targets,
        ["/docs/guide/start", "/docs/api/page?x=1", "/docs/api/next"]
    );

    // Fragments: inherited when the Location has none, replaced when it has one.
    let mock = MockDispatch::new()
        .route(
            Method::GET,
            "/a",
            MockResponse::redirect(StatusCode::FOUND, "b"),
        )
        .route(
            Method::GET,
            "/b",
            MockResponse::redirect(StatusCode::FOUND, "/c/d"),
        )
        .route(Method::GET, "/c/d", MockResponse::text("d"))
        .route(
            Method::GET,
            "/e",
            MockResponse::redirect(StatusCode::FOUND, "f#own"),
        )
        .route(Method::GET, "/f", MockResponse::text("f"));
    let client = rt::builder().dispatch(mock.clone()).build().unwrap();
    let urls = client
        .parallel(|p| {
            let inherited = p.get("http://app.test/a#frag");
            let replaced = p.get("http://app.test/e#frag");
            Ok((
                inherited.get_response()?.url().to_string(),
                replaced.get_response()?.url().to_string(),
            ))
        })
        .unwrap();
    assert_eq!(urls.0, "http://app.test/c/d#frag");
    assert_eq!(urls.1, "http://app.test/f#own");
}

#[test]
fn a_loop_is_a_typed_error_naming_the_request() {
    let server = answering(|request| match request.path() {
        "/ping" => redirect(302, "/pong"),
        "/pong" => redirect(302, "/ping"),
        "/self" => redirect(307, "/self"),
        _ => ok("?"),
    });
    let client = rt::client();
    let (ping, own) = client
        .parallel(|p| {
            let ping = p.get(server.url("/ping"));
            let own = p.post(server.url("/self"), "x");
            Ok((
                ping.get_response().unwrap_err(),
                own.get_response().unwrap_err(),
            ))
        })
        .unwrap();
    assert!(ping.is_redirect(), "{ping:?}");
    assert_eq!(ping.method(), Some(&Method::GET));
    assert_eq!(ping.url(), Some(server.url("/ping").as_str()));
    let ping_url: par_http::Url = server.url("/ping").parse().unwrap();
    assert_eq!(redirect_cause(&ping), RedirectError::Loop(ping_url));
    assert!(own.is_redirect(), "{own:?}");
    assert_eq!(own.method(), Some(&Method::POST));
    assert!(matches!(redirect_cause(&own), RedirectError::Loop(_)));
    assert_eq!(server.requests(), 3, "each URL was requested once");
}

/// `/hop/{n}?to={m}` redirects to `/hop/{n+1}?to={m}` until n == m.
fn hops() -> ScriptedServer {
    answering(|request| {
        let n: usize = request.path()["/hop/".len()..].parse().unwrap_or(0);
        let to: usize = request
            .target
            .split("to=")
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if n < to {
            redirect(302, &format!("/hop/{}?to={to}", n + 1))
        } else {
            ok(&format!("hop {n}"))
        }
    })
}

#[test]
fn ten_hops_are_followed_by_default_and_the_eleventh_is_an_error() {
    let server = hops();
    let client = rt::client();
    let (ten, eleven) = client
        .parallel(|p| {
            let ten = p.get(server.url("/hop/0?to=10"));
            let eleven = p.get(server.url("/hop/0?to=11"));
            Ok((ten.get_response()?, eleven.get_response().unwrap_err()))
        })
        .unwrap();
    assert_eq!(ten.redirect_history().len(), 10);
    assert_eq!(ten.text().unwrap(), "hop 10");
    assert!(eleven.is_redirect(), "{eleven:?}");
    assert_eq!(redirect_cause(&eleven), RedirectError::TooMany(10));
    assert_eq!(eleven.url(), Some(server.url("/hop/0?to=11").as_str()));
}

#[test]
fn the_hop_limit_is_configurable_and_redirects_can_be_off() {
    let server = hops();
    let two = rt::builder()
        .redirect(RedirectPolicy::limited(2))
        .build()
        .unwrap();
    let (ok2, err3) = two
        .parallel(|p| {
            let ok2 = p.get(server.url("/hop/0?to=2"));
            let err3 = p.get(server.url("/hop/0?to=3"));
            Ok((
                ok2.get_response()?.text()?,
                err3.get_response().unwrap_err(),
            ))
        })
        .unwrap();
    assert_eq!(ok2, "hop 2");
    assert_eq!(redirect_cause(&err3), RedirectError::TooMany(2));

    let off = rt::builder()
        .redirect(RedirectPolicy::none())
        .build()
        .unwrap();
    let first = off
        .parallel(|p| p.get(server.url("/hop/0?to=3")).get_response())
        .unwrap();
    assert_eq!(first.status(), StatusCode::FOUND);
    assert_eq!(first.headers()["location"], "/hop/1?to=3");
    assert!(first.redirect_history().is_empty());

    let zero = rt::builder()
        .redirect(RedirectPolicy::limited(0))
        .build()
        .unwrap();
    let err = zero
        .parallel(|p| p.get(server.url("/hop/0?to=1")).get_response())
        .unwrap_err();
    assert_eq!(redirect_cause(&err), RedirectError::TooMany(0));
}

fn header_of(request: &RawRequest, name: &str) -> Option<String> {
    request.header(name).map(str::to_owned)
}

#[test]
fn credentials_are_dropped_on_a_cross_origin_hop_and_kept_on_the_same_origin() {
    // Another port on 127.0.0.1 is another origin.
    let other = answering(|request| ok(&request.target));
    let other_url = other.url("/landing");
    let server = answering(move |request| match request.path() {
        "/cross" => redirect(302, &other_url),
        "/same" => redirect(307, "/landing"),
        _ => ok(&request.target),
    });
    let client = rt::builder()
        .basic_auth("ann", Some("secret"))
        .build()
        .unwrap();
    client
        .parallel(|p| {
            let with_secrets = |path: &str| {
                p.request(Method::GET, server.url(path))
                    .header("cookie", "session=1")
                    .header("proxy-authorization", "Basic cHJveHk6cHc=")
                    .header("x-keep", "yes")
                    .send()
            };
            let cross = with_secrets("/cross");
            let same = with_secrets("/same");
            cross.get_response()?;
            same.get_response()?;
            Ok(())
        })
        .unwrap();
    let foreign = other.request_log();
    assert_eq!(foreign.len(), 1);
    for name in ["authorization", "cookie", "proxy-authorization"] {
        assert_eq!(
            header_of(&foreign[0], name),
            None,
            "{name} leaked: {foreign:?}"
        );
    }
    assert_eq!(header_of(&foreign[0], "x-keep").as_deref(), Some("yes"));
    let log = server.request_log();
    let landing = log.iter().find(|r| r.path() == "/landing").unwrap();
    assert!(landing.header("authorization").is_some());
    assert_eq!(landing.header("cookie"), Some("session=1"));
    // `Proxy-Authorization` is for a proxy: with none on the way, no origin gets it.
    assert!(landing.header("proxy-authorization").is_none());
}

/// Runs the same cross-origin and downgrade checks in an async scope, on the mock.
#[test]
fn redirect_rules_apply_in_async_scopes() {
    let mock = MockDispatch::new()
        .route(
            Method::POST,
            "/form",
            MockResponse::redirect(StatusCode::SEE_OTHER, "/done"),
        )
        .route(Method::GET, "/done", MockResponse::text("done"))
        .route(
            Method::PUT,
            "/keep",
            MockResponse::redirect(StatusCode::PERMANENT_REDIRECT, "/kept"),
        )
        .route(Method::PUT, "/kept", MockResponse::text("kept"))
        .route(
            Method::GET,
            "http://a.test/away",
            MockResponse::redirect(StatusCode::FOUND, "http://b.test/there"),
        )
        .route(
            Method::GET,
            "http://b.test/there",
            MockResponse::text("there"),
        )
        .route(
            Method::GET,
            "/loop",
            MockResponse::redirect(StatusCode::FOUND, "/loop"),
        );
    rt::block_on(async {
        let client = rt::AsyncClient::builder()
            .dispatch(mock.clone())
            .bearer_auth("secret")
            .build()
            .unwrap();
        let parallel = client.parallel();
        let form = parallel.post("http://a.test/form", "k=v").await;
        let keep = parallel.put("http://a.test/keep", "body").await;
        let away = parallel
            .request(Method::GET, "http://a.test/away")
            .header("cookie", "c=1")
            .send()
            .await;
        let looping = parallel.get("http://a.test/loop").await;
        let form = form.get_response().await.unwrap();
        assert_eq!(form.url().as_str(), "http://a.test/done");
        assert_eq!(form.redirect_history().len(), 1);
        assert_eq!(
            keep.get_response().await.unwrap().text().await.unwrap(),
            "kept"
        );
        assert_eq!(
            away.get_response().await.unwrap().text().await.unwrap(),
            "there"
        );
        let err = looping.get_response().await.unwrap_err();
        assert!(err.is_redirect(), "{err:?}");
        assert_eq!(err.url(), Some("http://a.test/loop"));
    });
    let seen = mock.requests();
    let find = |method: Method, url: &str| {
        seen.iter()
            .find(|r| r.method == method && r.url.as_str() == url)
            .unwrap_or_else(|| panic!("no {method} {url} in {seen:?}"))
    };
    let done = find(Method::GET, "http://a.test/done");
    assert!(done.body.is_empty());
    assert_eq!(
        done.header("authorization"),
        Some("Bearer secret"),
        "same origin"
    );
    assert_eq!(find(Method::PUT, "http://a.test/kept").text(), "body");
    let there = find(Method::GET, "http://b.test/there");
    assert_eq!(there.header("authorization"), None);
    assert_eq!(there.header("cookie"), None);
    // Every hop went through the dispatch: 2 + 2 + 2 + 1 (the loop's second hop is refused).
    assert_eq!(seen.len(), 7, "{seen:?}");
}

#[test]
fn an_https_to_http_redirect_is_refused_unless_allowed() {
    let mock = MockDispatch::new()
        .route(
            Method::GET,
            "https://secure.test/start",
            MockResponse::redirect(StatusCode::FOUND, "http://secure.test/plain"),
        )
        .route(
            Method::GET,
            "https://secure.test/elsewhere",
            MockResponse::redirect(StatusCode::FOUND, "https://other.test/x"),
        )
        .route_fn(|_| Some(MockResponse::text("landed")));
    let strict = rt::builder()
        .dispatch(mock.clone())
        .bearer_auth("secret")
        .build()
        .unwrap();
    let (refused, elsewhere) = strict
        .parallel(|p| {
            let refused = p.get("https://secure.test/start");
            let elsewhere = p.get("https://secure.test/elsewhere");
            Ok((
                refused.get_response().unwrap_err(),
                elsewhere.get_response()?,
            ))
        })
        .unwrap();
    assert!(refused.is_redirect(), "{refused:?}");
    assert!(matches!(
        redirect_cause(&refused),
        RedirectError::HttpsDowngrade(url) if url.as_str() == "http://secure.test/plain"
    ));
    assert_eq!(refused.url(), Some("https://secure.test/start"));
    assert_eq!(elsewhere.url().as_str(), "https://other.test/x");
    assert!(
        mock.requests().iter().all(|r| r.url.scheme() == "https"),
        "the plain-text hop was never sent"
    );
    let other = mock
        .requests()
        .into_iter()
        .find(|r| r.url.host_str() == Some("other.test"))
        .unwrap();
    assert_eq!(other.header("authorization"), None, "another origin");

    rt::block_on(async {
        let lenient = rt::AsyncClient::builder()
            .dispatch(mock.clone())
            .redirect(RedirectPolicy::default().allow_https_downgrade(true))
            .build()
            .unwrap();
        let parallel = lenient.parallel();
        let pending = parallel.get("https://secure.test/start").await;
        let response = pending.get_response().await.unwrap();
        assert_eq!(response.url().as_str(), "http://secure.test/plain");
    });
}
