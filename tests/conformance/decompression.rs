//! Transparent decompression, through the parallel scope (blocking and async) on this
//! runtime: `Accept-Encoding` goes out, gzip and deflate bodies come back decoded (their
//! `Content-Encoding` and `Content-Length` gone), a decompression bomb stops at the
//! configured cap with a typed error, and a client without decompression passes the
//! bytes through. Bodies are compressed in the test with flate2.

use std::io::Write;
use std::time::Duration;

use flate2::Compression;
use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
use par_http::{DecompressError, Method};

use crate::rt;
use crate::support::{ScriptedServer, WAIT, response};

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// A text long and varied enough to span several reads, yet compressible.
fn sample(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| b"the quick brown fox jumps over the lazy dog "[i % 44] ^ ((i / 997) as u8 & 1))
        .collect()
}

/// Answers every request with `status`, `Content-Encoding: coding` and `body`, keeping
/// the connection open.
fn encoded_server(coding: &str, body: Vec<u8>) -> ScriptedServer {
    ScriptedServer::always(response(
        200,
        &[&format!("Content-Encoding: {coding}")],
        &body,
    ))
}

#[test]
fn gzip_and_deflate_bodies_are_decoded_and_accept_encoding_is_sent() {
    let text = sample(100_000);
    let servers = [
        ("gzip", encoded_server("gzip", gzip(&text))),
        ("zlib", encoded_server("deflate", zlib(&text))),
        ("raw deflate", encoded_server("deflate", raw_deflate(&text))),
    ];
    let client = rt::client();
    client
        .parallel(|p| {
            let pending: Vec<_> = servers.iter().map(|(_, s)| p.get(s.url("/text"))).collect();
            for ((name, _), pending) in servers.iter().zip(pending) {
                let response = pending.get_response()?;
                assert!(
                    response.headers().get("content-encoding").is_none(),
                    "{name}"
                );
                assert!(response.headers().get("content-length").is_none(), "{name}");
                assert!(response.bytes()? == text, "{name}: the body is decoded");
            }
            Ok(())
        })
        .unwrap();
    for (name, server) in &servers {
        let sent = server.request_log()[0]
            .header("accept-encoding")
            .map(str::to_owned);
        let sent = sent.unwrap_or_default();
        assert!(
            sent.contains("gzip") && sent.contains("deflate"),
            "{name}: {sent:?}"
        );
    }
}

#[test]
fn a_decoded_body_gives_its_connection_back() {
    let server = encoded_server("gzip", gzip(b"small and compressed"));
    let client = rt::client();
    for _ in 0..3 {
        let text = client
            .parallel(|p| p.get(server.url("/")).get_response()?.text())
            .unwrap();
        assert_eq!(text, "small and compressed");
    }
    assert_eq!(server.accepted(), 1, "{:?}", server.stats());
}

