"""The daemons' HTTP client (odenos.http.wire) against real aiohttp servers on loopback:
framing, keep-alive, what happens to a connection after a timeout, a cancellation or
the server closing it, and paths sent byte for byte."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from odenos.http.wire import Refused, WireClient, WireError
from odenos.zk.embedded import free_port

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[int]]]:
    """Start an aiohttp server with the given catch-all handler; its port."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler, **kwargs: float) -> int:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app, **kwargs)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        return port

    yield start
    for runner in runners:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def raw_server(answer: bytes) -> AsyncIterator[int]:
    """A server that reads one request head, writes ``answer`` as it is and closes; its port."""

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(reply, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


@pytest.fixture
async def client() -> AsyncIterator[WireClient]:
    wire = WireClient(16)
    yield wire
    wire.close()


async def test_request_and_answer_with_body_headers_and_exact_path(
    serve: Callable[..., Awaitable[int]], client: WireClient
) -> None:
    seen: list[tuple[str, str, bytes, str | None]] = []

    async def echo(request: web.Request) -> web.Response:
        seen.append(
            (request.method, request.raw_path, await request.read(), request.headers.get("X-A"))
        )
        return web.json_response({"ok": True}, status=201, headers={"Retry-After": "3"})

    port = await serve(echo)
    answer = await client.request(
        "PUT", "127.0.0.1", port, "/a/%2e%2E/b?x=%20", {"X-A": "1"}, b'{"k": 1}', 5
    )
    assert answer.status == 201
    assert answer.body == b'{"ok": true}'
    assert answer.content_type == "application/json"
    assert answer.headers["retry-after"] == "3"
    assert seen == [("PUT", "/a/%2e%2E/b?x=%20", b'{"k": 1}', "1")]


async def test_keep_alive_reuses_one_connection(
    serve: Callable[..., Awaitable[int]], client: WireClient
) -> None:
    peers: list[int] = []

    async def who(request: web.Request) -> web.Response:
        assert request.transport is not None
        peers.append(request.transport.get_extra_info("peername")[1])
        return web.Response(text="x")

    port = await serve(who)
    for _ in range(5):
        assert (await client.request("GET", "127.0.0.1", port, "/", {}, b"", 5)).body == b"x"
    assert len(set(peers)) == 1


async def test_chunked_and_close_delimited_answers(
    serve: Callable[..., Awaitable[int]], client: WireClient
) -> None:
    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for part in (b"one,", b"two,", b"three"):
            await response.write(part)
        await response.write_eof()
        return response

    port = await serve(chunked)
    answer = await client.request("GET", "127.0.0.1", port, "/", {}, b"", 5)
    assert answer.body == b"one,two,three"

    # Close-delimited (no length, no chunks): read to the end, never reused.
    async with raw_server(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it") as raw_port:
        for _ in range(2):
            answer = await client.request("GET", "127.0.0.1", raw_port, "/", {}, b"", 5)
            assert (answer.status, answer.body) == (200, b"all of it")


async def test_head_and_no_content_have_no_body(
    serve: Callable[..., Awaitable[int]], client: WireClient
) -> None:
    async def handler(request: web.Request) -> web.Response:
        if request.method == "HEAD":
            return web.Response(text="would be long")
        return web.Response(status=204)

    port = await serve(handler)
    head = await client.request("HEAD", "127.0.0.1", port, "/", {}, b"", 5)
    assert (head.status, head.body) == (200, b"")
    # The connection stays usable: the next answer is its own.
    empty = await client.request("DELETE", "127.0.0.1", port, "/", {}, b"", 5)
    assert (empty.status, empty.body) == (204, b"")


async def test_refused_and_broken(client: WireClient) -> None:
    with pytest.raises(Refused):
        await client.request("GET", "127.0.0.1", free_port(), "/", {}, b"", 5)

    # An answer shorter than its Content-Length, then the end of the connection.
    async with raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort") as port:
        with pytest.raises(WireError):
            await client.request("GET", "127.0.0.1", port, "/", {}, b"", 5)


async def test_a_late_answer_never_reaches_the_next_request(
    serve: Callable[..., Awaitable[int]], client: WireClient
) -> None:
    """A request that times out (or is cancelled) gives up its connection: the next
    request gets its own answer, not the late one."""

    async def handler(request: web.Request) -> web.Response:
        if request.path == "/slow":
            await asyncio.sleep(0.5)
            return web.Response(text="late")
        return web.Response(text="prompt")

    port = await serve(handler)
    with pytest.raises(TimeoutError):
        await client.request("GET", "127.0.0.1", port, "/slow", {}, b"", 0.1)
    assert (await client.request("GET", "127.0.0.1", port, "/", {}, b"", 5)).body == b"prompt"

    task = asyncio.ensure_future(client.request("GET", "127.0.0.1", port, "/slow", {}, b"", 5))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.6)  # the late answer would have arrived by now
    assert (await client.request("GET", "127.0.0.1", port, "/", {}, b"", 5)).body == b"prompt"


async def test_a_connection_the_server_closed_idle_is_replaced(
    serve: Callable[..., Awaitable[int]], client: WireClient
) -> None:
    """The server drops idle keep-alive connections after 0.2 s: the next request on
    the pooled (now closed) connection is sent again on a new one, transparently."""
    received: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        received.append(request.method)
        return web.Response(text="ok")

    port = await serve(handler, keepalive_timeout=0.2)
    assert (await client.request("POST", "127.0.0.1", port, "/", {}, b"1", 5)).body == b"ok"
    await asyncio.sleep(0.5)
    assert (await client.request("POST", "127.0.0.1", port, "/", {}, b"2", 5)).body == b"ok"
    assert received == ["POST", "POST"], "each request handled exactly once"
