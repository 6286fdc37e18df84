//! Rule 5 of the design, for the request-level policy: auth (basic, bearer, hook,
//! per-request overrides, URL credentials), base URL, query, form and JSON bodies, and the
//! ready mock dispatch. Every option goes through the parallel scope, blocking and async,
//! against a scripted server on 127.0.0.1 or against `par_http::mock` (which sees exactly
//! what the network would). Redirects are in `redirect.rs`; default headers, user agent,
//! timeouts and limits in `client_config.rs`.

use par_http::mock::{MockDispatch, MockResponse};
use par_http::{Body, ErrorKind, Method, StatusCode};
use serde::{Deserialize, Serialize};

use crate::rt;
use crate::support::{RawRequest, ScriptedServer, ok, response};

/// `Basic base64("ann:secret")`.
const ANN: &str = "Basic YW5uOnNlY3JldA==";

/// A server that answers each request with `answer(request)`, keeping connections open.
fn answering(answer: impl Fn(&RawRequest) -> Vec<u8> + Send + Sync + 'static) -> ScriptedServer {
    ScriptedServer::new(move |conn| {
        while let Some(request) = conn.read_request() {
            conn.write_all(&answer(&request));
        }
    })
}

/// A server that echoes the request target as the body.
fn target_echo() -> ScriptedServer {
    answering(|request| ok(&request.target))
}

fn authorizations(server: &ScriptedServer) -> Vec<Option<String>> {
    server
        .request_log()
        .iter()
        .map(|r| r.header("authorization").map(str::to_owned))
        .collect()
}

#[test]
fn basic_auth_goes_with_every_scope_request_and_one_off() {
    let server = target_echo();
    let client = rt::builder()
        .basic_auth("ann", Some("secret"))
        .build()
        .unwrap();
    client
        .parallel(|p| {
            let pending: Vec<_> = (0..5)
                .map(|n| p.get(server.url(&format!("/{n}"))))
                .collect();
            for pending in pending {
                assert_eq!(pending.get_response()?.status(), 200);
            }
            Ok(())
        })
        .unwrap();
    client.get(server.url("/one-off")).send().unwrap();
    let seen = authorizations(&server);
    assert_eq!(seen.len(), 6);
    assert!(seen.iter().all(|a| a.as_deref() == Some(ANN)), "{seen:?}");
}

#[test]
fn bearer_auth_goes_with_every_async_scope_request() {
    let server = target_echo();
    rt::block_on(async {
        let client = rt::AsyncClient::builder()
            .bearer_auth("t0k3n")
            .build()
            .unwrap();
        let parallel = client.parallel();
        let mut pending = Vec::new();
        for n in 0..4 {
            pending.push(parallel.get(server.url(&format!("/{n}"))).await);
        }
        for pending in pending {
            assert_eq!(pending.get_response().await.unwrap().status(), 200);
        }
        let one_off = client.get(server.url("/one-off")).send().await.unwrap();
        assert_eq!(one_off.status(), 200);
    });
    let seen = authorizations(&server);
    assert_eq!(seen.len(), 5);
    assert!(
        seen.iter().all(|a| a.as_deref() == Some("Bearer t0k3n")),
        "{seen:?}"
    );
}

#[test]
fn a_bearer_token_that_is_not_a_header_value_fails_the_build() {
    let err = rt::builder()
        .bearer_auth("a\r\nx-evil: 1")
        .build()
        .unwrap_err();
    assert!(err.is_invalid_request(), "{err:?}");
}

#[test]
fn per_request_credentials_override_the_client_default_in_scopes() {
    let server = target_echo();
    let client = rt::builder().bearer_auth("client").build().unwrap();
    client
        .parallel(|p| {
            let own_basic = p
                .request(Method::GET, server.url("/basic"))
                .basic_auth("ann", Some("secret"))
                .send();
            let own_bearer = p
                .request(Method::GET, server.url("/bearer"))
                .bearer_auth("request")
                .send();
            let own_header = p
                .request(Method::GET, server.url("/header"))
                .header("authorization", "Custom xyz")
                .send();
            let default = p.get(server.url("/default"));
            for pending in [own_basic, own_bearer, own_header, default] {
                pending.get_response()?;
            }
            Ok(())
        })
        .unwrap();
    client
        .get(server.url("/one-off"))
        .basic_auth("ann", Some("secret"))
        .send()
        .unwrap();
    let by_path = |path: &str| {
        let log = server.request_log();
        let request = log.iter().find(|r| r.path() == path).unwrap().clone();
        let all: Vec<String> = request
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v.clone())
            .collect();
        all
    };
    assert_eq!(by_path("/basic"), [ANN]);
    assert_eq!(by_path("/bearer"), ["Bearer request"]);
    assert_eq!(by_path("/header"), ["Custom xyz"], "not overridden");
    assert_eq!(by_path("/default"), ["Bearer client"]);
    assert_eq!(by_path("/one-off"), [ANN]);
}

