//! The SOCKS5 client handshake (RFC 1928, with RFC 1929 username/password), sans IO.
//!
//! [`Handshake`] produces the bytes to send and consumes the bytes received, one message
//! at a time: the greeting (the methods offered), the server's choice, the credentials
//! when it chose username/password, then the `CONNECT` request and its reply. It never
//! reads past the reply, so bytes after it belong to the tunnel. The driver that moves the
//! bytes is in [`super::tunnel`].

use std::fmt;
use std::net::IpAddr;

const VERSION: u8 = 5;
const NO_AUTH: u8 = 0;
const USER_PASS: u8 = 2;
const NO_ACCEPTABLE: u8 = 0xff;

/// Where the tunnel goes: an address resolved by the client (`socks5`), or a name the
/// proxy resolves (`socks5h`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Destination {
    Ip(IpAddr, u16),
    Name(String, u16),
}

/// Why a SOCKS5 handshake failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Socks5Error {
    /// The server does not speak SOCKS5 (a wrong version byte).
    NotSocks5,
    /// The server accepts none of the methods offered (with no credentials configured:
    /// it wants some).
    NoAcceptableMethod,
    /// The server refused the user name and password.
    AuthRefused,
    /// The server refused the connection; the reply code (RFC 1928 §6).
    Refused(u8),
    /// The reply is malformed.
    Malformed,
    /// A user name, password or host name longer than 255 bytes.
    TooLong,
}

impl fmt::Display for Socks5Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotSocks5 => f.write_str("the server does not speak socks5"),
            Self::NoAcceptableMethod => f.write_str("no acceptable authentication method"),
            Self::AuthRefused => f.write_str("user name and password refused"),
            Self::Refused(code) => {
                let why = match code {
                    1 => "general failure",
                    2 => "connection not allowed by ruleset",
                    3 => "network unreachable",
                    4 => "host unreachable",
                    5 => "connection refused",
                    6 => "ttl expired",
                    7 => "command not supported",
                    8 => "address type not supported",
                    _ => "unknown reply code",
                };
                write!(f, "connect refused: {why} ({code})")
            }
            Self::Malformed => f.write_str("malformed reply"),
            Self::TooLong => f.write_str("a name or credential longer than 255 bytes"),
        }
    }
}

/// What the handshake wants next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// More bytes must be received before anything can be decided.
    NeedMore,
    /// `used` bytes were consumed; send `bytes` and go on receiving.
    Send { used: usize, bytes: Vec<u8> },
    /// `used` bytes were consumed and the tunnel is open.
    Done { used: usize },
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    Method,
    Auth,
    Reply,
    Done,
}

/// A SOCKS5 client handshake in progress.
#[derive(Debug)]
pub(crate) struct Handshake {
    destination: Destination,
    credentials: Option<(Vec<u8>, Vec<u8>)>,
    state: State,
}

impl Handshake {
    /// A handshake to `destination`, offering username/password when `credentials` are
    /// given (and no authentication otherwise).
    pub(crate) fn new(
        destination: Destination,
        credentials: Option<(&str, &str)>,
    ) -> Result<Self, Socks5Error> {
        let credentials = match credentials {
            Some((user, password)) if user.len() <= 255 && password.len() <= 255 => {
                Some((user.as_bytes().to_vec(), password.as_bytes().to_vec()))
            }
            Some(_) => return Err(Socks5Error::TooLong),
            None => None,
        };
        if let Destination::Name(name, _) = &destination {
            if name.is_empty() || name.len() > 255 {
                return Err(Socks5Error::TooLong);
            }
        }
        Ok(Self {
            destination,
            credentials,
            state: State::Method,
        })
    }

    /// The first message: the version and the methods offered.
    pub(crate) fn greeting(&self) -> Vec<u8> {
        match self.credentials {
            Some(_) => vec![VERSION, 1, USER_PASS],
            None => vec![VERSION, 1, NO_AUTH],
        }
    }

    /// Consumes what the server sent (`input` holds every byte not consumed yet).
    pub(crate) fn receive(&mut self, input: &[u8]) -> Result<Step, Socks5Error> {
        match self.state {
            State::Method => {
                let [version, method, ..] = *input else {
                    return Ok(Step::NeedMore);
                };
                if version != VERSION {
                    return Err(Socks5Error::NotSocks5);
                }
                match (method, &self.credentials) {
                    (NO_AUTH, _) => {
                        self.state = State::Reply;
                        Ok(Step::Send {
                            used: 2,
                            bytes: self.connect_request(),
                        })
                    }
                    (USER_PASS, Some((user, password))) => {
                        let mut bytes = Vec::with_capacity(3 + user.len() + password.len());
                        bytes.push(1);
                        bytes.push(user.len() as u8);
                        bytes.extend_from_slice(user);
                        bytes.push(password.len() as u8);
                        bytes.extend_from_slice(password);
                        self.state = State::Auth;
                        Ok(Step::Send { used: 2, bytes })
                    }
                    (NO_ACCEPTABLE, _) => Err(Socks5Error::NoAcceptableMethod),
                    _ => Err(Socks5Error::Malformed),
                }
            }
            State::Auth => {
                let [_version, status, ..] = *input else {
                    return Ok(Step::NeedMore);
                };
                if status != 0 {
                    return Err(Socks5Error::AuthRefused);
                }
                self.state = State::Reply;
                Ok(Step::Send {
                    used: 2,
                    bytes: self.connect_request(),
                })
            }
            State::Reply => {
                let [version, reply, _reserved, kind, ref rest @ ..] = *input else {
                    return Ok(Step::NeedMore);
                };
                if version != VERSION {
                    return Err(Socks5Error::NotSocks5);
                }
                if reply != 0 {
                    return Err(Socks5Error::Refused(reply));
                }
                let address = match kind {
                    1 => 4,
                    4 => 16,
                    3 => match rest.first() {
                        Some(&len) => 1 + usize::from(len),
                        None => return Ok(Step::NeedMore),
                    },
                    _ => return Err(Socks5Error::Malformed),
                };
                let used = 4 + address + 2;
                if input.len() < used {
                    return Ok(Step::NeedMore);
                }
                self.state = State::Done;
                Ok(Step::Done { used })
            }
            State::Done => Ok(Step::Done { used: 0 }),
        }
    }

