//! Proxies against the test `ForwardProxy`: forwarding with absolute-form targets, `CONNECT`
//! tunnels with TLS to the origin inside (SNI and certificate for the origin's name), SOCKS5
//! with and without credentials (`socks5` resolving locally, `socks5h` at the proxy), typed
//! errors for a 407 and for a proxy that hangs up mid-handshake, pool keys that keep proxied
//! and direct connections apart, redirects that choose their proxy again, the per-host
//! connection cap through one proxy, and the environment read by a fresh client.
//!
//! Names ending in `.test` resolve only at the proxy, so a request that reached its origin
//! through such a name went through the proxy.

use par_http::{NoProxy, Proxy, Url};

use crate::rt;
use crate::support::{
    ForwardProxy, ProxyOptions, ScriptedServer, TestPki, TlsForwardProxy, TlsServer, ok, response,
};

/// An origin that answers every request with its target, keeping connections open.
fn echo_origin() -> ScriptedServer {
    ScriptedServer::new(|conn| {
        while let Some(request) = conn.read_request() {
            conn.write_all(&ok(&request.target));
        }
    })
}

/// `Basic` credentials as the client sends them.
fn basic(user: &str, password: &str) -> String {
    par_http::core::basic_auth_header(user, Some(password))
        .to_str()
        .unwrap()
        .to_owned()
}

#[test]
fn http_goes_through_the_proxy_in_absolute_form_with_its_credentials_kept_there() {
    let origin = echo_origin();
    let proxy = ForwardProxy::with_auth("pu", "pw");
    let client = rt::builder()
        .proxy(Proxy::http(&proxy.url("http", "pu:pw@")).unwrap())
        .build()
        .unwrap();
    let url = format!("http://app.test:{}/x?y=1", origin.addr().port());
    let response = client.get(&url).send().unwrap();
    assert_eq!(response.status(), 200, "{}", rt::NAME);
    assert_eq!(response.text().unwrap(), "/x?y=1");
    let log = proxy.log();
    assert_eq!(log.requests.len(), 1);
    assert_eq!(log.requests[0].target, url);
    assert_eq!(
        log.requests[0].header("proxy-authorization"),
        Some(basic("pu", "pw").as_str())
    );
    assert!(log.tunnels.is_empty());
    let seen = origin.request_log();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, "/x?y=1");
    assert_eq!(seen[0].header("proxy-authorization"), None);
    assert_eq!(
        seen[0].header("host"),
        Some(format!("app.test:{}", origin.addr().port()).as_str())
    );
}

#[test]
fn http_through_the_proxy_from_an_async_scope() {
    let origin = echo_origin();
    let proxy = ForwardProxy::start();
    let port = origin.addr().port();
    rt::block_on(async {
        let client = rt::AsyncClient::builder()
            .proxy(Proxy::all(&proxy.url("http", "")).unwrap())
            .build()
            .unwrap();
        let one = client
            .get(format!("http://one.test:{port}/a"))
            .send()
            .await
            .unwrap();
        assert_eq!(one.text().await.unwrap(), "/a");
        let parallel = client.parallel();
        let two = parallel.get(format!("http://two.test:{port}/b")).await;
        let three = parallel.get(format!("http://two.test:{port}/c")).await;
        assert_eq!(
            two.get_response().await.unwrap().text().await.unwrap(),
            "/b"
        );
        assert_eq!(
            three.get_response().await.unwrap().text().await.unwrap(),
            "/c"
        );
    });
    let targets: Vec<String> = proxy
        .log()
        .requests
        .iter()
        .map(|r| r.target.clone())
        .collect();
    assert_eq!(targets.len(), 3, "{targets:?}");
    assert!(targets.contains(&format!("http://two.test:{port}/c")));
}

/// A TLS origin named `origin.test` (a name only the proxy resolves).
fn tls_origin(pki: &TestPki) -> TlsServer {
    TlsServer::start(&pki.server_cert(&["origin.test"]))
}