#[test]
fn per_request_credentials_override_the_default_in_async_scopes() {
    let mock = MockDispatch::new();
    rt::block_on(async {
        let client = rt::AsyncClient::builder()
            .dispatch(mock.clone())
            .basic_auth("client", None::<&str>)
            .build()
            .unwrap();
        let parallel = client.parallel();
        let own = parallel
            .request(Method::GET, "http://api.test/own")
            .bearer_auth("mine")
            .send()
            .await;
        let default = parallel.get("http://api.test/default").await;
        own.get_response().await.unwrap();
        default.get_response().await.unwrap();
        client
            .get("http://api.test/one-off")
            .basic_auth("ann", Some("secret"))
            .send()
            .await
            .unwrap();
    });
    let seen: Vec<(String, Option<String>)> = mock
        .requests()
        .iter()
        .map(|r| {
            let auth = r.header("authorization").map(str::to_owned);
            (r.url.path().to_owned(), auth)
        })
        .collect();
    assert!(seen.contains(&("/own".into(), Some("Bearer mine".into()))));
    // `client:` with no password.
    assert!(seen.contains(&("/default".into(), Some("Basic Y2xpZW50Og==".into()))));
    assert!(seen.contains(&("/one-off".into(), Some(ANN.into()))));
}

#[test]
fn the_auth_hook_sees_and_changes_every_request() {
    let server = target_echo();
    let client = rt::builder()
        .default_header("x-team", "search")
        .auth_hook(|request| {
            // It runs after the default headers: it can see them.
            let team = request.headers.get("x-team").cloned();
            let signature = format!("{}:{}", request.method, request.url.path());
            let value = signature
                .parse()
                .map_err(|_| request.error(ErrorKind::InvalidRequest))?;
            request.headers.insert("x-signature", value);
            if let Some(team) = team {
                request.headers.insert("x-signed-team", team);
            }
            if request.url.path() == "/forbidden" {
                return Err(request.error(ErrorKind::InvalidRequest));
            }
            Ok(())
        })
        .build()
        .unwrap();
    let forbidden = server.url("/forbidden");
    client
        .parallel(|p| {
            let a = p.get(server.url("/a"));
            let b = p.post(server.url("/b"), "x");
            let refused = p.get(forbidden.as_str());
            a.get_response()?;
            b.get_response()?;
            let err = refused.get_response().unwrap_err();
            assert!(err.is_invalid_request(), "{err:?}");
            assert_eq!(err.url(), Some(forbidden.as_str()));
            Ok(())
        })
        .unwrap();
    let log = server.request_log();
    assert_eq!(log.len(), 2, "the refused request never reached the server");
    let a = log.iter().find(|r| r.path() == "/a").unwrap();
    let b = log.iter().find(|r| r.path() == "/b").unwrap();
    assert_eq!(a.header("x-signature"), Some("GET:/a"));
    assert_eq!(b.header("x-signature"), Some("POST:/b"));
    assert_eq!(a.header("x-signed-team"), Some("search"));
}

#[test]
fn the_auth_hook_runs_in_async_scopes() {
    let mock = MockDispatch::new();
    rt::block_on(async {
        let client = rt::AsyncClient::builder()
            .dispatch(mock.clone())
            .auth_hook(|request| {
                request
                    .headers
                    .insert("x-api-key", http::HeaderValue::from_static("k1"));
                Ok(())
            })
            .build()
            .unwrap();
        let parallel = client.parallel();
        let a = parallel.get("http://api.test/a").await;
        let b = parallel.delete("http://api.test/b").await;
        a.get_response().await.unwrap();
        b.get_response().await.unwrap();
    });
    let seen = mock.requests();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|r| r.header("x-api-key") == Some("k1")));
}

