"""The blocking scope: the seed page's examples literally, and every rule of a scope."""

from __future__ import annotations

import _thread
import os
import threading
import time

import pytest

import par_http


def established_to(port: int) -> int:
    """Client-side TCP connections to `port` still ESTABLISHED (from /proc/net/tcp)."""
    count = 0
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            remote, state = fields[2], fields[3]
            if int(remote.split(":")[1], 16) == port and state == "01":
                count += 1
    return count


needs_proc = pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="Linux /proc only")


# --- the seed page, literally --------------------------------------------------------


def test_seed_example_one(server):
    base, stats = server
    with par_http.parallel() as parallel:
        pending_one = parallel.get(f'{base}/1')
        pending_two = parallel.get(f'{base}/2')
        response_one = pending_one.get_response()
        response_two = pending_two.get_response()
    assert response_one.status_code == 200
    assert response_one.text == "you asked for /1"
    assert response_two.text == "you asked for /2"
    assert stats.paths == {"/1": 1, "/2": 1}


def test_seed_example_two(server):
    base, stats = server
    seen = []
    with par_http.parallel() as parallel:
        for counter in range(1, 10):
            parallel.get(f'{base}/{counter}')
        while parallel.has_pending_responses:
            r = parallel.next_response()
            seen.append(r.url)
    assert sorted(seen) == sorted(f"{base}/{n}" for n in range(1, 10))
    assert stats.paths == {f"/{n}": 1 for n in range(1, 10)}


def test_seed_client_example_applies_auth_headers_and_timeout(server):
    base, _ = server
    client = par_http.Client(auth=('user', 'pass'), headers={'X-Team': 'search'}, timeout=10.0)
    with client.parallel() as parallel:
        one = parallel.get(f"{base}/echo")
        two = parallel.post(f"{base}/echo", json={"a": 1})
        echoes = [one.get_response().json(), two.get_response().json()]
    for echo in echoes:
        assert echo["headers"]["authorization"] == "Basic dXNlcjpwYXNz"
        assert echo["headers"]["x-team"] == "search"
    assert echoes[1]["method"] == "POST"
    assert echoes[1]["body"] == '{"a":1}'
    assert echoes[1]["headers"]["content-type"] == "application/json"


def test_per_request_auth_overrides_the_clients(server):
    base, _ = server
    client = par_http.Client(auth=("user", "pass"))
    with client.parallel() as parallel:
        echo = parallel.get(f"{base}/echo", auth="t0k3n").get_response().json()
    assert echo["headers"]["authorization"] == "Bearer t0k3n"


def test_the_parallel_scope_is_a_running_scope_in_completion_order(server):
    base, _ = server
    order = []
    with par_http.parallel() as parallel:
        parallel.get(f"{base}/slow?ms=400")
        parallel.get(f"{base}/slow?ms=10")
        while parallel.has_pending_responses:
            order.append(parallel.next_response().index)
    assert order == [1, 0]


def test_requests_run_in_parallel(server):
    base, stats = server
    started = time.monotonic()
    with par_http.parallel() as parallel:
        for _ in range(20):
            parallel.get(f"{base}/slow?ms=300")
        while parallel.has_pending_responses:
            assert parallel.next_response().status_code == 200
    assert time.monotonic() - started < 2.5  # 20 x 0.3 s one after another would be 6 s
    assert stats.max_in_flight > 1


# --- exactly once --------------------------------------------------------------------


def test_each_outcome_is_delivered_exactly_once(server):
    base, stats = server
    with par_http.parallel() as parallel:
        handles = [parallel.get(f"{base}/{n}") for n in range(10)]
        first = handles[0].get_response()
        assert first.index == 0
        others = []
        while parallel.has_pending_responses:
            others.append(parallel.next_response())
        assert sorted(r.index for r in others) == list(range(1, 10))
        # Delivered through next_response already: the handles say so.
        for handle in handles[1:]:
            with pytest.raises(par_http.AlreadyCollected):
                handle.get_response()
        # The first handle's own outcome was taken by its get_response.
        with pytest.raises(par_http.AlreadyCollected):
            handles[0].get_response()
        with pytest.raises(par_http.NoPendingResponses):
            parallel.next_response()
        assert parallel.has_pending_responses is False
    assert sum(stats.paths.values()) == 10


