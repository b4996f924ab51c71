"""The system manager's registry of components: desired state in ZooKeeper.

A component is desired state: ``PUT components/<id>`` writes
``/odenos/components/<id>``; the component manager named by ``cm_id`` sees it
through its watch, creates the instance and publishes
``/components/<cm_id>:<id>``; this registry waits (on its watch-fed cache,
with a deadline) until that ephemeral says ``running`` or ``error``.  A
creation that fails or times out is rolled back, so the stored state is what
the answer said.  Reads come from :class:`ClusterView`, never from ZooKeeper.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from odenos.cluster import ClusterView
from odenos.errors import (
    BadRequest,
    ComponentCreateFailed,
    ComponentManagerNotFound,
    ComponentNotFound,
    ComponentTimeout,
    Conflict,
    CoordinationUnavailable,
    Forbidden,
    NodeExists,
    NodeVersionMismatch,
    ObjectUnavailable,
    OdenosError,
)
from odenos.http.client import InternalClient
from odenos.http.internal import SHUTDOWN_PATH
from odenos.model.ids import check_id, is_reserved
from odenos.model.property import ObjectState
from odenos.zk import paths
from odenos.zk.client import Coordinator, NodeStat
from odenos.zk.exactly import (
    create_exactly,
    delete_exactly,
    delete_when_reachable,
    outcome_deadline,
    read_record,
)
from systemmanager.per_id import PerIdLocks
from systemmanager.reassign import POLICIES, Move

log = logging.getLogger(__name__)


class ComponentRegistry:
    """Create, read and delete components.  Called on the system manager's loop."""

    def __init__(
        self,
        coordinator: Coordinator,
        view: ClusterView,
        client: InternalClient,
        create_timeout: float,
    ) -> None:
        self._zk = coordinator
        self._view = view
        self._client = client
        self._serial = PerIdLocks()
        self._create_timeout = create_timeout

    # --- reads ------------------------------------------------------------------------------

    def list(self) -> dict[str, dict[str, Any]]:
        types = self._view.component_types()  # once, not once per component
        return {cid: self._view.component_property(cid, types) for cid in self._view.desired_ids()}

    def get(self, comp_id: str) -> dict[str, Any]:
        if self._view.desired_component(comp_id) is None:
            raise ComponentNotFound(comp_id)
        return self._view.component_property(comp_id)

    # --- writes -----------------------------------------------------------------------------

    async def create_generated(self, body: Any) -> dict[str, Any]:
        """``POST components``: the id is generated (any id given is ignored)."""
        if not isinstance(body, dict):
            raise BadRequest("POST components needs a JSON object body")
        comp_id = str(uuid.uuid4())
        _, prop = await self.put(comp_id, {**body, "id": comp_id})
        return prop

    async def put(self, comp_id: str, body: Any) -> tuple[int, dict[str, Any]]:
        """``PUT components/<id>``: (201, property) once created and ``running``; 409 if
        it exists already, as ODENOS answers; (200, property) for an existing component
        whose body changes its restart policy (an extension: ODENOS has none)."""
        check_id(comp_id, "component id")
        if not isinstance(body, dict):
            raise BadRequest("PUT components/<id> needs a JSON object body {type, id, cm_id?}")
        if body.get("id", comp_id) != comp_id:
            raise BadRequest(f"body id {body.get('id')!r} differs from the path id {comp_id!r}")
        comp_type = body.get("type")
        if not isinstance(comp_type, str) or not comp_type:
            raise BadRequest("'type' is required: the component type, e.g. \"Network\"")
        cm_id = body.get("cm_id")
        if cm_id is not None and not isinstance(cm_id, str):
            raise BadRequest("'cm_id' must be a string")
        policy = _restart_policy(body)
        self._check_free_for_routing(comp_id)

        async with self._serial(comp_id):
            # A component our cache does not know is created at once (one request, not
            # two): if it exists after all, the create says so and it is read then.
            known = self._view.desired_generation(comp_id) is not None
            existing = await self._read(comp_id) if known else None
            if existing is None:
                chosen = self._choose_manager(comp_type, cm_id)
                # The request id tells our record from any other after a lost connection.
                record = {"id": comp_id, "type": comp_type, "cm_id": chosen, **policy}
                record["request"] = uuid.uuid4().hex
                try:
                    stat = await create_exactly(
                        self._zk, paths.desired_component(comp_id), record, self._deadline
                    )
                except NodeExists:
                    existing = await self._read(comp_id)
                    if existing is None:
                        raise Conflict(
                            f"component {comp_id!r} was created and deleted meanwhile",
                            component_id=comp_id,
                        ) from None
            elif policy and any(existing[0].get(k) != v for k, v in policy.items()):
                existing = await self._update_policy(comp_id, existing, policy)
        if existing is not None:
            data, stat = existing
            if not policy:
                raise Conflict(
                    f"component {comp_id!r} exists already (as {data.get('type')!r} on "
                    f"{data.get('cm_id')!r}); DELETE it first to create it anew",
                    component_id=comp_id,
                )
            return 200, await self._confirm_existing(comp_id, data, stat.czxid, comp_type, cm_id)
        log.info("component %s (%s) desired on %s", comp_id, comp_type, chosen)
        return 201, await self._await_created(comp_id, chosen, stat.czxid, rollback=True)

    async def delete(self, comp_id: str) -> None:
        """``DELETE components/<id>``: the desired record goes at once; the answer
        waits (bounded) until the manager has finalized the instance."""
        async with self._serial(comp_id):
            existing = await self._read(comp_id)
            if existing is None:
                raise ComponentNotFound(comp_id)
            desired, stat = existing
            connected = sorted(self._view.connections_of(comp_id))
            if connected:
                raise Forbidden(
                    f"component {comp_id!r} still has connections: delete "
                    f"{', '.join(connected)} first",
                    component_id=comp_id,
                    connections=connected,
                )
            path = paths.desired_component(comp_id)
            if not await delete_exactly(self._zk, path, stat.czxid, self._deadline):
                raise ComponentNotFound(comp_id)
        cm_id = str(desired.get("cm_id"))
        gone = await self._view.wait_for(
            lambda: (
                self._view.live_component(cm_id, comp_id) is None
                and self._view.desired_component(comp_id) is None
            ),
            self._create_timeout,
        )
        if not gone:
            log.warning(
                "component %s deleted, but %s has not finalized it within %g s",
                comp_id,
                cm_id,
                self._create_timeout,
            )
        log.info("component %s deleted", comp_id)

    async def remove_manager(self, cm_id: str) -> None:
        """``DELETE component_managers/<id>``: delete its components (403, nothing done, if
        one is still connected), then stop the manager gracefully; returns once it is gone
        from the registry (bounded)."""
        manager = self._view.manager(cm_id)
        if manager is None:
            raise ComponentManagerNotFound(cm_id)
        owned = self._view.owned_by(cm_id)
        connected = sorted({c for cid in owned for c in self._view.connections_of(cid)})
        if connected:
            raise Forbidden(
                f"components of {cm_id!r} still have connections: delete "
                f"{', '.join(connected)} first",
                cm_id=cm_id,
                connections=connected,
            )
        for comp_id in owned:
            await self.delete(comp_id)
        try:
            reply = await self._client.post_json(
                str(manager["address"]), SHUTDOWN_PATH, None, peer=cm_id, timeout=5.0
            )
        except OdenosError as err:
            raise ObjectUnavailable(
                cm_id, f"it could not be asked to stop: {err.message}"
            ) from None
        if reply.status != 200:
            raise ObjectUnavailable(cm_id, f"it refused to stop ({reply.status})")
        if not await self._view.wait_for(
            lambda: self._view.manager(cm_id) is None, self._create_timeout
        ):
            log.warning(
                "component manager %s did not stop within %g s", cm_id, self._create_timeout
            )
        log.info("component manager %s removed with %d component(s)", cm_id, len(owned))

    # --- helpers ----------------------------------------------------------------------------

    def _check_free_for_routing(self, comp_id: str) -> None:
        """``/<id>/...`` must reach the component: no manager nor core object may own the id."""
        if is_reserved(comp_id) or comp_id == self._view.manager_id:
            raise Conflict(f"{comp_id!r} is reserved for the core process", component_id=comp_id)
        if comp_id in self._view.known_manager_ids():
            raise Conflict(f"{comp_id!r} is the id of a component manager", component_id=comp_id)

    def _choose_manager(self, comp_type: str, cm_id: str | None) -> str:
        """The manager to create ``comp_type``: ``cm_id`` if it is running and offers it,
        else the least loaded running manager that offers it.  A manager that is known
        but away (restarting) is a 503, an unknown one a 400."""
        if cm_id is not None:
            if not self._view.approved(cm_id) and self._view.manager(cm_id) is not None:
                raise Conflict(
                    f"component manager {cm_id!r} is not approved to take components: "
                    f"'odenos approve {cm_id}' (or PUT component_managers/{cm_id}/approval)",
                    cm_id=cm_id,
                )
            state = self._view.manager_state(cm_id)
            if state is None and cm_id in self._view.known_manager_ids():
                raise ObjectUnavailable(cm_id, "component manager is not alive (restarting?)")
            if state is None:
                raise BadRequest(
                    f"component manager {cm_id!r} is not registered (alive: "
                    f"{', '.join(self._view.manager_ids()) or 'none'})",
                    cm_id=cm_id,
                )
            if state != ObjectState.RUNNING.value:
                raise ObjectUnavailable(cm_id, f"component manager is {state}")
        types = self._view.component_types()
        if comp_type not in types:
            known = ", ".join(sorted(types)) or "none: no component manager is running"
            raise BadRequest(
                f"unknown component type {comp_type!r} (known: {known})", type=comp_type
            )
        offering: list[str] = types[comp_type]["cm_id"]
        if cm_id is not None:
            if cm_id not in offering:
                raise BadRequest(
                    f"component manager {cm_id!r} cannot create {comp_type!r} "
                    f"(offered by: {', '.join(offering)})",
                    cm_id=cm_id,
                    type=comp_type,
                )
            return cm_id
        return min(offering, key=lambda m: (self._view.load_of(m), m))

    async def _update_policy(
        self, comp_id: str, existing: tuple[dict[str, Any], NodeStat], policy: dict[str, Any]
    ) -> tuple[dict[str, Any], NodeStat]:
        """A PUT of an existing component may change its restart policy (only that)."""
        data, stat = existing
        record = {**data, **policy}
        new = await self._zk.set(paths.desired_component(comp_id), record, stat.version)
        log.info("component %s: restart policy %s", comp_id, policy)
        # Answer from caches that show it (a client reading right after sees it too).
        await self._view.wait_for(
            lambda: all(
                (self._view.desired_component(comp_id) or {}).get(k) == v for k, v in policy.items()
            ),
            self._create_timeout,
        )
        return record, new

    async def reassign(self, move: Move) -> bool:
        """Give ``move.comp_id`` to ``move.to_cm`` if its record still names
        ``move.from_cm`` (version-checked: never twice, never over another's change).
        True if this call moved it."""
        async with self._serial(move.comp_id):
            current = await self._read(move.comp_id)
            if current is None or current[0].get("cm_id") != move.from_cm:
                return False
            data, stat = current
            try:
                await self._zk.set(
                    paths.desired_component(move.comp_id),
                    {**data, "cm_id": move.to_cm},
                    stat.version,
                )
            except NodeVersionMismatch:
                return False
            return True

    @property
    def _deadline(self) -> float:
        return outcome_deadline(self._zk, self._create_timeout)

    async def _read(self, comp_id: str) -> tuple[dict[str, Any], NodeStat] | None:
        return await read_record(self._zk, paths.desired_component(comp_id))

    async def _confirm_existing(
        self,
        comp_id: str,
        existing: dict[str, Any],
        czxid: int,
        comp_type: str,
        cm_id: str | None,
    ) -> dict[str, Any]:
        if existing.get("type") != comp_type or (
            cm_id is not None and existing.get("cm_id") != cm_id
        ):
            raise Conflict(
                f"component {comp_id!r} exists as {existing.get('type')!r} on "
                f"{existing.get('cm_id')!r}",
                component_id=comp_id,
            )
        owner = str(existing.get("cm_id"))
        if self._view.manager(owner) is None:
            raise ObjectUnavailable(comp_id, f"component manager {owner!r} is not alive")
        return await self._await_created(comp_id, owner, czxid, rollback=False)

    async def _await_created(
        self, comp_id: str, cm_id: str, czxid: int, *, rollback: bool
    ) -> dict[str, Any]:
        """Until the component ``czxid`` (its desired record's) is ``running`` on ``cm_id``;
        its property then.

        Raises :class:`Conflict` if another request deleted or replaced it meanwhile,
        :class:`ComponentCreateFailed` (500) or :class:`ComponentTimeout` (504); with
        ``rollback`` the record is then removed, if it still is ours (never another's)."""
        seen = False
        outcome: tuple[str, dict[str, Any]] = ("pending", {})

        def settled() -> bool:
            # Every cache the answer is built from: the desired record, the manager
            # (running, so that the component is reachable when we say 201), the live node
            # of *this* component (not the one it replaced, which may still be going).
            nonlocal seen, outcome
            generation = self._view.desired_generation(comp_id)
            if (generation is None and seen) or generation not in (None, czxid):
                outcome = ("replaced", {})  # deleted or replaced by another request
                return True
            if generation is None:
                return False
            seen = True
            if self._view.manager_state(cm_id) != ObjectState.RUNNING.value:
                return False
            live = self._view.live_component(cm_id, comp_id) or {}
            if live.get("generation") == czxid and live.get("state") in (
                ObjectState.RUNNING.value,
                ObjectState.ERROR.value,
            ):
                # The answer as of this moment: a DELETE may follow at once.
                answer = self._view.component_property(comp_id)
                outcome = (str(live["state"]), answer if live["state"] == "running" else live)
                return True
            return False

        # Decided in the predicate: the caches may move on before this task resumes.
        ok = await self._view.wait_for(settled, self._create_timeout)
        result, live = outcome
        if result == ObjectState.RUNNING.value:
            return live
        replaced = Conflict(
            f"component {comp_id!r} was deleted or replaced by another request before it "
            "was running",
            component_id=comp_id,
        )
        if result == "replaced":
            raise replaced
        # It did not come up (in time): ours to undo if we created it; never another's.
        still_ours = await self._rollback(comp_id, czxid) if rollback else True
        if still_ours is False:
            raise replaced
        if not ok:
            raise ComponentTimeout(comp_id, f"running on {cm_id}", self._create_timeout)
        raise ComponentCreateFailed(comp_id, str(live.get("error") or "initialization failed"))

    async def _rollback(self, comp_id: str, czxid: int) -> bool | None:
        """Remove our desired record ``czxid`` (a create that is answered with an error).
        True if it was still ours, False if another request had deleted or replaced it,
        None if ZooKeeper did not say: then it is removed in the background as soon as
        ZooKeeper answers, so that the error the client gets stays true."""
        path = paths.desired_component(comp_id)
        async with self._serial(comp_id):
            try:
                deleted = await delete_exactly(self._zk, path, czxid, self._deadline)
            except CoordinationUnavailable:
                delete_when_reachable(self._zk, path, czxid)
                return None
        if deleted:
            # Answered once our cache has seen it too: a GET right after the error must
            # not find the record (the deletion's watch event and the answer to the delete
            # reach this process on different threads, in either order).
            await self._view.wait_for(
                lambda: self._view.desired_generation(comp_id) != czxid, self._create_timeout
            )
        return deleted


def _restart_policy(body: dict[str, Any]) -> dict[str, Any]:
    """``restart_policy`` (``stay`` or ``reassign``) and ``reassign_after`` (seconds) of a
    PUT body, checked; empty if the body names neither."""
    policy: dict[str, Any] = {}
    if "restart_policy" in body:
        if body["restart_policy"] not in POLICIES:
            raise BadRequest(
                f"restart_policy must be one of {', '.join(POLICIES)}, "
                f"not {body['restart_policy']!r}",
                field="restart_policy",
            )
        policy["restart_policy"] = body["restart_policy"]
    if "reassign_after" in body:
        after = body["reassign_after"]
        if isinstance(after, bool) or not isinstance(after, int | float) or not 0 <= after <= 86400:
            raise BadRequest(
                "reassign_after must be a number of seconds from 0 to 86400",
                field="reassign_after",
            )
        policy["reassign_after"] = after
    return policy
