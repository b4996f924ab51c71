"""What the logic components share: their calls to the networks and the following of
flow statuses.

The model is ODENOS's ``Logic`` (``Logic.java``), the base class of its Aggregator,
Slicer, Federator, LinkLayerizer and LearningSwitch.  Here:

* :class:`NetworkAnswer`, the error a logic component raises when a network does not
  answer as expected;
* :class:`Logic`, their base class: the requests to a network (:meth:`Logic._get`,
  :meth:`Logic._delete`, :meth:`Logic._post` of a packet), the build from the networks
  retried with a growing delay (:meth:`Logic._build_or_retry`), the event dispatch that
  logs what a network did not answer and leaves it to the next event
  (:meth:`Logic.on_event`), and the following of a flow's status through the network's
  status machine (:meth:`Logic._follow`, :meth:`Logic._set_status`,
  :meth:`Logic._set_failed`), remembering which teardowns the component set itself;
* the path of statuses a flow above takes to follow the flow below
  (:func:`status_steps`), the attribute in which it says why it failed (:data:`REASON`),
  the check of a connection's ends (:func:`connection_ends`), and small helpers for the
  JSON the networks answer with (:func:`error_code`, :func:`json_object`,
  :func:`flow_set`, :func:`failed_reason`).

What differs between the components is a hook or a class attribute: which network's
flows they follow (:meth:`Logic._followed_network`), how a flow is keyed among the own
teardowns (:meth:`Logic._teardown_key`), how a refusal reads (:meth:`Logic._refused`),
which errors a later event or build puts right (:attr:`Logic.RETRIED_ERRORS`), how long a
build is retried (:meth:`Logic._retrying`), which events are acted on
(:meth:`Logic._takes`), and what is kept once a piece of work is done
(:meth:`Logic._settle`).  Log lines go to the logger of the component's own module.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Hashable
from typing import Any, ClassVar

from odenos.components.base import Component, Response
from odenos.components.network.flow_status import ALLOWED_TRANSITIONS, FlowStatus
from odenos.errors import OdenosError
from odenos.model.event import Event

# Flow statuses, as the networks write them.
NONE, ESTABLISHING, ESTABLISHED, TEARDOWN, FAILED = (
    "none",
    "establishing",
    "established",
    "teardown",
    "failed",
)
#: The attribute of a flow in which a logic component says why it failed it.
REASON = "reason"


class NetworkAnswer(OdenosError):
    """A network did not answer as expected (unreachable, refused, malformed body).

    The message is ``network: what: problem``; without a ``problem``, the reply's status
    and body stand for it (and the status is not a detail of its own)."""

    code = "NetworkAnswer"
    status = 502

    def __init__(
        self, network_id: str, what: str, reply: Response | None, problem: str | None = None
    ) -> None:
        status = None if reply is None else reply.status
        if problem is None:
            body = None if reply is None else reply.body
            super().__init__(f"{network_id}: {what}: {status} {body}", network_id=network_id)
        else:
            super().__init__(
                f"{network_id}: {what}: {problem}", network_id=network_id, status=status
            )


class Logic(Component):
    """The base of the logic components (see the module docstring); not a component type
    of its own."""

    #: Seconds between attempts to build when a network does not answer: first, cap.
    RETRY_FIRST, RETRY_CAP = 0.5, 10.0
    #: What a later event or build puts right: logged and left by :meth:`on_event` and
    #: :meth:`_try_rebuild`.
    RETRIED_ERRORS: ClassVar[tuple[type[Exception], ...]] = (NetworkAnswer,)
    #: Logged when the build fails.
    NOT_BUILT = "cannot build from the networks yet"
    #: Whether an event not acted on has everything built again (:meth:`_repair_later`).
    REPAIRS_LATER = False

    def __init__(self, object_id: str, cm_id: str) -> None:
        super().__init__(object_id, cm_id)
        #: True once built from the networks; events are ignored before.
        self.ready = False
        self._lock = asyncio.Lock()
        self._retry: asyncio.Task[None] | None = None
        #: Flows whose teardown the component set itself (following the flow below), as
        #: :meth:`_teardown_key` keys them: not to be read as a deletion.
        self._own_teardowns: set[Any] = set()

    @property
    def _log(self) -> logging.Logger:
        return logging.getLogger(type(self).__module__)

    # --- hooks --------------------------------------------------------------------------------

    def _save(self) -> None:
        """Keep what the networks do not show (nothing here)."""

    async def _settle(self) -> None:
        """What is done once a piece of work (a build, an event) is over: :meth:`_save`."""
        self._save()

    async def _rebuild(self) -> None:
        """Build everything from the networks; raises one of :attr:`RETRIED_ERRORS` when
        they do not answer."""
        raise NotImplementedError

    def _retrying(self) -> bool:
        """Whether :meth:`_retry_rebuild` goes on trying."""
        return not self.ready

    async def _handle(self, event: Event) -> None:
        """Act on an event (under the lock, once ready)."""

    def _takes(self, event: Event) -> bool:
        """Whether :meth:`on_event` acts on ``event``."""
        return self.ready

    def _repair_later(self) -> None:
        """Build again later (with :attr:`REPAIRS_LATER`)."""

    def _followed_network(self) -> str:
        """The network whose flows follow those below, when not named."""
        raise NotImplementedError

    def _teardown_key(self, network_id: str, flow_id: str) -> Hashable:
        """How a flow of ``network_id`` is kept among the own teardowns: by its id."""
        return flow_id

    # --- building -----------------------------------------------------------------------------

    def _stop_retry(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None

    async def _build_or_retry(self) -> None:
        """Build now; if the networks do not answer, go on trying in the background."""
        self._stop_retry()
        if not await self._try_rebuild():
            self._retry = asyncio.get_running_loop().create_task(self._retry_rebuild())

    async def _try_rebuild(self) -> bool:
        async with self._lock:
            try:
                await self._rebuild()
            except self.RETRIED_ERRORS as exc:
                self._log.warning("%s: %s: %s", self.id, self.NOT_BUILT, exc)
                return False
            finally:
                await self._settle()
        return True

    async def _retry_rebuild(self) -> None:
        delay = self.RETRY_FIRST
        while self._retrying():
            await asyncio.sleep(delay)
            if await self._try_rebuild():
                return
            delay = min(delay * 2, self.RETRY_CAP)

    # --- events -------------------------------------------------------------------------------

    async def on_event(self, event: Event) -> None:
        async with self._lock:
            if not self._takes(event):
                return
            try:
                await self._handle(event)
            except self.RETRIED_ERRORS as exc:
                # The next event about the same object, or a rebuild, puts it right.
                self._log.warning(
                    "%s: %s from %s not acted on%s: %s",
                    self.id,
                    event.event_type,
                    event.publisher_id,
                    " (built again later)" if self.REPAIRS_LATER else "",
                    exc,
                )
                if self.REPAIRS_LATER:
                    self._repair_later()
            finally:
                await self._settle()

    # --- requests -----------------------------------------------------------------------------

    def _refused(self, network_id: str, what: str, reply: Response) -> NetworkAnswer:
        """The error for a reply that is not what was asked for."""
        return NetworkAnswer(network_id, what, reply, str(reply.body))

    async def _get(self, network_id: str, path: str, missing: bool = False) -> Any:
        """``GET path`` of the network: the body; None for a 404 of the network's own when
        ``missing`` (the object does not exist).  Raises NetworkAnswer otherwise."""
        reply = await self.request(network_id, "GET", path)
        if reply.status == 200:
            return reply.body
        if missing and reply.status == 404 and error_code(reply) == "NotFound":
            return None
        raise self._refused(network_id, f"GET {path}", reply)

    async def _delete(self, network_id: str, path: str) -> bool:
        """``DELETE path``: True when it is gone or going (200, 202, 404); other answers
        are logged."""
        reply = await self.request(network_id, "DELETE", path)
        if reply.status in (200, 202) or (reply.status == 404 and error_code(reply) == "NotFound"):
            return True
        self._log.warning(
            "%s: DELETE %s/%s: %s %s", self.id, network_id, path, reply.status, reply.body
        )
        return False

    async def _post(self, network_id: str, queue: str, packet: dict[str, Any]) -> None:
        """``POST packets/<queue>`` of the network; a refusal is logged."""
        reply = await self.request(network_id, "POST", f"packets/{queue}", packet)
        if reply.status != 200:
            self._log.warning("%s: POST %s/packets/%s: %s", self.id, network_id, queue, reply.body)

    # --- flow statuses ------------------------------------------------------------------------

    async def _follow(
        self, flow: dict[str, Any], target: str, reason: str | None, network_id: str | None = None
    ) -> dict[str, Any] | None:
        """Take ``flow`` (of ``network_id``, else of :meth:`_followed_network`) to status
        ``target`` step by step; the flow as stored after the last step, or None if a step
        was refused (the flow changed or went away meanwhile: the event of that change
        brings the component back)."""
        current: dict[str, Any] | None = flow
        for step in status_steps(str(flow.get("status")), target):
            if current is None:
                return None
            current = await self._set_status(current, step, reason, network_id)
        return current

    async def _set_status(
        self,
        flow: dict[str, Any],
        status: str,
        reason: str | None = None,
        network_id: str | None = None,
    ) -> dict[str, Any] | None:
        """PUT ``flow`` (of ``network_id``, else of :meth:`_followed_network`) with
        ``status`` (and, for ``failed``, the ``reason`` attribute; any other status drops
        it), at the version seen.  The flow as stored, or None when it changed meanwhile
        (409) or is gone.  A teardown set here is remembered as the component's own."""
        network = self._followed_network() if network_id is None else network_id
        flow_id = str(flow.get("flow_id"))
        raw = flow.get("attributes")
        attributes = dict(raw) if isinstance(raw, dict) else {}
        attributes.pop(REASON, None)
        if status == FAILED and reason is not None:
            attributes[REASON] = reason
        body = {**flow, "status": status, "attributes": attributes}
        reply = await self.request(network, "PUT", f"flows/{flow_id}", body)
        if reply.status in (200, 201) and isinstance(reply.body, dict):
            key = self._teardown_key(network, flow_id)
            if status == TEARDOWN:
                self._own_teardowns.add(key)
            else:
                self._own_teardowns.discard(key)
            self._log.info("%s: flow %s of %s is %s", self.id, flow_id, network, status)
            return reply.body
        if reply.status not in (404, 409):
            self._log.warning("%s: setting flow %s to %s: %s", self.id, flow_id, status, reply.body)
        return None

    async def _set_failed(
        self, flow: dict[str, Any], reason: str, network_id: str | None = None
    ) -> None:
        """Set ``flow`` ``failed`` with ``reason``, unless it is so already."""
        attributes = flow.get("attributes")
        current = attributes.get(REASON) if isinstance(attributes, dict) else None
        if flow.get("status") == FAILED and current == reason:
            return
        if await self._set_status(flow, FAILED, reason, network_id) is not None:
            self._log.info("%s: flow %s failed: %s", self.id, flow.get("flow_id"), reason)


