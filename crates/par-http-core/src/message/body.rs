//! Request bodies: nothing, bytes in memory, or a stream.
//!
//! A [`Body`] in memory is cheap to clone (it is a [`Bytes`]), which is what lets the
//! connector retry an idempotent request once on a fresh connection when a reused one
//! turns out to be closed. A streaming body is sent once and is never retried.

use std::fmt;

use bytes::Bytes;
use futures_lite::io::AsyncRead;

/// The body of a request.
///
/// # Examples
///
/// ```
/// use par_http_core::Body;
///
/// let body = Body::from("name=par-http");
/// assert_eq!(body.len(), Some(13));
/// assert!(Body::empty().is_empty());
/// ```
pub struct Body {
    inner: Inner,
}

enum Inner {
    Bytes(Bytes),
    Reader {
        reader: Box<dyn AsyncRead + Send + Unpin + 'static>,
        length: Option<u64>,
    },
}

impl Body {
    /// An empty body.
    pub fn empty() -> Self {
        Self {
            inner: Inner::Bytes(Bytes::new()),
        }
    }

    /// A body streamed from `reader`. With a `length`, it is sent with `Content-Length`
    /// (and reading fewer or more bytes is an error); without one, it is sent chunked.
    pub fn from_reader(
        reader: impl AsyncRead + Send + Unpin + 'static,
        length: Option<u64>,
    ) -> Self {
        Self {
            inner: Inner::Reader {
                reader: Box::new(reader),
                length,
            },
        }
    }

    /// The length in bytes, if known in advance.
    pub fn len(&self) -> Option<u64> {
        match &self.inner {
            Inner::Bytes(bytes) => Some(bytes.len() as u64),
            Inner::Reader { length, .. } => *length,
        }
    }

    /// True for a body known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// The bytes of an in-memory body (`None` for a stream).
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match &self.inner {
            Inner::Bytes(bytes) => Some(bytes),
            Inner::Reader { .. } => None,
        }
    }

    /// A copy of this body, if it can be sent again (it is in memory).
    pub fn try_clone(&self) -> Option<Self> {
        self.as_bytes().map(|bytes| Self {
            inner: Inner::Bytes(bytes.clone()),
        })
    }

    /// The body as a stream of bytes (an in-memory body reads from memory), for a
    /// [`Dispatch`](crate::Dispatch) that is not the network, such as a mock.
    pub fn into_reader(self) -> Box<dyn AsyncRead + Send + Unpin + 'static> {
        match self.inner {
            Inner::Bytes(bytes) => Box::new(futures_lite::io::Cursor::new(bytes)),
            Inner::Reader { reader, .. } => reader,
        }
    }

    /// Takes the stream out of a streaming body.
    pub(crate) fn into_parts(self) -> BodyParts {
        match self.inner {
            Inner::Bytes(bytes) => BodyParts::Bytes(bytes),
            Inner::Reader { reader, length } => BodyParts::Reader(reader, length),
        }
    }
}

/// A body taken apart for sending.
pub(crate) enum BodyParts {
    Bytes(Bytes),
    Reader(Box<dyn AsyncRead + Send + Unpin + 'static>, Option<u64>),
}

impl Default for Body {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Bytes(bytes) => f.debug_tuple("Body").field(&bytes.len()).finish(),
            Inner::Reader { length, .. } => f
                .debug_struct("Body")
                .field("stream", &true)
                .field("length", length)
                .finish(),
        }
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Self {
            inner: Inner::Bytes(bytes),
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Bytes::from(bytes).into()
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Bytes::from(text).into()
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Self {
        Bytes::from_static(text.as_bytes()).into()
    }
}

impl From<&'static [u8]> for Body {
    fn from(bytes: &'static [u8]) -> Self {
        Bytes::from_static(bytes).into()
    }
}

impl From<()> for Body {
    fn from((): ()) -> Self {
        Self::empty()
    }
}
