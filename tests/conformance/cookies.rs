//! Cookies: `Set-Cookie` taken from every response (each redirect hop included) and the
//! right `Cookie` sent with every request, one-off, blocking scope and async scope; the
//! RFC 6265 rules of `cookie_store` (domain, `Secure`, expiry) seen from the wire; a bare
//! top-level domain refused; one store shared by two clients on two threads; JSON save and
//! load.
//!
//! Names ending in `.test` reach the origin through the test proxy (only it resolves them),
//! so cookies can be tested on real domain names that are not loopback (a loopback host
//! counts as secure for `Secure` cookies).

use std::sync::Arc;

use par_http::{CookieStore, Jar, Proxy, Url};

use crate::rt;
use crate::support::{ForwardProxy, ScriptedServer, response};

/// An origin whose paths script the cookies:
/// - `/login`: a 302 to `/home` that sets `session=abc`;
/// - `/set?H`: sets the cookie `H` (the query, percent-decoded `%3B` as `;`);
/// - anything else: the request's `Cookie` header as the body (empty without one).
fn cookie_origin() -> ScriptedServer {
    ScriptedServer::new(|conn| {
        while let Some(request) = conn.read_request() {
            let reply = match request.path() {
                "/login" => response(
                    302,
                    &[
                        "Set-Cookie: session=abc; Path=/; HttpOnly",
                        "Location: /home",
                    ],
                    b"",
                ),
                "/set" => {
                    let query = request.target.split_once('?').map_or("", |(_, q)| q);
                    let cookie = query.replace("%3B", ";").replace("%20", " ");
                    response(200, &[&format!("Set-Cookie: {cookie}")], b"set")
                }
                _ => {
                    let cookie = request.header("cookie").unwrap_or_default();
                    response(200, &[], cookie.as_bytes())
                }
            };
            conn.write_all(&reply);
        }
    })
}

