//! Response decoding: bytes in, [`Event`]s out ([`ResponseDecoder`]).
//!
//! The decoder is a state machine over the response to one request. Every state is a
//! variant of `State`, and every transition is in [`ResponseDecoder::decode`] and
//! [`ResponseDecoder::decode_eof`] (the chunked grammar has its own machine, in
//! `chunked.rs`):
//!
//! ```text
//!              1xx (not 101): skipped
//!               ┌──────┐
//!               ▼      │       Length(n)        Data*          n bytes read
//!   start ──▶ Head ────┴──┬──────────────▶ Length ────────────────────────┐
//!               │         │  Chunked                                       ▼
//!               │         ├──────────────▶ Chunked ── last chunk+trailers ─▶ Done
//!               │         │  UntilClose                                    ▲
//!               │         └──────────────▶ UntilClose ──── decode_eof ─────┘
//!               └─ error / EOF ──▶ Failed  (every later call repeats the error)
//! ```
//!
//! An `Empty` body is `Length { remaining: 0 }`: the next call returns `End` without input.
//!
//! The head is parsed with httparse once the blank line that ends it has arrived. The
//! search for that line resumes where the previous call stopped, so a head trickling in
//! byte by byte costs linear time, not quadratic (h11's `_receivebuffer.py` notes the
//! same DoS). The status line is checked as soon as it is complete, so a reply that is not
//! HTTP/1.x fails at once rather than at the head-size limit.
//!
//! How the body is delimited and whether the connection can be reused follow RFC 9112
//! §6.3 and §9.3; see [`BodyKind`] and [`CloseReason`].

use std::fmt;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Version};

use super::chunked::{ChunkedDecoder, Step};
use super::error::ProtocolError;
use super::limits::Limits;

/// Header slots on the stack for the first parse of a head; heads with more fields are
/// parsed again with a heap array of `Limits::max_headers` slots.
const STACK_HEADERS: usize = 64;

/// How the response body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body: a response to HEAD, a 204 or 304, or a 2xx to CONNECT.
    Empty,
    /// Exactly this many bytes (`Content-Length`). `Length(0)` ends at once, like `Empty`.
    Length(u64),
    /// The chunked transfer coding, with optional trailer fields.
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

/// Why the connection cannot be reused after this response (None on the head/end = reusable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The server sent `Connection: close` (RFC 9112 §9.6).
    ConnectionClose,
    /// An HTTP/1.0 response without `Connection: keep-alive` (RFC 9112 §9.3).
    Http10,
    /// The body ends when the connection closes (RFC 9112 §6.3 rules 4 and 8).
    CloseDelimitedBody,
    /// Both `Transfer-Encoding` and `Content-Length` were sent, a sign of request
    /// smuggling (RFC 9112 §6.3 rule 3).
    TransferEncodingAndContentLength,
    /// `Transfer-Encoding` in an HTTP/1.0 response, whose framing is suspect (RFC 9112 §6.1).
    TransferEncodingInHttp10,
    /// A 2xx response to CONNECT: the connection is now a tunnel (RFC 9112 §6.3 rule 2).
    Tunnel,
    /// The server answered before the whole request was sent (RFC 9112 §9.6), so the two
    /// sides no longer agree on where the next message starts. Set by the caller with
    /// [`ResponseDecoder::close_after`].
    RequestIncomplete,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ConnectionClose => "server sent connection: close",
            Self::Http10 => "HTTP/1.0 response without keep-alive",
            Self::CloseDelimitedBody => "body delimited by connection close",
            Self::TransferEncodingAndContentLength => {
                "response had both transfer-encoding and content-length"
            }
            Self::TransferEncodingInHttp10 => "HTTP/1.0 response with transfer-encoding",
            Self::Tunnel => "connection became a tunnel",
            Self::RequestIncomplete => "server answered before the request was fully sent",
        })
    }
}

