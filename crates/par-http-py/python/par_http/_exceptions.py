"""The exceptions of par_http: httpx's names and hierarchy, plus the scope's own.

Every exception raised for a request carries it: ``exc.request`` is a
:class:`par_http.Request` (method, url, headers). They are raised only when an
outcome is collected (``get_response()`` / ``next_response()``), never when a
request is started.

Hierarchy (as in httpx; the par_http additions are marked with a *)::

    HTTPError
    ├── RequestError
    │   ├── TransportError
    │   │   ├── TimeoutException
    │   │   │   ├── ConnectTimeout
    │   │   │   ├── ReadTimeout
    │   │   │   ├── WriteTimeout
    │   │   │   ├── PoolTimeout
    │   │   │   └── ScopeDeadlineExceeded *
    │   │   ├── NetworkError
    │   │   │   ├── ConnectError
    │   │   │   ├── ReadError
    │   │   │   ├── WriteError
    │   │   │   └── CloseError
    │   │   ├── ProtocolError
    │   │   │   ├── LocalProtocolError
    │   │   │   └── RemoteProtocolError
    │   │   ├── ProxyError
    │   │   ├── UnsupportedProtocol
    │   │   └── Stalled *
    │   ├── DecodingError
    │   ├── TooManyRedirects
    │   └── RequestCancelled *
    ├── HTTPStatusError
    ├── NoPendingResponses *
    └── AlreadyCollected *
    InvalidURL
"""

from __future__ import annotations

import typing

if typing.TYPE_CHECKING:  # pragma: no cover
    from . import Request, Response

__all__ = [
    "HTTPError",
    "RequestError",
    "TransportError",
    "TimeoutException",
    "ConnectTimeout",
    "ReadTimeout",
    "WriteTimeout",
    "PoolTimeout",
    "ScopeDeadlineExceeded",
    "NetworkError",
    "ConnectError",
    "ReadError",
    "WriteError",
    "CloseError",
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "ProxyError",
    "UnsupportedProtocol",
    "Stalled",
    "DecodingError",
    "TooManyRedirects",
    "RequestCancelled",
    "HTTPStatusError",
    "NoPendingResponses",
    "AlreadyCollected",
    "InvalidURL",
]


class HTTPError(Exception):
    """Base class for every error of a request (as ``httpx.HTTPError``)."""

    def __init__(self, message: str, *, request: "Request | None" = None) -> None:
        super().__init__(message)
        self._request = request

    @property
    def request(self) -> "Request":
        """The request this error belongs to."""
        if self._request is None:
            raise RuntimeError("The .request property has not been set.")
        return self._request

    @request.setter
    def request(self, request: "Request") -> None:
        self._request = request


class RequestError(HTTPError):
    """An error while sending a request or receiving its response."""


class TransportError(RequestError):
    """An error at the transport level (connection, protocol, timeouts)."""


class TimeoutException(TransportError):
    """A time limit passed (the request's total ``timeout`` too)."""


class ConnectTimeout(TimeoutException):
    """Connecting (resolution, TCP, TLS) took too long."""


class ReadTimeout(TimeoutException):
    """The server was silent for longer than the read timeout."""


class WriteTimeout(TimeoutException):
    """Sending the request took too long (kept for httpx compatibility)."""


class PoolTimeout(TimeoutException):
    """Waiting for a connection from the pool took too long (kept for httpx compatibility)."""


class ScopeDeadlineExceeded(TimeoutException):
    """The ``deadline`` of the enclosing ``parallel(deadline=...)`` block passed."""


class NetworkError(TransportError):
    """A network error while the request was being sent or its response read."""


class ConnectError(NetworkError):
    """The connection could not be opened (refused, unreachable, TLS handshake failed)."""


class ReadError(NetworkError):
    """Reading the response failed (reset, truncated body)."""


class WriteError(NetworkError):
    """Sending the request failed."""


class CloseError(NetworkError):
    """Closing the connection failed."""


class ProtocolError(TransportError):
    """HTTP/1.1 framing was broken."""


class LocalProtocolError(ProtocolError):
    """The request was invalid (a header value with CR/LF, a bad method...)."""


class RemoteProtocolError(ProtocolError):
    """The server broke the protocol, or a response exceeded a limit."""


class ProxyError(TransportError):
    """A proxy failed (kept for httpx compatibility: par_http has no proxy support yet)."""


class UnsupportedProtocol(TransportError):
    """The URL scheme is not http or https."""


class Stalled(TransportError):
    """A request that could never progress: every connection or slot it needs is held
    by responses of the scope started as streams and never read. Raised instead of a hang."""


class DecodingError(RequestError):
    """The body could not be decoded (bad compression, or more than the size limit)."""


class TooManyRedirects(RequestError):
    """A redirect loop, too many redirects, or a refused https -> http redirect."""


class RequestCancelled(RequestError):
    """The request was cancelled: its scope ended before it was collected, or
    ``Pending.cancel()`` was called."""


class HTTPStatusError(HTTPError):
    """Raised by ``Response.raise_for_status()`` for a 4xx or 5xx response."""

    def __init__(self, message: str, *, request: "Request", response: "Response") -> None:
        super().__init__(message, request=request)
        self.response = response


class NoPendingResponses(HTTPError):
    """``next_response()`` was called while nothing in the scope is pending."""


class AlreadyCollected(HTTPError):
    """This request's outcome was already delivered (by ``next_response()``, or by
    an earlier ``get_response()`` on the same handle). Each outcome is delivered once."""


class InvalidURL(Exception):
    """The URL could not be parsed (as ``httpx.InvalidURL``). It carries the request."""

    def __init__(self, message: str, *, request: "Request | None" = None) -> None:
        super().__init__(message)
        self.request = request
