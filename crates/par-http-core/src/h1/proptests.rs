//! Property tests of the response decoder: generated valid responses decode to what was
//! encoded under any split of the input, and arbitrary or mutated bytes give events or a
//! `ProtocolError`, never a panic or an endless loop, and the same result under any split.
//! The inputs cover whole responses (generated, mutated, arbitrary), head-only inputs
//! (assembled from pieces of head syntax) and chunked bodies alone (after a fixed head,
//! assembled from pieces of the chunk grammar). The fuzz targets in `fuzz/` check the
//! same property with coverage guidance.

use http::{HeaderMap, Method, StatusCode};
use proptest::prelude::*;
use proptest::sample::Index;

use super::tests::{Outcome, run, run_direct};
use super::{BodyKind, CloseReason};
use crate::h1::Limits;

/// How a generated response delimits its body.
#[derive(Debug, Clone, Copy)]
enum Framing {
    Length,
    Chunked,
    UntilClose,
}

/// A generated valid response, and what decoding it must give.
#[derive(Debug, Clone)]
struct Case {
    wire: Vec<u8>,
    status: u16,
    body: Vec<u8>,
    kind: BodyKind,
    close: Option<CloseReason>,
    trailers: Option<HeaderMap>,
    eof: bool,
}

fn field_value() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9]([a-zA-Z0-9 ,;=/.-]{0,18}[a-zA-Z0-9])?"
}

fn case() -> impl Strategy<Value = Case> {
    let status = prop::sample::select(vec![
        200u16, 201, 202, 206, 301, 302, 400, 404, 418, 500, 503, 599,
    ]);
    let interim = prop::collection::vec(prop::sample::select(vec![100u16, 102, 103]), 0..3);
    let headers = prop::collection::vec(
        (
            prop::sample::select(vec!["server", "x-a", "x-b", "date", "set-cookie"]),
            field_value(),
        ),
        0..5,
    );
    let framing =
        prop::sample::select(vec![Framing::Length, Framing::Chunked, Framing::UntilClose]);
    let body = prop::collection::vec(any::<u8>(), 0..300);
    let chunks = prop::collection::vec((1usize..60, any::<bool>()), 1..12);
    let trailers = prop::collection::vec(
        (prop::sample::select(vec!["x-sum", "x-t"]), field_value()),
        0..3,
    );
    (
        status,
        interim,
        any::<bool>(),
        any::<bool>(),
        headers,
        framing,
        body,
        chunks,
        trailers,
    )
        .prop_map(
            |(status, interim, http10, bare_lf, headers, framing, body, chunks, trailer_fields)| {
                let eol: &[u8] = if bare_lf { b"\n" } else { b"\r\n" };
                let mut wire = Vec::new();
                for code in interim {
                    wire.extend_from_slice(format!("HTTP/1.1 {code} Interim").as_bytes());
                    wire.extend_from_slice(eol);
                    wire.extend_from_slice(b"x-interim: 1");
                    wire.extend_from_slice(eol);
                    wire.extend_from_slice(eol);
                }
                let version = if http10 { "1.0" } else { "1.1" };
                wire.extend_from_slice(format!("HTTP/{version} {status} Reason").as_bytes());
                wire.extend_from_slice(eol);
                for (name, value) in &headers {
                    wire.extend_from_slice(format!("{name}: {value}").as_bytes());
                    wire.extend_from_slice(eol);
                }
                let mut trailers = None;
                let (kind, mut close) = match framing {
                    Framing::Length => {
                        wire.extend_from_slice(
                            format!("Content-Length: {}", body.len()).as_bytes(),
                        );
                        wire.extend_from_slice(eol);
                        wire.extend_from_slice(eol);
                        wire.extend_from_slice(&body);
                        (BodyKind::Length(body.len() as u64), None)
                    }
                    Framing::Chunked => {
                        wire.extend_from_slice(b"Transfer-Encoding: chunked");
                        wire.extend_from_slice(eol);
                        wire.extend_from_slice(eol);
                        let mut rest = &body[..];
                        for (size, ext) in chunks.iter().cycle() {
                            if rest.is_empty() {
                                break;
                            }
                            let (chunk, tail) = rest.split_at((*size).min(rest.len()));
                            rest = tail;
                            wire.extend_from_slice(format!("{:X}", chunk.len()).as_bytes());
                            if *ext {
                                wire.extend_from_slice(b" ; ext=\"v;1\"");
                            }
                            wire.extend_from_slice(eol);
                            wire.extend_from_slice(chunk);
                            wire.extend_from_slice(eol);
                        }
                        wire.extend_from_slice(b"0");
                        wire.extend_from_slice(eol);
                        let mut map = HeaderMap::new();
                        for (name, value) in &trailer_fields {
                            wire.extend_from_slice(format!("{name}: {value}").as_bytes());
                            wire.extend_from_slice(eol);
                            map.append(*name, value.parse().unwrap());
                        }
                        wire.extend_from_slice(eol);
                        if !map.is_empty() {
                            trailers = Some(map);
                        }
                        let close = http10.then_some(CloseReason::TransferEncodingInHttp10);
                        (BodyKind::Chunked, close)
                    }
                    Framing::UntilClose => {
                        wire.extend_from_slice(eol);
                        wire.extend_from_slice(&body);
                        (BodyKind::UntilClose, Some(CloseReason::CloseDelimitedBody))
                    }
                };
                if close.is_none() && http10 {
                    close = Some(CloseReason::Http10);
                }
                Case {
                    wire,
                    status,
                    body,
                    kind,
                    close,
                    trailers,
                    eof: matches!(framing, Framing::UntilClose),
                }
            },
        )
}

