//! `ForwardProxy`: a forward proxy on 127.0.0.1 for the proxy tests. It speaks plain HTTP
//! forwarding (absolute-form targets), `CONNECT` tunnels and SOCKS5 (RFC 1928, with RFC
//! 1929 username/password), optionally demands credentials, and records what it saw: every
//! forwarded request line and head, every tunnel and how its destination was named, and
//! the connections it accepted.
//!
//! Names ending in `.test` and `localhost` resolve to 127.0.0.1 here, at the proxy: a test
//! can use a name that only the proxy knows (so it proves who resolved it). Any other
//! name, and any address off the loopback, is refused: nothing leaves the machine.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::wire::{self, RawRequest};

/// How the proxy behaves.
#[derive(Debug, Clone, Default)]
pub struct ProxyOptions {
    /// Credentials it demands (Basic for HTTP, username/password for SOCKS5).
    pub auth: Option<(String, String)>,
    /// Close the connection right after reading a `CONNECT` request or a SOCKS5 greeting,
    /// without answering (a proxy that dies mid-handshake).
    pub close_mid_handshake: bool,
}

/// A tunnel the proxy was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelRecord {
    /// `"CONNECT"` or `"SOCKS5"`.
    pub kind: &'static str,
    /// The destination as the client named it, `host:port`.
    pub target: String,
    /// True when a SOCKS5 client sent a name (`socks5h`), false for an address.
    pub by_name: bool,
    /// The `Proxy-Authorization` of a `CONNECT`, or `user:password` of a SOCKS5 client.
    pub auth: Option<String>,
    /// Whether the proxy opened it.
    pub opened: bool,
}

/// Everything the proxy saw.
#[derive(Debug, Clone, Default)]
pub struct ProxyLog {
    /// Forwarded requests (absolute-form), as received.
    pub requests: Vec<RawRequest>,
    /// Tunnels asked for.
    pub tunnels: Vec<TunnelRecord>,
    /// Connections accepted.
    pub accepted: usize,
    /// The most connections open at once.
    pub max_open: usize,
}

struct Shared {
    options: ProxyOptions,
    log: Mutex<ProxyLog>,
    open: AtomicUsize,
    stop: AtomicBool,
    live: Mutex<Vec<TcpStream>>,
}

impl Shared {
    fn log(&self) -> std::sync::MutexGuard<'_, ProxyLog> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A forward proxy on `127.0.0.1:0`. Dropping it stops it and cuts every connection.
pub struct ForwardProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl ForwardProxy {
    /// A proxy that needs no credentials.
    pub fn start() -> Self {
        Self::with_options(ProxyOptions::default())
    }

    /// A proxy that demands `user` and `password`.
    pub fn with_auth(user: &str, password: &str) -> Self {
        Self::with_options(ProxyOptions {
            auth: Some((user.to_owned(), password.to_owned())),
            ..ProxyOptions::default()
        })
    }

    /// A proxy configured by `options`.
    pub fn with_options(options: ProxyOptions) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            options,
            log: Mutex::new(ProxyLog::default()),
            open: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            live: Mutex::new(Vec::new()),
        });
        let accept_shared = shared.clone();
        let accept = thread::Builder::new()
            .name(format!("proxy-accept-{}", addr.port()))
            .spawn(move || accept_loop(&listener, &accept_shared))
            .expect("spawn proxy accept thread");
        Self {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy as a URL of `scheme` (`http`, `socks5`, `socks5h`), with `userinfo`
    /// (`"user:pass@"`, or `""`).
    pub fn url(&self, scheme: &str, userinfo: &str) -> String {
        format!("{scheme}://{userinfo}{}", self.addr)
    }

    /// What the proxy saw so far.
    pub fn log(&self) -> ProxyLog {
        self.shared.log().clone()
    }
}

