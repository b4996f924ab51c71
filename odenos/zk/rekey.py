"""Moving the system's znodes to new ZooKeeper credentials (``odenos rekey-zookeeper``).

ZooKeeper ACLs name a digest identity, so credentials are not changed by editing a
file: every znode must be given an ACL naming the new identity, by a session that
holds the old one.  This runs while the whole system is stopped (every daemon on
every host: their ephemeral nodes are gone), with ZooKeeper up (the embedded server
is started for the time it takes):

1. a session authenticated with the old credentials (``zookeeper.auth``) and the new
   ones walks ``/odenos`` and the public tree and gives every node the ACL the new
   credentials call for (:meth:`~odenos.zk.client.Coordinator.secure`);
2. only then the new credentials replace the old in the ``zookeeper.auth`` file
   (atomically, mode 0600): a failure before that leaves everything as it was, and
   running the command again finishes the job.

Other hosts need the new file too before they start again.
"""

from __future__ import annotations

import os
from pathlib import Path

from odenos.config import Config
from odenos.errors import ConfigError, LaunchError, NodeMissing
from odenos.runtime import log_dir
from odenos.zk import paths
from odenos.zk.acl import AclPolicy, Credentials, load_credentials
from odenos.zk.client import Coordinator
from odenos.zk.embedded import EmbeddedZooKeeper


async def rekey(config: Config, new_file: Path) -> int:
    """Give the system's znodes the ACLs of the credentials in ``new_file`` and make them
    the configured ones; returns how many znodes were changed.  Raises
    :class:`ConfigError` for a config without credentials or a bad file, and
    :class:`LaunchError` while a daemon is still registered anywhere."""
    zk_config = config.zookeeper
    if zk_config.auth_file is None:
        raise ConfigError(
            "zookeeper.auth is off: there are no credentials to change", str(config.path)
        )
    old = load_credentials(zk_config.auth_file)
    new = load_credentials(new_file)
    embedded = None
    if zk_config.embed:
        embedded = EmbeddedZooKeeper(
            zk_config.port,
            config.var_dir / "zookeeper",
            classpath=zk_config.classpath,
            log_file=log_dir(config) / "zookeeper.log",
        )
        await embedded.start()
    try:
        zk = Coordinator(
            zk_config.connect_string,
            zk_config.session_timeout_ms,
            name="odenos rekey-zookeeper",
            acl=AclPolicy(new, zk_config.world_read, also=(old,)),
        )
        await zk.start(timeout=10)
        try:
            await _check_stopped(zk)
            changed = await zk.secure((*paths.PUBLIC_PARENTS, paths.ROOT))
        finally:
            await zk.stop()
    finally:
        if embedded is not None:
            await embedded.stop()
    _replace(zk_config.auth_file, new)
    return changed


async def _check_stopped(zk: Coordinator) -> None:
    live = [
        name
        for parent in (paths.SYSTEM_MANAGER, paths.COMPONENT_MANAGERS)
        for name in await _children(zk, parent)
    ]
    if live:
        raise LaunchError(
            f"still registered in ZooKeeper: {', '.join(live)}: stop the system on every "
            "host first (odenos stop), then run this again"
        )


async def _children(zk: Coordinator, path: str) -> list[str]:
    try:
        return await zk.children(path)
    except NodeMissing:
        return []


def _replace(path: Path, credentials: Credentials) -> None:
    fresh = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f"{credentials.user}:{credentials.password}\n")
    os.replace(fresh, path)
