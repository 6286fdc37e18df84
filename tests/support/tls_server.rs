//! `TlsServer`: an HTTPS/1.1 server on `127.0.0.1:0` (rustls' blocking API over std::net,
//! one thread per connection), and `TestPki`: a CA made in the test with rcgen, that
//! issues the server and client certificates the TLS tests need.
//!
//! The server answers every request with `200` and the request target as the body, plus
//! `x-connection: K` (the 0-based accept index). Its gauges count connections, finished
//! and failed handshakes and requests, and keep what each handshake negotiated (SNI,
//! ALPN, whether a client certificate was presented) and the `Host` of each request, so
//! tests check the wire without a stopwatch. It runs on its own threads, whatever runtime
//! the client under test uses.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};

use super::WAIT;
use super::wire::{read_request, response};

/// How often the accept loop looks at its stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(5);

/// A certificate (chain) and its private key, in PEM.
#[derive(Debug, Clone)]
pub struct CertKey {
    /// The certificate, then the chain up to (not including) the root, in PEM.
    pub cert_pem: String,
    /// The private key (PKCS#8) in PEM.
    pub key_pem: String,
}

/// A certificate authority made for one test.
pub struct TestPki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl std::fmt::Debug for TestPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPki").finish_non_exhaustive()
    }
}

impl TestPki {
    /// A new CA named `name`, valid from 1975 to 4096 (rcgen's defaults).
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("ca key");
        let ca = CertifiedIssuer::self_signed(params, key).expect("self-signed ca");
        Self { ca }
    }

    /// The CA certificate in PEM: what a client adds as a root.
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// A server certificate for `names` (DNS names or IP addresses), valid now.
    pub fn server_cert(&self, names: &[&str]) -> CertKey {
        self.issue(names, ExtendedKeyUsagePurpose::ServerAuth, false)
    }

    /// A server certificate for `names` that expired in 2001.
    pub fn expired_server_cert(&self, names: &[&str]) -> CertKey {
        self.issue(names, ExtendedKeyUsagePurpose::ServerAuth, true)
    }

    /// A client certificate (for mutual TLS) named `name`.
    pub fn client_cert(&self, name: &str) -> CertKey {
        self.issue(&[name], ExtendedKeyUsagePurpose::ClientAuth, false)
    }

    fn issue(&self, names: &[&str], usage: ExtendedKeyUsagePurpose, expired: bool) -> CertKey {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("leaf params");
        if let Some(first) = names.first() {
            params
                .distinguished_name
                .push(DnType::CommonName, first.as_str());
        }
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &*self.ca).expect("signed leaf");
        CertKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// The gauges of a [`TlsServer`], as one consistent snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsStats {
    /// TCP connections accepted.
    pub accepted: usize,
    /// Handshakes that completed.
    pub handshakes: usize,
    /// Handshakes that failed (the client refused the certificate, or the server refused
    /// the client's).
    pub handshake_failures: usize,
    /// The error of each failed handshake, as rustls put it.
    pub failure_reasons: Vec<String>,
    /// The SNI name of each completed handshake (`None`: the client sent none).
    pub sni: Vec<Option<String>>,
    /// The ALPN protocol of each completed handshake.
    pub alpn: Vec<Option<String>>,
    /// Whether each completed handshake had a client certificate.
    pub client_certs: Vec<bool>,
    /// Requests answered.
    pub requests: usize,
    /// The `Host` header of each request.
    pub hosts: Vec<String>,
}

#[derive(Default)]
struct Shared {
    stats: Mutex<TlsStats>,
    changed: Condvar,
    stop: AtomicBool,
    live: Mutex<Vec<TcpStream>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, TlsStats> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, f: impl FnOnce(&mut TlsStats)) {
        f(&mut self.lock());
        self.changed.notify_all();
    }
}

/// An HTTPS server on `127.0.0.1:0` presenting one certificate chain.
///
/// Dropping it stops accepting and shuts down every live connection.
pub struct TlsServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl TlsServer {
    /// A server presenting `leaf` (ALPN `http/1.1`), asking no client certificate.
    pub fn start(leaf: &CertKey) -> Self {
        Self::with_client_auth(leaf, None)
    }