#[test]
fn a_large_chunked_gzip_body_streams_through_the_decoder() {
    // Larger than what is read with the head, and chunked: decoded while it arrives.
    let text = sample(2_000_000);
    let encoded = gzip(&text);
    let server = ScriptedServer::always({
        let mut out =
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
                .to_vec();
        for chunk in encoded.chunks(7_000) {
            out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    });
    let client = rt::client();
    let body = client
        .parallel(|p| p.get(server.url("/big")).get_response()?.bytes())
        .unwrap();
    assert_eq!(body.len(), text.len());
    assert!(body == text);
}

fn assert_too_large(err: &par_http::Error, limit: u64) {
    assert!(err.is_decompress(), "{err:?}");
    assert!(
        err.url().is_some_and(|url| url.ends_with("/bomb")),
        "{err:?}"
    );
    let cause = std::error::Error::source(err).and_then(|s| s.downcast_ref::<DecompressError>());
    assert!(
        matches!(cause, Some(DecompressError::TooLarge { limit: l }) if *l == limit),
        "{err:?}"
    );
}

#[test]
fn a_decompression_bomb_stops_at_the_cap() {
    const CAP: u64 = 1 << 20;
    // 8 MiB of zeros: about 8 KiB of gzip, which arrives whole with the head.
    let small_bomb = gzip(&vec![0u8; 8 << 20]);
    assert!(small_bomb.len() < 64 * 1024);
    let server = encoded_server("gzip", small_bomb);
    let client = rt::builder().max_decompressed_bytes(CAP).build().unwrap();
    let err = client
        .parallel(|p| p.get(server.url("/bomb")).get_response()?.bytes())
        .unwrap_err();
    assert_too_large(&err, CAP);

    // 256 gzip members of 1 MiB of zeros each (256 MiB from about 256 KiB): the
    // decoder stops long before the end of the body, so the connection is closed.
    let member = gzip(&vec![0u8; 1 << 20]);
    let big_bomb: Vec<u8> = member
        .iter()
        .copied()
        .cycle()
        .take(member.len() * 256)
        .collect();
    let streaming = ScriptedServer::new(move |conn| {
        if conn.read_request().is_some() {
            conn.write_all(&response(200, &["Content-Encoding: gzip"], &big_bomb));
            conn.wait_for_close(WAIT);
        }
    });
    rt::block_on(async {
        let client = rt::AsyncClient::builder()
            .max_decompressed_bytes(CAP)
            .build()
            .unwrap();
        let parallel = client.parallel();
        let pending = parallel.get(streaming.url("/bomb")).await;
        // Read in the background, the body's error may be the outcome itself.
        let err = match pending.get_response().await {
            Ok(response) => response.bytes().await.unwrap_err(),
            Err(err) => err,
        };
        assert_too_large(&err, CAP);
    });
    assert!(
        streaming.wait_until(|s| s.closed_by_peer == 1, WAIT),
        "{:?}",
        streaming.stats()
    );

    // Exactly at the cap is fine.
    let exact = gzip(&vec![7u8; CAP as usize]);
    let server = ScriptedServer::always(response(200, &["Content-Encoding: gzip"], &exact));
    let body = client
        .parallel(|p| p.get(server.url("/exact")).get_response()?.bytes())
        .unwrap();
    assert_eq!(body.len() as u64, CAP);
}

#[test]
fn corrupt_or_truncated_data_is_a_decompress_error() {
    let mut truncated = gzip(&sample(10_000));
    truncated.truncate(truncated.len() / 2);
    let cases = [
        (
            "corrupt",
            encoded_server("gzip", b"this is not gzip at all".to_vec()),
        ),
        ("truncated", encoded_server("gzip", truncated)),
    ];
    let client = rt::client();
    for (name, server) in &cases {
        let err = client
            .parallel(|p| p.get(server.url("/")).get_response()?.bytes())
            .unwrap_err();
        assert!(err.is_decompress(), "{name}: {err:?}");
        let cause =
            std::error::Error::source(&err).and_then(|s| s.downcast_ref::<DecompressError>());
        assert!(
            matches!(cause, Some(DecompressError::Invalid { coding: "gzip", .. })),
            "{name}: {err:?}"
        );
    }
}

#[test]
fn without_decompression_the_bytes_pass_through() {
    let encoded = gzip(b"still compressed");
    let server = encoded_server("gzip", encoded.clone());
    let client = rt::builder().no_decompression().build().unwrap();
    let (encoding, body) = client
        .parallel(|p| {
            let response = p.get(server.url("/")).get_response()?;
            let encoding = response.headers().get("content-encoding").cloned();
            Ok((encoding, response.bytes()?))
        })
        .unwrap();
    assert_eq!(encoding.as_ref().map(|v| v.as_bytes()), Some(&b"gzip"[..]));
    assert_eq!(&body[..], &encoded[..]);
    assert_eq!(server.request_log()[0].header("accept-encoding"), None);
}

#[test]
fn a_request_keeps_its_own_accept_encoding_and_unknown_codings_pass_through() {
    let server = encoded_server("compress", b"LZW bytes".to_vec());
    let client = rt::client();
    let body = client
        .parallel(|p| {
            p.request(Method::GET, server.url("/"))
                .header("accept-encoding", "compress")
                .send()
                .get_response()?
                .bytes()
        })
        .unwrap();
    assert_eq!(&body[..], b"LZW bytes");
    let log = server.request_log();
    assert_eq!(log[0].header("accept-encoding"), Some("compress"));
}

#[test]
fn head_204_and_304_are_not_decoded() {
    let server = ScriptedServer::new(|conn| {
        while let Some(request) = conn.read_request() {
            let reply = match request.path() {
                "/204" => b"HTTP/1.1 204 No Content\r\nContent-Encoding: gzip\r\n\r\n".to_vec(),
                "/304" => b"HTTP/1.1 304 Not Modified\r\nContent-Encoding: gzip\r\n\r\n".to_vec(),
                // HEAD: the head of a gzip body, and no body.
                _ => b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 1234\r\n\r\n"
                    .to_vec(),
            };
            conn.write_all(&reply);
        }
    });
    let client = rt::client();
    client
        .parallel(|p| {
            let head = p.head(server.url("/head"));
            let no_content = p.get(server.url("/204"));
            let not_modified = p.get(server.url("/304"));
            let head = head.get_response()?;
            assert_eq!(head.headers()["content-encoding"], "gzip");
            assert_eq!(head.headers()["content-length"], "1234");
            assert!(head.bytes()?.is_empty());
            for pending in [no_content, not_modified] {
                let response = pending.get_response()?;
                assert_eq!(response.headers()["content-encoding"], "gzip");
                assert!(response.bytes()?.is_empty());
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn an_empty_gzip_body_is_empty() {
    let server = encoded_server("gzip", Vec::new());
    let client = rt::client();
    let body = client
        .parallel(|p| p.get(server.url("/")).get_response()?.bytes())
        .unwrap();
    assert!(body.is_empty());
}

#[test]
fn gzip_in_the_async_scope_with_a_read_timeout() {
    let text = sample(300_000);
    let encoded = gzip(&text);
    // The compressed body comes in two parts with a pause: the decoder waits for bytes
    // under the read timeout, which is longer than the pause.
    let server = ScriptedServer::new(move |conn| {
        while conn.read_request().is_some() {
            let (first, second) = encoded.split_at(encoded.len() / 2);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                encoded.len()
            );
            conn.write_all(head.as_bytes());
            conn.write_all(first);
            std::thread::sleep(Duration::from_millis(150));
            conn.write_all(second);
        }
    });
    rt::block_on(async {
        let client = rt::AsyncClient::builder()
            .read_timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let parallel = client.parallel();
        let one = parallel.get(server.url("/1")).await;
        let two = parallel.get(server.url("/2")).await;
        for pending in [one, two] {
            let response = pending.get_response().await.unwrap();
            assert!(response.headers().get("content-encoding").is_none());
            assert!(response.bytes().await.unwrap() == text);
        }
    });
}