#[test]
fn https_tunnels_through_connect_and_checks_the_origin_certificate() {
    let pki = TestPki::new("par-http proxy test ca");
    let origin = tls_origin(&pki);
    let proxy = ForwardProxy::with_auth("pu", "pw");
    let client = rt::builder()
        .add_root_certificate_pem(pki.ca_pem().as_bytes())
        .proxy(
            Proxy::https(&proxy.url("http", ""))
                .unwrap()
                .basic_auth("pu", "pw"),
        )
        .build()
        .unwrap();
    let port = origin.addr().port();
    let url = format!("https://origin.test:{port}/hello");
    let response = client.get(&url).send().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().unwrap(), "/hello");
    // A second request reuses the tunnel.
    let again = client.get(&url).send().unwrap();
    assert_eq!(again.text().unwrap(), "/hello");
    let stats = origin.stats();
    assert_eq!(stats.handshakes, 1, "{stats:?}");
    assert_eq!(stats.sni, [Some("origin.test".to_owned())]);
    assert_eq!(stats.hosts[0], format!("origin.test:{port}"));
    let log = proxy.log();
    assert!(
        log.requests.is_empty(),
        "nothing in clear: {:?}",
        log.requests
    );
    assert_eq!(log.tunnels.len(), 1);
    assert_eq!(log.tunnels[0].kind, "CONNECT");
    assert_eq!(log.tunnels[0].target, format!("origin.test:{port}"));
    assert_eq!(
        log.tunnels[0].auth.as_deref(),
        Some(basic("pu", "pw").as_str())
    );
}

#[test]
fn https_through_connect_from_an_async_scope() {
    let pki = TestPki::new("par-http proxy test ca");
    let origin = tls_origin(&pki);
    let proxy = ForwardProxy::start();
    let port = origin.addr().port();
    rt::block_on(async {
        let client = rt::AsyncClient::builder()
            .add_root_certificate_pem(pki.ca_pem().as_bytes())
            .proxy(Proxy::all(&proxy.url("http", "")).unwrap())
            .build()
            .unwrap();
        let parallel = client.parallel();
        let a = parallel.get(format!("https://origin.test:{port}/a")).await;
        let b = parallel.get(format!("https://origin.test:{port}/b")).await;
        assert_eq!(a.get_response().await.unwrap().text().await.unwrap(), "/a");
        assert_eq!(b.get_response().await.unwrap().text().await.unwrap(), "/b");
    });
    assert!(
        proxy
            .log()
            .tunnels
            .iter()
            .all(|t| t.kind == "CONNECT" && t.opened)
    );
}

#[test]
fn a_certificate_for_the_proxy_is_not_one_for_the_origin() {
    let pki = TestPki::new("par-http proxy test ca");
    // The server holds a certificate for another name than the one the client asked for.
    let origin = TlsServer::start(&pki.server_cert(&["proxy.test"]));
    let proxy = ForwardProxy::start();
    let client = rt::builder()
        .add_root_certificate_pem(pki.ca_pem().as_bytes())
        .proxy(Proxy::all(&proxy.url("http", "")).unwrap())
        .build()
        .unwrap();
    let url = format!("https://origin.test:{}/", origin.addr().port());
    let err = client.get(&url).send().unwrap_err();
    assert!(err.is_tls(), "{err:?}");
}

#[test]
fn a_wrong_proxy_password_is_a_typed_407_naming_the_proxy() {
    let pki = TestPki::new("par-http proxy test ca");
    let origin = tls_origin(&pki);
    let proxy = ForwardProxy::with_auth("pu", "pw");
    let client = rt::builder()
        .add_root_certificate_pem(pki.ca_pem().as_bytes())
        .proxy(Proxy::all(&proxy.url("http", "pu:wrong@")).unwrap())
        .build()
        .unwrap();
    let url = format!("https://origin.test:{}/secret", origin.addr().port());
    let err = client.get(&url).send().unwrap_err();
    assert!(err.is_proxy(), "{err:?}");
    assert!(!err.is_status());
    assert_eq!(err.url(), Some(url.as_str()));
    let cause = err.proxy_error().expect("a ProxyError");
    assert_eq!(
        cause.status(),
        Some(par_http::StatusCode::PROXY_AUTHENTICATION_REQUIRED)
    );
    assert!(cause.is_auth());
    assert_eq!(cause.proxy(), format!("http://{}", proxy.addr()));
    let text = err.to_string();
    assert!(!text.contains("wrong"), "{text}");
    assert!(
        !text.contains("credentials please"),
        "the proxy's body is not the origin's: {text}"
    );
    assert_eq!(origin.stats().handshakes, 0);

    // The same through an async scope.
    rt::block_on(async {
        let client = rt::AsyncClient::builder()
            .proxy(Proxy::all(&proxy.url("http", "")).unwrap())
            .build()
            .unwrap();
        let parallel = client.parallel();
        let pending = parallel.get(&url).await;
        let err = pending.get_response().await.unwrap_err();
        assert_eq!(
            err.proxy_error().and_then(|p| p.status()),
            Some(par_http::StatusCode::PROXY_AUTHENTICATION_REQUIRED)
        );
    });
}