/// A decoded response head.
#[derive(Debug)]
#[non_exhaustive]
pub struct ResponseHead {
    /// The status code, in `200..=999` (1xx interim responses are skipped). Codes 600 to
    /// 999 are invalid (RFC 9110 §15) but delivered as received, as curl and hyper do: the
    /// RFC asks a client to process them like a 5xx, which is the caller's decision.
    pub status: StatusCode,
    /// `HTTP_10` or `HTTP_11`.
    pub version: Version,
    /// The header fields, obs-fold line breaks replaced by spaces.
    pub headers: HeaderMap,
    /// How the body is delimited.
    pub body: BodyKind,
    /// Why the connection cannot be reused, as far as the head tells (None: reusable).
    pub close: Option<CloseReason>,
}

/// The end of a response message.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct EndOfMessage {
    /// The final decision for reuse: None means the connection may go back to the pool.
    pub close: Option<CloseReason>,
    /// Trailer fields of a chunked body, None when there were none.
    pub trailers: Option<HeaderMap>,
}

/// What the decoder found in the input.
#[derive(Debug)]
pub enum Event<'a> {
    /// The final response head (interim 1xx heads are skipped).
    Head(ResponseHead),
    /// A piece of the body, borrowed from the input.
    Data(&'a [u8]),
    /// The end of the response.
    End(EndOfMessage),
}

/// Progress through a response head that has not fully arrived.
#[derive(Debug, Clone, Copy)]
struct HeadScan {
    /// Still before the status line, where empty lines are skipped.
    at_start: bool,
    /// Bytes of empty lines skipped (and consumed) before the status line.
    skipped: usize,
    /// The search for the end of the head resumes at this offset of the unconsumed input.
    scanned: usize,
    /// The status line has been read and checked.
    line_checked: bool,
}

impl HeadScan {
    const START: Self = Self {
        at_start: true,
        skipped: 0,
        scanned: 0,
        line_checked: false,
    };
}

/// The decoder's position in the response.
#[derive(Debug)]
enum State {
    /// Reading a (possibly interim) response head.
    Head(HeadScan),
    /// Reading a `Content-Length` body; `remaining` bytes are still to come.
    Length { remaining: u64 },
    /// Reading a chunked body.
    Chunked(ChunkedDecoder),
    /// Reading a body that ends at EOF.
    UntilClose,
    /// `End` has been returned.
    Done,
    /// An error was returned; every later call returns it again.
    Failed(ProtocolError),
}

/// Decodes the response to one request (sans-IO: the caller owns the buffer).
///
/// # Examples
///
/// ```
/// use par_http_core::h1::{BodyKind, Event, Limits, ResponseDecoder};
/// let mut decoder = ResponseDecoder::new(&http::Method::GET, &Limits::default());
/// let input = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
/// let (used, event) = decoder.decode(input)?;
/// let Some(Event::Head(head)) = event else { panic!() };
/// assert_eq!(head.body, BodyKind::Length(2));
/// let (used2, event) = decoder.decode(&input[used..])?;
/// assert!(matches!(event, Some(Event::Data(b"hi"))));
/// let (_, event) = decoder.decode(&input[used + used2..])?;
/// assert!(matches!(event, Some(Event::End(end)) if end.close.is_none()));
/// assert!(decoder.is_done());
/// # Ok::<(), par_http_core::h1::ProtocolError>(())
/// ```
#[derive(Debug)]
pub struct ResponseDecoder {
    state: State,
    limits: Limits,
    /// The request was HEAD: the response has no body.
    head_request: bool,
    /// The request was CONNECT: a 2xx response has no body and starts a tunnel.
    connect_request: bool,
    /// Why the connection must close, decided by the head.
    close: Option<CloseReason>,
    /// Some byte of the response has been seen.
    received: bool,
}

impl ResponseDecoder {
    /// A decoder for the response to a request with `method` (HEAD responses have no body).
    #[must_use]
    pub fn new(method: &Method, limits: &Limits) -> Self {
        Self {
            state: State::Head(HeadScan::START),
            limits: limits.clone(),
            head_request: method == Method::HEAD,
            connect_request: method == Method::CONNECT,
            close: None,
            received: false,
        }
    }