def connection_ends(
    connection: dict[str, Any], kinds: tuple[str, ...], taker: str
) -> tuple[str, str]:
    """A connection's ``connection_type`` (one of ``kinds``) and ``network_id``, checked;
    ``taker`` names the component in the error (``"an Aggregator"``)."""
    kind, network_id = connection.get("connection_type"), connection.get("network_id")
    if kind not in kinds:
        listed = " and ".join(
            part for part in (", ".join(repr(k) for k in kinds[:-1]), repr(kinds[-1])) if part
        )
        raise ValueError(f"{taker} takes {listed} connections, not {kind!r}")
    if not isinstance(network_id, str) or not network_id:
        raise ValueError(f"connection {connection.get('id')!r} names no network")
    return str(kind), network_id


def error_code(reply: Response) -> str | None:
    """The ``error`` field of an error answer."""
    return reply.body.get("error") if isinstance(reply.body, dict) else None


def json_object(body: Any, network_id: str, what: str) -> dict[str, Any]:
    """``body``, checked to be a JSON object (the answer to ``GET what``)."""
    if not isinstance(body, dict):
        raise NetworkAnswer(network_id, f"GET {what}", None, "not a JSON object")
    return body


def flow_set(body: Any, network_id: str) -> dict[str, Any]:
    """The ``flows`` of a ``GET flows`` answer (a FlowSet)."""
    return json_object(json_object(body, network_id, "flows").get("flows"), network_id, "flows")