#[test]
fn url_credentials_become_basic_auth_and_leave_the_url() {
    let server = target_echo();
    let with_credentials = format!("http://ann:secret@{}/private", server.addr());
    let client = rt::builder().bearer_auth("client").build().unwrap();
    let (url, status) = client
        .parallel(|p| {
            let response = p.get(with_credentials.as_str()).get_response()?;
            Ok((response.url().to_string(), response.status()))
        })
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(url, server.url("/private"), "credentials stripped");
    let log = server.request_log();
    assert_eq!(log[0].header("authorization"), Some(ANN));
    assert_eq!(log[0].target, "/private");
    assert!(!String::from_utf8_lossy(&log[0].head).contains("secret"));
}

#[test]
fn relative_urls_resolve_against_the_base_url_in_scopes() {
    let server = target_echo();
    let other = target_echo();
    let client = rt::builder()
        .base_url(server.url("/api/v1/"))
        .build()
        .unwrap();
    let bodies = client
        .parallel(|p| {
            let relative = p.get("users/7");
            let rooted = p.get("/health");
            let absolute = p.get(other.url("/elsewhere"));
            Ok((
                relative.get_response()?.text()?,
                rooted.get_response()?.text()?,
                absolute.get_response()?.text()?,
            ))
        })
        .unwrap();
    assert_eq!(
        bodies,
        (
            "/api/v1/users/7".to_owned(),
            "/health".to_owned(),
            "/elsewhere".to_owned()
        )
    );
    assert_eq!(
        client.get("items?x=1").send().unwrap().text().unwrap(),
        "/api/v1/items?x=1"
    );
}

#[test]
fn relative_urls_resolve_against_the_base_url_in_async_scopes() {
    let server = target_echo();
    rt::block_on(async {
        let client = rt::AsyncClient::builder()
            .base_url(server.url("/root/"))
            .build()
            .unwrap();
        let parallel = client.parallel();
        let a = parallel.get("a").await;
        let b = parallel
            .request(Method::GET, "b/c")
            .query(&[("k", "v")])
            .send()
            .await;
        let a = a.get_response().await.unwrap().text().await.unwrap();
        let b = b.get_response().await.unwrap();
        assert_eq!(b.url().as_str(), server.url("/root/b/c?k=v"));
        assert_eq!(
            (a.as_str(), b.text().await.unwrap().as_str()),
            ("/root/a", "/root/b/c?k=v")
        );
    });
}

#[test]
fn without_a_base_url_a_relative_url_is_an_invalid_url_error() {
    let client = rt::client();
    let err = client
        .parallel(|p| p.get("users/7").get_response())
        .map(|_| ())
        .unwrap_err();
    assert!(err.is_invalid_url(), "{err:?}");
    let err = rt::builder().base_url("not a url").build().unwrap_err();
    assert!(err.is_invalid_url(), "{err:?}");
}

#[test]
fn query_pairs_are_form_urlencoded_into_the_url() {
    let server = target_echo();
    let client = rt::client();
    let targets = client
        .parallel(|p| {
            let plain = p
                .request(Method::GET, server.url("/search"))
                .query(&[("q", "a b&c=d"), ("page", "2")])
                .send();
            let appended = p
                .request(Method::GET, server.url("/search?lang=en"))
                .query(&[("q", "é")])
                .send();
            let empty = p
                .request(Method::GET, server.url("/search"))
                .query(Vec::<(String, String)>::new())
                .send();
            Ok((
                plain.get_response()?.text()?,
                appended.get_response()?.text()?,
                empty.get_response()?.text()?,
            ))
        })
        .unwrap();
    assert_eq!(targets.0, "/search?q=a+b%26c%3Dd&page=2");
    assert_eq!(targets.1, "/search?lang=en&q=%C3%A9");
    assert_eq!(targets.2, "/search");
}

