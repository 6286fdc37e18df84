"""Typing stubs of the native part of par_http (import ``par_http``, not this)."""

from __future__ import annotations

import typing
from types import TracebackType

from ._models import Headers, Limits, Request, Timeout

__version__: str

_Params = typing.Union[
    typing.Mapping[str, typing.Any], typing.Sequence[typing.Tuple[str, typing.Any]]
]
_HeaderTypes = typing.Union[
    Headers, typing.Mapping[str, str], typing.Sequence[typing.Tuple[str, str]]
]
_Auth = typing.Union[typing.Tuple[str, typing.Optional[str]], str]
_Content = typing.Union[bytes, bytearray, memoryview, str]
_Data = typing.Union[typing.Mapping[str, typing.Any], typing.Sequence[typing.Tuple[str, typing.Any]]]

def parallel(*, max_in_flight: int | None = None, deadline: float | None = None) -> Parallel:
    """A parallel scope on a default client shared by the whole process (httpx's
    defaults: a 5-second timeout, redirects not followed). Use it with ``with`` or
    ``async with``."""

class Client:
    """A client: the configuration every request of its scopes uses, and a pool."""

    def __init__(
        self,
        *,
        auth: _Auth | None = None,
        headers: _HeaderTypes | None = None,
        base_url: str | None = None,
        timeout: float | Timeout | None = ...,
        follow_redirects: bool = False,
        max_redirects: int = 20,
        limits: Limits | None = None,
        verify: bool | str | None = None,
        cert: tuple[str, str] | None = None,
        transport: MockTransport | None = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
    ) -> None: ...
    def parallel(
        self, *, max_in_flight: int | None = None, deadline: float | None = None
    ) -> Parallel:
        """A parallel scope on this client, for ``with`` or ``async with``."""
    def close(self) -> None: ...
    def __enter__(self) -> Client: ...
    def __exit__(self, *exc: object) -> bool: ...

class Parallel:
    """A parallel scope (the blocking form; ``async with`` gives ``AsyncParallel``).

    Starting never raises; errors come from ``get_response()``/``next_response()``;
    each outcome is delivered once; leaving the block cancels what is pending and
    closes its connections before ``__exit__`` returns."""

    def get(
        self,
        url: str,
        *,
        params: _Params | None = None,
        headers: _HeaderTypes | None = None,
        auth: _Auth | None = None,
        timeout: float | None = None,
    ) -> Pending: ...
    def head(
        self,
        url: str,
        *,
        params: _Params | None = None,
        headers: _HeaderTypes | None = None,
        auth: _Auth | None = None,
        timeout: float | None = None,
    ) -> Pending: ...
    def delete(
        self,
        url: str,
        *,
        params: _Params | None = None,
        headers: _HeaderTypes | None = None,
        auth: _Auth | None = None,
        timeout: float | None = None,
    ) -> Pending: ...
    def post(
        self,
        url: str,
        *,
        content: _Content | None = None,
        data: _Data | None = None,
        json: typing.Any = None,
        params: _Params | None = None,
        headers: _HeaderTypes | None = None,
        auth: _Auth | None = None,
        timeout: float | None = None,
    ) -> Pending: ...
    def put(
        self,
        url: str,
        *,
        content: _Content | None = None,
        data: _Data | None = None,
        json: typing.Any = None,
        params: _Params | None = None,
        headers: _HeaderTypes | None = None,
        auth: _Auth | None = None,
        timeout: float | None = None,
    ) -> Pending: ...
    def patch(
        self,
        url: str,
        *,
        content: _Content | None = None,
        data: _Data | None = None,
        json: typing.Any = None,
        params: _Params | None = None,
        headers: _HeaderTypes | None = None,
        auth: _Auth | None = None,
        timeout: float | None = None,
    ) -> Pending: ...
    def request(
        self,
        method: str,
        url: str,
        *,
        content: _Content | None = None,
        data: _Data | None = None,
        json: typing.Any = None,
        params: _Params | None = None,
        headers: _HeaderTypes | None = None,
        auth: _Auth | None = None,
        timeout: float | None = None,
    ) -> Pending: ...
    @typing.overload
    def next_response(self) -> Response: ...
    @typing.overload
    def next_response(self, timeout: float) -> Response | None: ...
    def next_response(self, timeout: float | None = None) -> Response | None:
        """The first response to finish (or its error); None if ``timeout`` passed
        first. Raises ``NoPendingResponses`` at once when nothing is pending."""
    @property
    def has_pending_responses(self) -> bool:
        """True while a request runs or has a response not yet collected."""
    def close(self) -> None:
        """Ends the scope: cancels what is pending, closes its connections."""
    def __enter__(self) -> Parallel: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool: ...
    def __aenter__(self) -> typing.Awaitable[AsyncParallel]: ...
    def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> typing.Awaitable[bool]: ...

