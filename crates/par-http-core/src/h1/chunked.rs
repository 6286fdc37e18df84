//! The chunked transfer coding decoder (RFC 9112 §7.1): one enum state per position in the
//! grammar, and every transition in `ChunkedDecoder::next` (plus the bulk copy of chunk data
//! in `ChunkedDecoder::decode`).
//!
//! ```text
//!   size line   Size ─SP/HTAB─▶ SizeWs ─;─▶ Ext                  (also Size ─;─▶ Ext)
//!               Size | SizeWs | Ext ─CR─▶ SizeLf ─LF─▶ line end  (or straight ─LF─▶)
//!   line end    size > 0  ─▶ Data{remaining} ─chunk read─▶ DataEnd ─CR─▶ DataLf ─LF─▶ Size
//!                                                          DataEnd ─LF─▶ Size
//!               size == 0 ─▶ TrailerStart
//!   trailers    TrailerStart ─CR─▶ EndLf ─LF─▶ Done              (or straight ─LF─▶ Done)
//!               TrailerStart ─other─▶ Trailer ─CR─▶ TrailerLf ─LF─▶ TrailerStart
//!                                     Trailer ─LF─▶ TrailerStart
//! ```
//!
//! Every byte of framing is consumed as soon as it is seen, so a partial line is never
//! rescanned and the decoder works when fed one byte at a time. Chunk extensions are
//! checked for control bytes and ignored. Trailer field lines are copied (line ends
//! normalised to CRLF) into a buffer bounded by
//! [`Limits::max_trailer_bytes`](super::Limits::max_trailer_bytes), and parsed once the
//! blank line that ends them arrives. A bare LF is accepted wherever CRLF is expected
//! (RFC 9112 §2.2).

use http::HeaderMap;

use super::decode::fields_to_map;
use super::error::ProtocolError;
use super::limits::Limits;

/// Trailer slots on the stack; sections with more fields are parsed again on the heap.
const STACK_TRAILERS: usize = 16;

/// Where the decoder is in the chunked grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the hex chunk size; `digits` is how many were read, `line` the line length.
    Size {
        size: u64,
        digits: usize,
        line: usize,
    },
    /// Whitespace after the size (BWS before `;` or the line end).
    SizeWs { size: u64, line: usize },
    /// Inside chunk extensions, which are ignored up to the line end.
    Ext { size: u64, line: usize },
    /// A CR ended the size line; expecting LF.
    SizeLf { size: u64 },
    /// Inside chunk data; `remaining` bytes of this chunk are still to come.
    Data { remaining: u64 },
    /// Chunk data ended; expecting CR or LF.
    DataEnd,
    /// A CR followed chunk data; expecting LF.
    DataLf,
    /// At the start of a line in the trailer section (a field or the final blank line).
    TrailerStart,
    /// Inside a trailer field line.
    Trailer,
    /// A CR ended a trailer field line; expecting LF.
    TrailerLf,
    /// A CR started the final blank line; expecting LF.
    EndLf,
    /// The final blank line has been read.
    Done,
}

/// What one call to [`ChunkedDecoder::decode`] produced.
#[derive(Debug)]
pub(super) enum Step<'a> {
    /// All of the input was framing: more is needed.
    NeedMore,
    /// Body data, never past the end of the current chunk.
    Data(&'a [u8]),
    /// The body ended; the trailer fields, if there were any.
    Done(Option<HeaderMap>),
}

/// The chunked body decoder.
#[derive(Debug)]
pub(super) struct ChunkedDecoder {
    state: State,
    /// Trailer field lines seen so far, each ending in CRLF.
    trailers: Vec<u8>,
}

impl ChunkedDecoder {
    /// Bytes of chunk data that come next, with no framing among them (inside a chunk's
    /// data); `None` elsewhere.
    pub(super) fn data_ahead(&self) -> Option<u64> {
        match self.state {
            State::Data { remaining } if remaining > 0 => Some(remaining),
            _ => None,
        }
    }

    pub(super) fn new() -> Self {
        Self {
            state: State::Size {
                size: 0,
                digits: 0,
                line: 0,
            },
            trailers: Vec::new(),
        }
    }