def test_next_response_with_a_timeout_returns_none_while_waiting(server):
    base, _ = server
    with par_http.parallel() as parallel:
        parallel.get(f"{base}/slow?ms=500")
        assert parallel.next_response(timeout=0.05) is None
        assert parallel.has_pending_responses
        assert parallel.next_response(timeout=5).text == "slow"


def test_a_dropped_handle_does_not_cancel(server):
    base, _ = server
    with par_http.parallel() as parallel:
        parallel.get(f"{base}/a")  # the handle is dropped at once
        assert parallel.next_response().text == "you asked for /a"


def test_pending_cancel(server):
    base, stats = server
    with par_http.parallel() as parallel:
        handle = parallel.get(f"{base}/hang")
        assert stats.wait_for(lambda s: s.hang_open == 1)
        assert handle.cancel() is True
        assert stats.wait_for(lambda s: s.hang_closed == 1, timeout=5)
        assert not parallel.has_pending_responses
        with pytest.raises(par_http.AlreadyCollected):
            handle.get_response()


# --- errors only at collection -------------------------------------------------------


def test_errors_come_only_from_collection(server, closed_port):
    base, _ = server
    with par_http.parallel() as parallel:
        # None of these raise here.
        bad_url = parallel.get("not a url")
        refused = parallel.get(f"http://127.0.0.1:{closed_port}/")
        bad_header = parallel.get(f"{base}/echo", headers={"x-evil": "a\r\nb"})
        bad_method = parallel.request("NOT A METHOD", f"{base}/echo")
        not_found = parallel.get(f"{base}/status/404")
        with pytest.raises(par_http.InvalidURL) as info:
            bad_url.get_response()
        assert info.value.request.url == "not a url"
        with pytest.raises(par_http.ConnectError) as info:
            refused.get_response()
        assert isinstance(info.value, par_http.RequestError)
        assert info.value.request.url == f"http://127.0.0.1:{closed_port}/"
        assert info.value.request.method == "GET"
        with pytest.raises(par_http.LocalProtocolError):
            bad_header.get_response()
        with pytest.raises(par_http.LocalProtocolError):
            bad_method.get_response()
        # An error status is a response, until raise_for_status.
        response = not_found.get_response()
        assert response.status_code == 404
        assert response.is_error and response.is_client_error
        with pytest.raises(par_http.HTTPStatusError) as info:
            response.raise_for_status()
        assert info.value.response is response
        assert info.value.request.url == f"{base}/status/404"
        assert "404 Not Found" in str(info.value)


def test_errors_come_from_next_response_too(server, closed_port):
    with par_http.parallel() as parallel:
        parallel.get(f"http://127.0.0.1:{closed_port}/x")
        with pytest.raises(par_http.ConnectError) as info:
            parallel.next_response()
        assert info.value.request.url.endswith("/x")


def test_the_httpx_hierarchy():
    assert issubclass(par_http.ConnectTimeout, par_http.TimeoutException)
    assert issubclass(par_http.ReadTimeout, par_http.TimeoutException)
    assert issubclass(par_http.WriteTimeout, par_http.TimeoutException)
    assert issubclass(par_http.PoolTimeout, par_http.TimeoutException)
    assert issubclass(par_http.TimeoutException, par_http.TransportError)
    assert issubclass(par_http.ConnectError, par_http.NetworkError)
    assert issubclass(par_http.NetworkError, par_http.TransportError)
    assert issubclass(par_http.TransportError, par_http.RequestError)
    assert issubclass(par_http.RequestError, par_http.HTTPError)
    assert issubclass(par_http.HTTPStatusError, par_http.HTTPError)
    assert issubclass(par_http.RemoteProtocolError, par_http.ProtocolError)


