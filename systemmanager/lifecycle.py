"""The system manager's own events: ODENOS's lifecycle events, from the watch-fed view.

As in ODENOS, the system manager (publisher ``systemmanager``, its object id)
publishes

* ``ComponentManagerChanged`` when a component manager registers, changes (its state,
  its approval) or goes: ``{action, prev, curr}`` with the manager's ObjectProperty;
* ``ComponentConnectionChanged`` when a connection is made, changes state or is
  removed: ``{action, prev, curr}`` with the connection;

and a component's manager (publisher ``<cm_id>``) publishes

* ``ComponentChanged`` when a component is created, changes (its state, its manager,
  its restart policy) or is deleted: ``{action, prev, curr}`` with the component's
  ObjectProperty as ``GET /systemmanager/components/<id>`` shows it.  The same
  event is also published as ``systemmanager`` (an extension: one subscription
  sees every component), and, for a component that moved, as its old manager too.

(``prev`` is left out on ``add`` and ``curr`` on ``delete``, as for every change
event here.)  Anyone may subscribe to them: a component (``self.subscribe``), or a
REST client through ``/event/subscriptions`` or the event manager.

They are derived, not recorded: the active system manager compares each object's
public view after every change of its caches with what it last published, and
publishes the difference, so a manager dying (its components' ephemeral nodes going)
is one ``ComponentManagerChanged`` and a ``ComponentChanged`` per component whose
state it changed.  Only the active system manager publishes; one that becomes
active takes the view as it finds it and publishes from then on (what changed while
no system manager was active is not replayed).  Delivery is that of every event
(:mod:`odenos.events`): in order, once, to each subscriber.
"""

from __future__ import annotations

import logging
from typing import Any

from odenos.cluster import ClusterView
from odenos.errors import ObjectNotFound
from odenos.events import EventBus
from odenos.model.event import Event, change_body
from odenos.zk.cache import CachedNode, ChangeKind

log = logging.getLogger(__name__)

MANAGER = "ComponentManagerChanged"
COMPONENT = "ComponentChanged"
CONNECTION = "ComponentConnectionChanged"
EVENT_TYPES = (MANAGER, COMPONENT, CONNECTION)


class LifecycleEvents:
    """Publishes the lifecycle events of the system while its system manager is active."""

    def __init__(self, publisher_id: str, view: ClusterView, bus: EventBus) -> None:
        self.publisher_id = publisher_id
        self._view = view
        self._bus = bus
        self._active = False
        #: What was last published (or found on becoming active), by (event type, id).
        self._shown: dict[tuple[str, str], dict[str, Any]] = {}
        view.managers.add_listener(self._on_manager)
        view.approvals.add_listener(self._on_manager)
        view.live.add_listener(self._on_live)
        view.desired.add_listener(self._on_desired)
        view.connections.add_listener(self._on_connection)

    def set_active(self, active: bool) -> None:
        """Called as the system manager becomes active (True) or stops being so."""
        self._active = active
        self._shown.clear()
        if active:
            for cm_id in self._view.manager_ids():
                self._refresh(MANAGER, cm_id, publish=False)
            types = self._view.component_types()
            for comp_id in self._view.desired_ids():
                self._refresh(COMPONENT, comp_id, types, publish=False)
            for conn_id in self._view.connection_ids():
                self._refresh(CONNECTION, conn_id, publish=False)

    # --- cache listeners (on the loop) ---------------------------------------------------------

    def _on_manager(self, kind: ChangeKind, cm_id: str, node: CachedNode) -> None:
        if not self._active:
            return
        self._refresh(MANAGER, cm_id)
        # A manager's state is part of its components' state.
        types = self._view.component_types()
        for comp_id in sorted(self._view.owned_by(cm_id)):
            self._refresh(COMPONENT, comp_id, types)

    def _on_live(self, kind: ChangeKind, name: str, node: CachedNode) -> None:
        if self._active:
            self._refresh(COMPONENT, name.partition(":")[2])

    def _on_desired(self, kind: ChangeKind, comp_id: str, node: CachedNode) -> None:
        if self._active:
            self._refresh(COMPONENT, comp_id)

    def _on_connection(self, kind: ChangeKind, conn_id: str, node: CachedNode) -> None:
        if self._active:
            self._refresh(CONNECTION, conn_id)

    # --- publishing ----------------------------------------------------------------------------

    def _current(
        self, event_type: str, object_id: str, types: dict[str, dict[str, Any]] | None
    ) -> dict[str, Any] | None:
        try:
            if event_type == MANAGER:
                return self._view.manager_property(object_id)
            if event_type == COMPONENT:
                return self._view.component_property(object_id, types)
        except ObjectNotFound:
            return None
        connection = self._view.connection(object_id)
        return dict(connection) if isinstance(connection, dict) else None

    def _refresh(
        self,
        event_type: str,
        object_id: str,
        types: dict[str, dict[str, Any]] | None = None,
        *,
        publish: bool = True,
    ) -> None:
        key = (event_type, object_id)
        prev = self._shown.get(key)
        curr = self._current(event_type, object_id, types)
        if curr == prev:
            return
        if curr is None:
            del self._shown[key]
        else:
            self._shown[key] = curr
        if not publish:
            return
        action = "add" if prev is None else "delete" if curr is None else "update"
        log.debug("%s %s %s", event_type, action, object_id)
        body = change_body(action, prev, curr)
        publishers = [self.publisher_id]
        if event_type == COMPONENT:  # ODENOS: its component manager publishes it
            for obj in (prev, curr):
                cm_id = (obj or {}).get("cm_id")
                if isinstance(cm_id, str) and cm_id not in publishers:
                    publishers.append(cm_id)
        for publisher_id in publishers:
            self._bus.publish(Event(publisher_id, event_type, body))