    /// A server presenting `leaf` that requires a client certificate issued by
    /// `client_ca_pem` when it is given.
    pub fn with_client_auth(leaf: &CertKey, client_ca_pem: Option<&str>) -> Self {
        let config = Arc::new(server_config(leaf, client_ca_pem));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared::default());
        let accept_shared = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name(format!("tls-accept-{}", addr.port()))
            .spawn(move || accept_loop(&listener, &config, &accept_shared))
            .expect("spawn accept thread");
        Self {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://localhost:PORT/path`: the name the test certificates are issued for.
    pub fn url(&self, path: &str) -> String {
        format!(
            "https://localhost:{}/{}",
            self.addr.port(),
            path.trim_start_matches('/')
        )
    }

    /// `https://127.0.0.1:PORT/path`: the server by IP address.
    pub fn ip_url(&self, path: &str) -> String {
        format!("https://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    /// A snapshot of the gauges.
    pub fn stats(&self) -> TlsStats {
        self.shared.lock().clone()
    }

    /// Waits until `cond` holds on the gauges, at most `timeout`; returns whether it does.
    pub fn wait_until(&self, cond: impl FnMut(&TlsStats) -> bool, timeout: Duration) -> bool {
        super::wait_on(
            self.shared.lock(),
            &self.shared.changed,
            cond,
            timeout,
            || false,
        )
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let live: Vec<TcpStream> = self
            .shared
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .collect();
        super::shut_down(&self.shared.stop, &live, self.accept.take());
    }
}

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServer")
            .field("addr", &self.addr)
            .field("stats", &self.stats())
            .finish()
    }
}

pub(super) fn server_config(leaf: &CertKey, client_ca_pem: Option<&str>) -> ServerConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(leaf.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .expect("server chain pem");
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).expect("server key pem");
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("protocol versions");
    let builder = match client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                roots.add(cert.expect("client ca pem")).expect("client ca");
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .expect("server certificate and key");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

fn accept_loop(listener: &TcpListener, config: &Arc<ServerConfig>, shared: &Arc<Shared>) {
    let mut index = 0;
    while !shared.stop.load(Ordering::SeqCst) {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(ACCEPT_POLL);
                continue;
            }
            Err(_) => continue,
        };
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_nodelay(true);
        // Every read is bounded, so no connection thread outlives a test by much.
        let _ = stream.set_read_timeout(Some(WAIT));
        let _ = stream.set_write_timeout(Some(WAIT));
        if let Ok(clone) = stream.try_clone() {
            shared
                .live
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(clone);
        }
        shared.update(|s| s.accepted += 1);
        let config = Arc::clone(config);
        let conn_shared = Arc::clone(shared);
        let _ = thread::Builder::new()
            .name(format!("tls-conn-{index}"))
            .spawn(move || serve(stream, config, &conn_shared, index));
        index += 1;
    }
}

fn serve(mut tcp: TcpStream, config: Arc<ServerConfig>, shared: &Shared, index: usize) {
    let Ok(mut tls) = ServerConnection::new(config) else {
        return;
    };
    while tls.is_handshaking() {
        if let Err(err) = tls.complete_io(&mut tcp) {
            // complete_io has sent the alert that names the failure; drain what the client
            // still sends so that the close is clean and the client reads that alert.
            shared.update(|s| {
                s.handshake_failures += 1;
                s.failure_reasons.push(err.to_string());
            });
            let _ = tcp.shutdown(Shutdown::Write);
            drain(&mut tcp);
            return;
        }
    }
    shared.update(|s| {
        s.handshakes += 1;
        s.sni.push(tls.server_name().map(str::to_owned));
        s.alpn.push(
            tls.alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
        );
        s.client_certs.push(tls.peer_certificates().is_some());
    });
    let mut stream = StreamOwned::new(tls, tcp);
    let mut buf = Vec::new();
    while !shared.stop.load(Ordering::SeqCst) {
        let request = match read_request(&mut stream, &mut buf) {
            Ok(Some(request)) => request,
            Ok(None) | Err(_) => break,
        };
        shared.update(|s| {
            s.requests += 1;
            s.hosts
                .push(request.header("host").unwrap_or_default().to_owned());
        });
        let connection = format!("x-connection: {index}");
        let reply = response(200, &[connection.as_str()], request.target.as_bytes());
        if stream
            .write_all(&reply)
            .and_then(|()| stream.flush())
            .is_err()
        {
            break;
        }
    }
    stream.conn.send_close_notify();
    let _ = stream.conn.complete_io(&mut stream.sock);
}

/// Reads and drops what the peer sends until it closes (bounded by the read timeout).
fn drain(tcp: &mut TcpStream) {
    let mut sink = [0u8; 4096];
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        match tcp.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
