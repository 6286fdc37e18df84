//! Unit tests of chunked bodies (RFC 9112 §7.1) through the response decoder, all run
//! through [`tr_with`](super::tests::tr_with): whole, byte by byte, at every split, and
//! with trailing bytes.

use http::Method;

use super::tests::{Outcome, tr_eof, tr_with};
use super::{Event, ResponseDecoder};
use crate::h1::{Limits, ProtocolError};

fn chunked(body: &[u8]) -> Outcome {
    let mut input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    input.extend_from_slice(body);
    tr_eof(&input)
}

fn chunked_with(limits: &Limits, body: &[u8]) -> Outcome {
    let mut input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    input.extend_from_slice(body);
    tr_with(&Method::GET, limits, &input, true)
}

#[test]
fn chunked_body() {
    let out = chunked(b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n");
    assert_eq!(out.body, b"hello, world");
    assert_eq!(
        (out.end, out.trailers, out.ended_by_eof),
        (Some(None), None, false)
    );
    let out = chunked(b"A\r\n0123456789\r\n00000001\r\n!\r\n000\r\n\r\n");
    assert_eq!(out.body, b"0123456789!");
    let out = chunked(b"0\r\n\r\n");
    assert_eq!((out.body.len(), out.end), (0, Some(None)));
}

#[test]
fn chunk_extensions_and_whitespace_are_ignored() {
    let out = chunked(
        b"5;name=value;quoted=\"a;b\"\r\nhello\r\n1 ; x\r\n!\r\n2\t\r\nok\r\n0;last\r\n\r\n",
    );
    assert_eq!(out.body, b"hello!ok");
    assert_eq!(out.end, Some(None));
    let out = chunked(b"3;\x80\xff\tobs\r\nabc\r\n0\r\n\r\n");
    assert_eq!(out.body, b"abc");
}

#[test]
fn chunked_bare_lf() {
    let out = chunked(b"3\nabc\n0\n\n");
    assert_eq!((out.body.as_slice(), out.end), (&b"abc"[..], Some(None)));
    let out = chunked(b"3\r\nabc\n0\nX: y\n\r\n");
    assert_eq!(out.trailers.unwrap().get("x").unwrap(), "y");
}

#[test]
fn invalid_chunk_sizes() {
    for body in [
        &b"g\r\n"[..],
        b"\r\n",
        b"-1\r\n",
        b"0x5\r\n",
        b" 5\r\n",
        b"+5\r\n",
        b"5 5\r\n",
        b"5\rx",
        b";x\r\n",
    ] {
        assert_eq!(
            chunked(body).error,
            Some(ProtocolError::InvalidChunkSize),
            "{body:?}"
        );
    }
    let out = chunked(b"2\r\nok\r\nz\r\n");
    assert_eq!(
        (out.body.as_slice(), out.error),
        (&b"ok"[..], Some(ProtocolError::InvalidChunkSize))
    );
}

#[test]
fn chunk_size_overflow() {
    assert_eq!(
        chunked(b"10000000000000000\r\n").error,
        Some(ProtocolError::ChunkSizeOverflow)
    );
    let out = chunked(b"ffffffffffffffff\r\nab");
    assert_eq!(
        (out.body.as_slice(), out.error),
        (&b"ab"[..], Some(ProtocolError::TruncatedBody))
    );
    let out = chunked(b"000000000000000000000000001\r\na\r\n0\r\n\r\n");
    assert_eq!(out.body, b"a");
}

#[test]
fn chunk_extension_control_bytes() {
    for body in [
        &b"1;a\x00b\r\n"[..],
        b"1;\x1b\r\n",
        b"1;\x7f\r\n",
        b"1 ;\x0b\r\n",
    ] {
        assert_eq!(
            chunked(body).error,
            Some(ProtocolError::InvalidChunkExtension),
            "{body:?}"
        );
    }
    // A CR always ends the line, so a bare one inside an extension breaks the line end.
    assert_eq!(
        chunked(b"1;a\rb\r\n").error,
        Some(ProtocolError::InvalidChunkSize)
    );
}

#[test]
fn chunk_line_limit() {
    let limits = Limits::default().max_chunk_line_bytes(8);
    let out = chunked_with(&limits, b"1;abcdef\r\nx\r\n0\r\n\r\n");
    assert_eq!(out.body, b"x", "8 bytes: at the limit");
    let out = chunked_with(&limits, b"1;abcdefg\r\nx\r\n0\r\n\r\n");
    assert_eq!(
        out.error,
        Some(ProtocolError::ChunkLineTooLong { limit: 8 })
    );
    let out = chunked_with(&limits, b"000000001\r\n");
    assert_eq!(
        out.error,
        Some(ProtocolError::ChunkLineTooLong { limit: 8 })
    );
}

#[test]
fn chunk_data_must_end_with_a_line_end() {
    for body in [&b"3\r\nabcd\r\n"[..], b"3\r\nabc\rx", b"3\r\nabc\r\r\n"] {
        let out = chunked(body);
        assert_eq!(
            (out.body.as_slice(), out.error),
            (&b"abc"[..], Some(ProtocolError::InvalidChunkTerminator))
        );
    }
}

#[test]
fn data_events_stop_at_the_chunk_end() {
    let input =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    let mut decoder = ResponseDecoder::new(&Method::GET, &Limits::default());
    let mut buf = &input[..];
    let mut events = Vec::new();
    loop {
        let (used, event) = decoder.decode(buf).unwrap();
        match event {
            Some(Event::Data(data)) => events.push(data.to_vec()),
            Some(Event::End(_)) => break,
            _ => {}
        }
        buf = &buf[used..];
    }
    assert_eq!(events, [b"abc".to_vec(), b"de".to_vec()]);
}

#[test]
fn trailers() {
    let out = chunked(b"1\r\na\r\n0\r\nX-Sum: 12\r\nX-Time:3 \r\nx-sum: 13\r\n\r\n");
    let trailers = out.trailers.expect("trailers");
    let sums: Vec<_> = trailers.get_all("x-sum").iter().collect();
    assert_eq!(sums, ["12", "13"]);
    assert_eq!(trailers.get("x-time").unwrap(), "3");
    assert_eq!(out.end, Some(None));
}

#[test]
fn invalid_trailers() {
    for body in [
        &b"0\r\nno colon\r\n\r\n"[..],
        b"0\r\nX: a\x01b\r\n\r\n",
        b"0\r\nX: a\rb\r\n\r\n",
        b"0\r\nX: a\r\n folded\r\n\r\n",
        b"0\r\n\rX",
        // Trailers are parsed strictly: no whitespace before the colon.
        b"0\r\nX : y\r\n\r\n",
    ] {
        assert_eq!(
            chunked(body).error,
            Some(ProtocolError::InvalidTrailer),
            "{body:?}"
        );
    }
}

#[test]
fn trailer_limits() {
    let limits = Limits::default().max_trailer_bytes(12);
    let out = chunked_with(&limits, b"0\r\nX: 1234567\r\n\r\n");
    assert_eq!(
        out.trailers.unwrap().get("x").unwrap(),
        "1234567",
        "10 + CRLF = 12 bytes"
    );
    let out = chunked_with(&limits, b"0\r\nX: 12345678\r\n\r\n");
    assert_eq!(
        out.error,
        Some(ProtocolError::TrailersTooLarge { limit: 12 })
    );
    let limits = Limits::default().max_headers(2);
    let out = chunked_with(&limits, b"0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
    assert_eq!(out.error, Some(ProtocolError::TooManyHeaders { limit: 2 }));
    let mut many = b"0\r\n".to_vec();
    for i in 0..40 {
        many.extend_from_slice(format!("T-{i}: {i}\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    let out = chunked_with(&Limits::default(), &many);
    assert_eq!(
        out.trailers.unwrap().len(),
        40,
        "heap retry past the stack slots"
    );
}
