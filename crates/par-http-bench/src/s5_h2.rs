//! Scenario S5-h2: one HTTPS origin that speaks HTTP/2 and HTTP/1.1 (hyper behind rustls
//! with ALPN), 100 requests in flight: 1,000 GETs of a small body, then 64 × 1 MiB.
//!
//! ```text
//! cargo run --release -p par-http-bench -- s5-h2 [--quick] [--runs N]
//! ```
//!
//! The server runs on a thread of this process, with a tokio runtime of one worker; each
//! measurement runs in a fresh child process (`s5-h2-client`), so its CPU time and peak
//! memory are the client's own. The clients: par-http's blocking scope over HTTP/2 and
//! with `http1_only()`, reqwest with `http2`, and hyper's own HTTP/2 client connection
//! (one connection, a `SendRequest` clone per request), the last two on a multi-thread
//! tokio runtime with `buffer_unordered(100)`. The server counts the connections each
//! measurement opened. KiB per in-flight request is (peak RSS − RSS before the job) / 100.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Empty, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::BoxError;
use crate::measure;

/// Requests in flight at once.
const IN_FLIGHT: usize = 100;
/// The large body: 1 MiB.
const MIB: usize = 1024 * 1024;

/// The clients of S5-h2, by command-line name.
const CLIENTS: [&str; 4] = ["par-http-h2", "par-http-h1", "reqwest-h2", "hyper-h2"];

/// One job: `n` GETs of `path`, whose bodies sum to `n * body_len`.
struct Job {
    name: &'static str,
    path: &'static str,
    n: usize,
    body_len: usize,
}

/// One measurement, as the child reports it, with the connections the server counted.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    wall: Duration,
    cpu: Duration,
    kib_per_request: f64,
    connections: usize,
}

