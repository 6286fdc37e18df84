//! The `Keep-Alive` response header (RFC 2068 §19.7.1.1, kept by RFC 9112 §9.3 as a
//! hint servers still send): `Keep-Alive: timeout=5, max=100` says the server closes a
//! connection idle for 5 seconds.
//!
//! A client that keeps a connection idle longer than that sends its next request into a
//! connection the server is closing. The pool uses [`keep_alive_timeout`] to let such a
//! connection go before the server does.

use std::time::Duration;

use http::HeaderMap;
use http::header::HeaderName;

/// The `Keep-Alive` header field.
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");

/// The idle time the server allows, from the `timeout` parameter of the response's
/// `Keep-Alive` header; `None` without one (or with a value that is not a number of
/// seconds). Parameter names are case-insensitive; a quoted value is accepted.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use par_http_core::h1::keep_alive_timeout;
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("keep-alive", "timeout=5, max=1000".parse().unwrap());
/// assert_eq!(keep_alive_timeout(&headers), Some(Duration::from_secs(5)));
/// ```
pub fn keep_alive_timeout(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get_all(KEEP_ALIVE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|param| {
            let (name, value) = param.split_once('=')?;
            if !name.trim().eq_ignore_ascii_case("timeout") {
                return None;
            }
            let value = value.trim().trim_matches('"');
            value.parse::<u64>().ok().map(Duration::from_secs)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeout_of(values: &[&str]) -> Option<Duration> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(KEEP_ALIVE, value.parse().unwrap());
        }
        keep_alive_timeout(&headers)
    }

    #[test]
    fn the_timeout_parameter_in_any_form() {
        assert_eq!(timeout_of(&["timeout=5"]), Some(Duration::from_secs(5)));
        assert_eq!(
            timeout_of(&["max=100, timeout=15"]),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            timeout_of(&["Timeout = \"30\""]),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            timeout_of(&["max=3", "timeout=2"]),
            Some(Duration::from_secs(2))
        );
        assert_eq!(timeout_of(&["timeout=0"]), Some(Duration::ZERO));
    }

    #[test]
    fn no_usable_timeout_is_none() {
        assert_eq!(timeout_of(&[]), None);
        assert_eq!(timeout_of(&["max=100"]), None);
        assert_eq!(timeout_of(&["timeout=soon"]), None);
        assert_eq!(timeout_of(&["timeout=-1"]), None);
        assert_eq!(timeout_of(&["timeouts=5"]), None);
    }
}
