//! Unit tests of the response decoder, one per framing rule, all run through [`tr`].
//!
//! `tr` (after h11's `test_io.tr`) runs a case on the whole input, one byte at a time,
//! split in two at every point, and with trailing bytes appended (which must be left
//! unconsumed after `End`), and asserts that all of them agree.

use http::{HeaderMap, Method, StatusCode, Version};

use super::{BodyKind, CloseReason, Event, ResponseDecoder, State};
use crate::h1::{Limits, ProtocolError};

/// The final response head, as recorded by [`run`].
#[derive(Debug, PartialEq)]
pub(super) struct Head {
    pub(super) status: StatusCode,
    pub(super) version: Version,
    pub(super) headers: HeaderMap,
    pub(super) body: BodyKind,
    pub(super) close: Option<CloseReason>,
}

/// Everything a decoder produced for one input.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Outcome {
    pub(super) head: Option<Head>,
    pub(super) body: Vec<u8>,
    /// `Some(close)` once `End` arrived.
    pub(super) end: Option<Option<CloseReason>>,
    pub(super) trailers: Option<HeaderMap>,
    pub(super) error: Option<ProtocolError>,
    /// The response ended only through `decode_eof`.
    pub(super) ended_by_eof: bool,
    /// Bytes left unconsumed at the end (not compared on error: feeding stops there).
    pub(super) leftover: Vec<u8>,
}

fn record(out: &mut Outcome, event: Event<'_>) {
    assert!(out.end.is_none(), "event after End: {event:?}");
    match event {
        Event::Head(head) => {
            assert!(out.head.is_none(), "second head");
            out.head = Some(Head {
                status: head.status,
                version: head.version,
                headers: head.headers,
                body: head.body,
                close: head.close,
            });
        }
        Event::Data(data) => {
            assert!(out.head.is_some(), "data before head");
            assert!(!data.is_empty(), "empty data event");
            out.body.extend_from_slice(data);
        }
        Event::End(end) => {
            assert!(out.head.is_some(), "end before head");
            out.end = Some(end.close);
            out.trailers = end.trailers;
        }
    }
}

/// Feeds `pieces` in turn the way a caller does (keep unconsumed bytes, append the next
/// piece), then signals EOF if `eof` and the response has not ended.
pub(super) fn run(method: &Method, limits: &Limits, pieces: &[&[u8]], eof: bool) -> Outcome {
    let mut decoder = ResponseDecoder::new(method, limits);
    let mut buf = Vec::new();
    let mut out = Outcome::default();
    let total: usize = pieces.iter().map(|piece| piece.len()).sum();
    // Each call either returns None (and the loop waits for the next piece) or an event,
    // and every event but End consumes at least one byte: more calls means a loop.
    let mut budget = 2 * total + 4 * pieces.len() + 8;
    'feed: for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            budget = budget
                .checked_sub(1)
                .expect("the decoder loops without progress");
            match decoder.decode(&buf) {
                Err(err) => {
                    assert_eq!(decoder.decode(&buf).unwrap_err(), err, "error not sticky");
                    out.error = Some(err);
                    break 'feed;
                }
                Ok((used, event)) => {
                    assert!(used <= buf.len());
                    let Some(event) = event else {
                        buf.drain(..used);
                        break;
                    };
                    if let Event::Data(data) = &event {
                        assert!(data.len() <= used, "data not consumed");
                    }
                    record(&mut out, event);
                    buf.drain(..used);
                }
            }
        }
    }
    if out.error.is_none() {
        if out.end.is_some() {
            assert!(decoder.is_done());
            assert!(matches!(decoder.decode(&buf), Ok((0, None))));
        } else {
            assert!(!decoder.is_done());
            if eof {
                match decoder.decode_eof() {
                    Ok(event) => {
                        record(&mut out, event);
                        out.ended_by_eof = true;
                        assert!(decoder.is_done());
                    }
                    Err(err) => out.error = Some(err),
                }
            }
        }
    }
    if out.error.is_none() {
        out.leftover = buf;
    }
    out
}