    /// Feeds the unconsumed bytes received so far. Returns how many bytes of `input` were
    /// consumed and the next event, if any.
    ///
    /// `None` means more input is needed (the caller keeps `input[consumed..]` and appends
    /// to it). Interim 1xx responses (except 101) are consumed and skipped inside the call.
    /// After `Head`, call again even with empty input: an empty body ends immediately with
    /// `End`. After `End`, returns `Ok((0, None))` forever and `is_done()` is true. Bytes
    /// after the end of the response are never consumed.
    ///
    /// # Errors
    ///
    /// A [`ProtocolError`] when the response breaks the framing rules or a limit. The
    /// decoder is then failed: every later call returns the same error.
    #[must_use = "the consumed count and the event must be acted on"]
    pub fn decode<'a>(
        &mut self,
        input: &'a [u8],
    ) -> Result<(usize, Option<Event<'a>>), ProtocolError> {
        if !input.is_empty() {
            self.received = true;
        }
        let result = self.step(input);
        if let Err(err) = &result {
            self.state = State::Failed(err.clone());
        }
        result
    }

    /// The peer closed the connection. Ends a close-delimited body (`End` with close =
    /// `Some(CloseDelimitedBody)`); otherwise returns the matching truncation error
    /// (`ClosedBeforeResponse` if no byte of a response was ever received, `TruncatedHead`,
    /// `TruncatedBody`). Call only after `decode()` has returned `None` on all remaining
    /// input.
    ///
    /// After `End` (from either call) it returns `End` again, without trailers.
    ///
    /// # Errors
    ///
    /// The truncation errors above, or the error a previous call returned.
    pub fn decode_eof(&mut self) -> Result<Event<'static>, ProtocolError> {
        let result = match &self.state {
            State::Head(_) if !self.received => Err(ProtocolError::ClosedBeforeResponse),
            State::Head(_) => Err(ProtocolError::TruncatedHead),
            State::Length { remaining: 0 } | State::Done => Ok(self.end(None)),
            State::Chunked(chunked) if chunked.is_done() => Ok(self.end(None)),
            State::Length { .. } | State::Chunked(_) => Err(ProtocolError::TruncatedBody),
            State::UntilClose => {
                self.close = Some(CloseReason::CloseDelimitedBody);
                Ok(self.end(None))
            }
            State::Failed(err) => Err(err.clone()),
        };
        self.state = match &result {
            Ok(_) => State::Done,
            Err(err) => State::Failed(err.clone()),
        };
        result
    }

    /// Makes the connection close after this response for `reason`, unless the head
    /// already gave a reason (the `End` event reports it). For what only the caller
    /// knows, such as [`CloseReason::RequestIncomplete`].
    pub fn close_after(&mut self, reason: CloseReason) {
        self.close.get_or_insert(reason);
    }

    /// How many of the next input bytes are certainly body data, with no framing among
    /// them: the rest of a `Content-Length` body, the rest of the current chunk of a
    /// chunked one, anything of a body that ends with the connection (`u64::MAX`). A
    /// caller may read up to that many bytes straight into its own destination and then
    /// pass them to [`decode`](Self::decode), which returns them as one `Data` event.
    /// `None` while framing comes next (a head, a chunk size line, trailers), or once the
    /// body is complete.
    #[must_use]
    pub fn body_bytes_ahead(&self) -> Option<u64> {
        match &self.state {
            State::Length { remaining } if *remaining > 0 => Some(*remaining),
            State::Chunked(chunked) => chunked.data_ahead(),
            State::UntilClose => Some(u64::MAX),
            _ => None,
        }
    }

    /// True once `End` has been returned.
    #[must_use]
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// True once any response byte has been received (used for retry decisions).
    #[must_use]
    pub fn has_received_bytes(&self) -> bool {
        self.received
    }

    fn end(&self, trailers: Option<HeaderMap>) -> Event<'static> {
        Event::End(EndOfMessage {
            close: self.close,
            trailers,
        })
    }

    /// One transition of the response state machine.
    fn step<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Option<Event<'a>>), ProtocolError> {
        match &mut self.state {
            State::Head(scan) => {
                let scan = *scan;
                self.decode_head(scan, input)
            }
            State::Length { remaining: 0 } => {
                self.state = State::Done;
                Ok((0, Some(self.end(None))))
            }
            State::Length { remaining } => {
                // `take` is at most `input.len()`, so it fits in both usize and u64.
                let take = usize::try_from(*remaining).map_or(input.len(), |r| r.min(input.len()));
                let Some(data) = input.get(..take).filter(|data| !data.is_empty()) else {
                    return Ok((0, None));
                };
                *remaining =
                    remaining.saturating_sub(u64::try_from(data.len()).unwrap_or(u64::MAX));
                Ok((data.len(), Some(Event::Data(data))))
            }
            State::Chunked(chunked) => match chunked.decode(input, &self.limits)? {
                (used, Step::NeedMore) => Ok((used, None)),
                (used, Step::Data(data)) => Ok((used, Some(Event::Data(data)))),
                (used, Step::Done(trailers)) => {
                    self.state = State::Done;
                    Ok((used, Some(self.end(trailers))))
                }
            },
            State::UntilClose if input.is_empty() => Ok((0, None)),
            State::UntilClose => Ok((input.len(), Some(Event::Data(input)))),
            State::Done => Ok((0, None)),
            State::Failed(err) => Err(err.clone()),
        }
    }

    /// Reads heads until a final one is complete; interim 1xx heads are consumed and dropped.
    fn decode_head<'a>(
        &mut self,
        mut scan: HeadScan,
        input: &'a [u8],
    ) -> Result<(usize, Option<Event<'a>>), ProtocolError> {
        let max = self.limits.max_head_bytes;
        let too_large = ProtocolError::HeadTooLarge { limit: max };
        let mut consumed = 0;
        loop {
            let mut rest = input.get(consumed..).unwrap_or_default();
            if scan.at_start {
                let skip = empty_lines(rest);
                consumed += skip;
                scan.skipped = scan.skipped.saturating_add(skip);
                rest = rest.get(skip..).unwrap_or_default();
                if scan.skipped > max {
                    return Err(too_large);
                }
                match rest {
                    [] | [b'\r'] => {
                        self.state = State::Head(scan);
                        return Ok((consumed, None));
                    }
                    _ => scan.at_start = false,
                }
            }
            // Only this much of the input may belong to the head; a head that does not end
            // inside the window is too large.
            let cap = max.saturating_sub(scan.skipped);
            let window = rest.get(..cap).unwrap_or(rest);
            let need_more = |scan: HeadScan, this: &mut Self| {
                if rest.len() > cap {
                    Err(too_large.clone())
                } else {
                    this.state = State::Head(scan);
                    Ok((consumed, None))
                }
            };

            if !scan.line_checked {
                let from = scan.scanned.min(window.len());
                let searched = window.get(from..).unwrap_or_default();
                let Some(lf) = searched.iter().position(|&b| b == b'\n') else {
                    scan.scanned = window.len();
                    return need_more(scan, self);
                };
                check_status_line(window.get(..=from + lf).unwrap_or(window))?;
                scan.line_checked = true;
            }

            let end = match find_head_end(window, scan.scanned) {
                Ok(end) => end,
                Err(resume) => {
                    scan.scanned = resume;
                    return need_more(scan, self);
                }
            };
            let head = parse_head(window.get(..end).unwrap_or(window), &self.limits)?;
            consumed += end;
            match head.status.as_u16() {
                101 => return Err(ProtocolError::SwitchingProtocols),
                100..=199 => scan = HeadScan::START,
                _ => return Ok((consumed, Some(Event::Head(self.start_body(head)?)))),
            }
        }
    }

    /// Decides the body framing and the reuse of the connection (RFC 9112 §6.3, §9.3), and
    /// moves to the body state.
    ///
    /// When several reasons to close apply, the one about framing wins: `Tunnel`,
    /// `CloseDelimitedBody`, `TransferEncodingAndContentLength`, `TransferEncodingInHttp10`,
    /// then `ConnectionClose` and `Http10`.
    fn start_body(&mut self, head: ParsedHead) -> Result<ResponseHead, ProtocolError> {
        let ParsedHead {
            status,
            version,
            headers,
        } = head;
        let http10 = version == Version::HTTP_10;
        let mut close = connection_close(&headers, http10);

        let body = if self.head_request
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
        {
            BodyKind::Empty
        } else if self.connect_request && status.is_success() {
            close = Some(CloseReason::Tunnel);
            BodyKind::Empty
        } else if headers.contains_key(header::TRANSFER_ENCODING) {
            if headers.contains_key(header::CONTENT_LENGTH) {
                close = Some(CloseReason::TransferEncodingAndContentLength);
            } else if http10 {
                close = Some(CloseReason::TransferEncodingInHttp10);
            }
            transfer_coding(&headers)?
        } else if headers.contains_key(header::CONTENT_LENGTH) {
            BodyKind::Length(content_length(&headers)?)
        } else {
            BodyKind::UntilClose
        };
        if body == BodyKind::UntilClose {
            close = Some(CloseReason::CloseDelimitedBody);
        }
        self.close = close;
        self.state = match body {
            BodyKind::Empty => State::Length { remaining: 0 },
            BodyKind::Length(n) => State::Length { remaining: n },
            BodyKind::Chunked => State::Chunked(ChunkedDecoder::new()),
            BodyKind::UntilClose => State::UntilClose,
        };
        Ok(ResponseHead {
            status,
            version,
            headers,
            body,
            close,
        })
    }
}

