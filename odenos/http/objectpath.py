"""The one path a request is decided on and forwarded with.

A REST path reaches the translator in many spellings of one resource
(``/romgr2/%2e%2e/metrics``, ``//network0/./property``, ``/network0/%70roperty``).
If the translator routed on one spelling and the receiving daemon (or the HTTP
client in between, which resolves dot segments itself) read another, a crafted
URL could reach what routing never allowed, such as a manager's ``/_shutdown``.
So every path is parsed once into an :class:`ObjectPath` (RFC 3986 section 6:
percent-decoded segments, dot segments resolved, empty segments dropped), the
route is decided on it, and exactly :attr:`ObjectPath.encoded` is sent on.

What cannot be one canonical path is a :class:`BadPath` (400): a malformed
``%`` escape, bytes that are not UTF-8, a control character, an encoded ``/``
inside a segment (it would become a separator at the receiver), or ``..``
climbing above the root.

Two middlewares apply it: :func:`canonical_path_middleware` on the public port
serves a non-canonical spelling of a read as its canonical path (aiohttp routes
before middlewares run, so the request is routed again), and refuses a dot
segment in a write: ``PUT /fed/settings/boundaries/%2e%2e`` would otherwise
replace ``/fed/settings``, a resource the client never named; :func:`strict_path_middleware`
on the daemons' internal ports refuses anything not already canonical, since
the daemons themselves only send canonical paths.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

from aiohttp import web
from yarl import URL

from odenos.errors import BadRequest
from odenos.http.errors import Handler, error_response

#: Characters a path segment keeps unencoded (RFC 3986 ``pchar`` without ``%``);
#: ``quote`` adds the unreserved ones.
_SEGMENT_SAFE = "!$&'()*+,;=:@"
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class BadPath(BadRequest):
    code = "BadPath"

    def __init__(self, raw: str, why: str) -> None:
        super().__init__(f"request path {raw!r} is not accepted: {why}", path=raw)


@dataclass(frozen=True)
class ObjectPath:
    """A canonical request path: its decoded segments.

    ``segments[0]`` is the object id (``/<object_id>/<rest>``); the root ``/``
    has no segments.
    """

    segments: tuple[str, ...]

    @classmethod
    def parse(cls, raw: str) -> ObjectPath:
        """The canonical form of ``raw`` (a request's raw, still percent-encoded path).

        Raises :class:`BadPath`.
        """
        if not raw.startswith("/"):
            raise BadPath(raw, "it must start with '/'")
        segments: list[str] = []
        for part in raw.split("/")[1:]:
            segment = _decode(raw, part) if "%" in part else part
            if _CONTROL.search(segment):
                raise BadPath(raw, "it contains a control character")
            if segment in ("", "."):
                continue
            if segment == "..":
                if not segments:
                    raise BadPath(raw, "'..' climbs above the root")
                segments.pop()
                continue
            segments.append(segment)
        return cls(tuple(segments))

    @classmethod
    def of(cls, object_id: str, subpath: str) -> ObjectPath:
        """``/<object_id>/<subpath>`` from a component's call: ``subpath`` is decoded,
        ``/``-separated and relative to the object, so a dot segment (which would
        leave the object) is a :class:`BadPath`, not resolved."""
        parts = [p for p in subpath.split("/") if p]
        for part in (object_id, *parts):
            if part in (".", "..") or _CONTROL.search(part) or "/" in part:
                raise BadPath(f"/{object_id}/{subpath}", f"segment {part!r} is not allowed")
        return cls((object_id, *parts))

    @property
    def object_id(self) -> str | None:
        return self.segments[0] if self.segments else None

    @property
    def subpath(self) -> str:
        """What follows ``/<object_id>/``, decoded (the component's ``Request.path``)."""
        return "/".join(self.segments[1:])

    def below(self, index: int) -> ObjectPath:
        """The path made of the segments from ``index`` on (``/a/b/c``.below(1) is ``/b/c``)."""
        return ObjectPath(self.segments[index:])

    @property
    def encoded(self) -> str:
        """The one percent-encoded spelling of this path, as sent on the wire."""
        return "/" + "/".join(quote(s, safe=_SEGMENT_SAFE) for s in self.segments)

    def url(self, base: str, raw_query: str = "") -> URL:
        """``base`` (a daemon's address) + this path (+ ``?raw_query``), taken as
        already encoded: the client sends these bytes and resolves nothing."""
        return URL(base + self.encoded + (f"?{raw_query}" if raw_query else ""), encoded=True)

    def startswith(self, prefix: Iterable[str]) -> bool:
        wanted = tuple(prefix)
        return self.segments[: len(wanted)] == wanted


def _decode(raw: str, part: str) -> str:
    if _BAD_ESCAPE.search(part):
        raise BadPath(raw, "it has a '%' that is not followed by two hex digits")
    try:
        segment = unquote_to_bytes(part).decode("utf-8")
    except UnicodeDecodeError:
        raise BadPath(raw, "its percent-escapes are not UTF-8") from None
    if "/" in segment:
        raise BadPath(raw, "an encoded '/' (%2F) inside a segment is not supported")
    return segment


#: Methods whose path may be spelled with dot segments (resolved): they change nothing.
READS = frozenset({"GET", "HEAD", "OPTIONS"})


def _has_dot_segment(raw: str) -> bool:
    return any(
        (_decode(raw, part) if "%" in part else part) in (".", "..") for part in raw.split("/")
    )


def _canonical(request: web.Request) -> tuple[str, ObjectPath] | None:
    """``(raw, path)`` if the request's path is not canonical, None if it is."""
    raw = request.rel_url.raw_path
    path = ObjectPath.parse(raw)
    return None if path.encoded == raw else (raw, path)


@web.middleware
async def canonical_path_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Public port: a non-canonical spelling is served as its canonical path.

    Outermost middleware.  The request is rebuilt with the canonical path and
    handed to the application again, so that routing, refusal, forwarding and the
    monitor log all see that one path.
    """
    try:
        found = _canonical(request)
        if found is not None and request.method not in READS and _has_dot_segment(found[0]):
            raise BadPath(
                found[0],
                f"a {request.method} names its resource exactly: '.' and '..' segments "
                "are resolved only for reads",
            )
    except BadPath as err:
        return error_response(err)
    if found is None:
        return await handler(request)
    _, path = found
    query = request.rel_url.raw_query_string
    canonical = request.clone(
        rel_url=URL(path.encoded + (f"?{query}" if query else ""), encoded=True)
    )
    # aiohttp resolves the route before middlewares run; its request handler is the
    # only way to route the rebuilt request (the canonical path passes this
    # middleware straight through the second time).
    return await request.app._handle(canonical)


@web.middleware
async def strict_path_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Internal ports: only canonical paths (the daemons send nothing else)."""
    try:
        found = _canonical(request)
        if found is not None:
            raw, path = found
            raise BadPath(raw, f"not in canonical form (send {path.encoded!r})")
    except BadPath as err:
        return error_response(err)
    return await handler(request)
