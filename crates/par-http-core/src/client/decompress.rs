//! Transparent response decompression: `Accept-Encoding` out, `Content-Encoding` undone.
//!
//! Each coding is behind a cargo feature of its own: `gzip` and `deflate` (on by default
//! in `par-http`), `brotli` and `zstd`. The client advertises the enabled codings with a
//! default `Accept-Encoding` header (so a request that sets its own keeps it, and a mock
//! dispatch sees what the network would), and [`Client::execute`](crate::Client::execute)
//! passes every final response (after redirects) through [`decoded`]. A response whose
//! `Content-Encoding` names one enabled coding gets a body that decodes as it is read,
//! and loses its `Content-Encoding` and `Content-Length` fields, which describe the
//! encoded bytes. Responses to HEAD, and 204, 206 and 304 responses are left alone (they
//! have no body, or only a part of the encoded one).
//!
//! `deflate` is the zlib format (RFC 9110 §8.4.1.2); a raw deflate stream, which some
//! servers send instead, is recognised by its first bytes and decoded too. Concatenated
//! gzip members and zstd frames are all decoded.
//!
//! A decoded body may not grow past the client's `max_decompressed_bytes`
//! ([`DEFAULT_MAX_DECOMPRESSED_BYTES`] by default): a few kilobytes of gzip can expand to
//! gigabytes (a "decompression bomb"). Past the limit, and on corrupt or truncated data,
//! the read fails with [`ErrorKind::Decompress`] and a [`DecompressError`] as its source;
//! the connection is closed.

// Without any decompression feature the decoder is never built.
#![cfg_attr(
    not(any(
        feature = "gzip",
        feature = "deflate",
        feature = "brotli",
        feature = "zstd"
    )),
    allow(dead_code, unused_imports)
)]

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncBufRead, AsyncRead, BufReader};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};

use crate::error::{Error, ErrorKind, Result};
use crate::message::response::{Response, ResponseBody};

/// The default limit on the size of a decompressed body: 1 GiB.
///
/// Large enough that no ordinary response reaches it (big downloads are usually served
/// as files, without `Content-Encoding`), small enough that a decompression bomb costs
/// at most one such buffer rather than all memory. A gzip stream expands about 1000
/// times at most, so it takes a compressed body of about 1 MiB to get there.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: u64 = 1 << 30;

/// Trailing bytes after the end of a compressed stream that are read and ignored so the
/// connection can be reused; more than this and the connection is closed instead.
const MAX_TRAILING_BYTES: u64 = 1024;

/// Why a compressed response body could not be decompressed: the source of an
/// [`ErrorKind::Decompress`] error.
#[derive(Debug)]
#[non_exhaustive]
pub enum DecompressError {
    /// The decoded body is larger than the client's limit (which this holds).
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The body is not valid data of its coding, or it ends before the coding does.
    Invalid {
        /// The coding, as named in `Content-Encoding` (`"gzip"`, `"deflate"`, ...).
        coding: &'static str,
        /// What the decoder reported.
        source: io::Error,
    },
}

impl fmt::Display for DecompressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { limit } => write!(
                f,
                "the decompressed body is larger than the limit of {limit} bytes \
                 (max_decompressed_bytes)"
            ),
            Self::Invalid { coding, .. } => write!(f, "invalid {coding} data"),
        }
    }
}

impl StdError for DecompressError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Invalid { source, .. } => Some(source),
            Self::TooLarge { .. } => None,
        }
    }
}

/// The `Accept-Encoding` value that names every coding enabled by the crate's features,
/// or `None` when none is.
///
/// # Examples
///
/// ```
/// let value = par_http_core::accept_encoding();
/// if cfg!(feature = "gzip") {
///     assert!(value.unwrap().to_str().unwrap().contains("gzip"));
/// }
/// ```
pub fn accept_encoding() -> Option<HeaderValue> {
    let codings: &[&str] = &[
        #[cfg(feature = "gzip")]
        "gzip",
        #[cfg(feature = "deflate")]
        "deflate",
        #[cfg(feature = "brotli")]
        "br",
        #[cfg(feature = "zstd")]
        "zstd",
    ];
    if codings.is_empty() {
        return None;
    }
    HeaderValue::from_str(&codings.join(", ")).ok()
}

/// Adds the default `Accept-Encoding` to `headers` (at client configuration).
pub(crate) fn add_accept_encoding(headers: &mut HeaderMap) {
    if let Some(value) = accept_encoding() {
        headers.insert(header::ACCEPT_ENCODING, value);
    }
}