/// A parsed head, before the body rules are applied.
struct ParsedHead {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
}

/// Length of the empty lines (CRLF or bare LF) at the start of `input`.
fn empty_lines(input: &[u8]) -> usize {
    let mut skip = 0;
    loop {
        match (input.get(skip), input.get(skip + 1)) {
            (Some(b'\n'), _) => skip += 1,
            (Some(b'\r'), Some(b'\n')) => skip += 2,
            _ => return skip,
        }
    }
}

/// The end of the head (just past its blank line), searching from `from`; or, when it is
/// not there yet, where the next search must resume.
fn find_head_end(buf: &[u8], from: usize) -> Result<usize, usize> {
    let mut at = from;
    while let Some(offset) = buf
        .get(at..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
    {
        let lf = at + offset;
        match (buf.get(lf + 1), buf.get(lf + 2)) {
            (Some(b'\n'), _) => return Ok(lf + 2),
            (Some(b'\r'), Some(b'\n')) => return Ok(lf + 3),
            (None, _) | (Some(b'\r'), None) => return Err(lf),
            _ => at = lf + 1,
        }
    }
    Err(buf.len())
}

fn parser_config() -> httparse::ParserConfig {
    let mut config = httparse::ParserConfig::default();
    // RFC 9112 §5.2: a user agent replaces obs-fold with SP (done in `fields_to_map`).
    config.allow_obsolete_multiline_headers_in_responses(true);
    // RFC 9112 §5.1 requires only servers to reject whitespace before the colon; a
    // client strips it (the name still cannot contain it).
    config.allow_spaces_after_header_name_in_responses(true);
    config
}

/// Maps an httparse error in a complete status line: httparse only knows HTTP/1.0 and
/// HTTP/1.1, so a well-formed `HTTP/d.d` (or `HTTP/d`, as HTTP/2 writes it) before the first
/// space is an unsupported version, anything else a malformed line.
fn status_line_error(err: httparse::Error, line: &[u8]) -> ProtocolError {
    if err != httparse::Error::Version {
        return ProtocolError::InvalidStatusLine;
    }
    let start = line
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(0);
    let line = line.get(start..).unwrap_or_default();
    let version = line
        .split(|&b| matches!(b, b' ' | b'\r' | b'\n'))
        .next()
        .unwrap_or_default();
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            ProtocolError::UnsupportedVersion
        }
        [b'H', b'T', b'T', b'P', b'/', major] if major.is_ascii_digit() => {
            ProtocolError::UnsupportedVersion
        }
        _ => ProtocolError::InvalidStatusLine,
    }
}