/// Reads `wire` as the connection does: through a buffer, `reads` bytes at a time (in
/// turn, cycled), except that while the buffer is empty and the decoder says plain body
/// bytes come next ([`ResponseDecoder::body_bytes_ahead`]), a read goes straight into a
/// destination (at most that many bytes) and the decoder must hand those bytes back as
/// one `Data` event. Then signals EOF if `eof` and the response has not ended.
pub(super) fn run_direct(
    method: &Method,
    limits: &Limits,
    wire: &[u8],
    reads: &[usize],
    eof: bool,
) -> Outcome {
    let mut decoder = ResponseDecoder::new(method, limits);
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Outcome::default();
    let mut sizes = reads.iter().map(|size| (*size).max(1)).cycle();
    let mut pos = 0;
    // Every round reads at least one byte or ends: more rounds means a loop.
    let mut budget = 2 * wire.len() + 8;
    loop {
        budget = budget
            .checked_sub(1)
            .expect("the reader loops without progress");
        loop {
            match decoder.decode(&buf) {
                Err(err) => {
                    out.error = Some(err);
                    return out;
                }
                Ok((used, Some(event))) => {
                    let end = matches!(event, Event::End(_));
                    record(&mut out, event);
                    buf.drain(..used);
                    if end {
                        out.leftover = buf;
                        return out;
                    }
                }
                Ok((used, None)) => {
                    buf.drain(..used);
                    break;
                }
            }
        }
        let rest = wire.get(pos..).unwrap_or_default();
        if rest.is_empty() {
            if eof {
                match decoder.decode_eof() {
                    Ok(event) => {
                        record(&mut out, event);
                        out.ended_by_eof = true;
                    }
                    Err(err) => out.error = Some(err),
                }
            }
            out.leftover = buf;
            return out;
        }
        let size = sizes.next().unwrap_or(1).min(rest.len());
        match decoder.body_bytes_ahead() {
            Some(ahead) if buf.is_empty() => {
                let n = usize::try_from(ahead).map_or(size, |ahead| ahead.min(size));
                let direct = &rest[..n];
                let (used, event) = decoder.decode(direct).expect("plain body bytes");
                assert_eq!(used, n, "bytes ahead not all consumed");
                assert!(
                    matches!(event, Some(Event::Data(data)) if data == direct),
                    "bytes ahead not one Data event"
                );
                out.body.extend_from_slice(direct);
                pos += n;
            }
            _ => {
                buf.extend_from_slice(&rest[..size]);
                pos += size;
            }
        }
    }
}

/// The garbage appended after a complete response; it must come back unconsumed.
const TRAILING: &[u8] = b"HTTP/1.1 200 OK\r\n\x00garbage\xff";

/// Runs a case whole, byte by byte, at every two-piece split and with trailing bytes; all
/// must agree. Returns the outcome.
pub(super) fn tr_with(method: &Method, limits: &Limits, input: &[u8], eof: bool) -> Outcome {
    let whole = run(method, limits, &[input], eof);
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(
        run(method, limits, &bytes, eof),
        whole,
        "one byte at a time"
    );
    for at in 0..=input.len() {
        let (a, b) = input.split_at(at);
        assert_eq!(run(method, limits, &[a, b], eof), whole, "split at {at}");
    }
    if whole.end.is_some() && !whole.ended_by_eof {
        let mut extended = input.to_vec();
        extended.extend_from_slice(TRAILING);
        let mut expected = run(method, limits, &[input], eof);
        expected.leftover.extend_from_slice(TRAILING);
        assert_eq!(
            run(method, limits, &[&extended], eof),
            expected,
            "trailing bytes"
        );
        let bytes: Vec<&[u8]> = extended.chunks(1).collect();
        assert_eq!(
            run(method, limits, &bytes, eof),
            expected,
            "trailing, byte by byte"
        );
    }
    whole
}

/// [`tr_with`] for a GET with default limits and no EOF.
fn tr(input: &[u8]) -> Outcome {
    tr_with(&Method::GET, &Limits::default(), input, false)
}

/// [`tr_with`] for a GET with default limits, then EOF.
pub(super) fn tr_eof(input: &[u8]) -> Outcome {
    tr_with(&Method::GET, &Limits::default(), input, true)
}

fn err(input: &[u8]) -> ProtocolError {
    let out = tr_eof(input);
    match out.error {
        Some(err) => err,
        None => panic!("expected an error, got {out:?}"),
    }
}