#[test]
fn a_proxy_that_hangs_up_mid_handshake_is_a_proxy_error() {
    let proxy = ForwardProxy::with_options(ProxyOptions {
        close_mid_handshake: true,
        ..ProxyOptions::default()
    });
    for scheme in ["http", "socks5h"] {
        let client = rt::builder()
            .proxy(Proxy::all(&proxy.url(scheme, "")).unwrap())
            .build()
            .unwrap();
        // Over http, a forwarding proxy has no handshake: use https for the tunnel.
        let err = client.get("https://origin.test:1/").send().unwrap_err();
        assert!(err.is_proxy(), "{scheme}: {err:?}");
        assert!(err.proxy_error().unwrap().status().is_none());
        // The same through an async scope.
        rt::block_on(async {
            let client = rt::AsyncClient::builder()
                .proxy(Proxy::all(&proxy.url(scheme, "")).unwrap())
                .build()
                .unwrap();
            let parallel = client.parallel();
            let pending = parallel.get("https://origin.test:1/").await;
            let err = pending.get_response().await.unwrap_err();
            assert!(err.is_proxy(), "{scheme} (async): {err:?}");
        });
    }
}

#[test]
fn socks5_resolves_locally_and_socks5h_at_the_proxy() {
    let origin = echo_origin();
    let port = origin.addr().port();
    let proxy = ForwardProxy::start();
    // socks5h: the proxy gets the name (only it can resolve `.test`).
    let remote = rt::builder()
        .proxy(Proxy::all(&proxy.url("socks5h", "")).unwrap())
        .build()
        .unwrap();
    let response = remote
        .get(format!("http://app.test:{port}/h"))
        .send()
        .unwrap();
    assert_eq!(response.text().unwrap(), "/h");
    // socks5: the client resolves `localhost` and sends the address.
    let local = rt::builder()
        .proxy(Proxy::all(&proxy.url("socks5", "")).unwrap())
        .build()
        .unwrap();
    let response = local
        .get(format!("http://localhost:{port}/l"))
        .send()
        .unwrap();
    assert_eq!(response.text().unwrap(), "/l");
    let err = local
        .get(format!("http://app.test:{port}/"))
        .send()
        .unwrap_err();
    assert!(err.is_connect(), "the client cannot resolve .test: {err:?}");
    let tunnels = proxy.log().tunnels;
    assert_eq!(tunnels.len(), 2, "{tunnels:?}");
    // socks5h from an async scope too (a third tunnel, checked after the order above).
    rt::block_on(async {
        let client = rt::AsyncClient::builder()
            .proxy(Proxy::all(&proxy.url("socks5h", "")).unwrap())
            .build()
            .unwrap();
        let parallel = client.parallel();
        let pending = parallel.get(format!("http://app.test:{port}/a")).await;
        let response = pending.get_response().await.unwrap();
        assert_eq!(response.text().await.unwrap(), "/a");
    });
    assert_eq!(proxy.log().tunnels.len(), 3);
    assert_eq!(tunnels[0].target, format!("app.test:{port}"));
    assert!(tunnels[0].by_name);
    assert!(!tunnels[1].by_name);
    assert!(tunnels[1].target.ends_with(&format!(":{port}")));
    assert!(proxy.log().requests.is_empty());
    // The request inside the tunnel is in origin form.
    assert!(
        origin
            .request_log()
            .iter()
            .all(|r| r.target.starts_with('/'))
    );
}

