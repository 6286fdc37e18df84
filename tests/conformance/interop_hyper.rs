//! Interop with a real third-party server (hyper 1.x): every method, request bodies of
//! each supported type, large bodies by length and chunked, and the response API.

use std::io::Read;

use crate::support::HyperServer;
use bytes::Bytes;
use http::{Method, StatusCode, Version};

#[test]
fn every_method_reaches_the_server_with_its_body() {
    let server = HyperServer::start();
    let url = server.url("/echo");
    let client = crate::rt::client();
    client
        .parallel(|p| {
            let cases = vec![
                ("GET", "", p.get(url.as_str())),
                ("DELETE", "", p.delete(url.as_str())),
                ("POST", "str body", p.post(url.as_str(), "str body")),
                (
                    "PUT",
                    "string body",
                    p.put(url.as_str(), String::from("string body")),
                ),
                (
                    "PATCH",
                    "vec body",
                    p.patch(url.as_str(), b"vec body".to_vec()),
                ),
                (
                    "OPTIONS",
                    "bytes body",
                    p.request(Method::OPTIONS, url.as_str())
                        .body(Bytes::from_static(b"bytes body"))
                        .send(),
                ),
            ];
            for (method, body, pending) in cases {
                let response = pending.get_response()?;
                assert_eq!(response.status(), StatusCode::OK);
                assert_eq!(response.headers()["x-method"], method);
                assert_eq!(response.text()?, body, "{method}");
            }
            Ok(())
        })
        .unwrap();
    // All six ran in parallel: one connection each at most, and no more.
    assert!(server.accepted() <= 6);
}

#[test]
fn head_has_headers_but_no_body() {
    let server = HyperServer::start();
    let response = crate::rt::client()
        .parallel(|p| p.head(server.url("/small")).get_response())
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-length"], "13");
    assert!(response.bytes().unwrap().is_empty());
}

#[test]
fn response_metadata() {
    let server = HyperServer::start();
    let url = server.url("/small");
    let response = crate::rt::client().get(url.as_str()).send().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), Version::HTTP_11);
    assert_eq!(response.url().as_str(), url);
    assert_eq!(response.headers()["x-connection"], "0");
    assert_eq!(response.text().unwrap(), "hello, world!");
}

#[test]
fn error_statuses_are_responses() {
    let server = HyperServer::start();
    let client = crate::rt::client();
    let statuses = client
        .parallel(|p| {
            let handles: Vec<_> = [404_u16, 500, 503, 201]
                .iter()
                .map(|code| p.get(server.url(&format!("/status/{code}"))))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    let response = h.get_response()?;
                    Ok((response.status().as_u16(), response.text()?))
                })
                .collect::<par_http::Result<Vec<_>>>()
        })
        .unwrap();
    let expected: Vec<_> = [404_u16, 500, 503, 201]
        .iter()
        .map(|code| (*code, format!("status {code}")))
        .collect();
    assert_eq!(statuses, expected);
}

#[test]
fn large_bodies_by_length_and_chunked() {
    const N: usize = 2_000_000;
    let server = HyperServer::start();
    let client = crate::rt::client();
    let (by_length, chunked) = client
        .parallel(|p| {
            let by_length = p.get(server.url(&format!("/bytes?n={N}")));
            let chunked = p.get(server.url(&format!("/chunked?n={N}")));
            Ok((
                by_length.get_response()?.bytes()?,
                chunked.get_response()?.bytes()?,
            ))
        })
        .unwrap();
    let expected = crate::support::pattern(N);
    assert!(by_length == expected, "length-delimited body differs");
    assert!(chunked == expected, "chunked body differs");
}

#[test]
fn a_response_is_a_std_io_reader() {
    const N: usize = 100_000;
    let server = HyperServer::start();
    let mut response = crate::rt::client()
        .get(server.url(&format!("/chunked?n={N}")))
        .send()
        .unwrap();
    let mut body = Vec::new();
    let mut chunk = [0_u8; 4096];
    // Bounded: at most one read per byte plus the final EOF.
    for _ in 0..=N {
        let n = response.read(&mut chunk).unwrap();
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    assert!(body == crate::support::pattern(N));
}

#[test]
fn many_mixed_requests_in_one_scope() {
    let server = HyperServer::start();
    let client = crate::rt::client();
    client
        .parallel(|p| {
            let mut small = Vec::new();
            let mut delayed = Vec::new();
            let mut echoed = Vec::new();
            for i in 0..10 {
                small.push(p.get(server.url("/small")));
                delayed.push((i, p.get(server.url(&format!("/delay?ms={}", i * 3)))));
                echoed.push((i, p.post(server.url("/echo"), format!("body {i}"))));
            }
            for h in small {
                assert_eq!(h.get_response()?.text()?, "hello, world!");
            }
            for (i, h) in delayed {
                assert_eq!(h.get_response()?.text()?, format!("/delay?ms={}", i * 3));
            }
            for (i, h) in echoed {
                assert_eq!(h.get_response()?.text()?, format!("body {i}"));
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(server.requests(), 30);
}

#[test]
fn completion_order_drains_everything_once() {
    let server = HyperServer::start();
    let client = crate::rt::client();
    let mut bodies = client
        .parallel(|p| {
            for ms in [40, 0, 20, 10, 30] {
                p.get(server.url(&format!("/delay?ms={ms}")));
            }
            let mut bodies = Vec::new();
            while p.has_pending_responses() {
                bodies.push(p.next_response()?.text()?);
                assert!(bodies.len() <= 5);
            }
            Ok(bodies)
        })
        .unwrap();
    bodies.sort();
    let mut expected: Vec<_> = [40, 0, 20, 10, 30]
        .iter()
        .map(|ms| format!("/delay?ms={ms}"))
        .collect();
    expected.sort();
    assert_eq!(bodies, expected);
}