/// The codings this build can decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    #[cfg(feature = "gzip")]
    Gzip,
    #[cfg(feature = "deflate")]
    Deflate,
    #[cfg(feature = "brotli")]
    Brotli,
    #[cfg(feature = "zstd")]
    Zstd,
}

impl Coding {
    /// The coding a `Content-Encoding` token names, if this build decodes it.
    fn from_token(token: &str) -> Option<Self> {
        let is = |name: &str| token.eq_ignore_ascii_case(name);
        #[cfg(feature = "gzip")]
        if is("gzip") || is("x-gzip") {
            return Some(Self::Gzip);
        }
        #[cfg(feature = "deflate")]
        if is("deflate") {
            return Some(Self::Deflate);
        }
        #[cfg(feature = "brotli")]
        if is("br") {
            return Some(Self::Brotli);
        }
        #[cfg(feature = "zstd")]
        if is("zstd") {
            return Some(Self::Zstd);
        }
        let _ = is;
        None
    }

    fn name(self) -> &'static str {
        match self {
            #[cfg(feature = "gzip")]
            Self::Gzip => "gzip",
            #[cfg(feature = "deflate")]
            Self::Deflate => "deflate",
            #[cfg(feature = "brotli")]
            Self::Brotli => "br",
            #[cfg(feature = "zstd")]
            Self::Zstd => "zstd",
        }
    }

    /// A decoder reading `source`, whose first bytes are `looks_zlib` or not.
    fn decoder(self, source: BufReader<Source>, looks_zlib: bool) -> Box<dyn Codec> {
        let _ = (&source, looks_zlib);
        match self {
            #[cfg(feature = "gzip")]
            Self::Gzip => {
                let mut decoder = async_compression::futures::bufread::GzipDecoder::new(source);
                decoder.multiple_members(true);
                Box::new(decoder)
            }
            #[cfg(feature = "deflate")]
            Self::Deflate if looks_zlib => Box::new(
                async_compression::futures::bufread::ZlibDecoder::new(source),
            ),
            #[cfg(feature = "deflate")]
            Self::Deflate => Box::new(async_compression::futures::bufread::DeflateDecoder::new(
                source,
            )),
            #[cfg(feature = "brotli")]
            Self::Brotli => Box::new(async_compression::futures::bufread::BrotliDecoder::new(
                source,
            )),
            #[cfg(feature = "zstd")]
            Self::Zstd => {
                let mut decoder = async_compression::futures::bufread::ZstdDecoder::new(source);
                decoder.multiple_members(true);
                Box::new(decoder)
            }
        }
    }
}

/// True if `first` starts like a zlib stream (RFC 1950: method 8, a window of at most
/// 32 KiB, and a header checksum), rather than raw deflate.
fn looks_zlib(first: &[u8]) -> bool {
    match first {
        [cmf, rest @ ..] => {
            let header_ok = cmf & 0x0f == 8 && cmf >> 4 <= 7;
            match rest.first() {
                Some(flg) => header_ok && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
                None => header_ok,
            }
        }
        [] => false,
    }
}

/// The final response of `response` (a request after its redirects), with its body
/// decoded if its `Content-Encoding` is one this client decodes.
///
/// The one step of [`Client::execute`](crate::Client::execute) that belongs to this
/// module; everything else here serves it.
pub(crate) fn decoded<F>(enabled: bool, limit: Option<u64>, response: F) -> DecodedResponse<F>
where
    F: Future<Output = Result<Response>> + Unpin,
{
    DecodedResponse {
        response,
        settings: Settings { enabled, limit },
    }
}

/// The future of [`decoded`]: `F` with its response decoded. A plain struct rather than
/// an `async` block, which would hold `F` twice (every request's future carries this).
#[derive(Debug)]
pub(crate) struct DecodedResponse<F> {
    response: F,
    settings: Settings,
}

impl<F> Future for DecodedResponse<F>
where
    F: Future<Output = Result<Response>> + Unpin,
{
    type Output = Result<Response>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let settings = self.settings;
        Pin::new(&mut self.response)
            .poll(cx)
            .map(|response| response.map(|response| settings.decode(response)))
    }
}

/// The part of the client's configuration that decoding needs.
#[derive(Debug, Clone, Copy)]
struct Settings {
    enabled: bool,
    limit: Option<u64>,
}