def failed_reason(below: dict[str, Any], flow_id: str, network_id: str) -> str:
    """Why flow ``flow_id`` of ``network_id`` (``below``, failed) failed: its ``reason``
    attribute, or a sentence naming it."""
    attributes = below.get("attributes")
    given = attributes.get(REASON) if isinstance(attributes, dict) else None
    return str(given) if given else f"flow {flow_id!r} of {network_id!r} failed"


def status_steps(current: str, target: str) -> list[str]:
    """The statuses to PUT, in order, to take a flow above (an aggregated flow, say)
    from ``current`` to the ``target`` of the flow below through the network's status
    machine.

    Mostly one step (the original moved one step, and the aggregated follows);
    more when steps were missed, for instance after a restart: ``none`` to
    ``established`` is ``establishing, established``.  ``failed`` is never passed
    through (it is reached, always allowed, only when it is the target).  Empty
    when there is nothing to do or nothing sensible: an unknown status, or an
    original tearing down a flow the aggregated network never saw installed
    (``none`` to ``teardown``).
    """
    try:
        start, goal = FlowStatus(current), FlowStatus(target)
    except ValueError:
        return []
    if start == goal or (start == FlowStatus.NONE and goal == FlowStatus.TEARDOWN):
        return []
    if goal == FlowStatus.FAILED:
        return [goal.value]
    came_from: dict[FlowStatus, FlowStatus] = {}
    queue = deque([start])
    while queue:
        at = queue.popleft()
        if at == goal:
            steps: list[str] = []
            while at != start:
                steps.append(at.value)
                at = came_from[at]
            return steps[::-1]
        for nxt in sorted(ALLOWED_TRANSITIONS[at]):
            if nxt != FlowStatus.FAILED and nxt != start and nxt not in came_from:
                came_from[nxt] = at
                queue.append(nxt)
    return []
