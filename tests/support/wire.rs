//! Minimal HTTP/1.1 message reading for the test servers (and for the raw-socket clients
//! of the self-test): one head up to CRLFCRLF, then a body framed by Content-Length or
//! chunked. Deliberately small and strict; it is test equipment, not the code under test.

use std::io::{self, Read};

/// Heads larger than this are refused (the test peers never send one).
const MAX_HEAD: usize = 1 << 20;

/// One request as the server read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRequest {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The request target, e.g. `/path?q=1`.
    pub target: String,
    /// The version token, e.g. `HTTP/1.1`.
    pub version: String,
    /// Header fields in wire order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The decoded body (chunked framing removed).
    pub body: Vec<u8>,
    /// The head exactly as received, CRLFCRLF included.
    pub head: Vec<u8>,
}

impl RawRequest {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The path part of the target (before `?`).
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// One response as a raw-socket client read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// Header fields in wire order.
    pub headers: Vec<(String, String)>,
    /// The decoded body.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Reads one request from `stream`; `buf` carries bytes read past the previous message.
/// `Ok(None)` means a clean EOF before any byte of a new request.
pub fn read_request(stream: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<Option<RawRequest>> {
    let Some(head) = read_head(stream, buf)? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let mut start = lines.next().unwrap_or_default().split(' ');
    let (Some(method), Some(target), Some(version)) = (start.next(), start.next(), start.next())
    else {
        return Err(invalid("malformed request line"));
    };
    let headers = parse_headers(lines)?;
    let body = read_body(stream, buf, &headers, false)?;
    Ok(Some(RawRequest {
        method: method.to_owned(),
        target: target.to_owned(),
        version: version.to_owned(),
        headers,
        body,
        head,
    }))
}

/// Reads one response to a request that was not HEAD. Bodies without Content-Length or
/// chunked framing are read to EOF (1xx, 204 and 304 have none).
pub fn read_response(stream: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<RawResponse> {
    let head = read_head(stream, buf)?.ok_or_else(|| invalid("eof before response"))?;
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("malformed status line"))?;
    let headers = parse_headers(lines)?;
    let body = if (100..200).contains(&status) || status == 204 || status == 304 {
        Vec::new()
    } else {
        read_body(stream, buf, &headers, true)?
    };
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

fn read_head(stream: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<Option<Vec<u8>>> {
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok(Some(std::mem::replace(buf, rest)));
        }
        if buf.len() > MAX_HEAD {
            return Err(invalid("head too large"));
        }
        if fill(stream, buf)? == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
    }
}

fn parse_headers<'a>(lines: impl Iterator<Item = &'a str>) -> io::Result<Vec<(String, String)>> {
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid("header without colon"))?;
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    Ok(headers)
}

fn read_body(
    stream: &mut impl Read,
    buf: &mut Vec<u8>,
    headers: &[(String, String)],
    until_eof_by_default: bool,
) -> io::Result<Vec<u8>> {
    let chunked = find_header(headers, "transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    if chunked {
        return read_chunked(stream, buf);
    }
    if let Some(len) = find_header(headers, "content-length") {
        let len: usize = len.parse().map_err(|_| invalid("bad content-length"))?;
        return take_exact(stream, buf, len);
    }
    if until_eof_by_default {
        while fill(stream, buf)? > 0 {}
        return Ok(std::mem::take(buf));
    }
    Ok(Vec::new())
}

fn read_chunked(stream: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = take_line(stream, buf)?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| invalid("bad chunk size"))?;
        if size == 0 {
            // Trailers, up to the empty line.
            while !take_line(stream, buf)?.is_empty() {}
            return Ok(body);
        }
        body.extend(take_exact(stream, buf, size)?);
        if !take_line(stream, buf)?.is_empty() {
            return Err(invalid("chunk data longer than its size"));
        }
    }
}

fn take_line(stream: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<String> {
    loop {
        if let Some(end) = find(buf, b"\r\n") {
            let rest = buf.split_off(end + 2);
            let mut line = std::mem::replace(buf, rest);
            line.truncate(end);
            return Ok(String::from_utf8_lossy(&line).into_owned());
        }
        if buf.len() > MAX_HEAD {
            return Err(invalid("line too long"));
        }
        if fill(stream, buf)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}

fn take_exact(stream: &mut impl Read, buf: &mut Vec<u8>, len: usize) -> io::Result<Vec<u8>> {
    while buf.len() < len {
        if fill(stream, buf)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    let rest = buf.split_off(len);
    Ok(std::mem::replace(buf, rest))
}

fn fill(stream: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut chunk = [0_u8; 8192];
    loop {
        match stream.read(&mut chunk) {
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// `HTTP/1.1 200 OK` with `Content-Length` and the given body.
pub fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A response with `status`, extra header lines (each without CRLF), Content-Length and body.
pub fn response(status: u16, headers: &[&str], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for h in headers {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        304 => "Not Modified",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Whatever",
    }
}
