//! Security: a request that would smuggle a header through a user-supplied value is refused
//! before anything is sent (RFC 9110 §5.5: CR, LF and NUL are never valid in a field).

use super::Kind::InvalidRequest;
use super::{Case, err, ok};
use crate::support::ScriptedServer;

/// A request to a server that would answer `ok`, with one extra header field.
fn with_header(name: &[u8], value: &[u8]) -> Case {
    Case::reply(crate::support::ok("fine"))
        .header(name, value)
        .nothing_sent()
}

/// No request the server read has a header field named `Injected`, and no target holds a
/// CR, LF, NUL or space.
fn no_injected_line(server: &ScriptedServer) {
    let log = server.request_log();
    assert!(!log.is_empty());
    for request in log {
        assert_eq!(
            request.header("injected"),
            None,
            "a header was injected: {request:?}"
        );
        assert!(
            !request.target.contains(['\r', '\n', ' ', '\0']),
            "{request:?}"
        );
    }
}

hostile! {
    crlf_in_a_header_value: with_header(b"x-user", b"a\r\nInjected: 1") => err(InvalidRequest);
    lf_in_a_header_value: with_header(b"x-user", b"a\nInjected: 1") => err(InvalidRequest);
    cr_in_a_header_value: with_header(b"x-user", b"a\rInjected: 1") => err(InvalidRequest);
    nul_in_a_header_value: with_header(b"x-user", b"a\0b") => err(InvalidRequest);
    crlf_crlf_in_a_header_value:
        with_header(b"x-user", b"a\r\n\r\nGET /smuggled HTTP/1.1\r\nInjected: 1") => err(InvalidRequest);
    crlf_in_a_header_name: with_header(b"x-user\r\nInjected", b"1") => err(InvalidRequest);
    colon_in_a_header_name: with_header(b"x-user:Injected", b"1") => err(InvalidRequest);
    space_in_a_header_name: with_header(b"x user", b"1") => err(InvalidRequest);
    empty_header_name: with_header(b"", b"1") => err(InvalidRequest);
    // The URL parser (WHATWG) drops CR, LF and TAB from its input and percent-encodes
    // spaces: what reaches the request line is one harmless target.
    crlf_in_the_url_path:
        Case::reply(crate::support::ok("fine")).path("/a\r\nInjected: 1").after(no_injected_line)
        => ok("fine");
    crlf_in_the_url_query:
        Case::reply(crate::support::ok("fine")).path("/a?q=1\r\nInjected: 1").after(no_injected_line)
        => ok("fine");
}

#[test]
fn a_default_header_with_crlf_is_refused_when_the_client_is_built() {
    let err = crate::rt::builder()
        .default_header("x-team", "a\r\nInjected: 1")
        .build()
        .unwrap_err();
    assert!(err.is_invalid_request(), "{err:?}");
}