class Pending:
    """A request started in a scope."""

    def get_response(self) -> Response:
        """Waits for this request's response (GIL released), or raises its error."""
    @property
    def is_ready(self) -> bool: ...
    @property
    def index(self) -> int:
        """The start order of the request in its scope, from 0."""
    def cancel(self) -> bool:
        """Cancels the request; False if it had finished already."""

class AsyncParallel:
    """The asyncio form of a parallel scope (``async with client.parallel()``)."""

    def get(
        self,
        url: str,
        *,
        params: _Params | None = None,
        headers: _HeaderTypes | None = None,
        auth: _Auth | None = None,
        timeout: float | None = None,
    ) -> typing.Awaitable[AsyncPending]: ...
    def head(
        self,
        url: str,
        *,
        params: _Params | None = None,
        headers: _HeaderTypes | None = None,
        auth: _Auth | None = None,
        timeout: float | None = None,
    ) -> typing.Awaitable[AsyncPending]: ...
    def delete(
        self,
        url: str,
        *,
        params: _Params | None = None,
        headers: _HeaderTypes | None = None,
        auth: _Auth | None = None,
        timeout: float | None = None,
    ) -> typing.Awaitable[AsyncPending]: ...
    def post(
        self,
        url: str,
        *,
        content: _Content | None = None,
        data: _Data | None = None,
        json: typing.Any = None,
        params: _Params | None = None,
        headers: _HeaderTypes | None = None,
        auth: _Auth | None = None,
        timeout: float | None = None,
    ) -> typing.Awaitable[AsyncPending]: ...
    def put(
        self,
        url: str,
        *,
        content: _Content | None = None,
        data: _Data | None = None,
        json: typing.Any = None,
        params: _Params | None = None,
        headers: _HeaderTypes | None = None,
        auth: _Auth | None = None,
        timeout: float | None = None,
    ) -> typing.Awaitable[AsyncPending]: ...
    def patch(
        self,
        url: str,
        *,
        content: _Content | None = None,
        data: _Data | None = None,
        json: typing.Any = None,
        params: _Params | None = None,
        headers: _HeaderTypes | None = None,
        auth: _Auth | None = None,
        timeout: float | None = None,
    ) -> typing.Awaitable[AsyncPending]: ...
    def request(
        self,
        method: str,
        url: str,
        *,
        content: _Content | None = None,
        data: _Data | None = None,
        json: typing.Any = None,
        params: _Params | None = None,
        headers: _HeaderTypes | None = None,
        auth: _Auth | None = None,
        timeout: float | None = None,
    ) -> typing.Awaitable[AsyncPending]: ...
    def next_response(self) -> typing.Awaitable[Response]:
        """The first response to finish (or its error)."""
    @property
    def has_pending_responses(self) -> bool: ...

class AsyncPending:
    """A request started in an async scope."""

    def get_response(self) -> typing.Awaitable[Response]: ...
    @property
    def is_ready(self) -> bool: ...
    @property
    def index(self) -> int: ...
    def cancel(self) -> bool: ...

class Response:
    """An HTTP response with its body read."""

    def __init__(
        self,
        status_code: int,
        *,
        headers: _HeaderTypes | None = None,
        content: _Content | None = None,
        text: str | None = None,
        json: typing.Any = None,
    ) -> None: ...
    @property
    def status_code(self) -> int: ...
    @property
    def reason_phrase(self) -> str: ...
    @property
    def http_version(self) -> str: ...
    @property
    def headers(self) -> Headers: ...
    @property
    def content(self) -> bytes: ...
    @property
    def encoding(self) -> str: ...
    @property
    def text(self) -> str: ...
    def json(self) -> typing.Any: ...
    @property
    def url(self) -> str | None: ...
    @property
    def request(self) -> Request: ...
    @property
    def index(self) -> int | None: ...
    @property
    def is_success(self) -> bool: ...
    @property
    def is_redirect(self) -> bool: ...
    @property
    def is_client_error(self) -> bool: ...
    @property
    def is_server_error(self) -> bool: ...
    @property
    def is_error(self) -> bool: ...
    def raise_for_status(self) -> Response:
        """Raises ``HTTPStatusError`` for a 4xx or 5xx status."""

class MockTransport:
    """A transport answered by ``handler(request) -> Response`` instead of the network."""

    def __init__(self, handler: typing.Callable[[Request], Response]) -> None: ...
