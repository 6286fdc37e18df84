//! Cookies: a store consulted for every request and fed by every response, redirect hops
//! included.
//!
//! The layer sits between the redirect policy and the dispatch ([`send`]): each hop gets
//! the `Cookie` header its URL deserves, and each hop's `Set-Cookie` fields go to the store
//! before the next hop is built, so a login that sets a cookie on a 302 is logged in on
//! the page it redirects to. A request that sets its own `Cookie` header keeps it. The
//! store is any [`CookieStore`]; with the `cookies` feature, [`Jar`] is one built on the
//! `cookie_store` crate (RFC 6265 domain, path, `Secure`, `HttpOnly`, expiry, `Max-Age`,
//! host-only), behind a lock, so all the requests of a parallel scope can use it at once.

use std::fmt;
use std::sync::Arc;

use http::header::{COOKIE, HeaderValue, SET_COOKIE};
use url::Url;

use crate::client::Client;
use crate::error::Result;
use crate::message::request::Request;
use crate::message::response::Response;
use crate::runtime::Boxed;

/// A store of cookies shared by the requests of one or more clients.
///
/// Implementations must be safe to call from many requests at once.
pub trait CookieStore: Send + Sync + 'static {
    /// Takes the `Set-Cookie` values of a response to `url`.
    fn set_cookies(&self, cookie_headers: &mut dyn Iterator<Item = &HeaderValue>, url: &Url);

    /// The `Cookie` header value to send with a request to `url`, if any cookie matches.
    fn cookies(&self, url: &Url) -> Option<HeaderValue>;
}

impl fmt::Debug for dyn CookieStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CookieStore")
    }
}

/// Sends one hop of a request through the client's dispatch with the client's cookies:
/// the store's `Cookie` header goes out (unless the request has its own), the response's
/// `Set-Cookie` fields go in. Without a store, this is the bare dispatch call.
///
/// The request is handed to the dispatch at once, as a bare dispatch call would be.
pub(crate) fn send(client: &Client, mut request: Request) -> Boxed<Result<Response>> {
    let Some(store) = client.config().cookie_store.clone() else {
        return client.dispatch().send(request);
    };
    let added = add_cookies(store.as_ref(), &mut request);
    let sent = client.dispatch().send(request);
    Box::pin(receive(store, added, sent))
}

/// Adds the store's cookies for the request's URL; true when it did.
fn add_cookies(store: &dyn CookieStore, request: &mut Request) -> bool {
    if request.headers.contains_key(COOKIE) {
        return false;
    }
    match store.cookies(&request.url) {
        Some(value) => {
            request.headers.insert(COOKIE, value);
            true
        }
        None => false,
    }
}

async fn receive(
    store: Arc<dyn CookieStore>,
    added: bool,
    sent: Boxed<Result<Response>>,
) -> Result<Response> {
    let mut response = sent.await?;
    let mut values = response.headers().get_all(SET_COOKIE).iter().peekable();
    if values.peek().is_some() {
        let url = response.url().clone();
        store.set_cookies(&mut values, &url);
    }
    if added {
        // The next hop gets the store's cookies afresh (those just set included), not
        // this hop's.
        if let Some(mut sent) = response.take_sent() {
            sent.headers.remove(COOKIE);
            response.set_sent(sent);
        }
    }
    Ok(response)
}

#[cfg(feature = "cookies")]
pub use jar::Jar;

#[cfg(feature = "cookies")]
mod jar {
    use std::io::{BufRead, Write};
    use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

    use http::HeaderValue;
    use url::Url;

    use super::CookieStore;

    /// A cookie store on the `cookie_store` crate, behind a lock: share it between
    /// clients with an `Arc`, load and save it as JSON.
    ///
    /// A cookie whose `Domain` is a bare top-level name (`Domain=com`) is refused even
    /// without a public-suffix list; with the `cookies-public-suffix` feature, build the
    /// store with `cookie_store::CookieStore::new_with_public_suffix` and
    /// [`Jar::from_store`] to refuse every public suffix.
    ///
    /// # Examples
    ///
    /// ```
    /// use par_http_core::{CookieStore, Jar, Url};
    ///
    /// let jar = Jar::default();
    /// let url = Url::parse("https://shop.test/cart").unwrap();
    /// jar.add_cookie_str("session=abc; Path=/; Secure", &url);
    /// jar.add_cookie_str("tld=no; Domain=test", &url);
    /// assert_eq!(jar.cookies(&url).unwrap(), "session=abc");
    ///
    /// let mut saved = Vec::new();
    /// jar.save_json(&mut saved).unwrap();
    /// // Only persistent cookies are saved, as `cookie_store` does.
    /// assert_eq!(Jar::load_json(&saved[..]).unwrap().cookies(&url), None);
    /// ```
    #[derive(Debug, Default)]
    pub struct Jar {
        store: RwLock<cookie_store::CookieStore>,
    }

    impl Jar {
        /// An empty jar.
        pub fn new() -> Self {
            Self::default()
        }

        /// A jar holding `store`.
        pub fn from_store(store: cookie_store::CookieStore) -> Self {
            Self {
                store: RwLock::new(store),
            }
        }

        /// Loads a jar saved by [`save_json`](Self::save_json) (the format of
        /// `cookie_store::serde::json`); expired cookies are skipped.
        ///
        /// # Errors
        ///
        /// The reader's error, or invalid JSON.
        pub fn load_json(
            reader: impl BufRead,
        ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
            Ok(Self::from_store(cookie_store::serde::json::load(reader)?))
        }