#[test]
fn form_bodies_are_urlencoded_with_their_content_type() {
    let server = target_echo();
    let client = rt::client();
    client
        .parallel(|p| {
            let form = p
                .request(Method::POST, server.url("/form"))
                .form(&[("user", "ann"), ("note", "a&b c")])
                .send();
            let typed = p
                .request(Method::POST, server.url("/typed"))
                .header(
                    "content-type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                )
                .form(&[("k", "v")])
                .send();
            form.get_response()?;
            typed.get_response()?;
            Ok(())
        })
        .unwrap();
    rt::block_on(async {
        let client = rt::AsyncClient::new();
        let parallel = client.parallel();
        let pending = parallel
            .request(Method::PUT, server.url("/async"))
            .form(&[("x", "1")])
            .send()
            .await;
        pending.get_response().await.unwrap();
    });
    let log = server.request_log();
    let find = |path: &str| log.iter().find(|r| r.path() == path).unwrap();
    assert_eq!(find("/form").body, b"user=ann&note=a%26b+c");
    assert_eq!(
        find("/form").header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(find("/form").header("content-length"), Some("21"));
    assert_eq!(
        find("/typed").header("content-type"),
        Some("application/x-www-form-urlencoded; charset=utf-8"),
        "the request's own content type stays"
    );
    assert_eq!(find("/async").body, b"x=1");
    assert_eq!(find("/async").method, "PUT");
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Item {
    id: u32,
    name: String,
    tags: Vec<String>,
}

fn item() -> Item {
    Item {
        id: 7,
        name: "par \"http\"".into(),
        tags: vec!["a".into(), "é".into()],
    }
}

#[test]
fn json_bodies_go_out_and_responses_decode_in_a_scope() {
    // Echoes the request body back as JSON.
    let server =
        answering(|request| response(200, &["Content-Type: application/json"], &request.body));
    let broken = ScriptedServer::always(response(200, &[], b"{\"id\": oops"));
    let client = rt::client();
    let (decoded, err) = client
        .parallel(|p| {
            let echoed = p
                .request(Method::POST, server.url("/items"))
                .json(&item())
                .send();
            let bad = p.get(broken.url("/"));
            let decoded: Item = echoed.get_response()?.json()?;
            let err = bad.get_response()?.json::<Item>().unwrap_err();
            Ok((decoded, err))
        })
        .unwrap();
    assert_eq!(decoded, item());
    assert!(err.is_decode(), "{err:?}");
    assert_eq!(err.kind(), &ErrorKind::Decode);
    assert_eq!(err.url(), Some(broken.url("/").as_str()));
    let log = server.request_log();
    assert_eq!(log[0].header("content-type"), Some("application/json"));
    let sent: serde_json::Value = serde_json::from_slice(&log[0].body).unwrap();
    assert_eq!(sent["name"], "par \"http\"");
}

#[test]
fn json_bodies_go_out_and_responses_decode_in_an_async_scope() {
    let server =
        answering(|request| response(200, &["Content-Type: application/json"], &request.body));
    rt::block_on(async {
        let client = rt::AsyncClient::new();
        let parallel = client.parallel();
        let echoed = parallel
            .request(Method::PATCH, server.url("/items/7"))
            .json(&item())
            .send()
            .await;
        let wrong_shape = parallel
            .request(Method::POST, server.url("/items"))
            .json(&[1, 2, 3])
            .send()
            .await;
        let decoded: Item = echoed.get_response().await.unwrap().json().await.unwrap();
        assert_eq!(decoded, item());
        let err = wrong_shape
            .get_response()
            .await
            .unwrap()
            .json::<Item>()
            .await
            .unwrap_err();
        assert!(err.is_decode(), "{err:?}");
        let one_off: Vec<u32> = client
            .post(server.url("/list"))
            .json(&[4, 5])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(one_off, [4, 5]);
    });
}

#[test]
fn the_mock_answers_routes_and_records_requests_in_a_scope() {
    // Routes are tried in order: the one for another origin comes before the path-only one.
    let mock = MockDispatch::new()
        .route(
            Method::GET,
            "http://other.test/users/1",
            MockResponse::text("other origin"),
        )
        .route(Method::GET, "/users/1", MockResponse::text("ann"))
        .route(
            Method::POST,
            "/users",
            MockResponse::new(StatusCode::CREATED)
                .header("location", "/users/2")
                .body("{}"),
        )
        .route_fn(|request| {
            (request.url.path() == "/echo").then(|| MockResponse::text(request.body.clone()))
        });
    let client = rt::builder()
        .dispatch(mock.clone())
        .base_url("http://api.test/")
        .default_header("x-team", "t")
        .build()
        .unwrap();
    let out = client
        .parallel(|p| {
            let user = p.get("users/1");
            let created = p.request(Method::POST, "users").json(&item()).send();
            let other = p.get("http://other.test/users/1");
            let echo = p.post("echo?v=1", "hello");
            let wrong_method = p.delete("users/1");
            let missing = p.get("missing");
            let streamed = p.put(
                "echo",
                Body::from_reader(futures_lite::io::Cursor::new(b"streamed".to_vec()), None),
            );
            let created = created.get_response()?;
            Ok((
                user.get_response()?.text()?,
                (created.status(), created.headers()["location"].clone()),
                other.get_response()?.text()?,
                echo.get_response()?.text()?,
                wrong_method.get_response()?.status(),
                missing.get_response()?.status(),
                streamed.get_response()?.text()?,
            ))
        })
        .unwrap();
    assert_eq!(out.0, "ann");
    assert_eq!(out.1, (StatusCode::CREATED, "/users/2".parse().unwrap()));
    assert_eq!(out.2, "other origin");
    assert_eq!(out.3, "hello");
    assert_eq!(out.4, StatusCode::NOT_FOUND, "routes match the method");
    assert_eq!(out.5, StatusCode::NOT_FOUND, "unmatched is a 404");
    assert_eq!(out.6, "streamed", "a streamed body is read and recorded");

    let seen = mock.requests();
    assert_eq!(seen.len(), 7, "unmatched requests are recorded too");
    assert!(seen.iter().all(|r| r.header("x-team") == Some("t")));
    assert!(seen.iter().all(|r| r.header("user-agent").is_some()));
    let created = seen
        .iter()
        .find(|r| r.method == Method::POST && r.url.path() == "/users");
    let created = created.unwrap();
    assert_eq!(created.url.as_str(), "http://api.test/users");
    assert_eq!(created.header("content-type"), Some("application/json"));
    let body: Item = serde_json::from_slice(&created.body).unwrap();
    assert_eq!(body, item());
    let echo = seen.iter().find(|r| r.url.query() == Some("v=1")).unwrap();
    assert_eq!(echo.text(), "hello");

    mock.clear_requests();
    assert!(mock.requests().is_empty());
}

#[test]
fn the_mock_serves_an_async_client_and_its_scope() {
    let mock = MockDispatch::new()
        .route(Method::GET, "/a", MockResponse::json(&item()))
        .route(Method::HEAD, "/a", MockResponse::text("no body for HEAD"));
    rt::block_on(async {
        let client = rt::AsyncClient::builder()
            .dispatch(mock.clone())
            .bearer_auth("b")
            .build()
            .unwrap();
        let parallel = client.parallel();
        let get = parallel
            .request(Method::GET, "http://api.test/a")
            .query(&[("n", "1")])
            .send()
            .await;
        let head = parallel.head("http://api.test/a").await;
        let decoded: Item = get.get_response().await.unwrap().json().await.unwrap();
        assert_eq!(decoded, item());
        let head = head.get_response().await.unwrap();
        assert_eq!(head.status(), 200);
        assert_eq!(head.text().await.unwrap(), "");
        let one_off = client.get("http://api.test/nothing").send().await.unwrap();
        assert_eq!(one_off.status(), StatusCode::NOT_FOUND);
    });
    let seen = mock.requests();
    assert_eq!(seen.len(), 3);
    // The scope's two requests run in parallel: the mock may see either first.
    let get = seen
        .iter()
        .find(|r| r.method == Method::GET && r.url.path() == "/a");
    assert_eq!(get.map(|r| r.url.as_str()), Some("http://api.test/a?n=1"));
    assert!(
        seen.iter()
            .all(|r| r.header("authorization") == Some("Bearer b"))
    );
}

#[test]
fn a_streamed_request_body_still_reaches_a_real_server() {
    let server = answering(|request| ok(&String::from_utf8_lossy(&request.body)));
    let client = rt::client();
    let text = client
        .parallel(|p| {
            let body = Body::from_reader(futures_lite::io::Cursor::new(b"abc".to_vec()), Some(3));
            p.post(server.url("/up"), body).get_response()?.text()
        })
        .unwrap();
    assert_eq!(text, "abc");
}
