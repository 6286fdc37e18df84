//! Status lines and header fields (RFC 9112 §4, §5; RFC 9110 §5, §15), and the limits
//! that bound what a head may cost: one huge field or a great many fields give a limit
//! error after a bounded read, never an unbounded buffer.

use super::Kind::{Limit, Protocol};
use super::{ProtocolError as P, Serve, err, ok, ok_status};

/// A `200` head made of `lines` (each ending in CRLF) and `Content-Length: 2`, body `ok`.
fn head_with(lines: &str) -> String {
    format!("HTTP/1.1 200 OK\r\n{lines}Content-Length: 2\r\n\r\nok")
}

/// The same as [`head_with`], from raw bytes (for bytes that are not UTF-8).
fn head_with_bytes(lines: &[u8]) -> Vec<u8> {
    let mut out = b"HTTP/1.1 200 OK\r\n".to_vec();
    out.extend_from_slice(lines);
    out.extend_from_slice(b"Content-Length: 2\r\n\r\nok");
    out
}

/// A head with `n` distinct fields and `Content-Length: 2`, body `ok`.
fn many_fields(n: usize) -> String {
    let lines: String = (0..n).map(|i| format!("X-Field-{i}: v\r\n")).collect();
    head_with(&lines)
}

hostile! {
    // RFC 9112 §5.2: a user agent replaces obs-fold with SP and goes on.
    obs_fold_is_unfolded: head_with("X-Folded: one\r\n two\r\n\tthree\r\n") => ok("ok");
    // RFC 9112 §2.2: whitespace before the first field line must be rejected or the
    // line ignored; this client rejects (as hyper does).
    whitespace_line_before_the_first_field:
        b"HTTP/1.1 200 OK\r\n  folded-into-nothing\r\nContent-Length: 2\r\n\r\nok"
        => err(Protocol).because(P::InvalidHeader);
    // RFC 9112 §5: field-line = field-name ":" OWS field-value OWS.
    field_line_without_a_colon: head_with("NoColonHere\r\n") => err(Protocol).because(P::InvalidHeader);
    field_name_with_a_space_inside: head_with("Bad Name: x\r\n") => err(Protocol).because(P::InvalidHeader);
    field_name_with_a_separator: head_with("X(y): z\r\n") => err(Protocol).because(P::InvalidHeader);
    field_name_empty: head_with(": value\r\n") => err(Protocol).because(P::InvalidHeader);
    // RFC 9112 §5.1: no whitespace between name and colon. Servers must reject it; a proxy
    // must strip it; a user agent strips it like a proxy (the name stays a token).
    whitespace_before_the_colon_is_stripped: head_with("X-Spaced : yes\r\n") => ok("ok");
    content_length_with_whitespace_before_the_colon:
        b"HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello" => ok("hello");
    // RFC 9112 §2.2: a recipient may take a bare LF as a line end, anywhere in the head.
    bare_lf_line_ends: b"HTTP/1.1 200 OK\nX-A: 1\nContent-Length: 2\n\nok" => ok("ok");
    bare_lf_after_the_status_line_only: b"HTTP/1.1 200 OK\nContent-Length: 2\r\n\r\nok" => ok("ok");
    // RFC 9112 §2.2: a bare CR is invalid (or replaced by SP); this client rejects it.
    bare_cr_in_a_field_value: head_with("X-A: a\rb\r\n") => err(Protocol).because(P::InvalidHeader);
    bare_cr_ending_the_status_line:
        b"HTTP/1.1 200 OK\r\r\nContent-Length: 2\r\n\r\nok" => err(Protocol);
    // RFC 9110 §5.5: CR, LF and NUL in a value are invalid and dangerous: reject.
    nul_in_a_field_value: head_with("X-A: a\0b\r\n") => err(Protocol).because(P::InvalidHeader);
    nul_in_a_field_name: head_with("X-\0A: b\r\n") => err(Protocol).because(P::InvalidHeader);
    nul_in_the_reason_phrase:
        b"HTTP/1.1 200 O\0K\r\nContent-Length: 2\r\n\r\nok" => err(Protocol).because(P::InvalidStatusLine);
    control_byte_in_a_field_value: head_with("X-A: a\x01b\r\n") => err(Protocol).because(P::InvalidHeader);
    // obs-text (0x80-0xFF) is allowed in a field value; HTAB and empty values too.
    obs_text_in_a_field_value: head_with_bytes(b"X-Latin: caf\xe9\r\n") => ok("ok");
    tab_in_a_field_value: head_with("X-Tab: a\tb\r\n") => ok("ok");
    empty_field_value: head_with("X-Empty:\r\nX-Empty-Too: \r\n") => ok("ok");
    many_lines_of_one_field: head_with(&"Set-Cookie: a=b\r\n".repeat(50)) => ok("ok");

    // RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ].
    empty_reason_phrase: b"HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok" => ok("ok");
    // No SP and no reason: hyper and curl accept it, so does this client.
    status_line_without_a_reason: b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok" => ok("ok");
    reason_phrase_with_obs_text: b"HTTP/1.1 200 D\xe9j\xe0 vu\r\nContent-Length: 2\r\n\r\nok" => ok("ok");
    http_1_0_response: b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok" => ok("ok");
    // Only HTTP/1.x is spoken here; curl and hyper refuse other versions the same way
    // (curl: "unsupported HTTP version in response").
    http_2_0_status_line: b"HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok"
        => err(Protocol).because(P::UnsupportedVersion);
    http_2_status_line: b"HTTP/2 200\r\ncontent-length: 2\r\n\r\nok"
        => err(Protocol).because(P::UnsupportedVersion);
    // RFC 9110 §2.5 says a higher minor version SHOULD be read as HTTP/1.1; curl ("unsupported
    // HTTP/1 subversion in response") and hyper refuse it, and so does this client.
    http_1_2_status_line: b"HTTP/1.2 200 OK\r\nContent-Length: 2\r\n\r\nok"
        => err(Protocol).because(P::UnsupportedVersion);
    // An HTTP/0.9 reply is a bare body with no status line: refused (curl: "received
    // HTTP/0.9 when not allowed"; hyper: invalid status line).
    http_0_9_reply: b"<html>hello</html>\r\n\r\n" => err(Protocol).because(P::InvalidStatusLine);
    http_0_9_reply_without_a_line_end: b"<html>hello</html>" => err(Protocol);
    // HTTP-name is case-sensitive (RFC 9112 §2.3).
    lower_case_http_name: b"http/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" => err(Protocol);
    status_code_with_two_digits: b"HTTP/1.1 20 OK\r\nContent-Length: 2\r\n\r\nok" => err(Protocol);
    status_code_with_four_digits: b"HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok" => err(Protocol);
    status_code_missing: b"HTTP/1.1 OK\r\nContent-Length: 2\r\n\r\nok" => err(Protocol);
    garbage_before_the_status_line: b"garbage\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" => err(Protocol);
    // RFC 9110 §15: a status below 100 cannot be interpreted (hyper refuses it too).
    status_code_below_100: b"HTTP/1.1 099 Low\r\nContent-Length: 2\r\n\r\nok"
        => err(Protocol).because(P::InvalidStatusCode);
    // RFC 9110 §15: codes 600-999 are invalid, and a client SHOULD process such a response as
    // a 5xx; curl and hyper both deliver it with its code, and so does this client.
    status_code_above_599: b"HTTP/1.1 600 High\r\nContent-Length: 2\r\n\r\nok" => ok_status(600, "ok");
    status_code_999: b"HTTP/1.1 999 Highest\r\nContent-Length: 2\r\n\r\nok" => ok_status(999, "ok");
    // RFC 9112 §2.2: empty lines before the status line are ignored.
    empty_lines_before_the_status_line: b"\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" => ok("ok");

    // Limits (64 KiB head, 100 fields by default): a limit error, not a buffer that grows.
    a_huge_single_field: head_with(&format!("X-Big: {}\r\n", "a".repeat(70 * 1024)))
        => err(Limit).because(P::HeadTooLarge { limit: 64 * 1024 });
    a_field_that_never_ends: Serve::Endless {
        prefix: b"HTTP/1.1 200 OK\r\nX-Endless: ".to_vec(),
        filler: b"a".to_vec(),
    } => err(Limit).because(P::HeadTooLarge { limit: 64 * 1024 });
    a_head_that_never_ends: Serve::Endless {
        prefix: b"HTTP/1.1 200 OK\r\n".to_vec(),
        filler: b"X-Again: and again\r\n".to_vec(),
    } => err(Limit).because(P::HeadTooLarge { limit: 64 * 1024 });
    a_hundred_fields: many_fields(99) => ok("ok");
    more_than_a_hundred_fields: many_fields(101) => err(Limit).because(P::TooManyHeaders { limit: 100 });
    ten_thousand_fields: many_fields(10_000) => err(Limit);
    endless_empty_lines_before_the_status_line: Serve::Endless {
        prefix: Vec::new(),
        filler: b"\r\n".to_vec(),
    } => err(Limit).because(P::HeadTooLarge { limit: 64 * 1024 });
}
