"""The asyncio scope: `async with client.parallel()`."""

from __future__ import annotations

import asyncio
import os

import pytest

import par_http

from test_parallel import established_to, needs_proc


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, timeout=30))


def test_seed_async_example(server):
    base, stats = server
    client = par_http.Client(auth=("user", "pass"))

    async def main():
        url = f"{base}/echo"
        async with client.parallel() as parallel:
            pending = await parallel.get(url)
            response = await pending.get_response()
        return response

    response = run(main())
    assert response.status_code == 200
    assert response.json()["headers"]["authorization"] == "Basic dXNlcjpwYXNz"


def test_async_completion_order_and_exactly_once(server):
    base, stats = server

    async def main():
        seen = []
        async with par_http.parallel() as parallel:
            handles = [await parallel.get(f"{base}/{n}") for n in range(1, 10)]
            while parallel.has_pending_responses:
                r = await parallel.next_response()
                seen.append(r.index)
            with pytest.raises(par_http.NoPendingResponses):
                await parallel.next_response()
            with pytest.raises(par_http.AlreadyCollected):
                await handles[0].get_response()
        return seen

    assert sorted(run(main())) == list(range(9))
    assert stats.paths == {f"/{n}": 1 for n in range(1, 10)}


def test_async_requests_run_in_parallel_with_the_loop_free(server):
    base, _ = server

    async def main():
        ticks = 0

        async def tick():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.ensure_future(tick())
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with par_http.parallel() as parallel:
            handles = [await parallel.get(f"{base}/slow?ms=300") for _ in range(20)]
            texts = [(await h.get_response()).text for h in handles]
        elapsed = loop.time() - started
        ticker.cancel()
        return texts, elapsed, ticks

    texts, elapsed, ticks = run(main())
    assert texts == ["slow"] * 20
    assert elapsed < 2.5
    assert ticks > 10  # the event loop kept running while the requests waited


def test_async_errors_only_at_collection(server, closed_port):
    base, _ = server

    async def main():
        async with par_http.parallel() as parallel:
            refused = await parallel.get(f"http://127.0.0.1:{closed_port}/")
            bad = await parallel.get("::nonsense")
            with pytest.raises(par_http.ConnectError) as info:
                await refused.get_response()
            assert info.value.request.url == f"http://127.0.0.1:{closed_port}/"
            with pytest.raises(par_http.InvalidURL):
                await bad.get_response()

    run(main())


@needs_proc
def test_async_exit_cancels_and_closes_the_sockets(server):
    base, stats = server
    port = int(base.rsplit(":", 1)[1])

    async def main():
        async with par_http.Client().parallel() as parallel:
            for _ in range(4):
                await parallel.get(f"{base}/hang")
            for _ in range(500):  # bounded: at most 5 s
                if stats.hang_open == 4:
                    break
                await asyncio.sleep(0.01)
            assert established_to(port) == 4
        return established_to(port)

    assert run(main()) == 0
    assert stats.wait_for(lambda s: s.hang_closed == 4, timeout=2)


def test_a_cancelled_wait_leaves_the_outcome_for_next_response(server):
    base, _ = server

    async def main():
        async with par_http.parallel() as parallel:
            handle = await parallel.get(f"{base}/slow?ms=300")
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(handle.get_response(), timeout=0.05)
            response = await parallel.next_response()
            return response.text

    assert run(main()) == "slow"


def test_async_scopes_on_one_client_at_once(server):
    base, _ = server
    client = par_http.Client()

    async def one(name):
        async with client.parallel() as parallel:
            handles = [await parallel.get(f"{base}/{name}/{n}") for n in range(5)]
            return [(await h.get_response()).text for h in handles]

    async def main():
        return await asyncio.gather(*(one(name) for name in range(4)))

    for name, texts in enumerate(run(main())):
        assert texts == [f"you asked for /{name}/{n}" for n in range(5)]


def test_no_thread_per_call(server):
    base, _ = server
    if not os.path.isdir("/proc/self/task"):
        pytest.skip("Linux /proc only")

    async def main():
        async with par_http.parallel() as parallel:
            handles = [await parallel.get(f"{base}/{n}") for n in range(100)]
            for h in handles:
                await h.get_response()

    run(main())  # warm up: the runtime thread and the pool start
    threads_before = len(os.listdir("/proc/self/task"))
    run(main())
    # The server makes a thread per connection (they end when idle); the client adds
    # none per call.
    assert len(os.listdir("/proc/self/task")) - threads_before < 100


def test_async_handles_after_the_block_raise_request_cancelled(server):
    base, stats = server

    async def main():
        async with par_http.parallel() as parallel:
            handle = await parallel.get(f"{base}/hang")
            for _ in range(500):  # bounded: at most 5 s
                if stats.hang_open == 1:
                    break
                await asyncio.sleep(0.01)
        with pytest.raises(par_http.RequestCancelled) as info:
            await handle.get_response()
        assert info.value.request.url == f"{base}/hang"
        late = await parallel.get(f"{base}/1")
        with pytest.raises(par_http.RequestCancelled):
            await late.get_response()

    run(main())


def test_async_mock_transport():
    def handler(request):
        return par_http.Response(200, text=f"{request.method} {request.url}")

    client = par_http.Client(transport=par_http.MockTransport(handler))

    async def main():
        async with client.parallel() as parallel:
            one = await parallel.get("http://api.test/1")
            two = await parallel.delete("http://api.test/2")
            return [(await one.get_response()).text, (await two.get_response()).text]

    assert run(main()) == ["GET http://api.test/1", "DELETE http://api.test/2"]