impl Drop for ForwardProxy {
    fn drop(&mut self) {
        let live = std::mem::take(
            &mut *self
                .shared
                .live
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        super::shut_down(&self.shared.stop, live.iter(), self.accept.take());
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                if let Ok(clone) = stream.try_clone() {
                    shared
                        .live
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(clone);
                }
                let open = shared.open.fetch_add(1, Ordering::SeqCst) + 1;
                {
                    let mut log = shared.log();
                    log.accepted += 1;
                    log.max_open = log.max_open.max(open);
                }
                let shared = shared.clone();
                let _ = thread::Builder::new()
                    .name("proxy-conn".into())
                    .spawn(move || {
                        // The server's list of live sockets holds a clone: shut the
                        // connection down explicitly, or the client would never see it end.
                        let end = stream.try_clone();
                        let _ = serve(stream, &shared);
                        if let Ok(end) = end {
                            let _ = end.shutdown(Shutdown::Both);
                        }
                        shared.open.fetch_sub(1, Ordering::SeqCst);
                    });
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Where `host:port` is, for this proxy: names ending in `.test` and `localhost` are
/// 127.0.0.1; loopback addresses are themselves; anything else is refused.
fn resolve(host: &str, port: u16) -> Option<SocketAddr> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return ip.is_loopback().then_some(SocketAddr::new(ip, port));
    }
    let name = bare.trim_end_matches('.').to_ascii_lowercase();
    (name == "localhost" || name.ends_with(".test"))
        .then_some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
}

fn split_authority(authority: &str) -> Option<(String, u16)> {
    let (host, port) = authority.rsplit_once(':')?;
    Some((host.to_owned(), port.parse().ok()?))
}

fn basic(user: &str, password: &str) -> String {
    use std::fmt::Write as _;
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}").into_bytes();
    let mut out = String::from("Basic ");
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let _ = out.write_char(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn serve(mut client: TcpStream, shared: &Shared) -> io::Result<()> {
    let mut first = [0u8; 1];
    if client.read(&mut first)? == 0 {
        return Ok(());
    }
    if first[0] == 5 {
        return socks5(client, shared);
    }
    let mut buf = first.to_vec();
    let mut upstream: Option<(String, TcpStream, Vec<u8>)> = None;
    while let Some(request) = wire::read_request(&mut client, &mut buf)? {
        let wanted = shared
            .options
            .auth
            .as_ref()
            .map(|(user, password)| basic(user, password));
        let authorized =
            wanted.is_none() || request.header("proxy-authorization") == wanted.as_deref();
        if request.method == "CONNECT" {
            let target = request.target.clone();
            let mut record = TunnelRecord {
                kind: "CONNECT",
                target: target.clone(),
                by_name: true,
                auth: request.header("proxy-authorization").map(str::to_owned),
                opened: false,
            };
            if shared.options.close_mid_handshake {
                shared.log().tunnels.push(record);
                return Ok(());
            }
            if !authorized {
                shared.log().tunnels.push(record);
                client.write_all(&wire::response(
                    407,
                    &["Proxy-Authenticate: Basic realm=\"test\""],
                    b"proxy says: credentials please",
                ))?;
                return Ok(());
            }
            let origin = split_authority(&target)
                .and_then(|(host, port)| resolve(&host, port))
                .and_then(|addr| TcpStream::connect(addr).ok());
            let Some(origin) = origin else {
                shared.log().tunnels.push(record);
                client.write_all(&wire::response(502, &[], b"no way there"))?;
                return Ok(());
            };
            record.opened = true;
            shared.log().tunnels.push(record);
            client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
            return pipe(client, origin, buf);
        }
        shared.log().requests.push(request.clone());
        if !authorized {
            client.write_all(&wire::response(
                407,
                &["Proxy-Authenticate: Basic realm=\"test\""],
                b"proxy says: credentials please",
            ))?;
            continue;
        }
        // Forwarding: an absolute-form target names the origin.
        let Some(rest) = request.target.strip_prefix("http://") else {
            client.write_all(&wire::response(400, &[], b"absolute-form expected"))?;
            return Ok(());
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let authority = if authority.contains(':') && !authority.ends_with(']') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        if upstream.as_ref().is_none_or(|(a, _, _)| *a != authority) {
            let stream = split_authority(&authority)
                .and_then(|(host, port)| resolve(&host, port))
                .and_then(|addr| TcpStream::connect(addr).ok());
            let Some(stream) = stream else {
                client.write_all(&wire::response(502, &[], b"no way there"))?;
                continue;
            };
            upstream = Some((authority.clone(), stream, Vec::new()));
        }
        let Some((_, origin, origin_buf)) = upstream.as_mut() else {
            continue;
        };
        let mut head = format!("{} {path} HTTP/1.1\r\n", request.method);
        for (name, value) in &request.headers {
            let lower = name.to_ascii_lowercase();
            if matches!(
                lower.as_str(),
                "proxy-authorization" | "proxy-connection" | "content-length" | "transfer-encoding"
            ) {
                continue;
            }
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", request.body.len()));
        origin.write_all(head.as_bytes())?;
        origin.write_all(&request.body)?;
        let response = if request.method == "HEAD" {
            return Ok(());
        } else {
            wire::read_response(origin, origin_buf)?
        };
        let mut out = format!("HTTP/1.1 {} Forwarded\r\n", response.status);
        for (name, value) in &response.headers {
            let lower = name.to_ascii_lowercase();
            if matches!(
                lower.as_str(),
                "content-length" | "transfer-encoding" | "connection"
            ) {
                continue;
            }
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n", response.body.len()));
        let mut out = out.into_bytes();
        out.extend_from_slice(&response.body);
        client.write_all(&out)?;
    }
    Ok(())
}

fn socks5(mut client: TcpStream, shared: &Shared) -> io::Result<()> {
    let mut n = [0u8; 1];
    client.read_exact(&mut n)?;
    let mut methods = vec![0u8; usize::from(n[0])];
    client.read_exact(&mut methods)?;
    if shared.options.close_mid_handshake {
        return Ok(());
    }
    let mut seen_auth = None;
    match &shared.options.auth {
        Some((user, password)) => {
            if !methods.contains(&2) {
                client.write_all(&[5, 0xff])?;
                return Ok(());
            }
            client.write_all(&[5, 2])?;
            let mut head = [0u8; 2];
            client.read_exact(&mut head)?;
            let mut u = vec![0u8; usize::from(head[1])];
            client.read_exact(&mut u)?;
            client.read_exact(&mut n)?;
            let mut p = vec![0u8; usize::from(n[0])];
            client.read_exact(&mut p)?;
            let (u, p) = (
                String::from_utf8_lossy(&u).into_owned(),
                String::from_utf8_lossy(&p).into_owned(),
            );
            let ok = &u == user && &p == password;
            client.write_all(&[1, if ok { 0 } else { 1 }])?;
            seen_auth = Some(format!("{u}:{p}"));
            if !ok {
                return Ok(());
            }
        }
        None => {
            if !methods.contains(&0) {
                client.write_all(&[5, 0xff])?;
                return Ok(());
            }
            client.write_all(&[5, 0])?;
        }
    }
    let mut head = [0u8; 4];
    client.read_exact(&mut head)?;
    let (host, by_name) = match head[3] {
        1 => {
            let mut a = [0u8; 4];
            client.read_exact(&mut a)?;
            (Ipv4Addr::from(a).to_string(), false)
        }
        4 => {
            let mut a = [0u8; 16];
            client.read_exact(&mut a)?;
            (format!("[{}]", std::net::Ipv6Addr::from(a)), false)
        }
        3 => {
            client.read_exact(&mut n)?;
            let mut name = vec![0u8; usize::from(n[0])];
            client.read_exact(&mut name)?;
            (String::from_utf8_lossy(&name).into_owned(), true)
        }
        _ => return Ok(()),
    };
    let mut port = [0u8; 2];
    client.read_exact(&mut port)?;
    let port = u16::from_be_bytes(port);
    let origin = resolve(&host, port).and_then(|addr| TcpStream::connect(addr).ok());
    shared.log().tunnels.push(TunnelRecord {
        kind: "SOCKS5",
        target: format!("{host}:{port}"),
        by_name,
        auth: seen_auth,
        opened: origin.is_some(),
    });
    let Some(origin) = origin else {
        client.write_all(&[5, 4, 0, 1, 0, 0, 0, 0, 0, 0])?;
        return Ok(());
    };
    client.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0])?;
    pipe(client, origin, Vec::new())
}

/// Copies bytes both ways until either side closes; `pending` goes to the origin first.
fn pipe(client: TcpStream, mut origin: TcpStream, pending: Vec<u8>) -> io::Result<()> {
    origin.write_all(&pending)?;
    let (mut c_read, mut o_write) = (client.try_clone()?, origin.try_clone()?);
    let up = thread::spawn(move || {
        let _ = io::copy(&mut c_read, &mut o_write);
        let _ = o_write.shutdown(Shutdown::Write);
    });
    let (mut o_read, mut c_write) = (origin, client);
    let _ = io::copy(&mut o_read, &mut c_write);
    let _ = c_write.shutdown(Shutdown::Both);
    let _ = o_read.shutdown(Shutdown::Both);
    let _ = up.join();
    Ok(())
}

/// A forward proxy reached over TLS (an `https://` proxy): a TLS front on its own port
/// that relays the plaintext to a [`ForwardProxy`], which does the proxying and logging.
pub struct TlsForwardProxy {
    addr: SocketAddr,
    inner: ForwardProxy,
    front: Arc<Front>,
    accept: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Front {
    stop: AtomicBool,
    live: Mutex<Vec<TcpStream>>,
    /// The server name each client asked for.
    sni: Mutex<Vec<Option<String>>>,
}

impl TlsForwardProxy {
    /// A TLS proxy presenting `leaf`, in front of a proxy configured by `options`.
    pub fn start(leaf: &super::CertKey, options: ProxyOptions) -> Self {
        let config = Arc::new(super::tls_server::server_config(leaf, None));
        let inner = ForwardProxy::with_options(options);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("local addr");
        let front = Arc::new(Front::default());
        let (accept_front, behind) = (front.clone(), inner.addr());
        let accept = thread::Builder::new()
            .name(format!("tls-proxy-accept-{}", addr.port()))
            .spawn(move || {
                while !accept_front.stop.load(Ordering::SeqCst) {
                    let Ok((stream, _)) = listener.accept() else {
                        thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    let _ = stream.set_nonblocking(false);
                    if let Ok(clone) = stream.try_clone() {
                        accept_front
                            .live
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(clone);
                    }
                    let (config, front) = (config.clone(), accept_front.clone());
                    let _ = thread::Builder::new()
                        .name("tls-proxy-conn".into())
                        .spawn(move || relay_tls(stream, config, behind, &front));
                }
            })
            .expect("spawn tls proxy accept thread");
        Self {
            addr,
            inner,
            front,
            accept: Some(accept),
        }
    }

    /// `https://{userinfo}{host}:PORT`: the proxy's URL under the name `host`.
    pub fn url(&self, host: &str, userinfo: &str) -> String {
        format!("https://{userinfo}{host}:{}", self.addr.port())
    }

    /// What the proxy behind the front saw.
    pub fn log(&self) -> ProxyLog {
        self.inner.log()
    }

    /// The server names the TLS clients asked for, one per completed handshake.
    pub fn sni(&self) -> Vec<Option<String>> {
        self.front
            .sni
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for TlsForwardProxy {
    fn drop(&mut self) {
        let live = std::mem::take(
            &mut *self
                .front
                .live
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        super::shut_down(&self.front.stop, live.iter(), self.accept.take());
    }
}

/// Terminates TLS on `tcp` and relays the plaintext to `behind`, both ways, on one thread
/// (short read timeouts take turns), until either side closes.
fn relay_tls(
    mut tcp: TcpStream,
    config: Arc<rustls::ServerConfig>,
    behind: SocketAddr,
    front: &Front,
) {
    let Ok(mut tls) = rustls::ServerConnection::new(config) else {
        return;
    };
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
    while tls.is_handshaking() {
        if tls.complete_io(&mut tcp).is_err() {
            let _ = tcp.shutdown(Shutdown::Both);
            return;
        }
    }
    front
        .sni
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(tls.server_name().map(str::to_owned));
    let Ok(mut plain) = TcpStream::connect(behind) else {
        return;
    };
    let tick = Some(Duration::from_millis(2));
    let _ = tcp.set_read_timeout(tick);
    let _ = plain.set_read_timeout(tick);
    let mut stream = rustls::StreamOwned::new(tls, tcp);
    let mut buf = vec![0u8; 16 * 1024];
    let idle_limit = std::time::Instant::now() + Duration::from_secs(30);
    let waiting = |err: &io::Error| {
        matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        )
    };
    while !front.stop.load(Ordering::SeqCst) && std::time::Instant::now() < idle_limit {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if plain.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(err) if waiting(&err) => {}
            Err(_) => break,
        }
        match plain.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if stream
                    .write_all(&buf[..n])
                    .and_then(|()| stream.flush())
                    .is_err()
                {
                    break;
                }
            }
            Err(err) if waiting(&err) => {}
            Err(_) => break,
        }
    }
    stream.conn.send_close_notify();
    let _ = stream.conn.complete_io(&mut stream.sock);
    let _ = stream.sock.shutdown(Shutdown::Both);
    let _ = plain.shutdown(Shutdown::Both);
}
