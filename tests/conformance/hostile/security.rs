//! Security: a request that would smuggle a header through a user-supplied value is refused
//! before anything is sent (RFC 9110 §5.5: CR, LF and NUL are never valid in a field);
//! credentials never follow a redirect to another origin (RFC 9110 §15.4, as curl and
//! reqwest drop them); an https to http redirect is refused; and a decompression bomb
//! stops at the configured size.

use super::Kind::{Decompress, InvalidRequest, Redirect};
use super::{Case, Serve, Settings, check, err, ok};
use crate::support::ScriptedServer;

/// A request to a server that would answer `ok`, with one extra header field.
fn with_header(name: &[u8], value: &[u8]) -> Case {
    Case::reply(crate::support::ok("fine"))
        .header(name, value)
        .nothing_sent()
}

/// No request the server read has a header field named `Injected`, and no target holds a
/// CR, LF, NUL or space.
fn no_injected_line(server: &ScriptedServer) {
    let log = server.request_log();
    assert!(!log.is_empty());
    for request in log {
        assert_eq!(
            request.header("injected"),
            None,
            "a header was injected: {request:?}"
        );
        assert!(
            !request.target.contains(['\r', '\n', ' ', '\0']),
            "{request:?}"
        );
    }
}

hostile! {
    crlf_in_a_header_value: with_header(b"x-user", b"a\r\nInjected: 1") => err(InvalidRequest);
    lf_in_a_header_value: with_header(b"x-user", b"a\nInjected: 1") => err(InvalidRequest);
    cr_in_a_header_value: with_header(b"x-user", b"a\rInjected: 1") => err(InvalidRequest);
    nul_in_a_header_value: with_header(b"x-user", b"a\0b") => err(InvalidRequest);
    crlf_crlf_in_a_header_value:
        with_header(b"x-user", b"a\r\n\r\nGET /smuggled HTTP/1.1\r\nInjected: 1") => err(InvalidRequest);
    crlf_in_a_header_name: with_header(b"x-user\r\nInjected", b"1") => err(InvalidRequest);
    colon_in_a_header_name: with_header(b"x-user:Injected", b"1") => err(InvalidRequest);
    space_in_a_header_name: with_header(b"x user", b"1") => err(InvalidRequest);
    empty_header_name: with_header(b"", b"1") => err(InvalidRequest);
    // The URL parser (WHATWG) drops CR, LF and TAB from its input and percent-encodes
    // spaces: what reaches the request line is one harmless target.
    crlf_in_the_url_path:
        Case::reply(crate::support::ok("fine")).path("/a\r\nInjected: 1").after(no_injected_line)
        => ok("fine");
    crlf_in_the_url_query:
        Case::reply(crate::support::ok("fine")).path("/a?q=1\r\nInjected: 1").after(no_injected_line)
        => ok("fine");
}

#[test]
fn a_default_header_with_crlf_is_refused_when_the_client_is_built() {
    let err = crate::rt::builder()
        .default_header("x-team", "a\r\nInjected: 1")
        .build()
        .unwrap_err();
    assert!(err.is_invalid_request(), "{err:?}");
}

// --- Redirects: credentials stay with their origin; https never falls back to http ------

/// A server that answers every request with a `302` to `location`, then closes.
fn redirecting_to(location: String) -> Serve {
    Serve::script(move |conn| {
        if conn.read_request().is_some() {
            conn.write_all(
                format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n")
                    .as_bytes(),
            );
            conn.close();
        }
    })
}

/// The request carries every kind of credential a user may set by hand.
fn with_credentials(case: Case) -> Case {
    case.header("authorization", "Bearer per-request-secret")
        .header("cookie", "session=per-request-secret")
        .header("proxy-authorization", "Basic cGVyLXJlcXVlc3Q6c2VjcmV0")
}

/// No request that `server` read carries a credential.
fn assert_no_credentials(server: &ScriptedServer, expected_requests: usize) {
    let log = server.request_log();
    assert_eq!(log.len(), expected_requests, "{log:?}");
    for request in log {
        for name in ["authorization", "cookie", "proxy-authorization"] {
            assert_eq!(
                request.header(name),
                None,
                "{name} reached another origin: {request:?}"
            );
        }
    }
}

#[test]
fn credentials_are_not_sent_to_another_port_on_redirect() {
    let other = ScriptedServer::always(crate::support::ok("landed"));
    let case = with_credentials(Case::new(redirecting_to(other.url("/landed"))));
    check("credentials_to_another_port", case, ok("landed"));
    assert_no_credentials(&other, 3);
}

#[test]
fn credentials_are_not_sent_to_another_host_on_redirect() {
    let other = ScriptedServer::always(crate::support::ok("landed"));
    let location = format!("http://localhost:{}/landed", other.addr().port());
    let case = with_credentials(Case::new(redirecting_to(location)));
    check("credentials_to_another_host", case, ok("landed"));
    assert_no_credentials(&other, 3);
}

