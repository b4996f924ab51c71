"""The HTTP edge shared by the three daemons: errors as JSON, JSON bodies in and out.

One middleware turns every :class:`OdenosError` into its status and a JSON body
``{"error": code, "message": text, ...}``; aiohttp's own 404/405 get the same
shape; anything else is logged with its traceback and answered as a JSON 500,
so a client never sees a traceback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from odenos.errors import BadRequest, OdenosError, Unavailable

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    if body is None:
        return web.Response(status=status, headers=headers)
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        content_type="application/json",
        headers=headers,
    )


def error_response(err: OdenosError) -> web.Response:
    headers = {"Retry-After": str(err.retry_after)} if isinstance(err, Unavailable) else None
    allowed = err.details.get("allowed") if err.status == 405 else None
    if isinstance(allowed, list):
        headers = {"Allow": ", ".join(allowed)}
    return json_response(err.to_json(), err.status, headers)


#: How deep a request body may nest (objects and arrays); deeper is a 400.
MAX_JSON_DEPTH = 64


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(raw: bytes) -> Any:
    """A request body as JSON (``None`` if empty).  No Content-Type is required,
    as in ODENOS; a body that is not JSON, uses NaN or Infinity (not JSON, though
    Python reads them), or nests deeper than :data:`MAX_JSON_DEPTH` is a
    :class:`BadRequest`."""
    if not raw.strip():
        return None
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequest(f"request body nests deeper than {MAX_JSON_DEPTH} levels") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise BadRequest(f"request body nests deeper than {MAX_JSON_DEPTH} levels")
    return value


def _depth(value: Any) -> int:
    """How deep ``value`` nests, without recursion."""
    deepest = 0
    todo = [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if level > MAX_JSON_DEPTH:
            break
        todo.extend((child, level + 1) for child in children)
    return deepest


async def read_json(request: web.Request) -> Any:
    return parse_json(await request.read())


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object, or :class:`BadRequest` naming the request."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise BadRequest(f"{request.method} {request.path} needs a JSON object body")
    return body


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except OdenosError as err:
        if err.status >= 500:
            # A 503 for an object that is down is the system working as meant: INFO.
            level = logging.INFO if isinstance(err, Unavailable) else logging.WARNING
            log.log(level, "%s %s -> %d %s", request.method, request.path, err.status, err.message)
        return error_response(err)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"}.get(
            exc.status, exc.reason
        )
        message = f"{request.method} {request.path}: {exc.reason}"
        allow = exc.headers.get("Allow")
        return json_response(
            {"error": code, "message": message}, exc.status, {"Allow": allow} if allow else None
        )
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return json_response(
            {"error": "InternalError", "message": "internal error, see the daemon's log"}, 500
        )