impl Settings {
    fn decode(self, mut response: Response) -> Response {
        if !self.enabled
            || *response.method() == Method::HEAD
            || response.status().is_informational()
            || matches!(
                response.status(),
                StatusCode::NO_CONTENT | StatusCode::PARTIAL_CONTENT | StatusCode::NOT_MODIFIED
            )
        {
            return response;
        }
        let Some(coding) = single_coding(response.headers()) else {
            return response;
        };
        let headers = response.headers_mut();
        headers.remove(header::CONTENT_ENCODING);
        headers.remove(header::CONTENT_LENGTH);
        let body = std::mem::take(response.body_mut());
        *response.body_mut() = ResponseBody::from_reader(Decoded {
            coding,
            state: State::Start(BufReader::new(Source(body))),
            produced: 0,
            limit: self.limit,
        });
        response
    }
}

/// The coding of a body encoded exactly once with a coding this build decodes
/// (`identity` ignored). Anything else (several codings, an unknown one) is left as is.
fn single_coding(headers: &HeaderMap) -> Option<Coding> {
    let mut found = None;
    for value in headers.get_all(header::CONTENT_ENCODING) {
        let value = value.to_str().ok()?;
        for token in value.split(',').map(str::trim) {
            if token.is_empty() || token.eq_ignore_ascii_case("identity") {
                continue;
            }
            if found.is_some() {
                return None;
            }
            found = Some(Coding::from_token(token)?);
        }
    }
    found
}

/// The encoded body; any IO error it gives carries a par-http [`Error`], so errors from
/// below the decoder (a read timeout, a truncated connection) are told apart from the
/// decoder's own.
struct Source(ResponseBody);

impl AsyncRead for Source {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf).map_err(|err| {
            if carries_error(&err) {
                err
            } else {
                Error::io(ErrorKind::Body, err).into()
            }
        })
    }
}

fn carries_error(err: &io::Error) -> bool {
    err.get_ref().is_some_and(|inner| inner.is::<Error>())
}

/// A decoder of one coding over a [`Source`].
trait Codec: AsyncRead + Send + Unpin {
    /// The encoded stream, to drain after the decoder has finished.
    fn source(&mut self) -> &mut BufReader<Source>;
}

macro_rules! codec {
    ($feature:literal, $decoder:ident) => {
        #[cfg(feature = $feature)]
        impl Codec for async_compression::futures::bufread::$decoder<BufReader<Source>> {
            fn source(&mut self) -> &mut BufReader<Source> {
                self.get_mut()
            }
        }
    };
}

codec!("gzip", GzipDecoder);
codec!("deflate", ZlibDecoder);
codec!("deflate", DeflateDecoder);
codec!("brotli", BrotliDecoder);
codec!("zstd", ZstdDecoder);

/// A decoded response body.
struct Decoded {
    coding: Coding,
    state: State,
    produced: u64,
    limit: Option<u64>,
}

enum State {
    /// Nothing read yet: the first bytes pick the decoder (and an empty body stays empty).
    Start(BufReader<Source>),
    Decoding(Box<dyn Codec>),
    /// The coded stream ended: reading what is left of the body (so the connection can
    /// be reused), with the count of trailing bytes seen.
    Draining(Box<dyn Codec>, u64),
    Done,
    Failed,
}

impl Decoded {
    fn fail(&mut self, cause: DecompressError) -> io::Error {
        self.state = State::Failed;
        Error::new(ErrorKind::Decompress).with_source(cause).into()
    }
}

