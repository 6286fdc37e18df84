//! Rule 7 of the design: one error type whose kind can be asked, carrying the method and
//! URL of the request it belongs to.

use std::time::Duration;

use crate::support::WAIT;
use http::Method;

#[test]
fn nothing_listening_is_a_connect_error() {
    let url = crate::support::closed_port_url();
    let err = crate::rt::client().get(url.as_str()).send().unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert!(!err.is_timeout() && !err.is_body() && !err.is_protocol());
    assert_eq!(err.method(), Some(&Method::GET));
    assert_eq!(err.url(), Some(url.as_str()));
}

#[test]
fn a_connect_error_in_a_scope_names_its_request() {
    let url = crate::support::closed_port_url();
    let err = par_http::parallel(|p| p.delete(url.as_str()).get_response())
        .map(|_| ())
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert_eq!(err.method(), Some(&Method::DELETE));
    assert_eq!(err.url(), Some(url.as_str()));
}

#[test]
fn urls_that_cannot_be_requested_are_invalid_url_errors() {
    let client = crate::rt::client();
    for url in [
        "",
        "not a url",
        "http://",
        "ftp://127.0.0.1/file",
        "127.0.0.1:80/x",
    ] {
        let err = client.get(url).send().unwrap_err();
        assert!(err.is_invalid_url(), "{url:?}: {err:?}");
        assert_eq!(err.method(), Some(&Method::GET), "{url:?}");
    }
}

#[test]
fn a_header_value_with_cr_or_lf_is_rejected_before_sending() {
    let server =
        crate::support::ScriptedServer::always(crate::support::ok("should not be reached"));
    let client = crate::rt::client();
    client
        .parallel(|p| {
            let injected = p
                .request(Method::GET, server.url("/"))
                .header("x-evil", "a\r\nInjected: yes")
                .send();
            let err = injected.get_response().unwrap_err();
            assert!(!err.is_status() && !err.is_connect(), "{err:?}");
            assert_eq!(err.method(), Some(&Method::GET));
            Ok(())
        })
        .unwrap();
    assert_eq!(server.requests(), 0);
}

#[test]
fn a_request_timeout_is_a_timeout_error() {
    let server = crate::support::holding_server();
    let client = crate::rt::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = client.get(server.url("/slow")).send().unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.url(), Some(server.url("/slow").as_str()));
    // The timed-out request's connection is closed, not pooled.
    assert!(server.wait_until(|s| s.closed_by_peer == 1, WAIT));
}

#[test]
fn errors_display_and_debug_without_panicking() {
    let err = crate::rt::client().get("not a url").send().unwrap_err();
    assert!(!err.to_string().is_empty());
    assert!(!format!("{err:?}").is_empty());
    let _kind = err.kind();
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
    assert!(!boxed.to_string().is_empty());
}