/// Checks a complete status line (`line` ends with its LF).
fn check_status_line(line: &[u8]) -> Result<(), ProtocolError> {
    let mut response = httparse::Response::new(&mut []);
    match parser_config().parse_response(&mut response, line) {
        Err(err) => Err(status_line_error(err, line)),
        Ok(_) => match response.code {
            Some(100..=999) => Ok(()),
            Some(_) => Err(ProtocolError::InvalidStatusCode),
            None => Err(ProtocolError::InvalidStatusLine),
        },
    }
}

/// Parses a complete head (`head` ends with its blank line).
fn parse_head(head: &[u8], limits: &Limits) -> Result<ParsedHead, ProtocolError> {
    let mut stack = [httparse::EMPTY_HEADER; STACK_HEADERS];
    let stack_slots = limits.max_headers.min(STACK_HEADERS);
    let mut heap;
    let mut response = httparse::Response::new(stack.get_mut(..stack_slots).unwrap_or_default());
    let mut parsed = parser_config().parse_response(&mut response, head);
    if parsed == Err(httparse::Error::TooManyHeaders) && limits.max_headers > STACK_HEADERS {
        heap = vec![httparse::EMPTY_HEADER; limits.max_headers];
        response = httparse::Response::new(&mut heap);
        parsed = parser_config().parse_response(&mut response, head);
    }
    match parsed {
        Ok(httparse::Status::Complete(_)) => {}
        // The head ends in a blank line, so a complete parse is expected.
        Ok(httparse::Status::Partial) => return Err(ProtocolError::InvalidHeader),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ProtocolError::TooManyHeaders {
                limit: limits.max_headers,
            });
        }
        Err(err @ (httparse::Error::Version | httparse::Error::Status)) => {
            return Err(status_line_error(err, head));
        }
        Err(_) => return Err(ProtocolError::InvalidHeader),
    }
    let status = response
        .code
        .filter(|code| (100..=999).contains(code))
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or(ProtocolError::InvalidStatusCode)?;
    let version = match response.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(ProtocolError::UnsupportedVersion),
    };
    let headers = fields_to_map(response.headers).ok_or(ProtocolError::InvalidHeader)?;
    Ok(ParsedHead {
        status,
        version,
        headers,
    })
}