/// The cookie names in a `Cookie` header, sorted.
fn names(header: &str) -> Vec<String> {
    let mut names: Vec<String> = header
        .split("; ")
        .filter(|part| !part.is_empty())
        .map(|part| part.split('=').next().unwrap_or_default().to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_login_cookie_set_on_a_302_reaches_the_page_it_leads_to() {
    let origin = cookie_origin();
    let client = rt::builder().cookie_store(true).build().unwrap();
    let home = client.get(origin.url("/login")).send().unwrap();
    assert_eq!(home.url().path(), "/home");
    assert_eq!(home.text().unwrap(), "session=abc");
    // Later requests, one-off and in a blocking scope, have it too.
    assert_eq!(
        client
            .get(origin.url("/me"))
            .send()
            .unwrap()
            .text()
            .unwrap(),
        "session=abc"
    );
    let url = origin.url("/me");
    let in_scope = client
        .parallel(|p| p.get(&url).get_response()?.text())
        .unwrap();
    assert_eq!(in_scope, "session=abc");
    // A client without a store sends nothing.
    assert_eq!(
        rt::client()
            .get(origin.url("/login"))
            .send()
            .unwrap()
            .text()
            .unwrap(),
        ""
    );
}

#[test]
fn a_login_through_a_302_in_an_async_scope() {
    let origin = cookie_origin();
    rt::block_on(async {
        let client = rt::AsyncClient::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let parallel = client.parallel();
        let home = parallel.get(origin.url("/login")).await;
        let home = home.get_response().await.unwrap();
        assert_eq!(home.text().await.unwrap(), "session=abc");
        let again = client.get(origin.url("/me")).send().await.unwrap();
        assert_eq!(again.text().await.unwrap(), "session=abc");
    });
}

/// A client with a store, reaching `.test` names through `proxy`.
fn through(proxy: &ForwardProxy, jar: Option<Arc<Jar>>) -> par_http::Client {
    let builder = rt::builder().proxy(Proxy::http(&proxy.url("http", "")).unwrap());
    match jar {
        Some(jar) => builder.cookie_provider(jar),
        None => builder.cookie_store(true),
    }
    .build()
    .unwrap()
}

#[test]
fn domain_secure_and_bare_tld_rules_on_the_wire() {
    let origin = cookie_origin();
    let proxy = ForwardProxy::start();
    let client = through(&proxy, None);
    let port = origin.addr().port();
    let at = |host: &str, path: &str| format!("http://{host}:{port}{path}");
    for cookie in [
        "host=1%3B Path=/",
        "dom=2%3B Domain=app.test%3B Path=/",
        "other=3%3B Domain=other.test%3B Path=/",
        "sec=4%3B Secure%3B Path=/",
        "tld=5%3B Domain=test%3B Path=/",
        "dottld=6%3B Domain=.test%3B Path=/",
    ] {
        let set = client
            .get(at("app.test", &format!("/set?{cookie}")))
            .send()
            .unwrap();
        assert_eq!(set.status(), 200);
    }
    let header = |host: &str| {
        client
            .get(at(host, "/show"))
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    // `sec` is Secure and this is http to a name that is not loopback.
    assert_eq!(names(&header("app.test")), ["dom", "host"]);
    assert_eq!(names(&header("www.app.test")), ["dom"]);
    assert_eq!(names(&header("other.test")), Vec::<String>::new());
    assert_eq!(names(&header("elsewhere.test")), Vec::<String>::new());
}

#[test]
fn expired_and_deleted_cookies_are_not_sent() {
    let origin = cookie_origin();
    let client = rt::builder().cookie_store(true).build().unwrap();
    for cookie in [
        "keep=1%3B Path=/",
        "gone=1%3B Path=/",
        "old=1%3B Path=/%3B Expires=Thu, 01 Jan 1970 00:00:00 GMT",
    ] {
        client
            .get(origin.url(&format!("/set?{cookie}")))
            .send()
            .unwrap();
    }
    assert_eq!(
        names(
            &client
                .get(origin.url("/show"))
                .send()
                .unwrap()
                .text()
                .unwrap()
        ),
        ["gone", "keep"]
    );
    client
        .get(origin.url("/set?gone=%3B Path=/%3B Max-Age=0"))
        .send()
        .unwrap();
    assert_eq!(
        client
            .get(origin.url("/show"))
            .send()
            .unwrap()
            .text()
            .unwrap(),
        "keep=1"
    );
}

#[test]
fn domain_secure_and_expiry_rules_from_an_async_scope() {
    let origin = cookie_origin();
    let proxy = ForwardProxy::start();
    let port = origin.addr().port();
    let at = |host: &str, path: &str| format!("http://{host}:{port}{path}");
    rt::block_on(async {
        let client = rt::AsyncClient::builder()
            .proxy(Proxy::http(&proxy.url("http", "")).unwrap())
            .cookie_store(true)
            .build()
            .unwrap();
        for cookie in [
            "host=1%3B Path=/",
            "dom=2%3B Domain=app.test%3B Path=/",
            "other=3%3B Domain=other.test%3B Path=/",
            "sec=4%3B Secure%3B Path=/",
            "old=5%3B Path=/%3B Expires=Thu, 01 Jan 1970 00:00:00 GMT",
        ] {
            let set = client
                .get(at("app.test", &format!("/set?{cookie}")))
                .send()
                .await
                .unwrap();
            assert_eq!(set.status(), 200);
        }
        let headers = client
            .scope(async |p| {
                let here = p.get(at("app.test", "/show")).await;
                let sub = p.get(at("www.app.test", "/show")).await;
                let other = p.get(at("other.test", "/show")).await;
                let mut texts = Vec::new();
                for pending in [here, sub, other] {
                    texts.push(pending.get_response().await?.text().await?);
                }
                Ok::<_, par_http::Error>(texts)
            })
            .await
            .unwrap();
        assert_eq!(names(&headers[0]), ["dom", "host"]);
        assert_eq!(names(&headers[1]), ["dom"]);
        assert_eq!(names(&headers[2]), Vec::<String>::new());
    });
}

#[test]
fn a_cookie_header_of_the_request_is_kept() {
    let origin = cookie_origin();
    let client = rt::builder().cookie_store(true).build().unwrap();
    client.get(origin.url("/set?a=1%3B Path=/")).send().unwrap();
    let mine = client
        .get(origin.url("/show"))
        .header("cookie", "mine=2")
        .send()
        .unwrap();
    assert_eq!(mine.text().unwrap(), "mine=2");
}

#[test]
fn every_request_of_a_parallel_scope_sets_and_gets_cookies_at_once() {
    let origin = cookie_origin();
    let client = rt::builder().cookie_store(true).build().unwrap();
    let urls: Vec<String> = (0..40)
        .map(|n| origin.url(&format!("/set?c{n}=v%3B Path=/")))
        .collect();
    client
        .parallel(|p| {
            for url in &urls {
                p.get(url);
            }
            while p.has_pending_responses() {
                p.next_response()?;
            }
            Ok(())
        })
        .unwrap();
    let header = client
        .get(origin.url("/show"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(names(&header).len(), 40, "{header}");
    // The same from an async scope, with a shared jar seen from outside.
    let jar = Arc::new(Jar::default());
    rt::block_on(async {
        let client = rt::AsyncClient::builder()
            .cookie_provider(jar.clone())
            .build()
            .unwrap();
        let parallel = client.parallel();
        let mut pending = Vec::new();
        for url in &urls {
            pending.push(parallel.get(url).await);
        }
        for one in pending {
            one.get_response().await.unwrap();
        }
    });
    let url = Url::parse(&origin.url("/show")).unwrap();
    let header = jar.cookies(&url).unwrap();
    assert_eq!(names(header.to_str().unwrap()).len(), 40);
}

#[test]
fn two_clients_on_two_threads_share_one_store() {
    let origin = cookie_origin();
    let jar = Arc::new(Jar::default());
    let one = rt::builder().cookie_provider(jar.clone()).build().unwrap();
    let two = rt::builder().cookie_provider(jar.clone()).build().unwrap();
    let login = origin.url("/login");
    let me = origin.url("/me");
    std::thread::scope(|s| {
        s.spawn(|| {
            one.parallel(|p| p.get(&login).get_response()?.text())
                .unwrap();
        })
        .join()
        .unwrap();
        let seen = s
            .spawn(|| two.parallel(|p| p.get(&me).get_response()?.text()).unwrap())
            .join()
            .unwrap();
        assert_eq!(seen, "session=abc");
    });
}

#[test]
fn a_jar_saved_as_json_loads_into_another_client() {
    let origin = cookie_origin();
    let jar = Arc::new(Jar::default());
    let client = rt::builder().cookie_provider(jar.clone()).build().unwrap();
    client
        .get(origin.url("/set?kept=1%3B Path=/%3B Max-Age=3600"))
        .send()
        .unwrap();
    client
        .get(origin.url("/set?session=1%3B Path=/"))
        .send()
        .unwrap();
    let mut saved = Vec::new();
    jar.save_json(&mut saved).unwrap();
    let loaded = Arc::new(Jar::load_json(&saved[..]).unwrap());
    let again = rt::builder().cookie_provider(loaded).build().unwrap();
    // Session cookies are not saved (as `cookie_store` does).
    assert_eq!(
        again
            .get(origin.url("/show"))
            .send()
            .unwrap()
            .text()
            .unwrap(),
        "kept=1"
    );
}

#[test]
fn cookies_work_over_a_custom_dispatch_at_every_hop() {
    use par_http::mock::{MockDispatch, MockResponse};
    use par_http::{Method, StatusCode};

    let mock = MockDispatch::new()
        .route(
            Method::GET,
            "http://a.test/login",
            MockResponse::redirect(StatusCode::FOUND, "http://a.test/step")
                .header("set-cookie", "first=1; Path=/"),
        )
        .route(
            Method::GET,
            "http://a.test/step",
            MockResponse::redirect(StatusCode::FOUND, "http://a.test/home")
                .header("set-cookie", "second=2; Path=/"),
        )
        .route(
            Method::GET,
            "http://a.test/home",
            MockResponse::text("home"),
        );
    rt::block_on(async {
        let client = rt::AsyncClient::builder()
            .dispatch(mock.clone())
            .cookie_store(true)
            .build()
            .unwrap();
        let parallel = client.parallel();
        let home = parallel.get("http://a.test/login").await;
        assert_eq!(
            home.get_response().await.unwrap().text().await.unwrap(),
            "home"
        );
    });
    let hops = mock.requests();
    assert_eq!(hops.len(), 3);
    assert_eq!(hops[0].header("cookie"), None);
    assert_eq!(hops[1].header("cookie"), Some("first=1"));
    let mut last: Vec<&str> = hops[2].header("cookie").unwrap().split("; ").collect();
    last.sort_unstable();
    assert_eq!(last, ["first=1", "second=2"]);
}