#[test]
fn socks5_with_credentials_and_a_wrong_password() {
    let pki = TestPki::new("par-http proxy test ca");
    let origin = tls_origin(&pki);
    let port = origin.addr().port();
    let proxy = ForwardProxy::with_auth("su", "sp");
    let client = rt::builder()
        .add_root_certificate_pem(pki.ca_pem().as_bytes())
        .proxy(Proxy::all(&proxy.url("socks5h", "su:sp@")).unwrap())
        .build()
        .unwrap();
    let url = format!("https://origin.test:{port}/s");
    assert_eq!(client.get(&url).send().unwrap().text().unwrap(), "/s");
    assert_eq!(origin.stats().sni, [Some("origin.test".to_owned())]);
    let wrong = rt::builder()
        .proxy(
            Proxy::all(&proxy.url("socks5h", ""))
                .unwrap()
                .basic_auth("su", "nope"),
        )
        .build()
        .unwrap();
    let err = wrong.get(&url).send().unwrap_err();
    assert!(err.is_proxy(), "{err:?}");
    assert!(err.proxy_error().unwrap().is_auth());
    let none = rt::builder()
        .proxy(Proxy::all(&proxy.url("socks5h", "")).unwrap())
        .build()
        .unwrap();
    let err = none.get(&url).send().unwrap_err();
    assert!(err.proxy_error().is_some_and(|p| p.is_auth()), "{err:?}");
    let tunnels = proxy.log().tunnels;
    assert_eq!(tunnels[0].auth.as_deref(), Some("su:sp"));
    rt::block_on(async {
        let client = rt::AsyncClient::builder()
            .add_root_certificate_pem(pki.ca_pem().as_bytes())
            .proxy(Proxy::all(&proxy.url("socks5h", "su:sp@")).unwrap())
            .build()
            .unwrap();
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.text().await.unwrap(), "/s");
    });
}

#[test]
fn proxied_and_direct_connections_are_pooled_apart() {
    let origin = echo_origin();
    let proxy = ForwardProxy::start();
    let proxy_url = Url::parse(&proxy.url("http", "")).unwrap();
    // The same origin, through the proxy for `/via` paths only.
    let client = rt::builder()
        .proxy(Proxy::custom(move |url: &Url| {
            url.path().starts_with("/via").then(|| proxy_url.clone())
        }))
        .build()
        .unwrap();
    for path in ["/direct", "/via", "/direct", "/via", "/via"] {
        let response = client.get(origin.url(path)).send().unwrap();
        assert_eq!(response.text().unwrap(), path);
    }
    let log = proxy.log();
    assert_eq!(log.requests.len(), 3);
    assert_eq!(log.accepted, 1, "one proxied connection, reused");
    // One direct connection, one from the proxy.
    assert_eq!(origin.accepted(), 2);
    let direct: Vec<_> = origin
        .request_log()
        .into_iter()
        .filter(|r| r.target == "/direct")
        .collect();
    assert_eq!(direct.len(), 2);
}

#[test]
fn a_redirect_to_a_no_proxy_origin_goes_direct_without_proxy_credentials() {
    let landing = echo_origin();
    let landing_url = landing.url("/landing");
    let start = ScriptedServer::new(move |conn| {
        while conn.read_request().is_some() {
            conn.write_all(&response(302, &[&format!("Location: {landing_url}")], b""));
        }
    });
    let proxy = ForwardProxy::with_auth("pu", "pw");
    let client = rt::builder()
        .proxy(
            Proxy::http(&proxy.url("http", "pu:pw@"))
                .unwrap()
                .no_proxy(NoProxy::from_list("127.0.0.1")),
        )
        .build()
        .unwrap();
    let first = format!("http://start.test:{}/go", start.addr().port());
    let response = client.get(&first).send().unwrap();
    assert_eq!(response.text().unwrap(), "/landing");
    let log = proxy.log();
    assert_eq!(log.requests.len(), 1, "{:?}", log.requests);
    assert_eq!(log.requests[0].target, first);
    let seen = landing.request_log();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, "/landing");
    assert_eq!(seen[0].header("proxy-authorization"), None);
    assert!(!String::from_utf8_lossy(&seen[0].head).contains(&basic("pu", "pw")));
}

