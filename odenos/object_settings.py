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


async def store_settings(zk: Coordinator, object_id: str, settings: dict[str, Any]) -> None:
    path = paths.object_settings(object_id)
    try:
        await zk.set(path, settings)
    except NodeMissing:
        try:
            await zk.create(path, settings, makepath=True)
        except NodeExists:
            await zk.set(path, settings)


async def load_settings(zk: Coordinator, object_id: str) -> dict[str, Any]:
    try:
        data, _ = await zk.get(paths.object_settings(object_id))
    except NodeMissing:
        return {}
    return data if isinstance(data, dict) else {}


def update_daemon_property(prop: ObjectProperty, body: dict[str, Any], why: str) -> dict[str, Any]:
    """``PUT property`` of an object whose state follows its process (``why`` says how):
    description and free keys are taken; a different ``state`` is a 403."""
    if "state" in body and body["state"] != prop.state.value:
        raise Forbidden(why, state=prop.state.value)
    prop.update_from({k: v for k, v in body.items() if k != "state"})
    return prop.to_json()
