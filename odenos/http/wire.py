"""A small HTTP/1.1 client for the daemons' own ports: pooled keep-alive connections,
one write per request, the answer read in full.

The daemons talk only to each other (aiohttp servers this project runs), so the
client needs little of what a general one does: no redirects, cookies,
compression, proxies or TLS.  What it keeps is what a hop must get right:

* a request is written once, path bytes exactly as given;
* an answer is framed by ``Content-Length`` or chunked encoding (or, failing
  both, by the end of the connection), and a connection goes back to the pool
  only once its answer is complete and neither side said ``Connection: close``;
* an idle connection is dropped before the servers' idle timeout (30 s) could
  close it under a new request; should a reused connection still be found
  closed before a single byte of the answer arrived, the request is sent once
  more on a new connection (the server closed it idle, so it never read it);
* a request that is cancelled or times out closes its connection: nothing is
  ever read from it again.

aiohttp's client did this before, at about a fifth of the translator's CPU per
forwarded request (``docs/benchmarks.md``, row k).
"""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass
from typing import cast

from multidict import CIMultiDict, CIMultiDictProxy

#: An idle connection older than this is closed rather than reused (the servers' idle
#: timeout is 30 s: see odenos.http.server).
IDLE_FOR = 15.0
#: Bytes of status line and headers an answer may have.
HEAD_LIMIT = 64 * 1024


class WireError(Exception):
    """The connection was refused or broke, or the answer was not HTTP."""


class Refused(WireError):
    """Nothing listens there (the process is gone)."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def content_type(self) -> str:
        """The media type, without parameters (as aiohttp's ``content_type``)."""
        value = self.headers.get("Content-Type", "application/octet-stream")
        return value.split(";", 1)[0].strip().lower()


class _Connection(asyncio.Protocol):
    """One TCP connection; at most one request on it at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.closed = False
        self.received = False  # a byte of the current answer has arrived
        self.idle_since = time.monotonic()
        self._wakeup: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is not an asyncio.Transport subclass, but is one).
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.received = True
        self.buffer += data
        self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def more(self) -> None:
        """Until more bytes arrive or the connection ends."""
        if self.closed:
            raise WireError("connection closed before the answer was complete")
        self._wakeup = asyncio.get_running_loop().create_future()
        await self._wakeup
        self._wakeup = None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def read_answer(self, method: str) -> tuple[Answer, bool]:
        """The answer in full; and whether the connection may be reused."""
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            if len(self.buffer) > HEAD_LIMIT:
                raise WireError("answer head too large")
            await self.more()
        head = bytes(self.buffer[:end]).decode("latin-1")
        del self.buffer[: end + 4]
        status_line, *lines = head.split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise WireError(f"not an HTTP answer: {status_line[:80]!r}")
        status = int(parts[1])
        headers: CIMultiDict[str] = CIMultiDict()
        for line in lines:
            name, sep, value = line.partition(":")
            if not sep:
                raise WireError(f"bad header line: {line[:80]!r}")
            headers.add(name.strip(), value.strip())
        reusable = parts[0] == "HTTP/1.1" and headers.get("Connection", "").lower() != "close"
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif "chunked" in headers.get("Transfer-Encoding", "").lower():
            body = await self._chunked()
        elif "Content-Length" in headers:
            body = await self._exactly(int(headers["Content-Length"]))
        else:  # delimited by the end of the connection
            while not self.closed:
                await self.more()
            body, reusable = bytes(self.buffer), False
            self.buffer.clear()
        return Answer(status, CIMultiDictProxy(headers), body), reusable

    async def _exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            await self.more()
        body = bytes(self.buffer[:size])
        del self.buffer[:size]
        return body

    async def _line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            await self.more()
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 2]
        return line

    async def _chunked(self) -> bytes:
        body = bytearray()
        while True:
            size = int((await self._line()).split(b";", 1)[0], 16)
            if size == 0:
                while await self._line():  # trailers, up to the empty line
                    pass
                return bytes(body)
            body += await self._exactly(size)
            await self._exactly(2)  # the CRLF after the chunk


class WireClient:
    """Pooled connections to ``host:port`` peers.  Use on one loop."""

    def __init__(self, limit: int) -> None:
        self._idle: dict[tuple[str, int], collections.deque[_Connection]] = {}
        self._limit = asyncio.Semaphore(limit)
        self._open: set[_Connection] = set()

    async def request(
        self,
        method: str,
        host: str,
        port: int,
        target: str,
        headers: dict[str, str],
        body: bytes,
        timeout: float,
    ) -> Answer:
        """``method target`` to ``host:port``; the whole answer within ``timeout`` seconds
        (``TimeoutError`` otherwise).  Raises :class:`Refused` or :class:`WireError`."""
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        lines = [f"{method} {target} HTTP/1.1", f"Host: {authority}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        async with asyncio.timeout(timeout), self._limit:
            conn = self._take(host, port)
            if conn is not None:
                try:
                    return await self._exchange(conn, method, host, port, payload)
                except WireError:
                    if conn.received:
                        raise
                    # Closed idle by the server before it read anything: once more, anew.
            conn = await self._connect(host, port)
            return await self._exchange(conn, method, host, port, payload)

    def _take(self, host: str, port: int) -> _Connection | None:
        idle = self._idle.get((host, port))
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < IDLE_FOR and not conn.buffer:
                return conn
            self._drop(conn)
        return None

    async def _connect(self, host: str, port: int) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(_Connection, host, port)
        except ConnectionRefusedError as exc:
            raise Refused(str(exc)) from None
        except OSError as exc:
            raise WireError(str(exc)) from None
        self._open.add(conn)
        return conn

    async def _exchange(
        self, conn: _Connection, method: str, host: str, port: int, payload: bytes
    ) -> Answer:
        conn.received = False
        keep = False
        try:
            assert conn.transport is not None
            conn.transport.write(payload)
            answer, keep = await conn.read_answer(method)
            return answer
        except (ConnectionError, ValueError, UnicodeError) as exc:
            raise WireError(str(exc) or type(exc).__name__) from None
        finally:
            # Only a complete answer returns it to the pool: after an error, a timeout or a
            # cancellation the connection might still deliver the rest of something.
            if keep and not conn.closed and not conn.buffer:
                conn.idle_since = time.monotonic()
                self._idle.setdefault((host, port), collections.deque()).append(conn)
            else:
                self._drop(conn)

    def _drop(self, conn: _Connection) -> None:
        conn.close()
        self._open.discard(conn)

    def close(self) -> None:
        for conn in list(self._open):
            self._drop(conn)
        self._idle.clear()
