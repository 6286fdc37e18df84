//! The command line: parses the arguments (with `lexopt`) into [`Options`], reads the
//! URL list (`-i FILE`, `-i -` for stdin) and the request body (`-d @FILE`), and checks
//! everything a request needs up front, so that a mistake is a usage error (exit code 2)
//! before anything is sent.

use std::ffi::OsString;
use std::fmt;
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use par_http::Bytes;
use par_http::http::{HeaderName, HeaderValue, Method};

/// The usage text printed by `--help` and after a usage error.
pub(crate) const USAGE: &str = "\
usage: par-http [OPTIONS] URL...
       par-http [OPTIONS] -i FILE

Fetches every URL, N at a time, through one parallel scope of par-http.
Prints a line per URL as it finishes: status (ERR if none), body size, time (from
the request's start, retries included, to the end of its body), URL, then
`-> FILE` or `error: ...`; then a summary: counts by status, total bytes, wall
time, p50/p90/p99 latency.
On a terminal a progress bar shows done/total, bytes, rate and failures.

Input and concurrency:
  -i, --input FILE        read URLs from FILE, one a line (blank lines and # comments
                          are skipped); - reads stdin. URL arguments come first
  -j, --jobs N            requests in flight at once (default 16)

Output:
  -o, --output-dir DIR    save each body in DIR (created if needed), in a file named
                          from the URL's last path segment and query, sanitized; a
                          repeated name gets -1, -2, ... A body is written to a
                          temporary .NAME.part-PID beside it and renamed when whole:
                          a failed or interrupted body leaves no file
      --stdout            write each body whole to stdout, in completion order; the
                          report goes to stderr. Not with -o
  -q, --quiet             no line per URL and no progress bar: the summary only
      --no-progress       no progress bar, even on a terminal

Request:
  -X, --request METHOD    the method (default GET, or POST with -d)
  -d, --data DATA         the request body: a literal, @FILE, or @- for stdin
  -H, --header 'N: V'     add a header to every request (repeatable)
      --bearer TOKEN      send `Authorization: Bearer TOKEN`
  -u, --user USER[:PASS]  send HTTP Basic auth
      --timeout SECS      time limit for each request, body and retries included
                          (fractions allowed)
  -f, --fail              the body of a 4xx or 5xx response is neither saved nor
                          written (as with curl -f); its line says `error: HTTP ...`.
                          Such a response is a failure (exit status 1) either way
      --retries N         try a request again, up to N times, when it fails to connect,
                          times out before any response byte, is closed before any
                          answer, or gets 408, 429, 500, 502, 503 or 504 (default 0).
                          Waits 100 ms before the first retry, doubling up to 2 s,
                          each wait drawn at random below that; a Retry-After of up to
                          30 s is honoured. Every method is retried (as curl does),
                          but retries across the run stay within the client's budget
                          (10% of the requests plus 10 a second). A body that breaks
                          off after the response began is not retried
      --retry-delay SECS  wait exactly SECS before each retry instead (fractions
                          allowed; 0 keeps the backoff above, as with curl)
      --retry-max-time SECS
                          start no retry later than SECS after the URL's first attempt
                          began (its wait included); an attempt under way is not cut
                          short: --timeout does that, and it covers the retries too.
                          0 sets no limit (the default), as with curl
      --max-redirects N   follow at most N redirects (default 10; 0 does not follow)
  -k, --insecure          accept any TLS certificate (DANGEROUS: testing only)
      --http1.1           HTTP/1.1 only (no HTTP/2, even where the server offers it)
      --http2             HTTP/2 where the server chooses it by ALPN (the default)
      --http2-prior-knowledge
                          HTTP/2 from the first byte, also on http:// (h2c)

Proxies and cookies:
  -x, --proxy URL         send every request through the proxy at URL: http://,
                          https://, socks5:// (names resolved here) or socks5h://
                          (resolved by the proxy), credentials as user:pass@. Without
                          it, the environment's http_proxy, HTTPS_PROXY, ALL_PROXY and
                          NO_PROXY are used, as curl reads them
      --noproxy LIST      hosts that go direct (comma-separated names, .domains, IPs,
                          CIDR ranges, host:port, or *); replaces NO_PROXY
  -b, --cookie DATA       NAME=VALUE: send this cookie to every URL's host
                          (repeatable); otherwise a file to read cookies from (JSON,
                          as written by -c)
  -c, --cookie-jar FILE   keep cookies across the run: read FILE at the start if it
                          exists, write every cookie to it (JSON) at the end

  -h, --help              this text
  -V, --version           the version

Ctrl-C stops the run at once: the requests in flight are dropped, the temporary
files removed, and par-http exits with status 130.

Exit status: 0 if every request got a 2xx or 3xx response and its body was read
(and saved), 1 if any failed, 2 for a usage error or a run that cannot start,
130 when interrupted.
";

/// Where the bodies go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyOutput {
    /// Read and discarded (counted).
    Discard,
    /// Saved to a directory, a file per URL.
    Dir(PathBuf),
    /// Written to stdout, each body whole, in completion order.
    Stdout,
}

