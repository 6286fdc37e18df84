//! HTTP/1.1 response framing (RFC 9112) over real sockets: each case is the exact bytes a
//! scripted server sends, and what the client must make of them. A malformed or hostile
//! response gives a typed error, never a wrong or short body, and never a poisoned pool.

use crate::support::{ScriptedServer, WAIT};
use bytes::Bytes;

/// GETs `url` and reads the whole body, whichever step fails.
fn fetch(client: &par_http::Client, url: &str) -> par_http::Result<(u16, Bytes)> {
    let response = client.get(url).send()?;
    let status = response.status().as_u16();
    Ok((status, response.bytes()?))
}

/// The outcome of one GET of a server that sends `reply` once and then closes.
fn fetch_once(reply: &[u8]) -> par_http::Result<(u16, Bytes)> {
    let server = ScriptedServer::replies(vec![reply.to_vec()]);
    fetch(&crate::rt::client(), &server.url("/case"))
}

/// A server whose first connection sends `first` to each request, later ones answer
/// `ok("next")`; keeps connections open so a wrongly reused one would be noticed.
fn first_then_ok(first: &'static [u8]) -> ScriptedServer {
    ScriptedServer::new(move |conn| {
        let reply = if conn.index() == 0 {
            first.to_vec()
        } else {
            crate::support::ok("next")
        };
        while conn.read_request().is_some() {
            conn.write_all(&reply);
        }
    })
}

