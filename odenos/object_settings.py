"""The settings of the daemons' own objects (system manager, component managers), persisted.

``PUT settings`` answers 200 only once ZooKeeper holds the new settings
(``/odenos/settings/<object_id>``), so a restart keeps what a 200 said.
"""

from __future__ import annotations

from typing import Any

from odenos.errors import Forbidden, NodeExists, NodeMissing
from odenos.model.property import ObjectProperty
from odenos.zk import paths
from odenos.zk.client import Coordinator


async def store_object(zk: Coordinator, path: str, value: dict[str, Any]) -> None:
    """Write a JSON object to a persistent znode, creating it (and its parents) if need be."""
    try:
        await zk.set(path, value)
    except NodeMissing:
        try:
            await zk.create(path, value, makepath=True)
        except NodeExists:
            await zk.set(path, value)


async def load_object(zk: Coordinator, path: str) -> dict[str, Any]:
    """The JSON object a znode holds; ``{}`` if it does not exist or holds something else."""
    try:
        data, _ = await zk.get(path)
    except NodeMissing:
        return {}
    return data if isinstance(data, dict) else {}


async def store_settings(zk: Coordinator, object_id: str, settings: dict[str, Any]) -> None:
    await store_object(zk, paths.object_settings(object_id), settings)


async def load_settings(zk: Coordinator, object_id: str) -> dict[str, Any]:
    return await load_object(zk, paths.object_settings(object_id))


def update_daemon_property(prop: ObjectProperty, body: dict[str, Any], why: str) -> dict[str, Any]:
    """``PUT property`` of an object whose state follows its process (``why`` says how):
    description and free keys are taken; a different ``state`` is a 403."""
    if "state" in body and body["state"] != prop.state.value:
        raise Forbidden(why, state=prop.state.value)
    prop.update_from({k: v for k, v in body.items() if k != "state"})
    return prop.to_json()