/// Converts parsed fields to a `HeaderMap`, replacing each obs-fold line break with spaces
/// (RFC 9112 §5.2). None when a name or value is not valid for `http`.
pub(super) fn fields_to_map(fields: &[httparse::Header<'_>]) -> Option<HeaderMap> {
    let mut map = HeaderMap::try_with_capacity(fields.len()).ok()?;
    for field in fields {
        let name = HeaderName::from_bytes(field.name.as_bytes()).ok()?;
        let value = if field.value.iter().any(|&b| b == b'\r' || b == b'\n') {
            let unfolded: Vec<u8> = field
                .value
                .iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
                .collect();
            HeaderValue::from_maybe_shared(bytes::Bytes::from(unfolded)).ok()?
        } else {
            HeaderValue::from_bytes(field.value).ok()?
        };
        map.try_append(name, value).ok()?;
    }
    Some(map)
}

/// The elements of a comma-separated list across all lines of a field, trimmed of OWS,
/// empty elements skipped (RFC 9110 §5.6.1).
fn list_elements(headers: &HeaderMap, name: HeaderName) -> impl Iterator<Item = &[u8]> {
    headers
        .get_all(name)
        .into_iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .map(trim_ows)
        .filter(|element| !element.is_empty())
}

fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// RFC 9112 §9.3 and §9.6: HTTP/1.1 persists unless `close` is listed; HTTP/1.0 persists
/// only when `keep-alive` is listed (and `close` is not).
fn connection_close(headers: &HeaderMap, http10: bool) -> Option<CloseReason> {
    let mut keep_alive = false;
    for option in list_elements(headers, header::CONNECTION) {
        if option.eq_ignore_ascii_case(b"close") {
            return Some(CloseReason::ConnectionClose);
        }
        keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
    }
    (http10 && !keep_alive).then_some(CloseReason::Http10)
}

/// RFC 9112 §6.3 rules 3 and 4: chunked when it is the final transfer coding, otherwise
/// the body runs until close. Other codings are not decoded (the client never offers any
/// in `TE`, so the body is handed over as received).
fn transfer_coding(headers: &HeaderMap) -> Result<BodyKind, ProtocolError> {
    let mut chunked_count = 0usize;
    let mut last_is_chunked = false;
    for coding in list_elements(headers, header::TRANSFER_ENCODING) {
        // A coding may carry parameters: `name;param=value`.
        let name = trim_ows(coding.split(|&b| b == b';').next().unwrap_or(coding));
        last_is_chunked = name.eq_ignore_ascii_case(b"chunked");
        if last_is_chunked {
            chunked_count = chunked_count.saturating_add(1);
        }
    }
    if chunked_count > 1 {
        // §6.1: a sender MUST NOT apply chunked more than once; the framing is ambiguous.
        Err(ProtocolError::InvalidTransferEncoding)
    } else if last_is_chunked {
        Ok(BodyKind::Chunked)
    } else {
        Ok(BodyKind::UntilClose)
    }
}

/// RFC 9112 §6.3 rule 5: one decimal length, or a list of identical ones.
fn content_length(headers: &HeaderMap) -> Result<u64, ProtocolError> {
    let mut length = None;
    for value in headers.get_all(header::CONTENT_LENGTH) {
        for element in value.as_bytes().split(|&b| b == b',') {
            let element = trim_ows(element);
            if element.is_empty() || !element.iter().all(u8::is_ascii_digit) {
                return Err(ProtocolError::InvalidContentLength);
            }
            let n = element.iter().try_fold(0u64, |n, &digit| {
                n.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
            });
            let n = n.ok_or(ProtocolError::InvalidContentLength)?;
            match length {
                Some(previous) if previous != n => {
                    return Err(ProtocolError::ConflictingContentLength);
                }
                _ => length = Some(n),
            }
        }
    }
    length.ok_or(ProtocolError::InvalidContentLength)
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "chunked_tests.rs"]
mod chunked_tests;

#[cfg(test)]
#[path = "proptests.rs"]
mod proptests;

#[cfg(test)]
mod body_bytes_ahead_tests {
    use super::*;

    #[test]
    fn a_length_body_in_progress_has_its_rest_ahead() {
        let limits = Limits::default();
        let mut decoder = ResponseDecoder::new(&Method::GET, &limits);
        assert_eq!(decoder.body_bytes_ahead(), None);
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
        let (used, event) = decoder.decode(head).unwrap();
        assert_eq!(used, head.len());
        assert!(matches!(event, Some(Event::Head(_))));
        assert_eq!(decoder.body_bytes_ahead(), Some(10));
        let (used, event) = decoder.decode(b"0123").unwrap();
        assert_eq!(
            (used, matches!(event, Some(Event::Data(b"0123")))),
            (4, true)
        );
        assert_eq!(decoder.body_bytes_ahead(), Some(6));
        let _ = decoder.decode(b"456789").unwrap();
        assert_eq!(decoder.body_bytes_ahead(), None);
    }

    #[test]
    fn a_chunk_in_progress_has_its_rest_ahead_and_framing_has_none() {
        let limits = Limits::default();
        let mut chunked = ResponseDecoder::new(&Method::GET, &limits);
        let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let _ = chunked.decode(head).unwrap();
        // A chunk size line comes next.
        assert_eq!(chunked.body_bytes_ahead(), None);
        let (used, event) = chunked.decode(b"a\r\n").unwrap();
        assert_eq!((used, event.is_none()), (3, true));
        assert_eq!(chunked.body_bytes_ahead(), Some(10));
        // Bytes read straight into a destination come back as one Data event.
        let (used, event) = chunked.decode(b"0123").unwrap();
        assert_eq!(
            (used, matches!(event, Some(Event::Data(b"0123")))),
            (4, true)
        );
        assert_eq!(chunked.body_bytes_ahead(), Some(6));
        let (used, event) = chunked.decode(b"456789").unwrap();
        assert_eq!(
            (used, matches!(event, Some(Event::Data(b"456789")))),
            (6, true)
        );
        // The CRLF after the data, then the last chunk: framing.
        assert_eq!(chunked.body_bytes_ahead(), None);
        let (used, event) = chunked.decode(b"\r\n0\r\n\r\n").unwrap();
        assert_eq!((used, matches!(event, Some(Event::End(_)))), (7, true));
        assert_eq!(chunked.body_bytes_ahead(), None);
    }

    #[test]
    fn a_close_delimited_body_is_all_ahead() {
        let limits = Limits::default();
        let mut decoder = ResponseDecoder::new(&Method::GET, &limits);
        let _ = decoder.decode(b"HTTP/1.1 200 OK\r\n\r\n").unwrap();
        assert_eq!(decoder.body_bytes_ahead(), Some(u64::MAX));
    }
}
