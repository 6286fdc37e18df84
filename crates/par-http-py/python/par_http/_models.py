"""Plain-Python models: Headers, Request, Timeout, Limits (httpx's shapes)."""

from __future__ import annotations

import typing
import weakref

__all__ = ["Headers", "Request", "Timeout", "Limits"]

HeaderTypes = typing.Union[
    "Headers",
    typing.Mapping[str, str],
    typing.Sequence[typing.Tuple[str, str]],
]


class Headers(typing.MutableMapping[str, str]):
    """Case-insensitive HTTP headers that keep their order and repeated fields.

    ``headers["content-type"]`` and ``headers["Content-Type"]`` are the same field. A
    field sent several times reads as its values joined with ``", "``;
    ``get_list(name)`` gives them one by one.
    """

    __slots__ = ("_items",)

    def __init__(self, headers: "HeaderTypes | None" = None) -> None:
        self._items: typing.List[typing.Tuple[str, str, str]] = []
        if headers is None:
            return
        if isinstance(headers, Headers):
            self._items = list(headers._items)
            return
        pairs = headers.items() if isinstance(headers, typing.Mapping) else headers
        for name, value in pairs:
            self._items.append((name.lower(), name, value))

    def raw_items(self) -> typing.List[typing.Tuple[str, str]]:
        """Every field as ``(name, value)`` as received, repeated fields apart."""
        return [(name, value) for _, name, value in self._items]

    def multi_items(self) -> typing.List[typing.Tuple[str, str]]:
        """Every field as ``(lower-case name, value)``, repeated fields apart."""
        return [(key, value) for key, _, value in self._items]

    def get_list(self, key: str) -> typing.List[str]:
        """Every value of the field ``key``, in order."""
        key = key.lower()
        return [value for k, _, value in self._items if k == key]

    def __getitem__(self, key: str) -> str:
        values = self.get_list(key)
        if not values:
            raise KeyError(key)
        return ", ".join(values)

    def __setitem__(self, key: str, value: str) -> None:
        lower = key.lower()
        self._items = [item for item in self._items if item[0] != lower]
        self._items.append((lower, key, value))

    def __delitem__(self, key: str) -> None:
        lower = key.lower()
        kept = [item for item in self._items if item[0] != lower]
        if len(kept) == len(self._items):
            raise KeyError(key)
        self._items = kept

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        lower = key.lower()
        return any(k == lower for k, _, _ in self._items)

    def __iter__(self) -> typing.Iterator[str]:
        seen: typing.List[str] = []
        for key, _, _ in self._items:
            if key not in seen:
                seen.append(key)
        return iter(seen)

    def __len__(self) -> int:
        return len({key for key, _, _ in self._items})

    def __eq__(self, other: object) -> bool:
        try:
            other_headers = Headers(other)  # type: ignore[arg-type]
        except (TypeError, ValueError, AttributeError):
            return False
        return sorted(self.multi_items()) == sorted(other_headers.multi_items())

    def __repr__(self) -> str:
        return f"Headers({self.raw_items()!r})"


class Request:
    """The request an exception or response belongs to: method, url (a str) and, for
    a ``MockTransport`` handler, headers and content (bytes)."""

    __slots__ = ("method", "url", "headers", "content")

    def __init__(
        self,
        method: str,
        url: str,
        headers: "HeaderTypes | None" = None,
        content: bytes = b"",
    ) -> None:
        self.method = method
        self.url = url
        self.headers = Headers(headers)
        self.content = content

    def __repr__(self) -> str:
        return f"<Request({self.method!r}, {self.url!r})>"


class Timeout:
    """Time limits, in seconds (as ``httpx.Timeout``).

    ``Timeout(10.0)`` sets every phase; ``Timeout(10.0, connect=2.0)`` one of them.
    ``connect`` limits opening a connection, ``read`` the silence between two received
    bytes. ``write`` and ``pool`` are accepted for httpx compatibility and not enforced
    separately; ``total`` (a par_http addition) limits a whole request, body included.
    ``None`` means no limit.
    """

    __slots__ = ("connect", "read", "write", "pool", "total")

    def __init__(
        self,
        timeout: "float | None" = 5.0,
        *,
        connect: "float | None | object" = ...,
        read: "float | None | object" = ...,
        write: "float | None | object" = ...,
        pool: "float | None | object" = ...,
        total: "float | None" = None,
    ) -> None:
        self.connect = timeout if connect is ... else connect
        self.read = timeout if read is ... else read
        self.write = timeout if write is ... else write
        self.pool = timeout if pool is ... else pool
        self.total = total

    def __repr__(self) -> str:
        return (
            f"Timeout(connect={self.connect}, read={self.read}, write={self.write}, "
            f"pool={self.pool}, total={self.total})"
        )


class Limits:
    """Connection limits (as ``httpx.Limits``).

    ``max_connections`` caps the open connections *per host* (httpx caps them in all;
    par_http's pool is per origin). ``max_keepalive_connections`` caps the idle ones kept
    per host, ``keepalive_expiry`` how long (seconds) an idle one is kept.
    """

    __slots__ = ("max_connections", "max_keepalive_connections", "keepalive_expiry")

    def __init__(
        self,
        *,
        max_connections: "int | None" = None,
        max_keepalive_connections: "int | None" = None,
        keepalive_expiry: "float | None" = 5.0,
    ) -> None:
        self.max_connections = max_connections
        self.max_keepalive_connections = max_keepalive_connections
        self.keepalive_expiry = keepalive_expiry

    def __repr__(self) -> str:
        return (
            f"Limits(max_connections={self.max_connections}, "
            f"max_keepalive_connections={self.max_keepalive_connections}, "
            f"keepalive_expiry={self.keepalive_expiry})"
        )


def _complete(future: typing.Any, ok: bool, value: typing.Any) -> None:
    """Completes an asyncio future from the Rust side (run by call_soon_threadsafe)."""
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


_bridges: "weakref.WeakKeyDictionary[typing.Any, typing.Any]" = weakref.WeakKeyDictionary()


def _bridge_for(loop: typing.Any) -> typing.Any:
    """The native bridge of `loop` (made on first use), or None where the loop cannot
    watch a socket (then outcomes go through ``call_soon_threadsafe``)."""
    try:
        return _bridges[loop]
    except KeyError:
        pass
    except TypeError:  # a loop that cannot be weakly referenced
        return None
    bridge = None
    try:
        from ._par_http import Bridge

        bridge = Bridge()
        loop.add_reader(bridge.fileno(), bridge.drain)
    except (ImportError, NotImplementedError, OSError):
        bridge = None
    _bridges[loop] = bridge
    return bridge
