"""Who may touch the system's znodes: ZooKeeper digest credentials and ACLs.

With credentials (``zookeeper.auth``: a file holding ``user:password``, readable
by its owner only), every daemon authenticates its session with them and every
znode the system creates carries an ACL: the system's identity may do
everything; anyone else may read the public tree (``/system_manager``,
``/component_managers``, ``/components``, as ODENOS's tools list it) if
``zookeeper.world_read`` is on, and nothing else.  The embedded setup generates
its credentials on first start (``var.dir/zookeeper.auth``, mode 0600), so that
the default install is protected too.

The password never appears on a command line or in a log: it is read from the
file, and only ``user`` is ever printed.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kazoo.security import READ_ACL_UNSAFE, make_digest_acl

from odenos.errors import ConfigError
from odenos.zk import paths

DEFAULT_USER = "odenos"
_LINE = re.compile(r"([A-Za-z0-9_.-]{1,64}):(\S{8,256})")


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str

    def __repr__(self) -> str:  # never the password
        return f"Credentials(user={self.user!r})"


def load_credentials(path: Path) -> Credentials:
    """The credentials in ``path``.  Raises :class:`ConfigError` (naming the file) if it
    is missing, readable by others than its owner, or not one ``user:password`` line
    (a password of 8 to 256 non-blank characters)."""
    try:
        info = path.stat()
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        reason = f"cannot read the ZooKeeper credentials: {exc.strerror}"
        raise ConfigError(reason, str(path)) from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"the ZooKeeper credentials file is open to others (mode "
            f"{stat.S_IMODE(info.st_mode):o}): chmod 600 {path}",
            str(path),
        )
    lines = [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]
    match = _LINE.fullmatch(lines[0]) if len(lines) == 1 else None
    if match is None:
        raise ConfigError(
            "the ZooKeeper credentials file must hold one line 'user:password' "
            "(user: letters, digits, '_', '.', '-'; password: 8 to 256 non-blank characters)",
            str(path),
        )
    return Credentials(match.group(1), match.group(2))


def ensure_credentials(path: Path) -> Credentials:
    """The credentials in ``path``, generated first (mode 0600) if there are none.  Safe
    when several daemons of one host start at once: one file wins, all read it."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(f"{DEFAULT_USER}:{secrets.token_urlsafe(32)}\n")
        with contextlib.suppress(FileExistsError):
            os.link(fresh, path)  # atomic: if another daemon was first, its file stays
        fresh.unlink()
    return load_credentials(path)


class AclPolicy:
    """The ACLs of the system's znodes, and the session's authentication."""

    def __init__(
        self,
        credentials: Credentials | None,
        world_read: bool = True,
        also: tuple[Credentials, ...] = (),
    ) -> None:
        """``also``: identities the session authenticates with besides ``credentials``
        (never given to new nodes): the old ones, while :mod:`odenos.zk.rekey` moves the
        tree to new credentials."""
        self.credentials = credentials
        self.world_read = world_read
        self.also = also
        if credentials is None:
            self._private: list[Any] | None = None
            self._public: list[Any] | None = None
        else:
            owner = make_digest_acl(credentials.user, credentials.password, all=True)
            self._private = [owner]
            self._public = [owner, *READ_ACL_UNSAFE] if world_read else [owner]

    @property
    def auth_data(self) -> list[tuple[str, str]] | None:
        if self.credentials is None:
            return None
        return [("digest", f"{c.user}:{c.password}") for c in (self.credentials, *self.also)]

    @property
    def default_acl(self) -> list[Any] | None:
        """For every node not in the public tree (kazoo's recipes included)."""
        return self._private

    def acl_for(self, path: str) -> list[Any] | None:
        """The ACL a node at ``path`` is created with (None: kazoo's default)."""
        if self._public is not None and paths.is_public(path):
            return self._public
        return self._private


NO_ACL = AclPolicy(None)
