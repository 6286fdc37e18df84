"""par_http: parallel HTTP requests, as httpx's "Parallel Requests" page describes them,
on the par-http Rust engine.

.. code-block:: python

    import par_http

    with par_http.parallel() as parallel:
        pending_one = parallel.get('http://127.0.0.1:8000/1')
        pending_two = parallel.get('http://127.0.0.1:8000/2')
        response_one = pending_one.get_response()
        response_two = pending_two.get_response()

    with par_http.parallel() as parallel:
        for counter in range(1, 10):
            parallel.get(f'http://127.0.0.1:8000/{counter}')
        while parallel.has_pending_responses:
            r = parallel.next_response()

The rules of a scope:

* Starting a request (``get``, ``post``, ..., ``request``) never raises and never
  waits. Every error is raised by ``get_response()`` or ``next_response()``.
* Each outcome is delivered exactly once, through its handle or through
  ``next_response()``, whichever asks first; the other raises ``AlreadyCollected``.
  ``next_response()`` with nothing pending raises ``NoPendingResponses`` at once.
* Leaving the ``with`` block cancels every request still pending; their connections
  are closed by the time ``__exit__`` returns.
* Waiting releases the GIL; Ctrl-C during a wait raises ``KeyboardInterrupt`` and the
  block's exit cancels the rest. Scopes may be used from several threads at once.
* ``async with client.parallel() as parallel:`` is the asyncio form: ``await
  parallel.get(url)``, ``await pending.get_response()``, ``await
  parallel.next_response()``.
"""

from ._exceptions import *  # noqa: F401,F403
from ._exceptions import __all__ as _exception_names
from ._models import Headers, Limits, Request, Timeout
from ._par_http import (
    AsyncParallel,
    AsyncPending,
    Client,
    MockTransport,
    Parallel,
    Pending,
    Response,
    __version__,
    parallel,
)

__all__ = [
    "parallel",
    "Client",
    "Parallel",
    "Pending",
    "AsyncParallel",
    "AsyncPending",
    "Response",
    "Request",
    "Headers",
    "Timeout",
    "Limits",
    "MockTransport",
    "__version__",
    *_exception_names,
]