    fn connect_request(&self) -> Vec<u8> {
        let mut out = vec![VERSION, 1, 0];
        let port = match &self.destination {
            Destination::Ip(IpAddr::V4(ip), port) => {
                out.push(1);
                out.extend_from_slice(&ip.octets());
                port
            }
            Destination::Ip(IpAddr::V6(ip), port) => {
                out.push(4);
                out.extend_from_slice(&ip.octets());
                port
            }
            Destination::Name(name, port) => {
                out.push(3);
                // Checked in `new`: at most 255 bytes.
                out.push(name.len() as u8);
                out.extend_from_slice(name.as_bytes());
                port
            }
        };
        out.extend_from_slice(&port.to_be_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `server` to the handshake split at every point, byte by byte; returns what the
    /// client sent after the greeting, and the bytes left over after `Done`.
    fn run(
        mut hs: Handshake,
        server: &[u8],
        chunk: usize,
    ) -> Result<(Vec<u8>, Vec<u8>), Socks5Error> {
        let mut sent = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut pos = 0;
        loop {
            match hs.receive(&buf)? {
                Step::NeedMore => {
                    if pos >= server.len() {
                        return Err(Socks5Error::Malformed);
                    }
                    let end = (pos + chunk).min(server.len());
                    buf.extend_from_slice(&server[pos..end]);
                    pos = end;
                }
                Step::Send { used, bytes } => {
                    buf.drain(..used);
                    sent.extend_from_slice(&bytes);
                }
                Step::Done { used } => {
                    buf.drain(..used);
                    buf.extend_from_slice(&server[pos..]);
                    return Ok((sent, buf));
                }
            }
        }
    }

    #[test]
    fn no_auth_to_an_address() {
        let dest = Destination::Ip("127.0.0.1".parse().unwrap(), 8080);
        let hs = Handshake::new(dest.clone(), None).unwrap();
        assert_eq!(hs.greeting(), [5, 1, 0]);
        let server = [5, 0, 5, 0, 0, 1, 10, 0, 0, 1, 0x1f, 0x90, b'x'];
        for chunk in 1..server.len() {
            let hs = Handshake::new(dest.clone(), None).unwrap();
            let (sent, rest) = run(hs, &server, chunk).unwrap();
            assert_eq!(sent, [5, 1, 0, 1, 127, 0, 0, 1, 0x1f, 0x90]);
            assert_eq!(rest, b"x");
        }
    }

    #[test]
    fn user_pass_to_a_name() {
        let dest = Destination::Name("a.test".into(), 443);
        let hs = Handshake::new(dest, Some(("u", "pw"))).unwrap();
        assert_eq!(hs.greeting(), [5, 1, 2]);
        let server = [5, 2, 1, 0, 5, 0, 0, 3, 1, b'z', 0, 80];
        let (sent, rest) = run(hs, &server, 1).unwrap();
        let mut want = vec![1, 1, b'u', 2, b'p', b'w'];
        want.extend_from_slice(&[5, 1, 0, 3, 6]);
        want.extend_from_slice(b"a.test");
        want.extend_from_slice(&[1, 187]);
        assert_eq!(sent, want);
        assert!(rest.is_empty());
    }

    #[test]
    fn refusals_and_garbage_are_typed_errors() {
        let dest = || Destination::Ip("::1".parse().unwrap(), 1);
        /// Credentials, what the server sends, the error it is.
        type Case<'a> = (Option<(&'a str, &'a str)>, &'a [u8], Socks5Error);
        let cases: &[Case<'_>] = &[
            (None, &[4, 0], Socks5Error::NotSocks5),
            (None, &[5, 0xff], Socks5Error::NoAcceptableMethod),
            (None, &[5, 2], Socks5Error::Malformed),
            (Some(("u", "bad")), &[5, 2, 1, 1], Socks5Error::AuthRefused),
            (None, &[5, 0, 5, 5, 0, 1], Socks5Error::Refused(5)),
            (None, &[5, 0, 5, 0, 0, 9], Socks5Error::Malformed),
            (None, &[5, 0, 4, 0, 0, 1], Socks5Error::NotSocks5),
        ];
        for (creds, server, want) in cases {
            let hs = Handshake::new(dest(), *creds).unwrap();
            assert_eq!(run(hs, server, 1).unwrap_err(), *want, "{server:?}");
        }
        let long = "x".repeat(256);
        assert_eq!(
            Handshake::new(Destination::Name(long.clone(), 1), None).unwrap_err(),
            Socks5Error::TooLong
        );
        assert_eq!(
            Handshake::new(dest(), Some((&long, "p"))).unwrap_err(),
            Socks5Error::TooLong
        );
    }
}