#[test]
fn a_redirect_to_another_origin_chooses_its_proxy_again() {
    let origin = echo_origin();
    let target = format!("http://landing.test:{}/there", origin.addr().port());
    let start = ScriptedServer::new(move |conn| {
        while conn.read_request().is_some() {
            conn.write_all(&response(307, &[&format!("Location: {target}")], b""));
        }
    });
    let proxy = ForwardProxy::start();
    // Direct to 127.0.0.1, through the proxy for every `.test` name.
    let client = rt::builder()
        .proxy(
            Proxy::all(&proxy.url("http", ""))
                .unwrap()
                .no_proxy(NoProxy::from_list("127.0.0.0/8")),
        )
        .build()
        .unwrap();
    let response = client.get(start.url("/go")).send().unwrap();
    assert_eq!(response.text().unwrap(), "/there");
    let log = proxy.log();
    assert_eq!(log.requests.len(), 1);
    assert_eq!(
        log.requests[0].target,
        format!("http://landing.test:{}/there", origin.addr().port())
    );
    assert_eq!(start.request_log()[0].target, "/go");
}

#[test]
fn two_hundred_requests_of_a_scope_share_one_proxy_within_the_per_host_cap() {
    let origin = echo_origin();
    let proxy = ForwardProxy::start();
    let client = rt::builder()
        .max_connections_per_host(8)
        .proxy(Proxy::http(&proxy.url("http", "")).unwrap())
        .build()
        .unwrap();
    let url = format!("http://many.test:{}/n", origin.addr().port());
    let done = client
        .parallel(|p| {
            for _ in 0..200 {
                p.get(&url);
            }
            let mut done = 0;
            while p.has_pending_responses() {
                p.next_response()?.text()?;
                done += 1;
            }
            Ok(done)
        })
        .unwrap();
    assert_eq!(done, 200);
    let log = proxy.log();
    assert_eq!(log.requests.len(), 200);
    assert!(
        log.accepted <= 8,
        "{} connections to the proxy",
        log.accepted
    );
    assert!(log.max_open <= 8, "{} open at once", log.max_open);
}

#[test]
fn environment_proxies_with_no_proxy_end_to_end() {
    let origin = echo_origin();
    let proxy = ForwardProxy::start();
    let proxy_url = proxy.url("http", "");
    let env = |name: &str| match name {
        "http_proxy" => Some(proxy_url.clone()),
        "NO_PROXY" => Some("skip.test, 127.0.0.1".to_owned()),
        _ => None,
    };
    let mut builder = rt::builder();
    for rule in Proxy::from_env_with(env) {
        builder = builder.proxy(rule);
    }
    let client = builder.build().unwrap();
    let port = origin.addr().port();
    assert_eq!(
        client
            .get(format!("http://env.test:{port}/p"))
            .send()
            .unwrap()
            .text()
            .unwrap(),
        "/p"
    );
    assert_eq!(
        client.get(origin.url("/d")).send().unwrap().text().unwrap(),
        "/d"
    );
    let err = client
        .get(format!("http://skip.test:{port}/"))
        .send()
        .unwrap_err();
    assert!(
        err.is_connect(),
        "skip.test goes direct, and only the proxy knows it: {err:?}"
    );
    assert_eq!(proxy.log().requests.len(), 1);
}

/// The environment variable that tells a child process of this test what to do.
const CHILD: &str = "PAR_HTTP_PROXY_ENV_CHILD";