#[test]
fn content_length_body() {
    let (status, body) = fetch_once(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello").unwrap();
    assert_eq!((status, &body[..]), (200, &b"hello"[..]));
}

#[test]
fn chunked_body_with_extensions_and_trailers() {
    let (status, body) = fetch_once(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
          5;name=value\r\nhello\r\n7;flag\r\n, world\r\n0\r\nX-Checksum: 1\r\nX-Other: 2\r\n\r\n",
    )
    .unwrap();
    assert_eq!((status, &body[..]), (200, &b"hello, world"[..]));
}

#[test]
fn chunked_body_is_reusable_after_the_trailers() {
    let server = ScriptedServer::always(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"
            .to_vec(),
    );
    let client = crate::rt::client();
    for _ in 0..3 {
        assert_eq!(&fetch(&client, &server.url("/")).unwrap().1[..], b"abc");
    }
    assert_eq!(server.accepted(), 1);
}

#[test]
fn close_delimited_body() {
    let (status, body) = fetch_once(b"HTTP/1.1 200 OK\r\n\r\nread until close").unwrap();
    assert_eq!((status, &body[..]), (200, &b"read until close"[..]));
}

#[test]
fn truncated_content_length_body_is_an_error_not_a_short_body() {
    let err = fetch_once(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort").unwrap_err();
    assert!(err.is_body() || err.is_protocol(), "{err:?}");
    assert_eq!(err.method(), Some(&http::Method::GET));
}

#[test]
fn connection_closed_mid_chunk_is_an_error() {
    let err =
        fetch_once(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA\r\nabc").unwrap_err();
    assert!(err.is_body() || err.is_protocol(), "{err:?}");
}

#[test]
fn connection_closed_before_the_last_chunk_is_an_error() {
    let err = fetch_once(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        .unwrap_err();
    assert!(err.is_body() || err.is_protocol(), "{err:?}");
}

#[test]
fn connection_closed_mid_head_is_an_error() {
    let err = fetch_once(b"HTTP/1.1 200 OK\r\nContent-Len").unwrap_err();
    assert!(!err.is_status() && !err.is_invalid_url(), "{err:?}");
}

#[test]
fn extra_bytes_after_the_body_are_ignored_and_the_connection_is_not_reused() {
    let server = first_then_ok(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA JUNK");
    let client = crate::rt::client();
    assert_eq!(&fetch(&client, &server.url("/1")).unwrap().1[..], b"hello");
    assert_eq!(&fetch(&client, &server.url("/2")).unwrap().1[..], b"next");
    assert_eq!(server.accepted(), 2);
}

#[test]
fn transfer_encoding_with_content_length_is_read_as_chunked_and_not_reused() {
    let server = first_then_ok(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n\
          5\r\nhello\r\n0\r\n\r\n",
    );
    let client = crate::rt::client();
    assert_eq!(&fetch(&client, &server.url("/1")).unwrap().1[..], b"hello");
    assert_eq!(&fetch(&client, &server.url("/2")).unwrap().1[..], b"next");
    assert_eq!(server.accepted(), 2);
}

#[test]
fn head_response_has_no_body_and_the_connection_is_reused() {
    let server = ScriptedServer::new(|conn| {
        while let Some(request) = conn.read_request() {
            if request.method == "HEAD" {
                conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n");
            } else {
                conn.write_all(&crate::support::ok("after head"));
            }
        }
    });
    let client = crate::rt::client();
    client
        .parallel(|p| {
            let head = p.head(server.url("/")).get_response()?;
            assert_eq!(head.status(), 200);
            assert_eq!(head.headers()["content-length"], "50");
            assert!(head.bytes()?.is_empty());
            assert_eq!(p.get(server.url("/")).get_response()?.text()?, "after head");
            Ok(())
        })
        .unwrap();
    assert_eq!(server.accepted(), 1);
}

#[test]
fn no_content_and_not_modified_have_no_body() {
    let server = ScriptedServer::new(|conn| {
        let replies: [&[u8]; 3] = [
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlast",
        ];
        for reply in replies {
            if conn.read_request().is_none() {
                return;
            }
            conn.write_all(reply);
        }
        conn.wait_for_close(WAIT);
    });
    let client = crate::rt::client();
    let no_content = fetch(&client, &server.url("/204")).unwrap();
    assert_eq!((no_content.0, no_content.1.len()), (204, 0));
    let not_modified = fetch(&client, &server.url("/304")).unwrap();
    assert_eq!((not_modified.0, not_modified.1.len()), (304, 0));
    assert_eq!(&fetch(&client, &server.url("/200")).unwrap().1[..], b"last");
    assert_eq!(server.accepted(), 1);
}

#[test]
fn interim_1xx_responses_are_skipped() {
    let (status, body) = fetch_once(
        b"HTTP/1.1 100 Continue\r\n\r\n\
          HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n\
          HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    )
    .unwrap();
    assert_eq!((status, &body[..]), (200, &b"ok"[..]));
}

#[test]
fn an_unrequested_switching_protocols_is_a_protocol_error() {
    let err = fetch_once(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    )
    .unwrap_err();
    assert!(err.is_protocol(), "{err:?}");
}

#[test]
fn conflicting_content_lengths_are_a_protocol_error() {
    let err =
        fetch_once(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!")
            .unwrap_err();
    assert!(err.is_protocol(), "{err:?}");
}

#[test]
fn an_invalid_content_length_is_a_protocol_error() {
    let err = fetch_once(b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello").unwrap_err();
    assert!(err.is_protocol(), "{err:?}");
}

#[test]
fn a_garbage_status_line_is_a_protocol_error() {
    let err = fetch_once(b"SPDY/9 OK\r\n\r\n").unwrap_err();
    assert!(err.is_protocol(), "{err:?}");
}

#[test]
fn a_head_over_64_kib_is_a_limit_error() {
    let mut reply = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
    reply.extend(std::iter::repeat_n(b'a', 70 * 1024));
    reply.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
    let err = fetch_once(&reply).unwrap_err();
    assert!(err.is_limit(), "{err:?}");
}

#[test]
fn more_than_100_headers_is_a_limit_error() {
    let mut reply = String::from("HTTP/1.1 200 OK\r\n");
    for i in 0..101 {
        reply.push_str(&format!("X-H-{i}: v\r\n"));
    }
    reply.push_str("Content-Length: 0\r\n\r\n");
    let err = fetch_once(reply.as_bytes()).unwrap_err();
    assert!(err.is_limit(), "{err:?}");
}

#[test]
fn a_hundred_headers_is_fine() {
    let mut reply = String::from("HTTP/1.1 200 OK\r\n");
    for i in 0..99 {
        reply.push_str(&format!("X-H-{i}: v\r\n"));
    }
    reply.push_str("Content-Length: 2\r\n\r\nok");
    let (status, body) = fetch_once(reply.as_bytes()).unwrap();
    assert_eq!((status, &body[..]), (200, &b"ok"[..]));
}

#[test]
fn a_failed_exchange_does_not_poison_the_pool() {
    // The first connection breaks framing; the client recovers on a fresh connection.
    let server =
        first_then_ok(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n");
    let client = crate::rt::client();
    assert!(
        fetch(&client, &server.url("/bad"))
            .unwrap_err()
            .is_protocol()
    );
    assert_eq!(
        &fetch(&client, &server.url("/good")).unwrap().1[..],
        b"next"
    );
    assert_eq!(server.accepted(), 2);
}

#[test]
fn the_request_goes_out_well_formed() {
    let server = ScriptedServer::always(crate::support::ok(""));
    let client = crate::rt::client();
    client
        .parallel(|p| {
            p.get(server.url("/path?q=1")).get_response()?;
            p.post(server.url("/post"), "body!").get_response()?;
            p.request(http::Method::PUT, server.url("/put"))
                .header("x-custom", "yes")
                .body(bytes::Bytes::from_static(b"put body"))
                .send()
                .get_response()?;
            Ok(())
        })
        .unwrap();
    let log = server.request_log();
    assert_eq!(log.len(), 3);
    let host = format!("{}", server.addr());
    assert_eq!(
        (log[0].method.as_str(), log[0].target.as_str()),
        ("GET", "/path?q=1")
    );
    assert_eq!(log[0].version, "HTTP/1.1");
    assert_eq!(log[0].header("host"), Some(host.as_str()));
    assert!(log[0].body.is_empty());
    assert_eq!(
        (log[1].method.as_str(), &log[1].body[..]),
        ("POST", &b"body!"[..])
    );
    assert_eq!(log[1].header("content-length"), Some("5"));
    assert_eq!(
        (log[2].method.as_str(), &log[2].body[..]),
        ("PUT", &b"put body"[..])
    );
    assert_eq!(log[2].header("x-custom"), Some("yes"));
}