fn head(out: &Outcome) -> &Head {
    out.head.as_ref().expect("a head")
}

fn header<'a>(out: &'a Outcome, name: &str) -> Vec<&'a [u8]> {
    head(out)
        .headers
        .get_all(name)
        .iter()
        .map(|v| v.as_bytes())
        .collect()
}

#[test]
fn content_length_response() {
    let out = tr(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: t\r\n\r\nhello");
    let h = head(&out);
    assert_eq!(h.status, StatusCode::OK);
    assert_eq!(h.version, Version::HTTP_11);
    assert_eq!(h.body, BodyKind::Length(5));
    assert_eq!(h.close, None);
    assert_eq!(header(&out, "server"), [b"t"]);
    assert_eq!(out.body, b"hello");
    assert_eq!(out.end, Some(None));
    assert_eq!(out.trailers, None);
}

#[test]
fn bytes_after_the_body_are_not_consumed() {
    let out = tr(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiEXTRA");
    assert_eq!(out.body, b"hi");
    assert_eq!(out.leftover, b"EXTRA");
}

#[test]
fn zero_length_body_ends_at_once() {
    let out = tr(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(head(&out).body, BodyKind::Length(0));
    assert_eq!(out.end, Some(None));
    assert!(out.body.is_empty());
}

#[test]
fn status_line_variants() {
    let out = tr(b"HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(head(&out).status, StatusCode::NOT_FOUND);
    let out = tr(b"HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n");
    assert_eq!(head(&out).status.as_u16(), 599);
    let out = tr(b"HTTP/1.0 200 Fine \xe9\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(head(&out).version, Version::HTTP_10);
}

#[test]
fn bare_lf_line_ends() {
    let out = tr(b"HTTP/1.1 200 OK\nContent-Length: 2\nA: b\n\nok");
    assert_eq!(out.body, b"ok");
    assert_eq!(header(&out, "a"), [b"b"]);
    let out = tr(b"HTTP/1.1 200 OK\r\nContent-Length: 2\n\r\nok");
    assert_eq!(out.body, b"ok");
}

#[test]
fn empty_lines_before_the_status_line_are_skipped() {
    let out = tr(b"\r\n\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(head(&out).status, StatusCode::OK);
    assert_eq!(
        err(b"\r\r\nHTTP/1.1 200 OK\r\n\r\n"),
        ProtocolError::InvalidStatusLine
    );
}

#[test]
fn obs_fold_becomes_spaces() {
    let out = tr(b"HTTP/1.1 200 OK\r\nX-Long: one\r\n two\r\n\tthree\r\nContent-Length: 0\r\n\r\n");
    let value = header(&out, "x-long")[0];
    let words: Vec<&[u8]> = value
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|w| !w.is_empty())
        .collect();
    assert_eq!(words, [&b"one"[..], b"two", b"three"]);
    assert!(!value.contains(&b'\r') && !value.contains(&b'\n'));
}

#[test]
fn whitespace_before_colon_is_stripped() {
    let out = tr(b"HTTP/1.1 200 OK\r\nContent-Length : 1\r\nX-A\t: v\r\n\r\nz");
    assert_eq!(out.body, b"z");
    assert_eq!(header(&out, "x-a"), [b"v"]);
}

#[test]
fn repeated_fields_and_case() {
    let out =
        tr(b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(header(&out, "set-cookie"), [&b"a=1"[..], b"b=2"]);
}

#[test]
fn invalid_status_lines() {
    for input in [
        &b"HTTP/1.1 20 OK\r\n\r\n"[..],
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1200 OK\r\n\r\n",
        b"HTTP/1.x 200 OK\r\n\r\n",
        b"HTTP/11.1 200 OK\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
        b"<html>hello</html>\n\n",
        b"HTTP/1.1 200 OK\rX: y\r\n\r\n",
        b"http/1.1 200 OK\r\n\r\n",
    ] {
        assert_eq!(err(input), ProtocolError::InvalidStatusLine, "{input:?}");
    }
}

#[test]
fn a_bad_status_line_fails_before_the_head_ends() {
    let out = tr(b"HTTP/1.1 2x0 OK\r\nA: b\r\n");
    assert_eq!(out.error, Some(ProtocolError::InvalidStatusLine));
}

#[test]
fn unsupported_versions() {
    for input in [
        &b"HTTP/2.0 200 OK\r\n\r\n"[..],
        b"HTTP/2 200\r\n\r\n",
        b"HTTP/0.9 200 OK\r\n\r\n",
        b"HTTP/1.2 200 OK\r\n\r\n",
        b"HTTP/3.0 200 OK\r\n",
        b"HTTP/2.0\r\n\r\n",
    ] {
        assert_eq!(err(input), ProtocolError::UnsupportedVersion, "{input:?}");
    }
}

#[test]
fn status_below_100() {
    for input in [&b"HTTP/1.1 099 X\r\n\r\n"[..], b"HTTP/1.1 000\r\n"] {
        assert_eq!(err(input), ProtocolError::InvalidStatusCode, "{input:?}");
    }
}

/// RFC 9110 §15: 600-999 are invalid codes that a client processes like a 5xx; they are
/// delivered as received (as curl and hyper do).
#[test]
fn status_600_to_999_is_delivered() {
    for code in [600u16, 700, 999] {
        let input = format!("HTTP/1.1 {code} X\r\nContent-Length: 2\r\n\r\nok");
        let out = tr(input.as_bytes());
        assert_eq!(head(&out).status.as_u16(), code);
        assert_eq!(out.body, b"ok");
    }
}

#[test]
fn invalid_header_lines() {
    for input in [
        &b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nX Y: z\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX\x01: z\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n X: leading space\r\n\r\n",
    ] {
        assert_eq!(err(input), ProtocolError::InvalidHeader, "{input:?}");
    }
}

#[test]
fn head_size_limit() {
    let input = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let exact = Limits::default().max_head_bytes(input.len());
    let out = tr_with(&Method::GET, &exact, input, false);
    assert_eq!(out.end, Some(None));
    let small = Limits::default().max_head_bytes(input.len() - 1);
    let out = tr_with(&Method::GET, &small, input, false);
    assert_eq!(
        out.error,
        Some(ProtocolError::HeadTooLarge {
            limit: input.len() - 1
        })
    );
    assert!(out.error.unwrap().is_limit());
    // Skipped empty lines count, and a head that never ends fails at the limit.
    let out = tr_with(
        &Method::GET,
        &exact,
        b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        false,
    );
    assert_eq!(
        out.error,
        Some(ProtocolError::HeadTooLarge { limit: input.len() })
    );
    let endless = [b'\n'; 100];
    let out = tr_with(
        &Method::GET,
        &Limits::default().max_head_bytes(50),
        &endless,
        false,
    );
    assert_eq!(out.error, Some(ProtocolError::HeadTooLarge { limit: 50 }));
    let endless = [b'a'; 100];
    let out = tr_with(
        &Method::GET,
        &Limits::default().max_head_bytes(50),
        &endless,
        false,
    );
    assert_eq!(out.error, Some(ProtocolError::HeadTooLarge { limit: 50 }));
}

fn with_fields(n: usize) -> Vec<u8> {
    let mut input = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n".to_vec();
    for i in 1..n {
        input.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes());
    }
    input.extend_from_slice(b"\r\n");
    input
}

#[test]
fn header_count_limit() {
    let limits = Limits::default().max_headers(3);
    assert_eq!(
        tr_with(&Method::GET, &limits, &with_fields(3), false).end,
        Some(None)
    );
    let out = tr_with(&Method::GET, &limits, &with_fields(4), false);
    assert_eq!(out.error, Some(ProtocolError::TooManyHeaders { limit: 3 }));
    // Past the stack array: the heap retry accepts up to the default limit of 100.
    let input = with_fields(100);
    let out = run(&Method::GET, &Limits::default(), &[&input], false);
    assert_eq!(head(&out).headers.len(), 100);
    let input = with_fields(101);
    let out = run(&Method::GET, &Limits::default(), &[&input], false);
    assert_eq!(
        out.error,
        Some(ProtocolError::TooManyHeaders { limit: 100 })
    );
}

#[test]
fn interim_responses_are_skipped() {
    let out = tr(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n\
        HTTP/1.1 102 Processing\n\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
    );
    assert_eq!(head(&out).status, StatusCode::OK);
    assert!(
        head(&out).headers.get("link").is_none(),
        "interim headers dropped"
    );
    assert_eq!(out.body, b"x");
}

#[test]
fn switching_protocols_is_refused() {
    assert_eq!(
        err(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"),
        ProtocolError::SwitchingProtocols
    );
}

#[test]
fn responses_without_a_body() {
    let limits = Limits::default();
    let out = tr_with(
        &Method::HEAD,
        &limits,
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
        false,
    );
    assert_eq!(head(&out).body, BodyKind::Empty);
    assert_eq!(out.end, Some(None));
    let out = tr_with(
        &Method::HEAD,
        &limits,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        false,
    );
    assert_eq!(head(&out).body, BodyKind::Empty);
    for status in [&b"204 No Content"[..], b"304 Not Modified"] {
        let mut input = b"HTTP/1.1 ".to_vec();
        input.extend_from_slice(status);
        input.extend_from_slice(b"\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n");
        let out = tr(&input);
        assert_eq!(head(&out).body, BodyKind::Empty);
        assert_eq!(out.end, Some(None));
    }
}

#[test]
fn connect_success_is_a_tunnel() {
    let limits = Limits::default();
    let out = tr_with(
        &Method::CONNECT,
        &limits,
        b"HTTP/1.1 200 Connection Established\r\n\r\n",
        false,
    );
    assert_eq!(head(&out).body, BodyKind::Empty);
    assert_eq!(out.end, Some(Some(CloseReason::Tunnel)));
    let input = b"HTTP/1.1 407 Proxy Auth\r\nContent-Length: 2\r\n\r\nno";
    let out = tr_with(&Method::CONNECT, &limits, input, false);
    assert_eq!(out.body, b"no");
    assert_eq!(out.end, Some(None));
}

#[test]
fn transfer_coding_decides_the_body() {
    for (te, expected) in [
        (&b"chunked"[..], BodyKind::Chunked),
        (b"CHUNKED", BodyKind::Chunked),
        (b"gzip, chunked", BodyKind::Chunked),
        (b"gzip,chunked", BodyKind::Chunked),
        (b"gzip", BodyKind::UntilClose),
        (b"chunked, gzip", BodyKind::UntilClose),
        (b"", BodyKind::UntilClose),
    ] {
        let mut input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: ".to_vec();
        input.extend_from_slice(te);
        input.extend_from_slice(b"\r\n\r\n0\r\n\r\n");
        let out = tr_eof(&input);
        assert_eq!(head(&out).body, expected, "{te:?}");
    }
    let out = tr(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    assert_eq!(head(&out).body, BodyKind::Chunked);
    let out = tr_eof(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n");
    assert_eq!(
        out.body, b"0\r\n\r\n",
        "not chunked: read until close, as received"
    );
    assert_eq!(out.end, Some(Some(CloseReason::CloseDelimitedBody)));
}

#[test]
fn chunked_twice_is_an_error() {
    for input in [
        &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
    ] {
        assert_eq!(err(input), ProtocolError::InvalidTransferEncoding);
    }
}

#[test]
fn transfer_encoding_with_content_length() {
    let out = tr(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n");
    assert_eq!(head(&out).body, BodyKind::Chunked);
    assert_eq!(
        head(&out).close,
        Some(CloseReason::TransferEncodingAndContentLength)
    );
    assert_eq!(out.body, b"ab");
    assert_eq!(
        out.end,
        Some(Some(CloseReason::TransferEncodingAndContentLength))
    );
    // The Content-Length is ignored, so even an invalid one does not matter.
    let out =
        tr(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    assert_eq!(
        out.end,
        Some(Some(CloseReason::TransferEncodingAndContentLength))
    );
}

#[test]
fn transfer_encoding_in_http10() {
    let out = tr(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n");
    assert_eq!(head(&out).body, BodyKind::Chunked);
    assert_eq!(out.body, b"a");
    assert_eq!(out.end, Some(Some(CloseReason::TransferEncodingInHttp10)));
}

#[test]
fn content_length_lists() {
    let out = tr(b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3,3\r\n\r\nabc");
    assert_eq!(head(&out).body, BodyKind::Length(3));
    let out = tr(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc");
    assert_eq!(out.body, b"abc");
    let out = tr(b"HTTP/1.1 200 OK\r\nContent-Length: 007\r\n\r\n1234567");
    assert_eq!(head(&out).body, BodyKind::Length(7));
    let out = tr_eof(b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n");
    assert_eq!(head(&out).body, BodyKind::Length(u64::MAX));
    assert_eq!(out.error, Some(ProtocolError::TruncatedBody));
}

#[test]
fn conflicting_content_lengths() {
    for input in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
    ] {
        assert_eq!(err(input), ProtocolError::ConflictingContentLength);
    }
}

#[test]
fn invalid_content_lengths() {
    for value in [
        &b"+5"[..],
        b"-1",
        b"5 5",
        b"",
        b",",
        b"5,",
        b"0x10",
        b"1e3",
        b"18446744073709551616",
        b"99999999999999999999999",
    ] {
        let mut input = b"HTTP/1.1 200 OK\r\nContent-Length: ".to_vec();
        input.extend_from_slice(value);
        input.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            err(&input),
            ProtocolError::InvalidContentLength,
            "{value:?}"
        );
    }
}

#[test]
fn close_delimited_body() {
    let out = tr_eof(b"HTTP/1.1 200 OK\r\n\r\nall of this\r\n0\r\n\r\nis body");
    assert_eq!(head(&out).body, BodyKind::UntilClose);
    assert_eq!(head(&out).close, Some(CloseReason::CloseDelimitedBody));
    assert_eq!(out.body, b"all of this\r\n0\r\n\r\nis body");
    assert_eq!(out.end, Some(Some(CloseReason::CloseDelimitedBody)));
    assert!(out.ended_by_eof);
    // Without EOF the body is still open.
    let out = tr(b"HTTP/1.0 200 OK\r\n\r\nabc");
    assert_eq!(out.body, b"abc");
    assert_eq!(out.end, None);
}

#[test]
fn close_after_is_reported_at_the_end_unless_the_head_gave_a_reason() {
    let mut decoder = ResponseDecoder::new(&Method::POST, &Limits::default());
    let input = b"HTTP/1.1 413 Too Large\r\nContent-Length: 2\r\n\r\nno";
    let (used, event) = decoder.decode(input).unwrap();
    assert!(matches!(event, Some(Event::Head(head)) if head.close.is_none()));
    decoder.close_after(CloseReason::RequestIncomplete);
    let (used2, _) = decoder.decode(&input[used..]).unwrap();
    let (_, event) = decoder.decode(&input[used + used2..]).unwrap();
    assert!(
        matches!(event, Some(Event::End(end)) if end.close == Some(CloseReason::RequestIncomplete))
    );

    let mut decoder = ResponseDecoder::new(&Method::POST, &Limits::default());
    let input = b"HTTP/1.1 413 Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    let (_, event) = decoder.decode(input).unwrap();
    assert!(event.is_some());
    decoder.close_after(CloseReason::RequestIncomplete);
    let (_, event) = decoder.decode(b"").unwrap();
    assert!(
        matches!(event, Some(Event::End(end)) if end.close == Some(CloseReason::ConnectionClose))
    );
}

#[test]
fn keep_alive_rules() {
    let cases: [(&[u8], Option<CloseReason>); 8] = [
        (b"HTTP/1.1 200 OK\r\n", None),
        (
            b"HTTP/1.1 200 OK\r\nConnection: close\r\n",
            Some(CloseReason::ConnectionClose),
        ),
        (
            b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, CLOSE\r\n",
            Some(CloseReason::ConnectionClose),
        ),
        (
            b"HTTP/1.1 200 OK\r\nConnection: x\r\nConnection: close\r\n",
            Some(CloseReason::ConnectionClose),
        ),
        (b"HTTP/1.1 200 OK\r\nConnection: closed\r\n", None),
        (b"HTTP/1.0 200 OK\r\n", Some(CloseReason::Http10)),
        (
            b"HTTP/1.0 200 OK\r\nConnection: upgrade,  keep-alive \r\n",
            None,
        ),
        (
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\n",
            Some(CloseReason::ConnectionClose),
        ),
    ];
    for (start, close) in cases {
        let mut input = start.to_vec();
        input.extend_from_slice(b"Content-Length: 1\r\n\r\nx");
        let out = tr(&input);
        assert_eq!(
            head(&out).close,
            close,
            "{:?}",
            String::from_utf8_lossy(start)
        );
        assert_eq!(out.end, Some(close));
    }
}

#[test]
fn eof_errors() {
    assert_eq!(tr_eof(b"").error, Some(ProtocolError::ClosedBeforeResponse));
    assert_eq!(tr_eof(b"H").error, Some(ProtocolError::TruncatedHead));
    assert_eq!(tr_eof(b"\r\n").error, Some(ProtocolError::TruncatedHead));
    assert_eq!(
        tr_eof(b"HTTP/1.1 200 OK\r\nA: b\r\n").error,
        Some(ProtocolError::TruncatedHead)
    );
    assert_eq!(
        tr_eof(b"HTTP/1.1 100 Continue\r\n\r\n").error,
        Some(ProtocolError::TruncatedHead)
    );
    let out = tr_eof(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc");
    assert_eq!(
        (out.body.as_slice(), out.error),
        (&b"abc"[..], Some(ProtocolError::TruncatedBody))
    );
    let out = tr_eof(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab");
    assert_eq!(
        (out.body.as_slice(), out.error),
        (&b"ab"[..], Some(ProtocolError::TruncatedBody))
    );
    let out = tr_eof(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n");
    assert_eq!(out.error, Some(ProtocolError::TruncatedBody));
}

#[test]
fn eof_after_end_and_received_bytes() {
    let mut decoder = ResponseDecoder::new(&Method::GET, &Limits::default());
    assert!(!decoder.has_received_bytes());
    assert!(matches!(decoder.decode(b""), Ok((0, None))));
    assert!(!decoder.has_received_bytes());
    assert!(matches!(
        decoder.decode(b"HTTP/1.1 204 No Content\r\n"),
        Ok((0, None))
    ));
    assert!(decoder.has_received_bytes());
    let input = b"HTTP/1.1 204 No Content\r\n\r\n";
    let Ok((used, Some(Event::Head(_)))) = decoder.decode(input) else {
        panic!()
    };
    assert_eq!(used, input.len());
    assert!(matches!(decoder.decode(b""), Ok((0, Some(Event::End(_))))));
    assert!(decoder.is_done());
    assert!(matches!(decoder.decode(b"more"), Ok((0, None))));
    assert!(matches!(decoder.decode_eof(), Ok(Event::End(end)) if end.close.is_none()));
}

#[test]
fn head_search_resumes_where_it_stopped() {
    let mut decoder = ResponseDecoder::new(&Method::GET, &Limits::default());
    let mut input = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
    input.resize(10_000, b'a');
    assert!(matches!(decoder.decode(&input), Ok((0, None))));
    let State::Head(scan) = &decoder.state else {
        panic!()
    };
    assert!(scan.line_checked);
    assert_eq!(scan.scanned, input.len(), "the next call starts at the end");
    input.extend_from_slice(b"\r");
    assert!(matches!(decoder.decode(&input), Ok((0, None))));
    input.extend_from_slice(b"\n");
    assert!(matches!(decoder.decode(&input), Ok((0, None))));
    let State::Head(scan) = &decoder.state else {
        panic!()
    };
    assert_eq!(
        scan.scanned,
        input.len() - 1,
        "resumes at the unfinished line end"
    );
    input.extend_from_slice(b"\r\n");
    assert!(matches!(
        decoder.decode(&input),
        Ok((_, Some(Event::Head(_))))
    ));
}

#[test]
fn errors_are_sticky() {
    let mut decoder = ResponseDecoder::new(&Method::GET, &Limits::default());
    let bad = b"HTTP/9.9 200 OK\r\n";
    assert_eq!(
        decoder.decode(bad).unwrap_err(),
        ProtocolError::UnsupportedVersion
    );
    assert_eq!(
        decoder.decode(b"").unwrap_err(),
        ProtocolError::UnsupportedVersion
    );
    assert_eq!(
        decoder.decode_eof().unwrap_err(),
        ProtocolError::UnsupportedVersion
    );
    assert!(!decoder.is_done());
}