def test_read_timeout_and_scope_deadline(server):
    base, _ = server
    client = par_http.Client(timeout=0.2)
    with client.parallel() as parallel:
        slow = parallel.get(f"{base}/slow?ms=2000")
        with pytest.raises(par_http.ReadTimeout) as info:
            slow.get_response()
        assert info.value.request.url.endswith("/slow?ms=2000")
    with par_http.parallel(deadline=0.2) as parallel:
        slow = parallel.get(f"{base}/slow?ms=2000")
        with pytest.raises(par_http.ScopeDeadlineExceeded):
            slow.get_response()


# --- leaving the block cancels -------------------------------------------------------


@needs_proc
def test_leaving_the_block_cancels_and_closes_the_sockets(server):
    base, stats = server
    port = int(base.rsplit(":", 1)[1])
    client = par_http.Client()
    with client.parallel() as parallel:
        handles = [parallel.get(f"{base}/hang") for _ in range(5)]
        assert stats.wait_for(lambda s: s.hang_open == 5)
        assert established_to(port) == 5
    # Closed on the client's side by the time __exit__ returned...
    assert established_to(port) == 0
    # ...so the server sees every one of them closed (it polls every 10 ms).
    assert stats.wait_for(lambda s: s.hang_closed == 5, timeout=2)
    for handle in handles:
        with pytest.raises(par_http.RequestCancelled):
            handle.get_response()


@needs_proc
def test_an_exception_in_the_block_cancels_too(server):
    base, stats = server
    port = int(base.rsplit(":", 1)[1])
    with pytest.raises(ZeroDivisionError):
        with par_http.Client().parallel() as parallel:
            parallel.get(f"{base}/hang")
            parallel.get(f"{base}/hang")
            assert stats.wait_for(lambda s: s.hang_open == 2)
            1 / 0
    assert established_to(port) == 0
    assert stats.wait_for(lambda s: s.hang_closed == 2, timeout=2)


def test_a_request_started_after_the_block_is_cancelled(server):
    base, _ = server
    with par_http.parallel() as parallel:
        pass
    late = parallel.get(f"{base}/1")
    with pytest.raises(par_http.RequestCancelled):
        late.get_response()
    with pytest.raises(RuntimeError):
        with parallel:
            pass


@needs_proc
def test_keyboard_interrupt_during_a_wait_cancels_cleanly(server, sigint_handled):
    base, stats = server
    port = int(base.rsplit(":", 1)[1])
    timer = threading.Timer(0.3, _thread.interrupt_main)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        with par_http.Client().parallel() as parallel:
            parallel.get(f"{base}/hang")
            waiting = parallel.get(f"{base}/hang")
            timer.start()
            waiting.get_response()  # would wait 10 s without the interrupt
    timer.join()
    assert time.monotonic() - started < 3
    assert established_to(port) == 0
    assert stats.wait_for(lambda s: s.hang_closed == 2, timeout=2)


# --- threads and the GIL -------------------------------------------------------------


def test_the_gil_is_released_while_waiting(server):
    base, _ = server
    ticks = []
    stop = threading.Event()

    def count() -> None:
        while not stop.is_set() and len(ticks) < 1_000_000:
            ticks.append(1)
            time.sleep(0.001)

    counter = threading.Thread(target=count)
    with par_http.parallel() as parallel:
        pending = parallel.get(f"{base}/slow?ms=500")
        counter.start()
        before = len(ticks)
        pending.get_response()
        during = len(ticks) - before
    stop.set()
    counter.join(timeout=10)
    assert during > 50  # the other thread ran all along the 0.5 s wait


