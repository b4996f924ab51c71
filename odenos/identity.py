"""Which cluster this is: a wiped ZooKeeper is noticed, not taken for an empty cluster.

The first system manager of a cluster stamps ZooKeeper with a cluster id
(``/odenos/cluster``: ``{"id", "created"}``) and every daemon keeps the id it
belongs to in its ``var.dir`` (``cluster-id``).  If the embedded server's data
folder is deleted, or ``zookeeper.host`` points at an empty or other ensemble,
ZooKeeper no longer holds that id.  Without this check the system would start
on the empty tree and every component manager would finalize its components as
"no longer desired".  Instead:

* the system manager refuses to start, saying what happened and how to go on
  (point ``zookeeper.host`` at the cluster's ZooKeeper, or ``--reinitialize`` to
  begin a new cluster: every component, connection and record is then gone);
* a component manager does not register (it retries, logging why) until
  ZooKeeper holds its cluster, or a cluster reinitialized from its own.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import uuid
from pathlib import Path
from typing import Any

from odenos.errors import (
    CoordinationError,
    NodeExists,
    NodeMissing,
    NodeVersionMismatch,
    OdenosError,
)
from odenos.http.signing import Signer, new_secret
from odenos.zk import paths
from odenos.zk.client import Coordinator

log = logging.getLogger(__name__)

FILE_NAME = "cluster-id"


class ClusterMismatch(OdenosError):
    """ZooKeeper does not hold the cluster this host's ``var.dir`` belongs to."""

    code = "ClusterMismatch"


class ClusterNotStamped(CoordinationError):
    """ZooKeeper holds no cluster id yet: a manager waits for the system manager."""

    code = "ClusterNotStamped"


def id_file(var_dir: Path) -> Path:
    return var_dir / FILE_NAME


def _read_local(var_dir: Path) -> str | None:
    try:
        return id_file(var_dir).read_text().strip() or None
    except OSError:
        return None


def _write_local(var_dir: Path, cluster_id: str) -> None:
    var_dir.mkdir(parents=True, exist_ok=True)
    id_file(var_dir).write_text(cluster_id + "\n")


async def _read_stamp(zk: Coordinator) -> dict[str, Any] | None:
    try:
        data, _ = await zk.get(paths.CLUSTER)
    except NodeMissing:
        return None
    return data if isinstance(data, dict) and isinstance(data.get("id"), str) else None


def _adopted(stamp: dict[str, Any], local: str | None) -> bool:
    """May a host that belonged to ``local`` join the cluster of ``stamp``?"""
    return local is None or stamp["id"] == local or stamp.get("reinitialized_from") == local


async def stamp_or_check(
    zk: Coordinator, var_dir: Path, where: str, *, reinitialize: bool = False
) -> str:
    """The system manager's check, before it registers; returns the cluster id.

    Raises :class:`ClusterMismatch` when ZooKeeper does not hold this host's cluster
    (and ``reinitialize`` is not given)."""
    local = _read_local(var_dir)
    stamp = await _read_stamp(zk)
    if reinitialize:
        new = {"id": uuid.uuid4().hex, "created": _now()}
        previous = (stamp or {}).get("id") or local
        if previous:
            new["reinitialized_from"] = previous
        await _write_stamp(zk, new, replace=True)
        _write_local(var_dir, new["id"])
        log.warning("cluster reinitialized as %s (was %s)", new["id"], previous or "none")
        return str(new["id"])
    if stamp is None:
        if local is not None:
            raise ClusterMismatch(
                f"{id_file(var_dir)} says this host belongs to cluster {local}, but ZooKeeper "
                f"at {where} holds no cluster: its data was deleted, or this is another "
                "ensemble. Point zookeeper.host at the cluster's ZooKeeper, or start with "
                "--reinitialize to begin a new, empty cluster (every component, connection "
                "and stored record of the old one is lost)."
            )
        stamp = {"id": uuid.uuid4().hex, "created": _now()}
        if not await _write_stamp(zk, stamp, replace=False):
            stamp = await _read_stamp(zk) or stamp  # another core stamped it first
        log.info("new cluster %s", stamp["id"])
    elif not _adopted(stamp, local):
        raise ClusterMismatch(
            f"{id_file(var_dir)} says this host belongs to cluster {local}, but ZooKeeper at "
            f"{where} holds cluster {stamp['id']}. Point zookeeper.host at the right "
            "ensemble, or start with --reinitialize to join this one as a new cluster."
        )
    _write_local(var_dir, str(stamp["id"]))
    return str(stamp["id"])


async def check_member(zk: Coordinator, var_dir: Path, where: str) -> str:
    """A component manager's check, before each registration; returns the cluster id.

    Raises :class:`ClusterNotStamped` (wait: no cluster yet) or :class:`ClusterMismatch`
    (another cluster, or this one's data was wiped); the caller retries either way, so
    that nothing is finalized on a ZooKeeper that lost the cluster."""
    local = _read_local(var_dir)
    stamp = await _read_stamp(zk)
    if stamp is None:
        raise ClusterNotStamped(
            f"ZooKeeper at {where} holds no cluster id yet (the system manager stamps it; "
            "if it was there before, ZooKeeper's data was wiped): not registering"
        )
    if not _adopted(stamp, local):
        raise ClusterMismatch(
            f"ZooKeeper at {where} holds cluster {stamp['id']}, but this host belongs to "
            f"{local} ({id_file(var_dir)}): not registering, so that no component is "
            "dropped; fix zookeeper.host, or reinitialize the cluster"
        )
    _write_local(var_dir, str(stamp["id"]))
    return str(stamp["id"])


async def ensure_secret(zk: Coordinator) -> None:
    """The first system manager creates the cluster secret (see :mod:`odenos.http.signing`)."""
    with contextlib.suppress(NodeExists):
        await zk.create(paths.SECRET, {"current": new_secret(), "previous": None})
        log.info("cluster secret created")


async def rotate_secret(zk: Coordinator) -> None:
    """A new current secret; the old one stays accepted (as ``previous``) until the next
    rotation.  Raises :class:`NodeMissing` if the cluster has none yet."""
    while True:
        record, stat = await zk.get(paths.SECRET)
        current = record.get("current") if isinstance(record, dict) else None
        try:
            await zk.set(paths.SECRET, {"current": new_secret(), "previous": current}, stat.version)
            return
        except NodeVersionMismatch:
            continue


async def follow_secret(zk: Coordinator, signer: Signer) -> None:
    """Keep ``signer`` on the cluster's current secret (a watch)."""
    await zk.watch_data(paths.SECRET, signer.set_record)


async def _write_stamp(zk: Coordinator, stamp: dict[str, Any], *, replace: bool) -> bool:
    try:
        await zk.create(paths.CLUSTER, stamp, makepath=True)
        return True
    except NodeExists:
        if replace:
            await zk.set(paths.CLUSTER, stamp)
            return True
        return False


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
