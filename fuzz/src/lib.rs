//! The property every fuzz target checks: the response decoder turns any bytes into events
//! or a [`ProtocolError`], never a panic or an endless loop, and gives the same result
//! however the input is split.
//!
//! Each target feeds its input whole, one byte at a time (for inputs up to
//! [`BYTEWISE_MAX`] bytes) and cut into pseudo-random pieces derived from the input itself
//! (so a corpus file replays the same way every time), for GET and HEAD, with default and
//! with tiny limits, with and without an EOF at the end; all the runs must agree.
//! `tests/replay.rs` runs the same checks over every corpus file on stable Rust.

use http::{HeaderMap, Method, StatusCode, Version};
use par_http_core::h1::{BodyKind, CloseReason, Event, Limits, ProtocolError, ResponseDecoder};

/// Inputs up to this size are also fed one byte at a time.
pub const BYTEWISE_MAX: usize = 2048;

/// The head of every input of the `chunked` target.
pub const CHUNKED_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

/// What a final head said.
#[derive(Debug, PartialEq)]
pub struct Head {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: BodyKind,
    pub close: Option<CloseReason>,
}

/// Everything the decoder produced for one input.
#[derive(Debug, Default, PartialEq)]
pub struct Outcome {
    pub head: Option<Head>,
    pub body: Vec<u8>,
    /// `Some(close)` once `End` arrived.
    pub end: Option<Option<CloseReason>>,
    pub trailers: Option<HeaderMap>,
    pub error: Option<ProtocolError>,
    /// Bytes the decoder consumed (not compared after an error: feeding stops there).
    pub consumed: usize,
}

fn record(out: &mut Outcome, event: Event<'_>) {
    assert!(out.end.is_none(), "event after End: {event:?}");
    match event {
        Event::Head(head) => {
            assert!(out.head.is_none(), "a second head");
            let status = head.status.as_u16();
            assert!((100..=999).contains(&status) && !(100..200).contains(&status));
            assert!(head.version == Version::HTTP_10 || head.version == Version::HTTP_11);
            out.head = Some(Head {
                status: head.status,
                version: head.version,
                headers: head.headers,
                body: head.body,
                close: head.close,
            });
        }
        Event::Data(data) => {
            assert!(out.head.is_some(), "data before the head");
            assert!(!data.is_empty(), "an empty data event");
            out.body.extend_from_slice(data);
        }
        Event::End(end) => {
            assert!(out.head.is_some(), "end before the head");
            out.end = Some(end.close);
            out.trailers = end.trailers;
        }
    }
}

/// Feeds `pieces` in turn as a caller does (unconsumed bytes are kept and the next piece
/// appended), then EOF if `eof`. With `head_only`, stops at the head.
pub fn decode(
    method: &Method,
    limits: &Limits,
    pieces: &[&[u8]],
    eof: bool,
    head_only: bool,
) -> Outcome {
    let mut decoder = ResponseDecoder::new(method, limits);
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Outcome::default();
    let mut consumed = 0;
    let total: usize = pieces.iter().map(|p| p.len()).sum();
    // Every call returns None (wait for the next piece) or an event, and every event but
    // End consumes a byte: more calls than this is a loop without progress.
    let mut budget = 2 * total + 4 * pieces.len() + 8;
    'feed: for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            budget = budget
                .checked_sub(1)
                .expect("the decoder loops without progress");
            match decoder.decode(&buf) {
                Err(err) => {
                    let again = decoder.decode(&buf).expect_err("an error must be sticky");
                    assert_eq!(again, err, "an error must be sticky");
                    out.error = Some(err);
                    break 'feed;
                }
                Ok((used, event)) => {
                    assert!(used <= buf.len(), "consumed more than the input");
                    consumed += used;
                    let Some(event) = event else {
                        buf.drain(..used);
                        break;
                    };
                    if let Event::Data(data) = &event {
                        assert!(data.len() <= used, "data not consumed");
                    }
                    let is_head = matches!(event, Event::Head(_));
                    record(&mut out, event);
                    buf.drain(..used);
                    if head_only && is_head {
                        break 'feed;
                    }
                }
            }
        }
    }
    if out.error.is_none() && !(head_only && out.head.is_some()) {
        if out.end.is_some() {
            assert!(decoder.is_done());
            assert!(
                matches!(decoder.decode(&buf), Ok((0, None))),
                "input after End"
            );
        } else if eof {
            match decoder.decode_eof() {
                Ok(event) => {
                    record(&mut out, event);
                    assert!(decoder.is_done());
                }
                Err(err) => out.error = Some(err),
            }
        }
    }
    if out.error.is_none() {
        out.consumed = consumed;
    }
    out
}

/// Cuts `data` into pieces of 1 to 17 bytes (and some empty ones), from a hash of `data`.
pub fn pieces(data: &[u8]) -> Vec<&[u8]> {
    // FNV-1a, then xorshift64: deterministic, so a corpus file always splits the same way.
    let mut state = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) | 1;
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let take = usize::try_from(state % 18).unwrap_or(1).min(rest.len());
        let (piece, tail) = rest.split_at(take);
        out.push(piece);
        rest = tail;
    }
    out
}

/// Tiny limits, so that every limit is reached by small inputs.
pub fn small_limits() -> Limits {
    Limits::default()
        .max_head_bytes(120)
        .max_headers(4)
        .max_chunk_line_bytes(12)
        .max_trailer_bytes(24)
}

/// Runs `data` whole, split and byte by byte, for every method, limit and EOF setting.
fn check_all(data: &[u8], head_only: bool) {
    for method in [Method::GET, Method::HEAD] {
        for limits in [Limits::default(), small_limits()] {
            for eof in [false, true] {
                let whole = decode(&method, &limits, &[data], eof, head_only);
                let split = decode(&method, &limits, &pieces(data), eof, head_only);
                assert_eq!(split, whole, "split differs from whole");
                if data.len() <= BYTEWISE_MAX {
                    let bytes: Vec<&[u8]> = data.chunks(1).collect();
                    let bytewise = decode(&method, &limits, &bytes, eof, head_only);
                    assert_eq!(bytewise, whole, "byte by byte differs from whole");
                }
            }
        }
    }
}

/// The `response_head` target: `data` is the start of a response; decoding stops at the head.
pub fn check_head(data: &[u8]) {
    check_all(data, true);
}

/// The `chunked` target: `data` is a chunked body after a fixed chunked head.
pub fn check_chunked(data: &[u8]) {
    let mut input = CHUNKED_HEAD.to_vec();
    input.extend_from_slice(data);
    check_all(&input, false);
}

/// The `response` target: `data` is a whole response.
pub fn check_response(data: &[u8]) {
    check_all(data, false);
}
