//! HTTPS against rustls servers on 127.0.0.1 whose certificates are made in the test
//! (`TestPki`): a valid chain through one-off requests and both scopes, keep-alive reuse,
//! SNI and ALPN on the wire, and each way verification fails (wrong host name, unknown
//! CA, expired certificate, mutual TLS without a client certificate, a handshake cut
//! short), each a TLS error that names its cause.

use std::error::Error as _;
use std::io::Read;
use std::time::Duration;

use futures_lite::StreamExt;

use crate::rt;
use crate::support::{ScriptedServer, TestPki, TlsServer, TlsStats, WAIT};

/// A client that trusts `pki`'s CA.
fn trusting(pki: &TestPki) -> par_http::Client {
    rt::builder()
        .add_root_certificate_pem(pki.ca_pem().as_bytes())
        .build()
        .expect("a client trusting the test CA")
}

/// A server for `localhost` and 127.0.0.1, issued by `pki`.
fn localhost_server(pki: &TestPki) -> TlsServer {
    TlsServer::start(&pki.server_cert(&["localhost", "127.0.0.1"]))
}

/// The rustls error behind a TLS error, as its `source()`.
fn rustls_cause(err: &par_http::Error) -> &rustls::Error {
    err.source()
        .and_then(|source| source.downcast_ref::<rustls::Error>())
        .unwrap_or_else(|| panic!("no rustls error behind {err:?}"))
}

/// Asserts that `err` is a TLS error for `url` whose rustls cause is an invalid
/// certificate whose debug form names `what`.
fn assert_invalid_certificate(err: &par_http::Error, url: &str, what: &str) {
    assert!(err.is_tls(), "{} expected a tls error: {err:?}", rt::NAME);
    assert!(!err.is_connect(), "{err:?}");
    assert_eq!(err.url(), Some(url));
    let text = err.to_string();
    assert!(text.starts_with("tls handshake failed: "), "{text}");
    let cause = rustls_cause(err);
    assert!(
        matches!(cause, rustls::Error::InvalidCertificate(_)),
        "{cause:?}"
    );
    assert!(
        format!("{cause:?}").contains(what),
        "{cause:?} should name {what}"
    );
}

/// Waits, without blocking the runtime, until the server's gauges satisfy `cond`.
async fn eventually(server: &TlsServer, cond: impl Fn(&TlsStats) -> bool) -> bool {
    super::eventually(|| server.stats(), cond).await
}

#[test]
fn a_valid_chain_serves_a_one_off_request_with_sni_alpn_and_host() {
    let pki = TestPki::new("par-http test ca");
    let server = localhost_server(&pki);
    let client = trusting(&pki);
    let url = server.url("/hello?x=1");
    let response = client.get(&url).send().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.url().scheme(), "https");
    assert_eq!(response.text().unwrap(), "/hello?x=1");
    let stats = server.stats();
    assert_eq!(stats.handshakes, 1, "{stats:?}");
    assert_eq!(stats.sni, [Some("localhost".to_owned())]);
    assert_eq!(stats.alpn, [Some("http/1.1".to_owned())]);
    assert_eq!(stats.client_certs, [false]);
    assert_eq!(stats.hosts, [format!("localhost:{}", server.addr().port())]);
}

#[test]
fn a_certificate_for_an_ip_address_is_verified_without_sni() {
    let pki = TestPki::new("par-http test ca");
    let server = TlsServer::start(&pki.server_cert(&["127.0.0.1"]));
    let client = trusting(&pki);
    let response = client.get(server.ip_url("/by-ip")).send().unwrap();
    assert_eq!(response.text().unwrap(), "/by-ip");
    let stats = server.stats();
    // An IP address is never sent as SNI (RFC 6066 §3).
    assert_eq!(stats.sni, [None]);
    assert_eq!(stats.hosts, [server.addr().to_string()]);
}