/// Cuts `input` at the given points (sorted, duplicates give empty pieces).
fn pieces<'a>(input: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|cut| cut.index(input.len() + 1)).collect();
    at.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for cut in at {
        out.push(&input[start..cut]);
        start = cut;
    }
    out.push(&input[start..]);
    out
}

fn small_limits() -> Limits {
    Limits::default()
        .max_head_bytes(120)
        .max_headers(4)
        .max_chunk_line_bytes(12)
        .max_trailer_bytes(24)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn valid_responses_decode_under_any_split(
        case in case(),
        cuts in prop::collection::vec(any::<Index>(), 0..24),
    ) {
        let limits = Limits::default();
        let whole = run(&Method::GET, &limits, &[&case.wire], case.eof);
        prop_assert_eq!(&whole.error, &None);
        let head = whole.head.as_ref().unwrap();
        prop_assert_eq!(head.status, StatusCode::from_u16(case.status).unwrap());
        prop_assert_eq!(head.body, case.kind);
        prop_assert_eq!(head.close, case.close);
        prop_assert!(head.headers.get("x-interim").is_none());
        prop_assert_eq!(&whole.body, &case.body);
        prop_assert_eq!(whole.end, Some(case.close));
        prop_assert_eq!(&whole.trailers, &case.trailers);
        prop_assert!(whole.leftover.is_empty());
        let split = run(&Method::GET, &limits, &pieces(&case.wire, &cuts), case.eof);
        prop_assert_eq!(split, whole);
    }

    #[test]
    fn valid_responses_decode_the_same_when_bytes_ahead_are_read_directly(
        case in case(),
        reads in prop::collection::vec(1usize..80, 1..8),
    ) {
        let limits = Limits::default();
        let whole = run(&Method::GET, &limits, &[&case.wire], case.eof);
        let direct = run_direct(&Method::GET, &limits, &case.wire, &reads, case.eof);
        prop_assert_eq!(&direct.error, &None);
        prop_assert_eq!(&direct.head, &whole.head);
        prop_assert_eq!(&direct.body, &case.body);
        prop_assert_eq!(direct.end, whole.end);
        prop_assert_eq!(&direct.trailers, &whole.trailers);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        prefix in prop::sample::select(vec![&b""[..], b"HTTP/1.1 ", b"HTTP/1.1 200 OK\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"]),
        bytes in prop::collection::vec(any::<u8>(), 0..400),
        cuts in prop::collection::vec(any::<Index>(), 0..24),
        eof in any::<bool>(),
        small in any::<bool>(),
    ) {
        let mut input = prefix.to_vec();
        input.extend_from_slice(&bytes);
        check_any_split(&input, &cuts, eof, small)?;
    }

    #[test]
    fn mutated_responses_never_panic(
        case in case(),
        edits in prop::collection::vec((any::<Index>(), any::<u8>(), 0u8..3), 1..6),
        cuts in prop::collection::vec(any::<Index>(), 0..24),
        eof in any::<bool>(),
        small in any::<bool>(),
    ) {
        let mut input = case.wire;
        for (at, byte, op) in edits {
            let at = at.index(input.len() + 1);
            match op {
                0 if at < input.len() => input[at] = byte,
                1 if at < input.len() => { input.remove(at); }
                _ => input.insert(at, byte),
            }
        }
        check_any_split(&input, &cuts, eof, small)?;
    }
}

