"""Who may use the REST API: bearer tokens with a role, and TLS on the public port.

``rest.auth.tokens`` names a file (readable by its owner only) of lines
``<token> <role> [<name>]``: role ``read`` may GET and HEAD (and follow events:
``/event/...`` concerns only the client's own subscription); role ``admin`` may do
everything.  A request without a token, or with one that is not in the file, is a
401 (``WWW-Authenticate: Bearer``); a ``read`` token on anything else is a 403;
both with the usual JSON error body.  Tokens are compared in constant time, each
against all, and never logged (only a token's name, if it has one).

The file is read again when it changes (checked at most once a second), so tokens are
added and withdrawn by editing it, without a restart; a file that no longer loads
(malformed, opened to others) leaves the previous tokens in force, with an error in
the log.

``rest.tls.cert`` and ``rest.tls.key`` put the public port behind TLS.
"""

from __future__ import annotations

import hmac
import logging
import ssl
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from odenos.errors import ConfigError, Forbidden, OdenosError
from odenos.http.errors import Handler, error_response

log = logging.getLogger(__name__)

ROLES = ("read", "admin")
READ_METHODS = ("GET", "HEAD", "OPTIONS")


class Unauthorized(OdenosError):
    status = 401
    code = "Unauthorized"


@dataclass(frozen=True)
class Token:
    secret: str
    role: str
    name: str

    def __repr__(self) -> str:  # never the secret
        return f"Token(role={self.role!r}, name={self.name!r})"


def load_tokens(path: Path) -> tuple[Token, ...]:
    """The tokens of ``path``.  Raises :class:`ConfigError` naming the file and line."""
    try:
        info = path.stat()
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the REST tokens: {exc.strerror}", str(path)) from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"the REST tokens file is open to others (mode {stat.S_IMODE(info.st_mode):o}): "
            f"chmod 600 {path}",
            str(path),
        )
    tokens = []
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) not in (2, 3) or fields[1] not in ROLES or len(fields[0]) < 16:
            raise ConfigError(
                "expected '<token> <role> [<name>]': a token of at least 16 characters, "
                f"a role of {', '.join(ROLES)}",
                str(path),
                lineno,
            )
        tokens.append(Token(fields[0], fields[1], fields[2] if len(fields) == 3 else ""))
    if not tokens:
        raise ConfigError("the REST tokens file holds no token", str(path))
    return tuple(tokens)


class TokenSource:
    """The tokens in force: those of the file as it was last loaded."""

    def __init__(
        self, tokens: tuple[Token, ...], path: Path | None = None, check_every: float = 1.0
    ) -> None:
        self._tokens = tokens
        self._path = path
        self._check_every = check_every
        self._checked = time.monotonic()
        self._seen = self._signature()
        self._refused: tuple[int, int, int] | None = None

    def _signature(self) -> tuple[int, int, int] | None:
        if self._path is None:
            return None
        try:
            info = self._path.stat()
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size, info.st_mode)

    def current(self) -> tuple[Token, ...]:
        now = time.monotonic()
        if self._path is None or now - self._checked < self._check_every:
            return self._tokens
        self._checked = now
        signature = self._signature()
        if signature is None or signature in (self._seen, self._refused):
            return self._tokens
        try:
            tokens = load_tokens(self._path)
        except ConfigError as err:
            self._refused = signature
            log.error("REST tokens not reloaded, the previous ones stay in force: %s", err)
            return self._tokens
        self._tokens, self._seen, self._refused = tokens, signature, None
        log.info("REST tokens reloaded from %s: %d token(s)", self._path, len(tokens))
        return tokens


def _find(tokens: tuple[Token, ...], given: str) -> Token | None:
    """The token equal to ``given``; every one is compared, whatever matches, so that the
    time taken says nothing of which or how much matched."""
    found = None
    for token in tokens:
        if hmac.compare_digest(token.secret.encode(), given.encode()):
            found = token
    return found


def bearer_auth(tokens: TokenSource) -> Any:
    """The public port's middleware (inside the canonical-path one)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        token = _find(tokens.current(), given.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            response = error_response(
                Unauthorized("a valid bearer token is needed: Authorization: Bearer <token>")
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="odenos"'
            return response
        writes = request.method not in READ_METHODS and not request.path.startswith("/event/")
        if writes and token.role != "admin":
            log.info(
                "%s %s refused to read-only token %s", request.method, request.path, token.name
            )
            return error_response(
                Forbidden(f"this token may only read: {request.method} needs an admin token")
            )
        return await handler(request)

    return middleware


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """The public port's TLS.  Raises :class:`ConfigError` if the pair cannot be loaded."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        reason = f"cannot load the REST TLS certificate and key: {exc}"
        raise ConfigError(reason, str(cert)) from None
    return context
