//! Proxies from the environment, read the way curl reads them, and the `NO_PROXY` list.
//!
//! The variables: `http_proxy` for `http` URLs (curl reads only the lower-case name; like
//! reqwest, `HTTP_PROXY` is read too, unless `REQUEST_METHOD` is set: in a CGI program a
//! request's `Proxy:` header arrives as `HTTP_PROXY`, the "httpoxy" attack),
//! `https_proxy` / `HTTPS_PROXY`, `all_proxy` / `ALL_PROXY`, lower case first. `no_proxy`
//! / `NO_PROXY` is a list, separated by commas or white space, of host names (each also
//! matching its subdomains: `example.com` and `.example.com` both match
//! `www.example.com` and `example.com`), IP addresses, CIDR ranges (`10.0.0.0/8`,
//! `fd00::/8`), any of these with a `:port` (IPv6 in brackets then), and `*` for every
//! host.

use std::net::IpAddr;

use url::{Host, Url};

use super::Proxy;

/// Hosts that bypass a proxy: a `NO_PROXY` list.
///
/// # Examples
///
/// ```
/// use par_http_core::{NoProxy, Url};
///
/// let list = NoProxy::from_list("localhost, .corp.test, 10.0.0.0/8, api.test:8443");
/// let hit = |u: &str| list.matches(&Url::parse(u).unwrap());
/// assert!(hit("http://localhost:8080/"));
/// assert!(hit("https://www.corp.test/"));
/// assert!(hit("https://corp.test/"));
/// assert!(hit("http://10.1.2.3/"));
/// assert!(hit("https://api.test:8443/"));
/// assert!(!hit("https://api.test/"));
/// assert!(!hit("https://notcorp.test/"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoProxy {
    all: bool,
    entries: Vec<Entry>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    rule: Rule,
    port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Rule {
    /// A domain name, lower case, without leading or trailing dots: matches itself and
    /// its subdomains.
    Domain(String),
    /// An address range: `bits` leading bits of `net`.
    Net { net: IpAddr, bits: u8 },
}

impl NoProxy {
    /// Parses a list: entries separated by commas or white space; empty entries are
    /// skipped, and so are entries that are neither a name nor an address.
    pub fn from_list(list: &str) -> Self {
        let mut no_proxy = Self::default();
        for item in list.split(|c: char| c == ',' || c.is_ascii_whitespace()) {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            if item == "*" {
                no_proxy.all = true;
                continue;
            }
            if let Some(entry) = parse_entry(item) {
                no_proxy.entries.push(entry);
            }
        }
        no_proxy
    }

    /// True when `url` bypasses the proxy.
    pub fn matches(&self, url: &Url) -> bool {
        if self.all {
            return true;
        }
        let port = url.port_or_known_default();
        let host = match url.host() {
            Some(Host::Domain(name)) => {
                Target::Name(name.trim_end_matches('.').to_ascii_lowercase())
            }
            Some(Host::Ipv4(ip)) => Target::Ip(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Target::Ip(IpAddr::V6(ip)),
            None => return false,
        };
        self.entries.iter().any(|entry| {
            if entry.port.is_some() && entry.port != port {
                return false;
            }
            match (&entry.rule, &host) {
                (Rule::Domain(domain), Target::Name(name)) => {
                    name == domain
                        || name
                            .strip_suffix(domain.as_str())
                            .is_some_and(|rest| rest.ends_with('.'))
                }
                (Rule::Net { net, bits }, Target::Ip(ip)) => in_net(*ip, *net, *bits),
                _ => false,
            }
        })
    }

    /// True when the list has no entry at all.
    pub fn is_empty(&self) -> bool {
        !self.all && self.entries.is_empty()
    }
}

enum Target {
    Name(String),
    Ip(IpAddr),
}

fn parse_entry(item: &str) -> Option<Entry> {
    // An address or a range, IPv6 without brackets.
    if let Some(rule) = parse_net(item) {
        return Some(Entry { rule, port: None });
    }
    // `[v6]` or `[v6]:port`.
    if let Some(rest) = item.strip_prefix('[') {
        let (addr, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?.parse().ok()?),
        };
        return Some(Entry {
            rule: parse_net(addr)?,
            port,
        });
    }
    // `name:port` or `v4:port`.
    let (host, port) = match item.rsplit_once(':') {
        Some((host, port)) => (host, Some(port.parse::<u16>().ok()?)),
        None => (item, None),
    };
    if let Some(rule) = parse_net(host) {
        return Some(Entry { rule, port });
    }
    let domain = host
        .trim_start_matches("*.")
        .trim_matches('.')
        .to_ascii_lowercase();
    if domain.is_empty() || domain.contains(['/', '@', '[', ']', ':']) {
        return None;
    }
    Some(Entry {
        rule: Rule::Domain(domain),
        port,
    })
}