/// `s5-h2 [--quick] [--runs N]`: every client on both jobs, then the table.
pub(crate) fn run(args: &[String]) -> Result<(), BoxError> {
    let quick = args.iter().any(|arg| arg == "--quick");
    let mut runs = if quick { 1 } else { 3 };
    if let Some(at) = args.iter().position(|arg| arg == "--runs") {
        runs = args.get(at + 1).ok_or("--runs needs a value")?.parse()?;
    }
    let jobs = [
        Job {
            name: "13 B",
            path: "/small",
            n: if quick { 300 } else { 1000 },
            body_len: 13,
        },
        Job {
            name: "1 MiB",
            path: "/mib",
            n: 64,
            body_len: MIB,
        },
    ];
    let (ca_pem, cert_pem, key_pem) = pki()?;
    let dir = std::env::temp_dir().join(format!("par-http-bench-s5-h2-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, &ca_pem)?;
    let server = Server::start(&cert_pem, &key_pem)?;
    let mut out = std::io::stdout();
    writeln!(
        out,
        "S5-h2: one HTTPS origin (hyper, ALPN h2 + http/1.1), {IN_FLIGHT} in flight, median of {runs}"
    )?;
    let mut table = Vec::new();
    for job in &jobs {
        for client in CLIENTS {
            let mut samples = Vec::new();
            for _ in 0..runs {
                samples.push(measure_one(&server, &ca_path, client, job)?);
            }
            samples.sort_by_key(|sample| sample.wall);
            let median = samples.get(samples.len() / 2).copied().unwrap_or_default();
            let per_second = job.n as f64 / median.wall.as_secs_f64().max(1e-9);
            writeln!(
                out,
                "  {:>5} × {:<8} {:<12} {:>9.0} req/s  wall {:>7.1} ms  cpu {:>7.1} ms  {:>7.1} KiB/in-flight  {} connection(s)",
                job.n,
                job.name,
                client,
                per_second,
                median.wall.as_secs_f64() * 1000.0,
                median.cpu.as_secs_f64() * 1000.0,
                median.kib_per_request,
                median.connections,
            )?;
            table.push((job.path, client, per_second, median));
        }
    }
    let find = |path: &str, client: &str| {
        table
            .iter()
            .find(|(p, c, _, _)| *p == path && *c == client)
            .map(|(_, _, rate, sample)| (*rate, *sample))
    };
    if let (Some((ours, ours_sample)), Some((theirs, _))) =
        (find("/small", "par-http-h2"), find("/small", "reqwest-h2"))
    {
        writeln!(
            out,
            "target: par-http h2 at least 1.1x reqwest h2 (small bodies): {:.2}x {}; one connection: {}",
            ours / theirs,
            if ours >= 1.1 * theirs {
                "met"
            } else {
                "NOT met"
            },
            if ours_sample.connections == 1 {
                "met"
            } else {
                "NOT met"
            },
        )?;
    }
    for path in ["/small", "/mib"] {
        if let (Some((_, h2)), Some((_, h1))) =
            (find(path, "par-http-h2"), find(path, "par-http-h1"))
        {
            writeln!(
                out,
                "target: KiB per in-flight request over h2 <= h1 ({path}): {:.1} vs {:.1} {}",
                h2.kib_per_request,
                h1.kib_per_request,
                if h2.kib_per_request <= h1.kib_per_request {
                    "met"
                } else {
                    "NOT met"
                },
            )?;
        }
    }
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

/// Runs `client` on `job` in a fresh child process.
fn measure_one(server: &Server, ca: &Path, client: &str, job: &Job) -> Result<Sample, BoxError> {
    let before = server.accepted.load(Ordering::SeqCst);
    let output = Command::new(std::env::current_exe()?)
        .arg("s5-h2-client")
        .args(["--client", client])
        .args(["--port", &server.addr.port().to_string()])
        .args(["--ca", &ca.display().to_string()])
        .args(["--path", job.path])
        .args(["--n", &job.n.to_string()])
        .args(["--body-len", &job.body_len.to_string()])
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "{client} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into());
    }
    let stdout = String::from_utf8(output.stdout)?;
    let line = stdout
        .lines()
        .find(|line| line.starts_with("result "))
        .ok_or_else(|| format!("{client}: no result line in {stdout:?}"))?;
    let field = |name: &str| -> Result<u64, BoxError> {
        let value = line
            .split_whitespace()
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .ok_or_else(|| format!("{client}: no {name} in {line:?}"))?;
        Ok(value.parse()?)
    };
    let growth = field("peak_kib")?.saturating_sub(field("base_kib")?);
    Ok(Sample {
        wall: Duration::from_micros(field("wall_us")?),
        cpu: Duration::from_micros(field("cpu_us")?),
        kib_per_request: growth as f64 / IN_FLIGHT as f64,
        connections: server.accepted.load(Ordering::SeqCst) - before,
    })
}

/// `s5-h2-client --client NAME --port P --ca FILE --path PATH --n N --body-len L`: one
/// measurement in this fresh process, printed as one `result` line.
pub(crate) fn child(args: &[String]) -> Result<(), BoxError> {
    let value = |flag: &str| -> Result<&String, BoxError> {
        let at = args
            .iter()
            .position(|arg| arg == flag)
            .ok_or_else(|| format!("{flag} is needed"))?;
        Ok(args
            .get(at + 1)
            .ok_or_else(|| format!("{flag} needs a value"))?)
    };
    let client = value("--client")?.as_str();
    let port: u16 = value("--port")?.parse()?;
    let ca = std::fs::read(value("--ca")?)?;
    let path = value("--path")?;
    let n: usize = value("--n")?.parse()?;
    let body_len: u64 = value("--body-len")?.parse()?;
    let url = format!("https://localhost:{port}{path}");
    let base_kib = measure::rss_kib()?;
    let (cpu_before, started) = (measure::cpu_time()?, Instant::now());
    let bytes = match client {
        "par-http-h2" => par_http_scope(&ca, false, &url, n)?,
        "par-http-h1" => par_http_scope(&ca, true, &url, n)?,
        "reqwest-h2" => reqwest_h2(&ca, &url, n)?,
        "hyper-h2" => hyper_h2(&ca, port, &url, n)?,
        other => return Err(format!("unknown S5-h2 client {other}").into()),
    };
    let (wall, cpu) = (started.elapsed(), measure::cpu_time()? - cpu_before);
    let peak_kib = measure::peak_rss_kib()?;
    if bytes != n as u64 * body_len {
        return Err(format!(
            "{client}: read {bytes} bytes, expected {}",
            n as u64 * body_len
        )
        .into());
    }
    let mut out = std::io::stdout();
    writeln!(
        out,
        "result wall_us={} cpu_us={} peak_kib={peak_kib} base_kib={base_kib}",
        wall.as_micros(),
        cpu.as_micros()
    )?;
    out.flush()?;
    Ok(())
}

/// par-http's blocking scope: every request started at once, 100 in flight, the bodies
/// read in completion order.
fn par_http_scope(ca: &[u8], http1: bool, url: &str, n: usize) -> Result<u64, BoxError> {
    let mut builder = par_http::Client::builder().add_root_certificate_pem(ca);
    if http1 {
        builder = builder.http1_only();
    }
    let client = builder.build()?;
    let config = par_http::ParallelConfig::new().max_in_flight(IN_FLIGHT);
    let total = client.parallel_with(config, |p| {
        for _ in 0..n {
            p.get(url);
        }
        let mut total = 0_u64;
        while p.has_pending_responses() {
            total += p.next_response()?.bytes()?.len() as u64;
        }
        Ok(total)
    })?;
    Ok(total)
}

/// A rustls client configuration trusting `ca`, offering `h2` and `http/1.1`.
fn client_tls(ca: &[u8]) -> Result<rustls::ClientConfig, BoxError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca) {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// reqwest with `http2`, `buffer_unordered(100)` on a multi-thread tokio runtime.
fn reqwest_h2(ca: &[u8], url: &str, n: usize) -> Result<u64, BoxError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(client_tls(ca)?)
        .build()?;
    runtime.block_on(async {
        let sizes = futures_util::stream::iter(0..n)
            .map(|_| {
                let client = client.clone();
                async move {
                    let response = client.get(url).send().await?;
                    if response.version() != reqwest::Version::HTTP_2 {
                        return Err::<u64, BoxError>("reqwest did not speak HTTP/2".into());
                    }
                    Ok(response.bytes().await?.len() as u64)
                }
            })
            .buffer_unordered(IN_FLIGHT)
            .collect::<Vec<_>>()
            .await;
        sizes.into_iter().sum()
    })
}

/// hyper's HTTP/2 client connection: one TLS connection, a `SendRequest` clone per
/// request, `buffer_unordered(100)` on a multi-thread tokio runtime.
fn hyper_h2(ca: &[u8], port: u16, url: &str, n: usize) -> Result<u64, BoxError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_tls(ca)?));
    let uri: hyper::Uri = url.parse()?;
    runtime.block_on(async {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        tcp.set_nodelay(true)?;
        let tls = connector
            .connect(ServerName::try_from("localhost")?, tcp)
            .await?;
        let (sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls)).await?;
        let driver = tokio::spawn(connection);
        let sizes = futures_util::stream::iter(0..n)
            .map(|_| {
                let mut sender = sender.clone();
                let uri = uri.clone();
                async move {
                    let request = Request::get(uri).body(Empty::<Bytes>::new())?;
                    let response = sender.send_request(request).await?;
                    let body = response.into_body().collect().await?.to_bytes();
                    Ok::<u64, BoxError>(body.len() as u64)
                }
            })
            .buffer_unordered(IN_FLIGHT)
            .collect::<Vec<_>>()
            .await;
        drop(sender);
        driver.abort();
        sizes.into_iter().sum()
    })
}

