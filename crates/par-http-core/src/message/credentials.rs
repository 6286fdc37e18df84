//! Credentials as header values: Basic (RFC 7617) and bearer (RFC 6750) `Authorization`
//! values, and the userinfo of a URL taken out of it.
//!
//! The request builder, the client's authentication ([`AuthHook`](crate::AuthHook) and
//! defaults) and the connector (a proxy's credentials) all build their values here.

use http::header::HeaderValue;
use percent_encoding::percent_decode_str;
use url::Url;

use crate::error::{ErrorKind, Result};

/// The `Authorization` value for HTTP Basic auth (RFC 7617): `Basic base64(user:password)`,
/// marked sensitive.
///
/// # Examples
///
/// ```
/// let value = par_http_core::basic_auth_header("Aladdin", Some("open sesame"));
/// assert_eq!(value, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
/// assert!(value.is_sensitive());
/// ```
pub fn basic_auth_header(user: &str, password: Option<&str>) -> HeaderValue {
    let mut plain = String::with_capacity(user.len() + 1 + password.map_or(0, str::len));
    plain.push_str(user);
    plain.push(':');
    plain.push_str(password.unwrap_or_default());
    let mut encoded = String::from("Basic ");
    base64_encode(plain.as_bytes(), &mut encoded);
    // Base64 output is visible ASCII: always a valid header value.
    let mut value = HeaderValue::from_str(&encoded).unwrap_or(HeaderValue::from_static("Basic"));
    value.set_sensitive(true);
    value
}

/// The `Authorization` value for a bearer token (RFC 6750): `Bearer <token>`, marked
/// sensitive.
///
/// # Errors
///
/// An [`InvalidRequest`](ErrorKind::InvalidRequest) error if the token holds bytes not
/// allowed in a header value (CR, LF, NUL, ...).
pub fn bearer_auth_header(token: &str) -> Result<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|err| crate::Error::new(ErrorKind::InvalidRequest).with_source(err))?;
    value.set_sensitive(true);
    Ok(value)
}

/// Removes the userinfo from `url` and returns it as a Basic `Authorization` value, if
/// the URL had a user name or a password.
pub(crate) fn take_url_credentials(url: &mut Url) -> Option<HeaderValue> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let user = percent_decode_str(url.username())
        .decode_utf8_lossy()
        .into_owned();
    let password = url
        .password()
        .map(|p| percent_decode_str(p).decode_utf8_lossy().into_owned());
    // Both only fail for URLs that cannot have credentials, which had none to take.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Some(basic_auth_header(&user, password.as_deref()))
}

/// Standard base64 with padding (RFC 4648 §4), appended to `out`.
fn base64_encode(input: &[u8], out: &mut String) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let symbol = |index: u32| char::from(ALPHABET[(index & 0x3f) as usize]);
    for chunk in input.chunks(3) {
        let b0 = u32::from(chunk.first().copied().unwrap_or(0));
        let b1 = u32::from(chunk.get(1).copied().unwrap_or(0));
        let b2 = u32::from(chunk.get(2).copied().unwrap_or(0));
        let triple = (b0 << 16) | (b1 << 8) | b2;
        out.push(symbol(triple >> 18));
        out.push(symbol(triple >> 12));
        out.push(if chunk.len() > 1 {
            symbol(triple >> 6)
        } else {
            '='
        });
        out.push(if chunk.len() > 2 { symbol(triple) } else { '=' });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(input: &str) -> String {
        let mut out = String::new();
        base64_encode(input.as_bytes(), &mut out);
        out
    }

    #[test]
    fn base64_matches_the_rfc_4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(b64(plain), encoded, "{plain:?}");
        }
        let mut out = String::new();
        base64_encode(&[0xfb, 0xff, 0xbf], &mut out);
        assert_eq!(out, "+/+/");
    }

    #[test]
    fn basic_without_password_keeps_the_colon() {
        assert_eq!(basic_auth_header("user", None), "Basic dXNlcjo=");
    }

    #[test]
    fn bearer_rejects_line_breaks() {
        assert!(bearer_auth_header("a\r\nx-evil: 1").is_err());
        assert_eq!(bearer_auth_header("t0k").unwrap(), "Bearer t0k");
    }

    #[test]
    fn url_credentials_are_decoded_and_stripped() {
        let mut url = Url::parse("http://us%40er:p%3Ass@example.test:8080/x?q#f").unwrap();
        let value = take_url_credentials(&mut url).unwrap();
        assert_eq!(value, basic_auth_header("us@er", Some("p:ss")));
        assert_eq!(url.as_str(), "http://example.test:8080/x?q#f");

        let mut plain = Url::parse("http://example.test/").unwrap();
        assert!(take_url_credentials(&mut plain).is_none());
        let mut user_only = Url::parse("http://me@example.test/").unwrap();
        assert_eq!(
            take_url_credentials(&mut user_only).unwrap(),
            basic_auth_header("me", None)
        );
    }
}
