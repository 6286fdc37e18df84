//! Faults: servers that close or reset in the middle of a response, never answer, trickle,
//! answer before the request body is sent, or send more than the response.
//!
//! Closes give a truncation error named after where they happened (`ClosedBeforeResponse`
//! and `TruncatedHead` are protocol errors, `TruncatedBody` a body error); resets give an
//! IO error before the head is complete and a body error after. A complete response that
//! arrived before the reset is delivered (as curl and hyper do).

use std::time::Duration;

use http::Method;

use super::Kind::{Body, Connect, Io, Protocol, Timeout};
use super::{Case, ProtocolError as P, SHORT, Serve, Settings, err, ok, ok_status, read_head_only};
use crate::support::WAIT;

const CHUNKED_HEAD: &str = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

fn chunked(body: &str) -> Vec<u8> {
    format!("{CHUNKED_HEAD}{body}").into_bytes()
}

fn reset(bytes: impl AsRef<[u8]>) -> Serve {
    Serve::ReplyThenReset(bytes.as_ref().to_vec())
}

/// A request body much larger than the socket buffers: the server's answer arrives while
/// most of it is still unsent.
fn large_body() -> Vec<u8> {
    vec![b'x'; 8 << 20]
}

const TOO_LARGE: &[u8] =
    b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big!";

/// The request's `Content-Length`, from its raw head.
fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0)
}

hostile! {
    // Closed (FIN) at every stage.
    closed_before_any_byte: b"" => err(Protocol).because(P::ClosedBeforeResponse);
    closed_mid_status_line: b"HTTP/1.1 20" => err(Protocol).because(P::TruncatedHead);
    closed_mid_field_line: b"HTTP/1.1 200 OK\r\nContent-Le" => err(Protocol).because(P::TruncatedHead);
    closed_before_the_blank_line: b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
        => err(Protocol).because(P::TruncatedHead);
    closed_right_after_the_head: b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
        => err(Body).because(P::TruncatedBody);
    closed_mid_body: b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello" => err(Body).because(P::TruncatedBody);
    closed_mid_chunk: chunked("A\r\nabc") => err(Body).because(P::TruncatedBody);
    closed_mid_chunk_size_line: chunked("5\r\nhello\r\n1") => err(Body).because(P::TruncatedBody);
    closed_between_chunk_data_and_its_crlf: chunked("5\r\nhello") => err(Body).because(P::TruncatedBody);
    closed_mid_trailers: chunked("5\r\nhello\r\n0\r\nX-T: 1\r\n") => err(Body).because(P::TruncatedBody);

    // Reset (RST) at every stage.
    reset_before_any_byte: reset(b"") => err(Io);
    reset_mid_head: reset(b"HTTP/1.1 200 OK\r\nContent-Le") => err(Io);
    reset_mid_body: reset(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello") => err(Body);
    reset_mid_chunk: reset(chunked("A\r\nabc")) => err(Body);
    // The whole response arrived before the reset: it is the outcome.
    reset_after_a_complete_response: reset(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello") => ok("hello");

    // Silence: only the time limit ends these.
    never_answers: Case::new(Serve::script(|conn| {
        if conn.read_request().is_some() {
            conn.wait_for_close(WAIT);
        }
    })).timeout(SHORT) => err(Timeout);
    never_reads_the_request: Case::new(Serve::script(|conn| {
        conn.wait_until(|_| false, WAIT);
    })).timeout(SHORT) => err(Timeout);
    trickles_the_head: Case::new(Serve::Trickle(
        b"HTTP/1.1 200 OK\r\nServer: slow\r\nContent-Length: 2\r\n\r\nok".to_vec(),
        Duration::from_millis(25),
    )).timeout(SHORT) => err(Timeout);
    // Interim responses forever: each is complete, none is final; the time limit ends it.
    endless_interim_responses: Case::new(Serve::script(|conn| {
        if conn.read_request().is_none() {
            return;
        }
        for _ in 0..200 {
            if std::io::Write::write_all(conn.stream(), b"HTTP/1.1 100 Continue\r\n\r\n").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    })).timeout(SHORT) => err(Timeout);
    connection_refused: Serve::ClosedPort => err(Connect);

    // RFC 9112 §9.6: a client sending a body watches for a response; a server may answer
    // (413, say) before the body is read. The response is the outcome, whatever the
    // server then does with the rest of the body.
    answers_before_the_body_then_drains_and_closes: Case::new(Serve::script(|conn| {
        if read_head_only(conn).is_some() {
            conn.write_all(TOO_LARGE);
            conn.close();
        }
    })).method(Method::POST).body(large_body()) => ok_status(413, "too big!");
    answers_before_the_body_then_keeps_reading: Case::new(Serve::script(|conn| {
        let Some(head) = read_head_only(conn) else { return };
        conn.write_all(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 8\r\n\r\ntoo big!");
        let mut rest = content_length(&head);
        let mut scratch = vec![0u8; 64 * 1024];
        while rest > 0 {
            match std::io::Read::read(conn.stream(), &mut scratch) {
                Ok(0) | Err(_) => return,
                Ok(n) => rest = rest.saturating_sub(n),
            }
        }
        conn.wait_for_close(WAIT);
    })).method(Method::POST).body(large_body()) => ok_status(413, "too big!");
    // The server answers and closes without reading the body: the kernel resets the
    // connection, and the client's write fails; the response had already arrived.
    answers_before_the_body_then_resets: Case::new(Serve::script(|conn| {
        if read_head_only(conn).is_some() {
            conn.write_all(TOO_LARGE);
        }
        // Returning closes the socket with the body unread: RST.
    })).method(Method::POST).body(large_body()) => ok_status(413, "too big!");

    // More bytes than the response: they are not part of the body (and the connection is
    // not reused, see the pool group).
    extra_bytes_after_a_content_length_body:
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA JUNK" => ok("hello");
    extra_bytes_after_a_chunked_body: chunked("5\r\nhello\r\n0\r\n\r\nJUNK") => ok("hello");
    a_second_response_after_the_first:
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\noneHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo"
        => ok("one");
}

/// A client with a read timeout of `SHORT / 3`.
fn read_timeout() -> Settings {
    Settings {
        read_timeout: Some(SHORT / 3),
        ..Settings::default()
    }
}

hostile! {
    // The read timeout: the longest wait for the next byte, for the head and for the body.
    // One byte every 250 ms: each wait is longer than the read timeout (100 ms).
    trickles_one_byte_at_a_time_past_the_read_timeout: Case::new(Serve::Trickle(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
        Duration::from_millis(250),
    )).settings(read_timeout()) => err(Timeout);
    sends_the_head_then_stalls_past_the_read_timeout:
        Case::new(Serve::ReplyThenHold(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhel".to_vec()))
            .settings(read_timeout()) => err(Timeout);
    sends_half_a_chunk_then_stalls_past_the_read_timeout:
        Case::new(Serve::ReplyThenHold(chunked("A\r\nabc")))
            .settings(read_timeout()) => err(Timeout);
    // The total timeout covers the body too: a steady trickle never trips the read timeout
    // (a byte every 25 ms) but the whole response would take about 1.5 s.
    trickles_steadily_past_the_total_timeout: Case::new(Serve::Trickle(
        format!("HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n{}", "b".repeat(40)).into_bytes(),
        Duration::from_millis(25),
    )).timeout(SHORT).settings(read_timeout()) => err(Timeout);
    sends_the_head_then_stalls_past_the_total_timeout:
        Case::new(Serve::ReplyThenHold(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhel".to_vec()))
            .timeout(SHORT) => err(Timeout);
}