/// Everything the run needs, checked.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) urls: Vec<String>,
    pub(crate) jobs: usize,
    pub(crate) output: BodyOutput,
    pub(crate) quiet: bool,
    pub(crate) progress: bool,
    pub(crate) method: Method,
    pub(crate) body: Option<Bytes>,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) bearer: Option<String>,
    pub(crate) user: Option<(String, Option<String>)>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) retries: u32,
    /// `--retry-delay`: a fixed wait before each retry.
    pub(crate) retry_delay: Option<Duration>,
    /// `--retry-max-time`: no retry starts later than this after the first attempt.
    pub(crate) retry_max_time: Option<Duration>,
    /// `--fail`: a 4xx or 5xx response is a failure whose body is not delivered.
    pub(crate) fail: bool,
    pub(crate) max_redirects: Option<usize>,
    pub(crate) insecure: bool,
    pub(crate) proxy: Option<String>,
    pub(crate) noproxy: Option<String>,
    /// `NAME=VALUE` cookies from `-b`.
    pub(crate) cookies: Vec<String>,
    /// Files to read cookies from (`-b FILE`).
    pub(crate) cookie_files: Vec<PathBuf>,
    pub(crate) cookie_jar: Option<PathBuf>,
    pub(crate) http: HttpVersion,
}

/// Which HTTP versions to speak (`--http1.1`, `--http2`, `--http2-prior-knowledge`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum HttpVersion {
    /// HTTP/2 when the server chooses it by ALPN, else HTTP/1.1.
    #[default]
    Negotiate,
    /// HTTP/1.1 only.
    Http1Only,
    /// HTTP/2 with prior knowledge.
    Http2PriorKnowledge,
}

/// What the command line asks for.
#[derive(Debug)]
pub(crate) enum Command {
    /// Fetch the URLs.
    Run(Box<Options>),
    /// Print the usage text.
    Help,
    /// Print the version.
    Version,
}