/// An address (`1.2.3.4`, `::1`) or a CIDR range (`10.0.0.0/8`).
fn parse_net(text: &str) -> Option<Rule> {
    let (addr, bits) = match text.split_once('/') {
        Some((addr, bits)) => (addr, Some(bits.parse::<u8>().ok()?)),
        None => (text, None),
    };
    let net: IpAddr = addr.parse().ok()?;
    let max = if net.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some(Rule::Net { net, bits })
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        // An IPv4-mapped IPv6 address is the IPv4 address.
        (IpAddr::V6(ip), IpAddr::V4(_)) => ip
            .to_ipv4_mapped()
            .is_some_and(|v4| in_net(IpAddr::V4(v4), net, bits)),
        (IpAddr::V4(_), IpAddr::V6(_)) => false,
    }
}

/// The proxies named by the environment that `lookup` reads (see the module docs).
pub(crate) fn from_env(lookup: &dyn Fn(&str) -> Option<String>) -> Vec<Proxy> {
    let get = |names: &[&str]| {
        names
            .iter()
            .filter_map(|name| lookup(name))
            .map(|value| value.trim().to_owned())
            .find(|value| !value.is_empty())
    };
    let cgi = lookup("REQUEST_METHOD").is_some();
    let http = if cgi {
        get(&["http_proxy"])
    } else {
        get(&["http_proxy", "HTTP_PROXY"])
    };
    let https = get(&["https_proxy", "HTTPS_PROXY"]);
    let all = get(&["all_proxy", "ALL_PROXY"]);
    let no_proxy = get(&["no_proxy", "NO_PROXY"]).map(|list| NoProxy::from_list(&list));
    let mut proxies = Vec::new();
    let mut add = |value: Option<String>, make: fn(&str) -> crate::error::Result<Proxy>| {
        if let Some(Ok(proxy)) = value.as_deref().map(make) {
            proxies.push(match &no_proxy {
                Some(no_proxy) if !no_proxy.is_empty() => proxy.no_proxy(no_proxy.clone()),
                _ => proxy,
            });
        }
    };
    add(http, Proxy::http);
    add(https, Proxy::https);
    add(all, Proxy::all);
    proxies
}

#[cfg(test)]
mod tests {
    use super::super::Proxies;
    use super::*;

    fn hit(list: &str, url: &str) -> bool {
        NoProxy::from_list(list).matches(&Url::parse(url).unwrap())
    }