    /// Consumes framing bytes from `input` until it has body data, the end of the body,
    /// or runs out of input. Returns how many bytes of `input` were consumed.
    pub(super) fn decode<'a>(
        &mut self,
        input: &'a [u8],
        limits: &Limits,
    ) -> Result<(usize, Step<'a>), ProtocolError> {
        let mut pos = 0;
        loop {
            if self.state == State::Done {
                let trailers = self.take_trailers(limits)?;
                return Ok((pos, Step::Done(trailers)));
            }
            let Some(rest) = input.get(pos..).filter(|rest| !rest.is_empty()) else {
                return Ok((pos, Step::NeedMore));
            };
            if let State::Data { remaining } = self.state {
                // Never more than the chunk holds; `take` fits in usize because it is at
                // most `rest.len()`.
                let take = usize::try_from(remaining).map_or(rest.len(), |r| r.min(rest.len()));
                let data = rest.get(..take).unwrap_or(rest);
                let left = remaining.saturating_sub(u64::try_from(data.len()).unwrap_or(u64::MAX));
                self.state = if left == 0 {
                    State::DataEnd
                } else {
                    State::Data { remaining: left }
                };
                return Ok((pos + data.len(), Step::Data(data)));
            }
            if let Some(&byte) = rest.first() {
                self.state = self.next(byte, limits)?;
            }
            pos += 1;
        }
    }

    /// True while the body has not ended (EOF now would truncate it).
    pub(super) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The transition on one framing byte. Every transition of the chunked grammar (but the
    /// bulk data copy in `decode`) is in this match.
    fn next(&mut self, byte: u8, limits: &Limits) -> Result<State, ProtocolError> {
        let line_limit = limits.max_chunk_line_bytes;
        let grow = |line: usize| -> Result<usize, ProtocolError> {
            let line = line.saturating_add(1);
            if line > line_limit {
                Err(ProtocolError::ChunkLineTooLong { limit: line_limit })
            } else {
                Ok(line)
            }
        };
        let size_line_end = |size: u64| {
            if size == 0 {
                State::TrailerStart
            } else {
                State::Data { remaining: size }
            }
        };
        Ok(match (self.state, byte) {
            (State::Size { size, digits, line }, _) if byte.is_ascii_hexdigit() => {
                let digit = u64::from(hex_value(byte));
                let size = size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(digit))
                    .ok_or(ProtocolError::ChunkSizeOverflow)?;
                State::Size {
                    size,
                    digits: digits.saturating_add(1),
                    line: grow(line)?,
                }
            }
            (State::Size { digits: 0, .. }, _) => return Err(ProtocolError::InvalidChunkSize),
            (State::Size { size, line, .. } | State::SizeWs { size, line }, b' ' | b'\t') => {
                State::SizeWs {
                    size,
                    line: grow(line)?,
                }
            }
            (State::Size { size, line, .. } | State::SizeWs { size, line }, b';') => State::Ext {
                size,
                line: grow(line)?,
            },
            (
                State::Size { size, .. } | State::SizeWs { size, .. } | State::Ext { size, .. },
                b'\r',
            ) => State::SizeLf { size },
            (
                State::Size { size, .. } | State::SizeWs { size, .. } | State::Ext { size, .. },
                b'\n',
            )
            | (State::SizeLf { size }, b'\n') => size_line_end(size),
            (State::Size { .. } | State::SizeWs { .. } | State::SizeLf { .. }, _) => {
                return Err(ProtocolError::InvalidChunkSize);
            }
            (State::Ext { size, line }, _) => {
                if byte != b'\t' && (byte < 0x20 || byte == 0x7f) {
                    return Err(ProtocolError::InvalidChunkExtension);
                }
                State::Ext {
                    size,
                    line: grow(line)?,
                }
            }
            (State::DataEnd, b'\r') => State::DataLf,
            (State::DataEnd | State::DataLf, b'\n') => State::Size {
                size: 0,
                digits: 0,
                line: 0,
            },
            (State::DataEnd | State::DataLf, _) => {
                return Err(ProtocolError::InvalidChunkTerminator);
            }
            (State::TrailerStart, b'\r') => State::EndLf,
            (State::TrailerStart | State::EndLf, b'\n') => State::Done,
            (State::EndLf, _) => return Err(ProtocolError::InvalidTrailer),
            (State::Trailer, b'\r') => State::TrailerLf,
            (State::Trailer | State::TrailerLf, b'\n') => {
                self.push_trailer(b"\r\n", limits)?;
                State::TrailerStart
            }
            (State::TrailerLf, _) => return Err(ProtocolError::InvalidTrailer),
            (State::TrailerStart | State::Trailer, _) => {
                self.push_trailer(&[byte], limits)?;
                State::Trailer
            }
            // Unreachable from `decode` (it handles these states itself); kept total so that
            // a mistake is an error, not a panic.
            (State::Data { .. } | State::Done, _) => return Err(ProtocolError::InvalidChunkSize),
        })
    }

    fn push_trailer(&mut self, bytes: &[u8], limits: &Limits) -> Result<(), ProtocolError> {
        let limit = limits.max_trailer_bytes;
        if self.trailers.len().saturating_add(bytes.len()) > limit {
            return Err(ProtocolError::TrailersTooLarge { limit });
        }
        self.trailers.extend_from_slice(bytes);
        Ok(())
    }

    /// Parses the buffered trailer section (once, at `Done`).
    fn take_trailers(&mut self, limits: &Limits) -> Result<Option<HeaderMap>, ProtocolError> {
        if self.trailers.is_empty() {
            return Ok(None);
        }
        let mut section = std::mem::take(&mut self.trailers);
        section.extend_from_slice(b"\r\n");
        let max = limits.max_headers;
        let mut stack = [httparse::EMPTY_HEADER; STACK_TRAILERS];
        let mut heap;
        let mut parsed = parse_trailers(&section, &mut stack, max);
        if parsed == Err(httparse::Error::TooManyHeaders) && max > STACK_TRAILERS {
            heap = vec![httparse::EMPTY_HEADER; max];
            parsed = parse_trailers(&section, &mut heap, max);
        }
        match parsed {
            Ok(fields) => fields_to_map(fields)
                .map(Some)
                .ok_or(ProtocolError::InvalidTrailer),
            Err(httparse::Error::TooManyHeaders) => {
                Err(ProtocolError::TooManyHeaders { limit: max })
            }
            Err(_) => Err(ProtocolError::InvalidTrailer),
        }
    }
}

/// Runs httparse on a complete trailer section, with at most `max` field slots.
fn parse_trailers<'h, 'b>(
    section: &'b [u8],
    slots: &'h mut [httparse::Header<'b>],
    max: usize,
) -> Result<&'h [httparse::Header<'b>], httparse::Error> {
    let len = slots.len().min(max);
    let slots = slots.get_mut(..len).unwrap_or_default();
    match httparse::parse_headers(section, slots)? {
        httparse::Status::Complete((used, fields)) if used == section.len() => Ok(fields),
        // The section ends in a blank line by construction; anything else is malformed.
        _ => Err(httparse::Error::NewLine),
    }
}

fn hex_value(byte: u8) -> u8 {
    match byte {
        b'0'..=b'9' => byte - b'0',
        b'a'..=b'f' => byte - b'a' + 10,
        b'A'..=b'F' => byte - b'A' + 10,
        _ => 0,
    }
}