/// Pieces of a response head: status lines good and bad, field lines, and the bytes that
/// break field lines (CR, LF, NUL, colons, spaces, obs-text, obs-fold).
const HEAD_PIECES: &[&[u8]] = &[
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.0 404 \r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 101 Up\r\n",
    b"HTTP/2 200\r\n",
    b"HTTP/1.1 600 X\r\n",
    b"HTTP/1.1 099\r\n",
    b"Content-Length: 3\r\n",
    b"Content-Length: 3, 4\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip\r\n",
    b"Connection: close\r\n",
    b"X-A: b\r\n",
    b" folded\r\n",
    b"\r\n",
    b"\n",
    b"\r",
    b"\0",
    b":",
    b" ",
    b"\t",
    b"\xff",
    b"abc",
    b"3\r\nabc\r\n0\r\n\r\n",
];

/// Pieces of a chunked body: sizes, extensions, data, line ends, trailers, and garbage.
const CHUNK_PIECES: &[&[u8]] = &[
    b"0",
    b"5",
    b"a",
    b"F",
    b"ffffffffffffffff",
    b"10000000000000000",
    b";",
    b";ext=v",
    b"=",
    b"\"q;\\\"\"",
    b" ",
    b"\t",
    b"\r\n",
    b"\n",
    b"\r",
    b"hello",
    b"x",
    b"X-T: 1\r\n",
    b":",
    b"\0",
    b"\x01",
    b"\xff",
    b"-",
    b"0x5",
];

/// Concatenated pieces picked from `pieces`.
fn assembled(pieces: &'static [&'static [u8]]) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(pieces.to_vec()), 0..40)
        .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Head-only inputs: heads built from pieces of valid and invalid head syntax.
    #[test]
    fn assembled_heads_never_panic(
        head in assembled(HEAD_PIECES),
        end in any::<bool>(),
        cuts in prop::collection::vec(any::<Index>(), 0..24),
        eof in any::<bool>(),
        small in any::<bool>(),
    ) {
        let mut input = head;
        if end {
            input.extend_from_slice(b"\r\n\r\n");
        }
        check_any_split(&input, &cuts, eof, small)?;
    }

    /// Chunked-only inputs: a fixed chunked head, then a body built from pieces of the
    /// chunked grammar and garbage.
    #[test]
    fn assembled_chunked_bodies_never_panic(
        body in assembled(CHUNK_PIECES),
        cuts in prop::collection::vec(any::<Index>(), 0..24),
        eof in any::<bool>(),
        small in any::<bool>(),
    ) {
        let mut input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        input.extend_from_slice(&body);
        check_any_split(&input, &cuts, eof, small)?;
    }
}

/// Decodes `input` whole and cut at `cuts`; both must agree (`run` itself asserts that the
/// decoder makes progress, so a loop fails the test rather than hanging it).
fn check_any_split(
    input: &[u8],
    cuts: &[Index],
    eof: bool,
    small: bool,
) -> Result<(), TestCaseError> {
    let limits = if small {
        small_limits()
    } else {
        Limits::default()
    };
    for method in [Method::GET, Method::HEAD] {
        let whole: Outcome = run(&method, &limits, &[input], eof);
        let split = run(&method, &limits, &pieces(input, cuts), eof);
        prop_assert_eq!(&split, &whole);
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        prop_assert_eq!(run(&method, &limits, &bytes, eof), whole);
    }
    Ok(())
}
