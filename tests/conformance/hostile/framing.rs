//! Message framing, RFC 9112 §6 (message body length) and §7 (transfer codings): every rule
//! that decides where a response body ends, fed by a server that bends it.

use http::Method;

use super::Kind::{Body, Limit, Protocol};
use super::{Case, ProtocolError as P, err, ok, ok_status};

/// `HTTP/1.1 200 OK` with `Transfer-Encoding: chunked`, then `body` as the wire bytes.
fn chunked(body: &str) -> String {
    format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{body}")
}

/// `HTTP/1.1 200 OK` with the given header lines (each ending in CRLF), a blank line and `body`.
fn with_headers(headers: &str, body: &str) -> String {
    format!("HTTP/1.1 200 OK\r\n{headers}\r\n{body}")
}

hostile! {
    // §6.3 rule 6: Content-Length gives the body length.
    content_length_exact: b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" => ok("hello");
    content_length_zero: b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" => ok("");
    // Content-Length = 1*DIGIT: leading zeros are digits like any other.
    content_length_leading_zeros: b"HTTP/1.1 200 OK\r\nContent-Length: 005\r\n\r\nhello" => ok("hello");
    // §6.3 rule 5 / RFC 9110 §8.6: a list of identical values may be taken as that value.
    content_length_list_of_identical_values:
        b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello" => ok("hello");
    content_length_repeated_identical_lines:
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello" => ok("hello");
    // §6.3 rule 5: differing values are an unrecoverable error (the user agent closes and
    // discards the response): the classic response-splitting ambiguity.
    content_length_conflicting_lines:
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"
        => err(Protocol).because(P::ConflictingContentLength);
    content_length_conflicting_list:
        b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!"
        => err(Protocol).because(P::ConflictingContentLength);
    content_length_negative: b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello"
        => err(Protocol).because(P::InvalidContentLength);
    content_length_with_plus_sign: b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello"
        => err(Protocol).because(P::InvalidContentLength);
    content_length_in_hex: b"HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\nhello"
        => err(Protocol).because(P::InvalidContentLength);
    content_length_empty: b"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\nhello"
        => err(Protocol).because(P::InvalidContentLength);
    content_length_two_numbers_in_one_element:
        b"HTTP/1.1 200 OK\r\nContent-Length: 5 5\r\n\r\nhello"
        => err(Protocol).because(P::InvalidContentLength);
    content_length_overflows_u64:
        b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\nhello"
        => err(Protocol).because(P::InvalidContentLength);
    // A body shorter than its Content-Length is an incomplete message (§8), never a short body.
    content_length_longer_than_the_body:
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"
        => err(Body).because(P::TruncatedBody);

    // §6.3 rule 8: no Content-Length nor Transfer-Encoding: the body runs until close.
    close_delimited_body: b"HTTP/1.1 200 OK\r\n\r\nread until close" => ok("read until close");
    close_delimited_empty_body: b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n" => ok("");

    // §7.1: the chunked coding.
    chunked_simple: chunked("5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n") => ok("hello, world");
    chunked_empty_body: chunked("0\r\n\r\n") => ok("");
    chunked_hex_sizes_in_both_cases:
        chunked("a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n") => ok("0123456789abcdefghij");
    chunked_size_with_leading_zeros: chunked("0005\r\nhello\r\n000\r\n\r\n") => ok("hello");
    // §7.1.1: extensions are ignored (quoted strings may hold `;`).
    chunked_extensions_are_ignored:
        chunked("5;name=value;flag\r\nhello\r\n1;q=\"a;b\\\"c\"\r\n!\r\n0;last\r\n\r\n") => ok("hello!");
    // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ).
    chunked_whitespace_before_an_extension: chunked("5 ;a = b\r\nhello\r\n0\r\n\r\n") => ok("hello");
    chunked_extension_with_a_control_byte: chunked("5;a=\x01\r\nhello\r\n0\r\n\r\n")
        => err(Protocol).because(P::InvalidChunkExtension);
    chunked_extension_longer_than_the_line_limit:
        chunked(&format!("5;{}\r\nhello\r\n0\r\n\r\n", "x".repeat(8 * 1024)))
        => err(Limit).because(P::ChunkLineTooLong { limit: 4 * 1024 });
    // §7.1.2: trailer fields are read and do not end up in the body.
    chunked_with_trailers:
        chunked("5\r\nhello\r\n0\r\nX-Checksum: 1\r\nX-Other: two\r\n\r\n") => ok("hello");
    chunked_trailer_without_a_colon: chunked("5\r\nhello\r\n0\r\nno colon here\r\n\r\n")
        => err(Protocol).because(P::InvalidTrailer);
    chunked_trailers_over_the_limit:
        chunked(&format!("5\r\nhello\r\n0\r\nX-Big: {}\r\n\r\n", "t".repeat(20 * 1024)))
        => err(Limit).because(P::TrailersTooLarge { limit: 16 * 1024 });
    // §2.2: a recipient may take a bare LF as a line end.
    chunked_with_bare_lf_line_ends: chunked("5\nhello\n0\n\n") => ok("hello");
    // A chunk size must fit the recipient's integers (§7.1: "anticipate potentially large
    // hexadecimal numerals and prevent parsing errors due to integer conversion overflows").
    chunk_size_overflows_u64: chunked("10000000000000000\r\nhello\r\n0\r\n\r\n")
        => err(Protocol).because(P::ChunkSizeOverflow);
    chunk_size_is_not_hex: chunked("zz\r\nhello\r\n0\r\n\r\n")
        => err(Protocol).because(P::InvalidChunkSize);
    chunk_size_is_missing: chunked("\r\nhello\r\n0\r\n\r\n")
        => err(Protocol).because(P::InvalidChunkSize);
    chunk_size_is_negative: chunked("-5\r\nhello\r\n0\r\n\r\n")
        => err(Protocol).because(P::InvalidChunkSize);
    chunk_size_with_a_0x_prefix: chunked("0x5\r\nhello\r\n0\r\n\r\n")
        => err(Protocol).because(P::InvalidChunkSize);
    chunk_size_with_garbage_after_the_digits: chunked("5 5\r\nhello\r\n0\r\n\r\n")
        => err(Protocol).because(P::InvalidChunkSize);
    chunk_data_longer_than_its_size: chunked("3\r\nhello\r\n0\r\n\r\n")
        => err(Protocol).because(P::InvalidChunkTerminator);
    chunk_data_without_its_line_end: chunked("5\r\nhello0\r\n\r\n")
        => err(Protocol).because(P::InvalidChunkTerminator);
    // The last chunk without the final CRLF: the message is incomplete.
    chunked_missing_the_final_crlf: chunked("5\r\nhello\r\n0\r\n")
        => err(Body).because(P::TruncatedBody);
    chunked_missing_the_last_chunk: chunked("5\r\nhello\r\n")
        => err(Body).because(P::TruncatedBody);

    // §6.1: coding names are case-insensitive.
    transfer_encoding_chunked_in_capitals:
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\n\r\n2\r\nok\r\n0\r\n\r\n" => ok("ok");
    // §6.3 rule 4: chunked is the final coding, so the body is chunked; the codings before
    // it are not undone (the client never offered any in TE), so the data comes as sent.
    transfer_encoding_ending_in_chunked:
        with_headers("Transfer-Encoding: x-custom, chunked\r\n", "3\r\nraw\r\n0\r\n\r\n") => ok("raw");
    transfer_encoding_split_over_two_lines:
        with_headers("Transfer-Encoding: x-custom\r\nTransfer-Encoding: chunked\r\n", "3\r\nraw\r\n0\r\n\r\n")
        => ok("raw");
    // §6.3 rule 4: chunked not last in a response: read until the server closes.
    transfer_encoding_not_ending_in_chunked:
        with_headers("Transfer-Encoding: chunked, x-custom\r\n", "5\r\nhello\r\n0\r\n\r\n")
        => ok("5\r\nhello\r\n0\r\n\r\n");
    transfer_encoding_without_chunked:
        with_headers("Transfer-Encoding: x-custom\r\n", "opaque bytes") => ok("opaque bytes");
    // §6.1: chunked must not be applied more than once: the framing is ambiguous.
    transfer_encoding_chunked_twice:
        with_headers("Transfer-Encoding: chunked, chunked\r\n", "5\r\nhello\r\n0\r\n\r\n")
        => err(Protocol).because(P::InvalidTransferEncoding);
    transfer_encoding_chunked_on_two_lines:
        with_headers("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n")
        => err(Protocol).because(P::InvalidTransferEncoding);
    // §6.3 rule 3: Transfer-Encoding overrides Content-Length (and the connection is closed
    // after the message, see the pool group).
    transfer_encoding_overrides_content_length:
        with_headers("Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n")
        => ok("hello");
    // §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing: it is processed,
    // then the connection is closed (it is not reused, see the pool group).
    transfer_encoding_in_http_1_0:
        b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" => ok("hello");

    // §6.3 rule 1: no body in a response to HEAD, nor in a 204 or a 304, whatever the headers say.
    head_response_with_content_length:
        Case::reply(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n").method(Method::HEAD) => ok("");
    head_response_with_chunked:
        Case::reply(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").method(Method::HEAD) => ok("");
    head_response_with_bytes_after_the_head:
        Case::reply(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello").method(Method::HEAD) => ok("");
    no_content_with_content_length:
        b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello" => ok_status(204, "");
    no_content_with_chunked:
        b"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" => ok_status(204, "");
    not_modified_with_content_length:
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n" => ok_status(304, "");
    // 1xx interim responses are skipped (§6.3 rule 1: they have no body).
    interim_responses_before_the_final_one:
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        => ok("ok");
    // The client never asks to upgrade, so a 101 is a protocol error, not a tunnel.
    unrequested_switching_protocols:
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        => err(Protocol).because(P::SwitchingProtocols);
}