impl AsyncRead for Decoded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        loop {
            match std::mem::replace(&mut this.state, State::Done) {
                State::Start(mut source) => {
                    let first = Pin::new(&mut source)
                        .poll_fill_buf(cx)
                        .map_ok(|bytes| (bytes.is_empty(), looks_zlib(bytes)));
                    match first {
                        Poll::Pending => {
                            this.state = State::Start(source);
                            return Poll::Pending;
                        }
                        Poll::Ready(Err(err)) => {
                            this.state = State::Failed;
                            return Poll::Ready(Err(err));
                        }
                        // An empty body is empty in every coding.
                        Poll::Ready(Ok((true, _))) => return Poll::Ready(Ok(0)),
                        Poll::Ready(Ok((false, zlib))) => {
                            this.state = State::Decoding(this.coding.decoder(source, zlib));
                        }
                    }
                }
                State::Decoding(mut codec) => match Pin::new(&mut *codec).poll_read(cx, buf) {
                    Poll::Pending => {
                        this.state = State::Decoding(codec);
                        return Poll::Pending;
                    }
                    Poll::Ready(Ok(0)) => this.state = State::Draining(codec, 0),
                    Poll::Ready(Ok(n)) => {
                        this.produced = this.produced.saturating_add(n as u64);
                        if let Some(limit) = this.limit.filter(|limit| this.produced > *limit) {
                            // Dropping the decoder closes the connection.
                            return Poll::Ready(
                                Err(this.fail(DecompressError::TooLarge { limit })),
                            );
                        }
                        this.state = State::Decoding(codec);
                        return Poll::Ready(Ok(n));
                    }
                    Poll::Ready(Err(err)) if carries_error(&err) => {
                        this.state = State::Failed;
                        return Poll::Ready(Err(err));
                    }
                    Poll::Ready(Err(err)) => {
                        let coding = this.coding.name();
                        let cause = DecompressError::Invalid {
                            coding,
                            source: err,
                        };
                        return Poll::Ready(Err(this.fail(cause)));
                    }
                },
                State::Draining(mut codec, seen) => {
                    let mut scratch = [0u8; 256];
                    match Pin::new(codec.source()).poll_read(cx, &mut scratch) {
                        Poll::Pending => {
                            this.state = State::Draining(codec, seen);
                            return Poll::Pending;
                        }
                        Poll::Ready(Ok(n)) if n > 0 && seen + (n as u64) <= MAX_TRAILING_BYTES => {
                            this.state = State::Draining(codec, seen + n as u64);
                        }
                        // The end, an error past the end of the data, or too much trailing
                        // junk (then the connection is closed): the decoded body is whole.
                        Poll::Ready(_) => return Poll::Ready(Ok(0)),
                    }
                }
                State::Done => return Poll::Ready(Ok(0)),
                State::Failed => {
                    this.state = State::Failed;
                    return Poll::Ready(Err(Error::new(ErrorKind::Decompress).into()));
                }
            }
        }
    }
}