    #[test]
    fn no_proxy_forms() {
        let table: &[(&str, &str, bool)] = &[
            ("example.com", "http://example.com/", true),
            ("example.com", "http://www.example.com/", true),
            ("example.com", "http://wwwexample.com/", false),
            ("example.com", "http://example.com.org/", false),
            (".example.com", "http://example.com/", true),
            (".example.com", "http://a.b.example.com/", true),
            ("*.example.com", "http://a.example.com/", true),
            ("EXAMPLE.com", "http://Example.COM./", true),
            ("example.com:8080", "http://example.com:8080/", true),
            ("example.com:8080", "http://example.com/", false),
            ("example.com:443", "https://example.com/", true),
            ("127.0.0.1", "http://127.0.0.1:9/", true),
            ("127.0.0.1", "http://127.0.0.2/", false),
            ("127.0.0.0/8", "http://127.9.9.9/", true),
            ("10.0.0.0/8", "http://11.0.0.1/", false),
            ("192.168.0.0/16", "http://192.168.4.5/", true),
            ("0.0.0.0/0", "http://8.8.8.8/", true),
            ("::1", "http://[::1]:8080/", true),
            ("[::1]", "http://[::1]/", true),
            ("[::1]:8080", "http://[::1]:8080/", true),
            ("[::1]:8080", "http://[::1]:8081/", false),
            ("fd00::/8", "http://[fd12::1]/", true),
            ("fd00::/8", "http://[fe80::1]/", false),
            ("127.0.0.1:8080", "http://127.0.0.1:8080/", true),
            ("127.0.0.1:8080", "http://127.0.0.1:80/", false),
            ("*", "http://anything.test/", true),
            ("a.test, *", "http://b.test/", true),
            ("a.test b.test,,c.test", "http://b.test/", true),
            ("", "http://a.test/", false),
            ("localhost", "http://127.0.0.1/", false),
            ("10.0.0.0/40", "http://10.0.0.1/", false),
            ("test", "http://a.test/", true),
        ];
        for (list, url, want) in table {
            assert_eq!(hit(list, url), *want, "NO_PROXY={list:?} {url}");
        }
    }

    fn names(env: &[(&str, &str)], url: &str) -> Option<String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let rules = from_env(&|name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()));
        Proxies { rules }
            .choose(&Url::parse(url).unwrap())
            .unwrap()
            .map(|t| t.name.to_string())
    }

    #[test]
    fn environment_rules() {
        let p = |s: &str| Some(s.to_owned());
        /// The environment, a URL, and the proxy it goes through.
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, Option<String>);
        let table: &[Case<'_>] = &[
            (&[], "http://a.test/", None),
            (
                &[("http_proxy", "p1:1")],
                "http://a.test/",
                p("http://p1:1"),
            ),
            (&[("http_proxy", "p1:1")], "https://a.test/", None),
            (
                &[("HTTP_PROXY", "p1:1")],
                "http://a.test/",
                p("http://p1:1"),
            ),
            // httpoxy: HTTP_PROXY in a CGI environment came from the request.
            (
                &[("HTTP_PROXY", "evil:1"), ("REQUEST_METHOD", "GET")],
                "http://a.test/",
                None,
            ),
            (
                &[("http_proxy", "p1:1"), ("REQUEST_METHOD", "GET")],
                "http://a.test/",
                p("http://p1:1"),
            ),
            (
                &[("http_proxy", "low:1"), ("HTTP_PROXY", "up:1")],
                "http://a.test/",
                p("http://low:1"),
            ),
            (
                &[("HTTPS_PROXY", "p2:2")],
                "https://a.test/",
                p("http://p2:2"),
            ),
            (
                &[("https_proxy", "low:2"), ("HTTPS_PROXY", "up:2")],
                "https://a.test/",
                p("http://low:2"),
            ),
            (
                &[("ALL_PROXY", "socks5h://s:3")],
                "https://a.test/",
                p("socks5h://s:3"),
            ),
            (&[("all_proxy", "s:3")], "http://a.test/", p("http://s:3")),
            (
                &[("all_proxy", "s:3"), ("https_proxy", "h:4")],
                "https://a.test/",
                p("http://h:4"),
            ),
            (&[("https_proxy", "")], "https://a.test/", None),
            (&[("https_proxy", "ftp://x")], "https://a.test/", None),
            (
                &[("https_proxy", "h:4"), ("NO_PROXY", ".a.test")],
                "https://www.a.test/",
                None,
            ),
            (
                &[
                    ("https_proxy", "h:4"),
                    ("no_proxy", "a.test"),
                    ("NO_PROXY", "*"),
                ],
                "https://b.test/",
                p("http://h:4"),
            ),
            (
                &[("all_proxy", "h:4"), ("no_proxy", "127.0.0.0/8")],
                "http://127.0.0.1:8080/",
                None,
            ),
            (
                &[("all_proxy", "h:4"), ("no_proxy", "*")],
                "http://x.test/",
                None,
            ),
        ];
        for (env, url, want) in table {
            assert_eq!(&names(env, url), want, "{env:?} {url}");
        }
    }
}