#[test]
fn only_the_added_roots_are_trusted_without_the_built_in_ones() {
    let pki = TestPki::new("par-http test ca");
    let server = localhost_server(&pki);
    let client = rt::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate_pem(pki.ca_pem().as_bytes())
        .build()
        .unwrap();
    let response = client.get(server.url("/only-mine")).send().unwrap();
    assert_eq!(response.text().unwrap(), "/only-mine");
}

#[test]
fn the_blocking_scope_runs_requests_over_tls() {
    let pki = TestPki::new("par-http test ca");
    let server = localhost_server(&pki);
    let client = trusting(&pki);
    let mut bodies = client
        .parallel(|p| {
            for n in 0..8 {
                p.get(server.url(&format!("/n/{n}")));
            }
            let mut bodies = Vec::new();
            while p.has_pending_responses() {
                bodies.push(p.next_response()?.text()?);
            }
            Ok(bodies)
        })
        .unwrap();
    bodies.sort();
    let expected: Vec<String> = (0..8).map(|n| format!("/n/{n}")).collect();
    assert_eq!(bodies, expected);
    let stats = server.stats();
    assert_eq!(stats.requests, 8, "{stats:?}");
    assert!(stats.alpn.iter().all(|p| p.as_deref() == Some("http/1.1")));
}

#[test]
fn the_async_scope_runs_requests_over_tls() {
    let pki = TestPki::new("par-http test ca");
    let server = localhost_server(&pki);
    let ca = pki.ca_pem();
    rt::block_on(async {
        let client = rt::AsyncClient::builder()
            .add_root_certificate_pem(ca.as_bytes())
            .build()
            .unwrap();
        let mut parallel = client.parallel();
        let first = parallel.get(server.url("/first")).await;
        for n in 0..5 {
            parallel.get(server.url(&format!("/more/{n}"))).await;
        }
        let response = first.get_response().await.unwrap();
        assert_eq!(response.text().await.unwrap(), "/first");
        let mut more = Vec::new();
        while let Some(outcome) = parallel.next().await {
            more.push(outcome.unwrap().text().await.unwrap());
        }
        more.sort();
        assert_eq!(
            more,
            ["/more/0", "/more/1", "/more/2", "/more/3", "/more/4"]
        );
    });
    assert_eq!(server.stats().requests, 6);
}

#[test]
fn sequential_requests_reuse_one_tls_connection() {
    let pki = TestPki::new("par-http test ca");
    let server = localhost_server(&pki);
    let client = trusting(&pki);
    for n in 0..3 {
        let body = client
            .get(server.url(&format!("/seq/{n}")))
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert_eq!(body, format!("/seq/{n}"));
    }
    let stats = server.stats();
    assert_eq!(stats.requests, 3, "{stats:?}");
    assert_eq!(
        stats.accepted, 1,
        "one connection for sequential requests: {stats:?}"
    );
    assert_eq!(stats.handshakes, 1, "{stats:?}");
}

#[test]
fn a_certificate_for_another_host_name_is_a_tls_error_in_a_scope() {
    let pki = TestPki::new("par-http test ca");
    let server = TlsServer::start(&pki.server_cert(&["other.test"]));
    let client = trusting(&pki);
    let url = server.url("/wrong-name");
    let err = client
        .parallel(|p| {
            let pending = p.get(&url);
            Ok(pending.get_response().unwrap_err())
        })
        .unwrap();
    assert_invalid_certificate(&err, &url, "NotValidForName");
    assert!(server.wait_until(|s| s.handshake_failures == 1, WAIT));
    assert_eq!(server.stats().requests, 0);
}