        /// Saves the unexpired persistent cookies as JSON (session cookies are not
        /// saved, as `cookie_store` does).
        ///
        /// # Errors
        ///
        /// The writer's error.
        pub fn save_json(
            &self,
            writer: &mut impl Write,
        ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            cookie_store::serde::json::save(&self.read(), writer)
        }

        /// Saves every cookie as JSON, session cookies and expired ones included.
        ///
        /// # Errors
        ///
        /// The writer's error.
        pub fn save_all_json(
            &self,
            writer: &mut impl Write,
        ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            cookie_store::serde::json::save_incl_expired_and_nonpersistent(&self.read(), writer)
        }

        /// Adds a cookie as a `Set-Cookie` value received from `url` would.
        pub fn add_cookie_str(&self, cookie: &str, url: &Url) {
            if let Ok(value) = HeaderValue::from_str(cookie) {
                self.set_cookies(&mut std::iter::once(&value), url);
            }
        }

        /// Runs `f` on the underlying store, locked for reading.
        pub fn with_store<T>(&self, f: impl FnOnce(&cookie_store::CookieStore) -> T) -> T {
            f(&self.read())
        }

        /// Runs `f` on the underlying store, locked for writing.
        pub fn with_store_mut<T>(&self, f: impl FnOnce(&mut cookie_store::CookieStore) -> T) -> T {
            f(&mut self.write())
        }

        fn read(&self) -> RwLockReadGuard<'_, cookie_store::CookieStore> {
            self.store.read().unwrap_or_else(PoisonError::into_inner)
        }

        fn write(&self) -> RwLockWriteGuard<'_, cookie_store::CookieStore> {
            self.store.write().unwrap_or_else(PoisonError::into_inner)
        }
    }

    /// True for a `Domain` attribute that names a bare top-level domain (one label) other
    /// than the request's own host: `Domain=com` from `shop.com`.
    fn is_bare_tld(domain: &str, url: &Url) -> bool {
        let domain = domain.trim_start_matches('.').trim_end_matches('.');
        !domain.contains('.')
            && !url
                .host_str()
                .is_some_and(|host| host.eq_ignore_ascii_case(domain))
    }

    impl CookieStore for Jar {
        fn set_cookies(&self, cookie_headers: &mut dyn Iterator<Item = &HeaderValue>, url: &Url) {
            let cookies: Vec<_> = cookie_headers
                .filter_map(|value| std::str::from_utf8(value.as_bytes()).ok())
                .filter_map(|text| cookie_store::RawCookie::parse(text.to_owned()).ok())
                .filter(|cookie| !cookie.domain().is_some_and(|d| is_bare_tld(d, url)))
                .collect();
            if cookies.is_empty() {
                return;
            }
            self.write()
                .store_response_cookies(cookies.into_iter(), url);
        }

        fn cookies(&self, url: &Url) -> Option<HeaderValue> {
            let store = self.read();
            let mut header = String::new();
            for (name, value) in store.get_request_values(url) {
                if !header.is_empty() {
                    header.push_str("; ");
                }
                header.push_str(name);
                header.push('=');
                header.push_str(value);
            }
            drop(store);
            if header.is_empty() {
                return None;
            }
            HeaderValue::from_str(&header).ok()
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn url(s: &str) -> Url {
            Url::parse(s).unwrap()
        }

        #[test]
        fn the_rfc_6265_rules_come_from_cookie_store() {
            let jar = Jar::new();
            let origin = url("http://www.shop.test/a/b");
            jar.add_cookie_str("host=1; Path=/", &origin);
            jar.add_cookie_str("dom=2; Domain=shop.test; Path=/", &origin);
            jar.add_cookie_str("sec=3; Secure; Domain=shop.test; Path=/", &origin);
            // Without a Path, the default path is the request's directory.
            jar.add_cookie_str("dir=8", &origin);
            jar.add_cookie_str("path=4; Path=/x", &origin);
            jar.add_cookie_str("other=5; Domain=other.test", &origin);
            jar.add_cookie_str("tld=6; Domain=.test", &origin);
            jar.add_cookie_str("gone=7; Max-Age=0", &origin);
            // Sorted: the store's order is not part of the test.
            let get = |u: &str| {
                let header = jar
                    .cookies(&url(u))
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                let mut parts: Vec<&str> = header.split("; ").filter(|p| !p.is_empty()).collect();
                parts.sort_unstable();
                parts.join("; ")
            };
            assert_eq!(get("http://www.shop.test/"), "dom=2; host=1");
            assert_eq!(get("https://api.shop.test/"), "dom=2; sec=3");
            assert_eq!(get("http://www.shop.test/x/y"), "dom=2; host=1; path=4");
            assert_eq!(get("http://other.test/"), "");
            assert_eq!(get("http://elsewhere.test/"), "");
            assert_eq!(get("http://www.shop.test/a/c"), "dir=8; dom=2; host=1");
        }

        #[test]
        fn a_host_named_like_a_tld_keeps_its_own_cookies() {
            let jar = Jar::new();
            jar.add_cookie_str("a=1; Domain=intranet", &url("http://intranet/"));
            assert_eq!(jar.cookies(&url("http://intranet/")).unwrap(), "a=1");
        }
    }
}