/// A CA, and a certificate for `localhost` it issued: (CA PEM, leaf PEM, leaf key PEM).
fn pki() -> Result<(String, String, String), BoxError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "par-http-bench CA");
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned()])?;
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let key = KeyPair::generate()?;
    let cert = leaf.signed_by(&key, &*ca)?;
    Ok((ca.pem(), cert.pem(), key.serialize_pem()))
}

/// The S5-h2 server: hyper behind rustls, ALPN `h2` then `http/1.1`, on a thread with a
/// one-worker tokio runtime. Routes: `/small` (13 bytes), `/mib` (1 MiB).
struct Server {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(cert_pem: &str, key_pem: &str) -> Result<Self, BoxError> {
        let chain =
            CertificateDer::pem_slice_iter(cert_pem.as_bytes()).collect::<Result<Vec<_>, _>>()?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let large = Bytes::from(vec![b'x'; MIB]);
        let thread = std::thread::Builder::new()
            .name("s5-h2-server".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let serve = async {
                        loop {
                            let Ok((tcp, _)) = listener.accept().await else {
                                continue;
                            };
                            counter.fetch_add(1, Ordering::SeqCst);
                            let _ = tcp.set_nodelay(true);
                            let acceptor = acceptor.clone();
                            let large = large.clone();
                            tokio::spawn(async move {
                                let Ok(tls) = acceptor.accept(tcp).await else {
                                    return;
                                };
                                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                                let service =
                                    service_fn(move |request: Request<hyper::body::Incoming>| {
                                        let body = match request.uri().path() {
                                            "/mib" => large.clone(),
                                            _ => Bytes::from_static(b"hello, world!"),
                                        };
                                        async move {
                                            Ok::<_, Infallible>(Response::new(Full::new(body)))
                                        }
                                    });
                                let io = TokioIo::new(tls);
                                if h2 {
                                    let mut builder = hyper::server::conn::http2::Builder::new(
                                        TokioExecutor::new(),
                                    );
                                    builder.max_concurrent_streams(250);
                                    let _ = builder.serve_connection(io, service).await;
                                } else {
                                    let _ = hyper::server::conn::http1::Builder::new()
                                        .keep_alive(true)
                                        .serve_connection(io, service)
                                        .await;
                                }
                            });
                        }
                    };
                    futures_util::future::select(Box::pin(stopped), Box::pin(serve)).await;
                });
            })?;
        Ok(Self {
            addr,
            accepted,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