#[test]
fn a_certificate_from_an_unknown_ca_is_a_tls_error() {
    let pki = TestPki::new("par-http test ca");
    let stranger = TestPki::new("somebody else's ca");
    let server = localhost_server(&stranger);
    let url = server.url("/unknown-ca");
    // Neither a client trusting another CA nor the built-in roots accept it.
    let err = trusting(&pki).get(&url).send().unwrap_err();
    assert_invalid_certificate(&err, &url, "UnknownIssuer");
    let err = rt::client().get(&url).send().unwrap_err();
    assert_invalid_certificate(&err, &url, "UnknownIssuer");
    assert_eq!(server.stats().requests, 0);
}

#[test]
fn an_expired_certificate_is_a_tls_error() {
    let pki = TestPki::new("par-http test ca");
    let server = TlsServer::start(&pki.expired_server_cert(&["localhost"]));
    let url = server.url("/expired");
    let err = trusting(&pki).get(&url).send().unwrap_err();
    assert_invalid_certificate(&err, &url, "Expired");
}

#[test]
fn danger_accept_invalid_certs_accepts_an_unknown_ca_and_is_off_by_default() {
    let stranger = TestPki::new("somebody else's ca");
    let server = TlsServer::start(&stranger.expired_server_cert(&["other.test"]));
    let url = server.url("/anything-goes");
    assert!(rt::client().get(&url).send().unwrap_err().is_tls());
    let client = rt::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let body = client
        .parallel(|p| {
            let pending = p.get(&url);
            pending.get_response()?.text()
        })
        .unwrap();
    assert_eq!(body, "/anything-goes");
    assert_eq!(
        server.stats().alpn.last(),
        Some(&Some("http/1.1".to_owned()))
    );
}

#[test]
fn mutual_tls_sends_the_identity_and_fails_without_it() {
    let pki = TestPki::new("par-http test ca");
    let clients = TestPki::new("par-http client ca");
    let server =
        TlsServer::with_client_auth(&pki.server_cert(&["localhost"]), Some(&clients.ca_pem()));
    let url = server.url("/mtls");

    let err = trusting(&pki).get(&url).send().unwrap_err();
    assert!(err.is_tls(), "{err:?}");
    assert_eq!(err.url(), Some(url.as_str()));
    assert!(err.source().is_some(), "{err:?}");
    assert!(server.wait_until(|s| s.handshake_failures == 1, WAIT));
    assert_eq!(server.stats().requests, 0);

    let identity = clients.client_cert("client.test");
    let client = rt::builder()
        .add_root_certificate_pem(pki.ca_pem().as_bytes())
        .identity_pem(identity.cert_pem.as_bytes(), identity.key_pem.as_bytes())
        .build()
        .unwrap();
    let body = client
        .parallel(|p| {
            let one = p.get(server.url("/mtls/1"));
            let two = p.get(server.url("/mtls/2"));
            Ok((one.get_response()?.text()?, two.get_response()?.text()?))
        })
        .unwrap();
    assert_eq!(body, ("/mtls/1".to_owned(), "/mtls/2".to_owned()));
    let stats = server.stats();
    assert!(!stats.client_certs.is_empty());
    assert!(
        stats.client_certs.iter().all(|presented| *presented),
        "{stats:?}"
    );
}

#[test]
fn an_identity_from_another_ca_is_refused_by_the_server() {
    let pki = TestPki::new("par-http test ca");
    let clients = TestPki::new("par-http client ca");
    let server =
        TlsServer::with_client_auth(&pki.server_cert(&["localhost"]), Some(&clients.ca_pem()));
    let impostor = pki.client_cert("impostor.test");
    let client = rt::builder()
        .add_root_certificate_pem(pki.ca_pem().as_bytes())
        .identity_pem(impostor.cert_pem.as_bytes(), impostor.key_pem.as_bytes())
        .build()
        .unwrap();
    let err = client.get(server.url("/mtls")).send().unwrap_err();
    assert!(err.is_tls(), "{err:?}");
    assert_eq!(server.stats().requests, 0);
}