#[test]
fn client_credentials_are_not_sent_to_another_origin_on_redirect() {
    let other = ScriptedServer::always(crate::support::ok("landed"));
    let settings = Settings {
        bearer_auth: Some("client-secret".to_owned()),
        ..Settings::default()
    };
    let case = Case::new(redirecting_to(other.url("/landed"))).settings(settings);
    check("client_credentials_to_another_origin", case, ok("landed"));
    assert_no_credentials(&other, 3);
}

#[test]
fn credentials_stay_on_a_same_origin_redirect() {
    // The other half of the rule (so that the tests above can fail): curl and reqwest keep
    // credentials on a redirect to the same origin.
    let server = ScriptedServer::new(|conn| {
        while let Some(request) = conn.read_request() {
            let reply = if request.path() == "/case" {
                b"HTTP/1.1 302 Found\r\nLocation: /landed\r\nContent-Length: 0\r\n\r\n".to_vec()
            } else {
                crate::support::ok(request.header("authorization").unwrap_or("none"))
            };
            conn.write_all(&reply);
        }
    });
    let case = Case::new(Serve::ClosedPort)
        .url(server.url("/case"))
        .header("authorization", "Bearer kept");
    check(
        "credentials_stay_on_the_same_origin",
        case,
        ok("Bearer kept"),
    );
}

/// An HTTPS server on 127.0.0.1 (certificate for `localhost`) that answers every request
/// with `reply`, one thread per connection, until dropped.
struct TlsReplier {
    addr: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl TlsReplier {
    fn start(leaf: &crate::support::CertKey, reply: Vec<u8>) -> Self {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        use std::sync::atomic::Ordering;

        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(leaf.cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let config = std::sync::Arc::new(config);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let accept = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                let Ok((tcp, _)) = listener.accept() else {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    continue;
                };
                let (config, reply) = (config.clone(), reply.clone());
                std::thread::spawn(move || {
                    let _ = tcp.set_nonblocking(false);
                    let _ = tcp.set_read_timeout(Some(crate::support::WAIT));
                    let Ok(tls) = rustls::ServerConnection::new(config) else {
                        return;
                    };
                    let mut stream = rustls::StreamOwned::new(tls, tcp);
                    let mut buf = Vec::new();
                    if let Ok(Some(_)) = crate::support::read_request(&mut stream, &mut buf) {
                        let _ = std::io::Write::write_all(&mut stream, &reply);
                        stream.conn.send_close_notify();
                        let _ = std::io::Write::flush(&mut stream);
                    }
                });
            }
        });
        Self {
            addr,
            stop,
            accept: Some(accept),
        }
    }
}

impl Drop for TlsReplier {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

#[test]
fn an_https_to_http_redirect_is_refused() {
    // RFC 9110 §15.4 leaves it to the client; a downgrade would send the rest of the
    // exchange (and the request's credentials) in clear text: refused, as curl refuses
    // protocol changes it was not allowed, and nothing reaches the http server.
    let plain = ScriptedServer::always(crate::support::ok("in clear text"));
    let pki = crate::support::TestPki::new("hostile ca");
    let location = plain.url("/plain");
    let secure = TlsReplier::start(
        &pki.server_cert(&["localhost"]),
        format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n")
            .into_bytes(),
    );
    let settings = Settings {
        root_pem: Some(pki.ca_pem()),
        bearer_auth: Some("client-secret".to_owned()),
        ..Settings::default()
    };
    let url = format!("https://localhost:{}/secure", secure.addr.port());
    let case = Case::new(Serve::ClosedPort).url(url).settings(settings);
    check("an_https_to_http_redirect_is_refused", case, err(Redirect));
    assert_eq!(plain.accepted(), 0, "{:?}", plain.request_log());
}

// --- Decompression bombs -----------------------------------------------------------------

/// `len` zero bytes, gzip-compressed (about a thousandth of that).
fn gzip_zeros(len: usize) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len());
        encoder.write_all(&block[..n]).unwrap();
        left -= n;
    }
    encoder.finish().unwrap()
}

/// A `200` with `Content-Encoding: gzip` and `body` as sent.
fn gzip_response(body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// A client that allows 1 MiB once decompressed.
fn one_mib() -> Settings {
    Settings {
        max_decompressed_bytes: Some(1 << 20),
        ..Settings::default()
    }
}

hostile! {
    // 16 MiB of zeros in about 16 KiB (a ratio of 1000 to 1; a real bomb goes on for
    // gigabytes, but the decoder stops at the limit whatever follows): the limit stops the
    // decoder after 1 MiB.
    a_gzip_bomb_hits_the_decompressed_size_limit:
        Case::reply(gzip_response(&gzip_zeros(16 << 20))).settings(one_mib()) => err(Decompress);
    // The limit is about the decoded size: a body just under it is delivered whole.
    a_gzip_body_under_the_limit_is_decoded:
        Case::reply(gzip_response(&gzip_zeros(1000))).settings(one_mib())
        => ok(vec![0u8; 1000]);
    a_corrupt_gzip_body: Case::reply(gzip_response(b"\x1f\x8b\x08\x00not gzip at all"))
        => err(Decompress);
}