#[test]
fn a_client_reads_the_process_environment_and_no_proxy_turns_it_off() {
    // In the child: the environment names the proxy; the parent checks what it saw.
    if let Ok(origin) = std::env::var(CHILD) {
        let client = rt::client();
        let response = client.get(format!("http://env.test:{origin}/child")).send();
        assert_eq!(response.unwrap().text().unwrap(), "/child");
        let off = rt::builder().no_proxy().build().unwrap();
        assert!(
            off.get(format!("http://env.test:{origin}/"))
                .send()
                .is_err()
        );
        return;
    }
    let origin = echo_origin();
    let proxy = ForwardProxy::start();
    let exe = std::env::current_exe().unwrap();
    let name = format!(
        "{}::a_client_reads_the_process_environment_and_no_proxy_turns_it_off",
        module_path!().split_once("::").map_or("", |(_, rest)| rest)
    );
    let status = std::process::Command::new(exe)
        .args([name.as_str(), "--exact", "--test-threads=1"])
        .env(CHILD, origin.addr().port().to_string())
        .env("http_proxy", proxy.url("http", ""))
        .env_remove("REQUEST_METHOD")
        .env_remove("no_proxy")
        .env_remove("NO_PROXY")
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(proxy.log().requests.len(), 1);
}

#[test]
fn two_hundred_requests_of_an_async_scope_share_one_proxy_within_the_per_host_cap() {
    use futures_lite::StreamExt;

    let origin = echo_origin();
    let proxy = ForwardProxy::start();
    let url = format!("http://many.test:{}/n", origin.addr().port());
    let done = rt::block_on_multi_thread(async {
        let client = rt::AsyncClient::builder()
            .max_connections_per_host(8)
            .proxy(Proxy::http(&proxy.url("http", "")).unwrap())
            .build()
            .unwrap();
        let mut parallel = client.parallel();
        for _ in 0..200 {
            drop(parallel.get(&url).await);
        }
        let mut done = 0;
        while let Some(outcome) = parallel.next().await {
            outcome.unwrap().text().await.unwrap();
            done += 1;
        }
        done
    });
    assert_eq!(done, 200);
    let log = proxy.log();
    assert_eq!(log.requests.len(), 200);
    assert!(
        log.accepted <= 8,
        "{} connections to the proxy",
        log.accepted
    );
}

#[test]
fn a_redirect_in_an_async_scope_leaves_the_proxy_for_a_no_proxy_origin() {
    let landing = echo_origin();
    let landing_url = landing.url("/landing");
    let start = ScriptedServer::new(move |conn| {
        while conn.read_request().is_some() {
            conn.write_all(&response(303, &[&format!("Location: {landing_url}")], b""));
        }
    });
    let proxy = ForwardProxy::start();
    let first = format!("http://start.test:{}/go", start.addr().port());
    rt::block_on(async {
        let client = rt::AsyncClient::builder()
            .proxy(
                Proxy::all(&proxy.url("http", ""))
                    .unwrap()
                    .no_proxy(NoProxy::from_list("127.0.0.0/8")),
            )
            .build()
            .unwrap();
        let parallel = client.parallel();
        let pending = parallel.get(&first).await;
        let response = pending.get_response().await.unwrap();
        assert_eq!(response.text().await.unwrap(), "/landing");
    });
    assert_eq!(proxy.log().requests.len(), 1);
    assert_eq!(landing.request_log()[0].target, "/landing");
}

#[test]
fn a_hostile_answer_to_connect_is_a_proxy_error_never_a_response() {
    let answers: [&[u8]; 4] = [
        // Bytes after the 200 would be taken for the origin's TLS: refused.
        b"HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 5\r\n\r\nnope!",
        b"HTTP/1.1 200 OK\r\nX-Pad: ",
    ];
    for answer in answers {
        let fake = ScriptedServer::new(move |conn| {
            if conn.read_request().is_some() {
                conn.write_all(answer);
                if answer.ends_with(b": ") {
                    // An endless head: the client gives up at its limit.
                    let pad = vec![b'a'; 64 * 1024];
                    conn.write_all(&pad);
                }
                conn.close();
            }
        });
        let client = rt::builder()
            .proxy(Proxy::all(&format!("http://{}", fake.addr())).unwrap())
            .build()
            .unwrap();
        let err = client.get("https://origin.test:1/").send().unwrap_err();
        assert!(
            err.is_proxy(),
            "{:?}: {err:?}",
            String::from_utf8_lossy(answer)
        );
        let proxy_error = err.proxy_error().unwrap();
        if answer.starts_with(b"HTTP/1.1 502") {
            assert_eq!(
                proxy_error.status(),
                Some(par_http::StatusCode::BAD_GATEWAY)
            );
        } else {
            assert_eq!(proxy_error.status(), None);
        }
        let log = fake.request_log();
        assert_eq!(log[0].method, "CONNECT");
        assert_eq!(log[0].target, "origin.test:1");
    }
}