#[test]
fn invalid_pem_and_mismatched_keys_are_build_errors() {
    let err = rt::builder()
        .add_root_certificate_pem(b"not a certificate")
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), &par_http::ErrorKind::TlsConfig);
    assert!(err.to_string().contains("root certificate"), "{err}");

    let pki = TestPki::new("par-http test ca");
    let one = pki.client_cert("one.test");
    let two = pki.client_cert("two.test");
    let err = rt::builder()
        .identity_pem(one.cert_pem.as_bytes(), two.key_pem.as_bytes())
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), &par_http::ErrorKind::TlsConfig);
    let err = rt::builder()
        .identity_pem(one.cert_pem.as_bytes(), b"no key here")
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), &par_http::ErrorKind::TlsConfig);
    assert!(err.to_string().contains("private key"), "{err}");
}

#[test]
fn a_server_that_resets_during_the_handshake_is_an_error_not_a_hang() {
    // Reads one byte of the ClientHello, then closes with the rest unread: a reset.
    let server = ScriptedServer::new(|conn| {
        let mut byte = [0u8; 1];
        let _ = conn.stream().read(&mut byte);
    });
    let client = rt::builder().connect_timeout(WAIT).build().unwrap();
    let url = format!("https://localhost:{}/reset", server.addr().port());
    let err = client
        .parallel(|p| Ok(p.get(&url).get_response().unwrap_err()))
        .unwrap();
    assert!(err.is_tls() || err.is_connect(), "{err:?}");
    assert!(!err.is_timeout(), "{err:?}");
    assert_eq!(err.url(), Some(url.as_str()));
}

#[test]
fn a_server_that_closes_during_the_handshake_is_a_tls_error() {
    // Reads part of the ClientHello, then closes gracefully: the client sees end of stream.
    let server = ScriptedServer::new(|conn| {
        let mut byte = [0u8; 1];
        let _ = conn.stream().read(&mut byte);
        conn.close();
    });
    let client = rt::builder().connect_timeout(WAIT).build().unwrap();
    let url = format!("https://127.0.0.1:{}/eof", server.addr().port());
    let err = client.get(&url).send().unwrap_err();
    assert!(err.is_tls(), "{err:?}");
    assert!(err.source().is_some(), "{err:?}");
}

#[test]
fn the_connect_timeout_covers_a_handshake_that_never_ends() {
    let server = ScriptedServer::new(|conn| {
        conn.wait_for_close(WAIT);
    });
    let client = rt::builder()
        .connect_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let url = format!("https://127.0.0.1:{}/silent", server.addr().port());
    let err = client.get(&url).send().unwrap_err();
    assert_eq!(
        err.timeout_phase(),
        Some(par_http::TimeoutPhase::Connect),
        "{err:?}"
    );
}

#[test]
fn the_async_client_reports_tls_errors_and_reuses_tls_connections() {
    let pki = TestPki::new("par-http test ca");
    let stranger = TestPki::new("somebody else's ca");
    let good = localhost_server(&pki);
    let bad = localhost_server(&stranger);
    let ca = pki.ca_pem();
    rt::block_on_multi_thread(async {
        let client = rt::AsyncClient::builder()
            .add_root_certificate_pem(ca.as_bytes())
            .build()
            .unwrap();
        let parallel = client.parallel();
        let refused = parallel.get(bad.url("/bad")).await;
        let err = refused.get_response().await.unwrap_err();
        assert!(err.is_tls(), "{err:?}");
        assert!(matches!(
            rustls_cause(&err),
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
        ));
        for n in 0..3 {
            let pending = parallel.get(good.url(&format!("/again/{n}"))).await;
            let body = pending.get_response().await.unwrap().text().await.unwrap();
            assert_eq!(body, format!("/again/{n}"));
        }
        assert!(eventually(&good, |s| s.requests == 3).await);
    });
    let stats = good.stats();
    assert_eq!(stats.accepted, 1, "{stats:?}");
    assert_eq!(stats.handshakes, 1, "{stats:?}");
}