/// A mistake on the command line (exit code 2).
#[derive(Debug)]
pub(crate) struct UsageError(String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<lexopt::Error> for UsageError {
    fn from(err: lexopt::Error) -> Self {
        Self(err.to_string())
    }
}

fn usage(message: impl Into<String>) -> UsageError {
    UsageError(message.into())
}

/// Parses the process's arguments; reads stdin if `-i -` or `-d @-` asks for it.
pub(crate) fn parse_env() -> Result<Command, UsageError> {
    parse(std::env::args_os().skip(1), &mut std::io::stdin())
}

/// Parses `args` (without the program name); `stdin` serves `-i -` and `-d @-`.
pub(crate) fn parse(
    args: impl IntoIterator<Item = impl Into<OsString>>,
    stdin: &mut dyn Read,
) -> Result<Command, UsageError> {
    use lexopt::prelude::*;

    let mut parser = lexopt::Parser::from_args(args);
    let mut urls = Vec::new();
    let mut input: Option<String> = None;
    let mut jobs = 16usize;
    let mut output_dir: Option<PathBuf> = None;
    let mut to_stdout = false;
    let mut quiet = false;
    let mut progress = true;
    let mut method: Option<Method> = None;
    let mut data: Option<String> = None;
    let mut headers = Vec::new();
    let mut bearer = None;
    let mut user = None;
    let mut timeout = None;
    let mut retries = 0u32;
    let mut retry_delay = None;
    let mut retry_max_time = None;
    let mut fail = false;
    let mut max_redirects = None;
    let mut insecure = false;
    let mut proxy = None;
    let mut noproxy = None;
    let mut cookies = Vec::new();
    let mut cookie_files = Vec::new();
    let mut cookie_jar = None;
    let mut http = HttpVersion::default();

    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Short('i') | Long("input") => input = Some(parser.value()?.string()?),
            Short('j') | Long("jobs") => {
                jobs = parser.value()?.parse()?;
                if jobs == 0 {
                    return Err(usage("-j/--jobs must be at least 1"));
                }
            }
            Short('o') | Long("output-dir") => output_dir = Some(parser.value()?.into()),
            Long("stdout") => to_stdout = true,
            Short('q') | Long("quiet") => quiet = true,
            Long("no-progress") => progress = false,
            Short('X') | Long("request") => {
                let value = parser.value()?.string()?;
                let parsed = Method::from_bytes(value.as_bytes())
                    .map_err(|_| usage(format!("invalid method {value:?}")))?;
                method = Some(parsed);
            }
            Short('d') | Long("data") => data = Some(parser.value()?.string()?),
            Short('H') | Long("header") => headers.push(parse_header(&parser.value()?.string()?)?),
            Long("bearer") => bearer = Some(parser.value()?.string()?),
            Short('u') | Long("user") => {
                let value = parser.value()?.string()?;
                user = Some(match value.split_once(':') {
                    Some((name, password)) => (name.to_owned(), Some(password.to_owned())),
                    None => (value, None),
                });
            }
            Long("timeout") => {
                let value = parser.value()?.string()?;
                timeout = Some(parse_seconds("--timeout", &value, false)?);
            }
            Long("retries") => retries = parser.value()?.parse()?,
            Long("retry-delay") => {
                // 0 is curl's "the default backoff".
                let value = parser.value()?.string()?;
                retry_delay = Some(parse_seconds("--retry-delay", &value, true)?)
                    .filter(|delay| !delay.is_zero());
            }
            Long("retry-max-time") => {
                // 0 is curl's "no limit".
                let value = parser.value()?.string()?;
                retry_max_time = Some(parse_seconds("--retry-max-time", &value, true)?)
                    .filter(|limit| !limit.is_zero());
            }
            Short('f') | Long("fail") => fail = true,
            Long("max-redirects") => max_redirects = Some(parser.value()?.parse()?),
            Short('k') | Long("insecure") => insecure = true,
            Short('x') | Long("proxy") => {
                let value = parser.value()?.string()?;
                par_http::Proxy::all(&value).map_err(|err| usage(format!("--proxy: {err}")))?;
                proxy = Some(value);
            }
            Long("noproxy") => noproxy = Some(parser.value()?.string()?),
            Short('b') | Long("cookie") => {
                let value = parser.value()?.string()?;
                if value.contains('=') {
                    cookies.push(value);
                } else {
                    cookie_files.push(PathBuf::from(value));
                }
            }
            Short('c') | Long("cookie-jar") => cookie_jar = Some(parser.value()?.into()),
            Long("http1.1") => http = HttpVersion::Http1Only,
            Long("http2") => http = HttpVersion::Negotiate,
            Long("http2-prior-knowledge") => http = HttpVersion::Http2PriorKnowledge,
            Value(url) => urls.push(url.string()?),
            _ => return Err(arg.unexpected().into()),
        }
    }

    let mut stdin_used = false;
    if let Some(path) = input {
        let text = if path == "-" {
            stdin_used = true;
            let mut text = String::new();
            stdin
                .read_to_string(&mut text)
                .map_err(|err| usage(format!("cannot read urls from stdin: {err}")))?;
            text
        } else {
            std::fs::read_to_string(&path)
                .map_err(|err| usage(format!("cannot read urls from {path}: {err}")))?
        };
        urls.extend(url_lines(&text));
    }
    if urls.is_empty() {
        return Err(usage("no urls: give them as arguments or with -i FILE"));
    }

    let body = match data {
        None => None,
        Some(data) => Some(match data.strip_prefix('@') {
            Some("-") if stdin_used => {
                return Err(usage("-i - and -d @- cannot both read stdin"));
            }
            Some("-") => {
                let mut bytes = Vec::new();
                stdin
                    .read_to_end(&mut bytes)
                    .map_err(|err| usage(format!("cannot read the body from stdin: {err}")))?;
                Bytes::from(bytes)
            }
            Some(path) => Bytes::from(
                std::fs::read(path)
                    .map_err(|err| usage(format!("cannot read the body from {path}: {err}")))?,
            ),
            None => Bytes::from(data),
        }),
    };
    let method = match (method, &body) {
        (Some(method), _) => method,
        (None, Some(_)) => Method::POST,
        (None, None) => Method::GET,
    };

    if bearer.is_some() && user.is_some() {
        return Err(usage("--bearer and --user exclude each other"));
    }
    let output = match (output_dir, to_stdout) {
        (Some(_), true) => return Err(usage("-o/--output-dir and --stdout exclude each other")),
        (Some(dir), false) => BodyOutput::Dir(dir),
        (None, true) => BodyOutput::Stdout,
        (None, false) => BodyOutput::Discard,
    };

    Ok(Command::Run(Box::new(Options {
        urls,
        jobs,
        output,
        quiet,
        progress: progress && !quiet,
        method,
        body,
        headers,
        bearer,
        user,
        timeout,
        retries,
        retry_delay,
        retry_max_time,
        fail,
        max_redirects,
        insecure,
        proxy,
        noproxy,
        cookies,
        cookie_files,
        cookie_jar,
        http,
    })))
}