#[test]
fn an_https_proxy_is_reached_over_tls_for_http_and_https_origins() {
    let pki = TestPki::new("par-http proxy test ca");
    let proxy = TlsForwardProxy::start(
        &pki.server_cert(&["localhost"]),
        ProxyOptions {
            auth: Some(("pu".into(), "pw".into())),
            ..ProxyOptions::default()
        },
    );
    let plain = echo_origin();
    let secure = tls_origin(&pki);
    let client = rt::builder()
        .add_root_certificate_pem(pki.ca_pem().as_bytes())
        .proxy(Proxy::all(&proxy.url("localhost", "pu:pw@")).unwrap())
        .build()
        .unwrap();
    let http = format!("http://plain.test:{}/p", plain.addr().port());
    assert_eq!(client.get(&http).send().unwrap().text().unwrap(), "/p");
    let https = format!("https://origin.test:{}/s", secure.addr().port());
    assert_eq!(client.get(&https).send().unwrap().text().unwrap(), "/s");
    // TLS to the proxy under its name; TLS to the origin inside the tunnel under its own.
    assert_eq!(
        proxy.sni(),
        [Some("localhost".to_owned()), Some("localhost".to_owned())]
    );
    assert_eq!(secure.stats().sni, [Some("origin.test".to_owned())]);
    let log = proxy.log();
    assert_eq!(log.requests.len(), 1);
    assert_eq!(log.requests[0].target, http);
    assert_eq!(log.tunnels.len(), 1);
    assert_eq!(
        log.tunnels[0].auth.as_deref(),
        Some(basic("pu", "pw").as_str())
    );

    rt::block_on(async {
        let client = rt::AsyncClient::builder()
            .add_root_certificate_pem(pki.ca_pem().as_bytes())
            .proxy(Proxy::all(&proxy.url("localhost", "pu:pw@")).unwrap())
            .build()
            .unwrap();
        let response = client.get(&https).send().await.unwrap();
        assert_eq!(response.text().await.unwrap(), "/s");
    });

    // A proxy whose certificate the client does not trust is a TLS error.
    let untrusting = rt::builder()
        .proxy(Proxy::all(&proxy.url("localhost", "")).unwrap())
        .build()
        .unwrap();
    let err = untrusting.get(&http).send().unwrap_err();
    assert!(err.is_tls(), "{err:?}");
}

#[test]
fn connections_with_other_proxy_credentials_are_not_shared() {
    let origin = echo_origin();
    let proxy = ForwardProxy::start();
    let (as_a, as_b) = (
        Url::parse(&proxy.url("http", "ua:pa@")).unwrap(),
        Url::parse(&proxy.url("http", "ub:pb@")).unwrap(),
    );
    let client = rt::builder()
        .proxy(Proxy::custom(move |url: &Url| {
            Some(if url.path().starts_with("/a") {
                as_a.clone()
            } else {
                as_b.clone()
            })
        }))
        .build()
        .unwrap();
    for path in ["/a1", "/b1", "/a2", "/b2"] {
        assert_eq!(
            client.get(origin.url(path)).send().unwrap().text().unwrap(),
            path
        );
    }
    let log = proxy.log();
    assert_eq!(log.accepted, 2, "one connection per user");
    for request in &log.requests {
        let user = if request.target.contains("/a") {
            ("ua", "pa")
        } else {
            ("ub", "pb")
        };
        assert_eq!(
            request.header("proxy-authorization"),
            Some(basic(user.0, user.1).as_str()),
            "{}",
            request.target
        );
    }
}