impl fmt::Debug for Decoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoded")
            .field("coding", &self.coding.name())
            .field("produced", &self.produced)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn zlib_headers_are_told_from_raw_deflate() {
        assert!(looks_zlib(&[0x78, 0x9c]));
        assert!(looks_zlib(&[0x78, 0x01]));
        assert!(looks_zlib(&[0x78, 0xda]));
        assert!(!looks_zlib(&[0x78, 0x9d]));
        // Raw deflate of "hello" (a fixed-Huffman block).
        assert!(!looks_zlib(&[0xcb, 0x48]));
        assert!(!looks_zlib(&[]));
    }

    #[test]
    fn only_a_single_known_coding_is_decoded() {
        let mut headers = HeaderMap::new();
        assert_eq!(single_coding(&headers), None);
        headers.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        assert_eq!(single_coding(&headers), None);
        headers.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static("compress"),
        );
        assert_eq!(single_coding(&headers), None);
        #[cfg(feature = "gzip")]
        {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("GZip"));
            assert_eq!(single_coding(&headers), Some(Coding::Gzip));
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("x-gzip"));
            assert_eq!(single_coding(&headers), Some(Coding::Gzip));
            headers.insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static("gzip, gzip"),
            );
            assert_eq!(single_coding(&headers), None);
        }
    }

    #[cfg(any(
        feature = "gzip",
        feature = "deflate",
        feature = "brotli",
        feature = "zstd"
    ))]
    /// `data` encoded by async-compression's encoder for `coding` (a zlib stream for
    /// `deflate`, a raw one for `raw-deflate`).
    #[allow(unused_variables)]
    fn encode(coding: &str, data: &[u8]) -> Vec<u8> {
        use async_compression::futures::bufread as enc;
        use futures_lite::io::{AsyncReadExt, Cursor};
        let input = Cursor::new(data.to_vec());
        let mut reader: Box<dyn AsyncRead + Unpin> = match coding {
            #[cfg(feature = "gzip")]
            "gzip" => Box::new(enc::GzipEncoder::new(input)),
            #[cfg(feature = "deflate")]
            "deflate" => Box::new(enc::ZlibEncoder::new(input)),
            #[cfg(feature = "deflate")]
            "raw-deflate" => Box::new(enc::DeflateEncoder::new(input)),
            #[cfg(feature = "brotli")]
            "br" => Box::new(enc::BrotliEncoder::new(input)),
            #[cfg(feature = "zstd")]
            "zstd" => Box::new(enc::ZstdEncoder::new(input)),
            other => panic!("no encoder for {other}"),
        };
        let mut out = Vec::new();
        futures_lite::future::block_on(reader.read_to_end(&mut out)).unwrap();
        out
    }

    #[cfg(any(
        feature = "gzip",
        feature = "deflate",
        feature = "brotli",
        feature = "zstd"
    ))]
    /// A 200 response to GET with `Content-Encoding: coding` and `body`, decoded with
    /// `limit`; the decoded headers and body (or the read error).
    fn decode_body(
        coding: &str,
        body: Vec<u8>,
        limit: Option<u64>,
    ) -> (HeaderMap, std::result::Result<Vec<u8>, Error>) {
        use futures_lite::io::AsyncReadExt;
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_str(coding).unwrap(),
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        let url = url::Url::parse("http://a.test/").unwrap();
        let response = Response::new(Method::GET, url, StatusCode::OK, headers, body.into());
        let settings = Settings {
            enabled: true,
            limit,
        };
        let response = settings.decode(response);
        let headers = response.headers().clone();
        let mut out = Vec::new();
        let mut body = response.into_body();
        let read = futures_lite::future::block_on(body.read_to_end(&mut out));
        (
            headers,
            read.map(|_| out).map_err(crate::message::response::from_io),
        )
    }

    #[cfg(any(
        feature = "gzip",
        feature = "deflate",
        feature = "brotli",
        feature = "zstd"
    ))]
    fn sample() -> Vec<u8> {
        (0..50_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    #[cfg(any(
        feature = "gzip",
        feature = "deflate",
        feature = "brotli",
        feature = "zstd"
    ))]
    #[test]
    fn every_enabled_coding_round_trips() {
        let data = sample();
        let codings: &[(&str, &str)] = &[
            #[cfg(feature = "gzip")]
            ("gzip", "gzip"),
            #[cfg(feature = "gzip")]
            ("gzip", "x-gzip"),
            #[cfg(feature = "deflate")]
            ("deflate", "deflate"),
            #[cfg(feature = "deflate")]
            ("raw-deflate", "deflate"),
            #[cfg(feature = "brotli")]
            ("br", "br"),
            #[cfg(feature = "zstd")]
            ("zstd", "zstd"),
        ];
        for (encoder, name) in codings {
            let (headers, body) = decode_body(name, encode(encoder, &data), None);
            assert!(headers.get(header::CONTENT_ENCODING).is_none(), "{name}");
            assert!(headers.get(header::CONTENT_LENGTH).is_none(), "{name}");
            assert!(body.unwrap() == data, "{encoder} as {name}");
        }
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn gzip_members_are_all_decoded_and_the_limit_holds() {
        use std::error::Error as _;
        let mut two = encode("gzip", b"first ");
        two.extend(encode("gzip", b"second"));
        let (_, body) = decode_body("gzip", two, None);
        assert_eq!(body.unwrap(), b"first second");

        let bomb = encode("gzip", &vec![0u8; 1 << 20]);
        let (_, body) = decode_body("gzip", bomb.clone(), Some(1000));
        let err = body.unwrap_err();
        assert!(err.is_decompress(), "{err:?}");
        let cause = err
            .source()
            .and_then(|s| s.downcast_ref::<DecompressError>());
        assert!(
            matches!(cause, Some(DecompressError::TooLarge { limit: 1000 })),
            "{err:?}"
        );
        let (_, body) = decode_body("gzip", bomb, Some(1 << 20));
        assert_eq!(body.unwrap().len(), 1 << 20);
    }

    #[cfg(feature = "deflate")]
    #[test]
    fn trailing_bytes_after_a_zlib_stream_are_ignored() {
        let mut data = encode("deflate", b"payload");
        data.extend_from_slice(b"\r\n");
        let (_, body) = decode_body("deflate", data, None);
        assert_eq!(body.unwrap(), b"payload");
    }

    #[test]
    fn accept_encoding_follows_the_features() {
        let config = Config::default();
        let value = config.default_headers.get(header::ACCEPT_ENCODING);
        assert_eq!(value, accept_encoding().as_ref());
        assert_eq!(
            value.is_some(),
            cfg!(any(
                feature = "gzip",
                feature = "deflate",
                feature = "brotli",
                feature = "zstd"
            ))
        );
    }
}