/// The URLs of a list: one a line, trimmed, blank lines and `#` comments skipped.
fn url_lines(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
}

/// `Name: value`, checked as a header field (a value with CR or LF is refused).
fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), UsageError> {
    let Some((name, value)) = text.split_once(':') else {
        return Err(usage(format!("header {text:?} is not `Name: value`")));
    };
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| usage(format!("invalid header name in {text:?}")))?;
    let value = HeaderValue::from_str(value.trim())
        .map_err(|_| usage(format!("invalid header value in {text:?}")))?;
    Ok((name, value))
}

/// A finite number of seconds for `option`, fractions allowed: positive, or also zero
/// when `zero_ok`.
fn parse_seconds(option: &str, text: &str, zero_ok: bool) -> Result<Duration, UsageError> {
    let bad = || {
        usage(format!(
            "invalid {option} {text:?}: give seconds, like 10 or 0.5"
        ))
    };
    let seconds: f64 = text.parse().map_err(|_| bad())?;
    if !seconds.is_finite() || seconds < 0.0 || (seconds == 0.0 && !zero_ok) {
        return Err(bad());
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options, UsageError> {
        match parse(args.iter().copied(), &mut std::io::empty())? {
            Command::Run(options) => Ok(*options),
            other => panic!("not a run: {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let options = run(&["http://a.test/"]).unwrap();
        assert_eq!(options.urls, ["http://a.test/"]);
        assert_eq!(options.jobs, 16);
        assert_eq!(options.method, Method::GET);
        assert_eq!(options.output, BodyOutput::Discard);
        assert_eq!(options.retries, 0);
        assert!(options.retry_delay.is_none() && options.retry_max_time.is_none());
        assert!(!options.fail);
        assert!(options.body.is_none() && options.timeout.is_none() && !options.insecure);
        assert_eq!(options.http, HttpVersion::Negotiate);
    }

    #[test]
    fn http_version_flags() {
        let http = |flag: &str| run(&[flag, "http://a.test/"]).unwrap().http;
        assert_eq!(http("--http1.1"), HttpVersion::Http1Only);
        assert_eq!(http("--http2"), HttpVersion::Negotiate);
        assert_eq!(
            http("--http2-prior-knowledge"),
            HttpVersion::Http2PriorKnowledge
        );
    }

    #[test]
    fn options_in_every_spelling() {
        let options = run(&[
            "-j4",
            "--header=X-A: 1",
            "-H",
            "x-b:2",
            "--timeout",
            "0.5",
            "-d",
            "hi",
            "-u",
            "ann:se:cret",
            "--retries",
            "3",
            "-o",
            "out",
            "http://a.test/",
        ])
        .unwrap();
        assert_eq!(options.jobs, 4);
        assert_eq!(options.headers.len(), 2);
        assert_eq!(options.headers[1].0, "x-b");
        assert_eq!(options.headers[1].1, "2");
        assert_eq!(options.timeout, Some(Duration::from_millis(500)));
        assert_eq!(options.method, Method::POST);
        assert_eq!(options.body.as_deref(), Some(&b"hi"[..]));
        assert_eq!(
            options.user,
            Some(("ann".to_owned(), Some("se:cret".to_owned())))
        );
        assert_eq!(options.retries, 3);
        assert_eq!(options.output, BodyOutput::Dir("out".into()));
    }

    #[test]
    fn retry_and_fail_options() {
        let options = run(&[
            "--retries",
            "4",
            "--retry-delay",
            "1.5",
            "--retry-max-time=30",
            "-f",
            "http://a.test/",
        ])
        .unwrap();
        assert_eq!(options.retries, 4);
        assert_eq!(options.retry_delay, Some(Duration::from_millis(1500)));
        assert_eq!(options.retry_max_time, Some(Duration::from_secs(30)));
        assert!(options.fail);
        // 0 is curl's default backoff and no time limit; --fail has a long name too.
        let options = run(&[
            "--retry-delay",
            "0",
            "--retry-max-time",
            "0.0",
            "--fail",
            "http://a.test/",
        ])
        .unwrap();
        assert_eq!(options.retry_delay, None);
        assert_eq!(options.retry_max_time, None);
        assert!(options.fail);
        for bad in ["-1", "soon", "inf", "NaN", ""] {
            assert!(
                run(&["--retry-delay", bad, "http://a.test/"]).is_err(),
                "{bad}"
            );
            assert!(
                run(&["--retry-max-time", bad, "http://a.test/"]).is_err(),
                "{bad}"
            );
        }
        assert!(run(&["--timeout", "0", "http://a.test/"]).is_err());
    }

    #[test]
    fn proxy_and_cookie_options() {
        let options = run(&[
            "-x",
            "socks5h://127.0.0.1:1080",
            "--noproxy",
            "localhost,.corp.test",
            "-b",
            "a=1",
            "--cookie",
            "jar.json",
            "-c",
            "out.json",
            "http://a.test/",
        ])
        .unwrap();
        assert_eq!(options.proxy.as_deref(), Some("socks5h://127.0.0.1:1080"));
        assert_eq!(options.noproxy.as_deref(), Some("localhost,.corp.test"));
        assert_eq!(options.cookies, ["a=1"]);
        assert_eq!(options.cookie_files, [PathBuf::from("jar.json")]);
        assert_eq!(options.cookie_jar, Some(PathBuf::from("out.json")));
    }

    #[test]
    fn url_list_from_stdin() {
        let mut stdin = &b"# a list\n\nhttp://a.test/1\n  http://a.test/2  \n#http://no/\n"[..];
        let Command::Run(options) = parse(["-i", "-"], &mut stdin).unwrap() else {
            panic!("not a run");
        };
        assert_eq!(options.urls, ["http://a.test/1", "http://a.test/2"]);
    }

    #[test]
    fn usage_errors() {
        for args in [
            &[][..],
            &["-j", "0", "http://a.test/"],
            &["-j", "many", "http://a.test/"],
            &["--nope", "http://a.test/"],
            &["-H", "no colon", "http://a.test/"],
            &["-H", "bad name: 1", "http://a.test/"],
            &["--timeout", "-1", "http://a.test/"],
            &["--timeout", "NaN", "http://a.test/"],
            &["-X", "GE T", "http://a.test/"],
            &["-o", "dir", "--stdout", "http://a.test/"],
            &["-d", "@/nonexistent/body", "http://a.test/"],
            &["-i", "/nonexistent/list"],
            &["--bearer", "t", "--user", "u:p", "http://a.test/"],
            &["--proxy", "ftp://p.test", "http://a.test/"],
        ] {
            assert!(run(args).is_err(), "{args:?} was accepted");
        }
    }

    #[test]
    fn help_and_version() {
        assert!(matches!(
            parse(["--help"], &mut std::io::empty()),
            Ok(Command::Help)
        ));
        assert!(matches!(
            parse(["-V"], &mut std::io::empty()),
            Ok(Command::Version)
        ));
    }
}