def test_one_scope_from_several_threads(server):
    base, stats = server
    collected = []
    errors = []
    lock = threading.Lock()
    with par_http.parallel() as parallel:
        for n in range(40):
            parallel.get(f"{base}/{n}")

        def drain() -> None:
            try:
                while True:
                    try:
                        response = parallel.next_response()
                    except par_http.NoPendingResponses:
                        return
                    with lock:
                        collected.append(response.index)
            except Exception as err:  # pragma: no cover - reported below
                errors.append(err)

        threads = [threading.Thread(target=drain) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert not errors
    assert sorted(collected) == list(range(40))  # each exactly once, across threads


def test_scopes_on_several_threads_at_once(server):
    base, _ = server
    client = par_http.Client()
    results = {}

    def run(name: int) -> None:
        with client.parallel() as parallel:
            handles = [parallel.get(f"{base}/{name}/{n}") for n in range(10)]
            results[name] = [h.get_response().text for h in handles]

    threads = [threading.Thread(target=run, args=(name,)) for name in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [0, 1, 2, 3]
    for name, texts in results.items():
        assert texts == [f"you asked for /{name}/{n}" for n in range(10)]


# --- requests and responses ----------------------------------------------------------


def test_response_api(server):
    base, _ = server
    with par_http.parallel() as parallel:
        r = parallel.get(f"{base}/echo", params={"q": "a b", "page": 2}).get_response()
    assert r.status_code == 200
    assert r.reason_phrase == "OK"
    assert r.http_version == "HTTP/1.1"
    assert r.url == f"{base}/echo?q=a+b&page=2"
    assert r.request.method == "GET"
    assert r.headers["content-type"] == "application/json"
    assert r.headers["Content-Type"] == "application/json"
    assert "X-SERVER" in r.headers
    assert r.headers.get("missing") is None
    assert isinstance(r.content, bytes)
    assert r.json()["query"] == "q=a+b&page=2"
    assert r.raise_for_status() is r
    assert r.is_success
    assert repr(r) == "<Response [200 OK]>"


def test_request_bodies(server):
    base, _ = server
    with par_http.parallel() as parallel:
        form = parallel.post(f"{base}/echo", data={"user": "ann", "note": "a&b"})
        raw = parallel.put(f"{base}/echo", content=b"\x00\x01raw")
        text = parallel.patch(f"{base}/echo", content="héllo")
        gone = parallel.delete(f"{base}/echo")
        head = parallel.head(f"{base}/echo")
        custom = parallel.request("OPTIONS", f"{base}/echo")
        form, raw, text, gone = (p.get_response().json() for p in (form, raw, text, gone))
        head = head.get_response()
        custom = custom.get_response()
    assert form["body"] == "user=ann&note=a%26b"
    assert form["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert raw["method"] == "PUT" and raw["body"] == "\x00\x01raw"
    assert text["method"] == "PATCH" and text["body"].encode("latin-1").decode() == "héllo"
    assert gone["method"] == "DELETE"
    assert head.status_code == 200 and head.content == b""
    assert custom.status_code == 501  # http.server has no do_OPTIONS


def test_base_url_redirects_and_limits(server):
    base, stats = server
    client = par_http.Client(base_url=f"{base}/", follow_redirects=True)
    with client.parallel() as parallel:
        echo = parallel.get("/echo").get_response()
        followed = parallel.get("redirect").get_response()
    assert echo.url == f"{base}/echo"
    assert followed.status_code == 200 and followed.url == f"{base}/echo"
    with par_http.Client(base_url=base).parallel() as parallel:
        not_followed = parallel.get("/redirect").get_response()
    assert not_followed.status_code == 302
    assert not_followed.headers["location"] == "/echo"

    limited = par_http.Client(limits=par_http.Limits(max_connections=2))
    with limited.parallel(max_in_flight=3) as parallel:
        for _ in range(8):
            parallel.get(f"{base}/slow?ms=100")
        while parallel.has_pending_responses:
            parallel.next_response()
    assert stats.max_in_flight <= 3


def test_max_in_flight_limits_the_scope(server):
    base, stats = server
    with par_http.parallel(max_in_flight=3) as parallel:
        for _ in range(12):
            parallel.get(f"{base}/slow?ms=50")
        while parallel.has_pending_responses:
            parallel.next_response()
    assert 1 <= stats.max_in_flight <= 3


def test_a_large_body(server):
    base, _ = server
    with par_http.parallel() as parallel:
        handles = [parallel.get(f"{base}/big?n={3 * 1024 * 1024}") for _ in range(3)]
        sizes = [len(h.get_response().content) for h in handles]
    assert sizes == [3 * 1024 * 1024] * 3


def test_mock_transport():
    seen = []

    def handler(request: par_http.Request) -> par_http.Response:
        seen.append((request.method, request.url, request.headers.get("authorization")))
        if request.url.endswith("/boom"):
            raise par_http.ConnectError("no route", request=request)
        return par_http.Response(201, json={"url": request.url})

    client = par_http.Client(
        transport=par_http.MockTransport(handler), base_url="http://api.test/v2", auth=("ann", "pw")
    )
    with client.parallel() as parallel:
        ok = parallel.post("/users", content=b"x")
        boom = parallel.get("/boom")
        response = ok.get_response()
        assert response.status_code == 201
        assert response.json() == {"url": "http://api.test/v2/users"}
        with pytest.raises(par_http.ConnectError, match="no route"):
            boom.get_response()
    assert sorted(seen) == [
        ("GET", "http://api.test/v2/boom", "Basic YW5uOnB3"),
        ("POST", "http://api.test/v2/users", "Basic YW5uOnB3"),
    ]


def test_headers_model():
    headers = par_http.Headers([("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("X-A", "1")])
    assert headers["SET-COOKIE"] == "a=1, b=2"
    assert headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert list(headers) == ["set-cookie", "x-a"]
    assert len(headers) == 2
    headers["x-a"] = "2"
    assert headers["X-A"] == "2"
    del headers["set-cookie"]
    assert "set-cookie" not in headers
    assert headers == {"x-a": "2"}


@needs_proc
def test_keyboard_interrupt_during_next_response(server, sigint_handled):
    base, stats = server
    port = int(base.rsplit(":", 1)[1])
    timer = threading.Timer(0.3, _thread.interrupt_main)
    with pytest.raises(KeyboardInterrupt):
        with par_http.Client().parallel() as parallel:
            for _ in range(3):
                parallel.get(f"{base}/hang")
            timer.start()
            while parallel.has_pending_responses:  # bounded: the interrupt ends it
                parallel.next_response()
    timer.join()
    assert established_to(port) == 0
    assert stats.wait_for(lambda s: s.hang_closed == 3, timeout=2)


def test_the_module_seed_api_is_exported():
    for name in ("parallel", "Client", "Response", "Request", "Headers", "Timeout", "Limits",
                 "MockTransport", "HTTPError", "RequestError", "ConnectError",
                 "TimeoutException", "HTTPStatusError", "RequestCancelled"):
        assert hasattr(par_http, name), name
    assert par_http.Parallel.has_pending_responses.__doc__
    assert "exactly once" in par_http.Parallel.__doc__
    assert par_http.Pending.get_response.__doc__


def test_ending_the_block_wakes_a_thread_waiting_in_it(server):
    base, stats = server
    outcome = []
    parallel = par_http.Client().parallel()
    with parallel:
        parallel.get(f"{base}/hang")
        assert stats.wait_for(lambda s: s.hang_open == 1)

        def wait() -> None:
            try:
                parallel.next_response()
                outcome.append("response")
            except par_http.HTTPError as err:
                outcome.append(type(err).__name__)

        waiter = threading.Thread(target=wait)
        waiter.start()
        time.sleep(0.2)  # the waiter is inside next_response now
        started = time.monotonic()
    waiter.join(timeout=10)
    assert not waiter.is_alive()
    assert time.monotonic() - started < 2
    assert outcome and outcome[0] in ("RequestCancelled", "NoPendingResponses")
