"""The base class of every component type (Network, drivers, logic components).

A component lives inside a component manager process and runs on that
process's asyncio loop: every hook and handler below is a coroutine called on
the loop, and must not block it.  A component knows nothing of HTTP or
ZooKeeper: the manager turns an HTTP request into a :class:`Request`, calls
:meth:`Component.dispatch`, and renders the :class:`Response` (or the
:class:`~odenos.errors.OdenosError` it raises) as JSON.

Request routing is declared on the methods with :func:`route`::

    class Echo(Component):
        TYPE = "Echo"

        @route("GET", "echo/<word>")
        async def echo(self, request: Request, word: str) -> Response:
            return Response(200, {"word": word})
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

from odenos.components.state import ComponentState
from odenos.errors import BadRequest, MethodNotAllowed, NotFound, OdenosError
from odenos.model.event import Event, change_body
from odenos.model.property import ObjectProperty, ObjectState, parse_state

_PARAM = re.compile(r"<([A-Za-z_][A-Za-z0-9_]*)>")

#: The base class's records in :attr:`Component.state`.
SETTINGS_KEY = "_settings"
PROPERTY_KEY = "_property"


@dataclass(frozen=True)
class Request:
    """A request addressed to one object.

    ``path`` is what follows ``/<object_id>/`` in the URL, without a leading
    slash (``"topology/nodes/node001"``); ``body`` is the parsed JSON body or
    ``None`` when the request had none.
    """

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    body: Any = None

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object, or :class:`BadRequest` naming what was sent instead."""
        if not isinstance(self.body, dict):
            raise BadRequest(
                f"{self.method} {self.path} needs a JSON object body, got "
                f"{type(self.body).__name__ if self.body is not None else 'no body'}"
            )
        return self.body


@dataclass(frozen=True)
class Response:
    status: int
    body: Any = None


class EventPort(Protocol):
    """What a component's manager gives it to publish and subscribe (see
    :mod:`odenos.events`)."""

    def publish(self, event: Event) -> None:
        """Queue ``event`` for every subscriber; never blocks, never raises."""

    async def set_filters(self, subscriber_id: str, filters: dict[str, list[str]]) -> None:
        """Store ``subscriber_id``'s subscriptions (all of them, replacing the old ones)."""


class CallPort(Protocol):
    """What a component's manager gives it to call other objects (see
    :mod:`componentmanager.calls`)."""

    async def request(
        self,
        object_id: str,
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, str] | None = None,
    ) -> Response:
        """Call ``/<object_id>/<path>``; errors come back as a Response, never raised."""
        ...


C = TypeVar("C", bound="Component")
Handler = Callable[..., Awaitable[Response]]


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: str
    regex: re.Pattern[str]
    handler_name: str


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    """Declare ``handler`` as the answer to ``method`` on paths matching ``pattern``.

    ``<name>`` in ``pattern`` matches one path segment and is passed to the
    handler as the keyword argument ``name``.
    """

    def decorate(handler: Handler) -> Handler:
        routes: list[tuple[str, str]] = getattr(handler, "_odenos_routes", [])
        routes.append((method.upper(), pattern.strip("/")))
        handler._odenos_routes = routes  # type: ignore[attr-defined]
        return handler

    return decorate


def _compile(pattern: str) -> re.Pattern[str]:
    parts = []
    last = 0
    for m in _PARAM.finditer(pattern):
        parts.append(re.escape(pattern[last : m.start()]))
        parts.append(f"(?P<{m.group(1)}>[^/]+)")
        last = m.end()
    parts.append(re.escape(pattern[last:]))
    return re.compile("^" + "".join(parts) + "$")


class Component:
    """A component instance.  Subclasses set the class attributes and add routes.

    Class attributes:
      ``TYPE``: the component type name clients use (``"Network"``);
      ``SUPER_TYPE``: the reference's ``super_type`` (defaults to ``TYPE``);
      ``DESCRIPTION``: one line for ``GET component_types``;
      ``CONNECTION_TYPES``: ``{connection_type: "1" | "*"}``.
    """

    TYPE: ClassVar[str] = "Component"
    SUPER_TYPE: ClassVar[str | None] = None
    DESCRIPTION: ClassVar[str] = ""
    CONNECTION_TYPES: ClassVar[dict[str, str]] = {}

    _routes: ClassVar[list[_Route]] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        routes: list[_Route] = []
        seen: set[str] = set()
        # Subclass routes first so that a subclass may override a pattern.
        for klass in cls.__mro__:
            for name, attr in vars(klass).items():
                if name in seen:
                    continue
                for method, pattern in getattr(attr, "_odenos_routes", []):
                    routes.append(_Route(method, pattern, _compile(pattern), name))
                seen.add(name)
        cls._routes = routes

    def __init__(self, object_id: str, cm_id: str) -> None:
        self.id = object_id
        self.cm_id = cm_id
        self.property = ObjectProperty(
            id=object_id,
            type=self.TYPE,
            super_type=self.SUPER_TYPE or self.TYPE,
            description=self.DESCRIPTION,
            cm_id=cm_id,
            connection_types=dict(self.CONNECTION_TYPES),
        )
        self.settings: dict[str, Any] = {}
        #: Durable records: what survives the manager's crash (see :mod:`.state`).
        self.state = ComponentState(object_id)
        #: The connections this component holds as their logic component, by id.
        self.connections: dict[str, dict[str, Any]] = {}
        #: Called with the new state whenever the property's state changes; the
        #: component manager sets it to publish the state in ZooKeeper.
        self.state_listener: Callable[[ObjectState], None] | None = None
        #: Set by the component manager; None while the component is not hosted.
        self.events: EventPort | None = None
        self.calls: CallPort | None = None
        #: What this component subscribes to: ``{publisher_id: [event_type, ...]}``.
        self.event_filters: dict[str, list[str]] = {}

    @classmethod
    def type_info(cls) -> dict[str, Any]:
        """This type as ``GET component_types`` describes it (without ``cm_id``)."""
        return {
            "type": cls.TYPE,
            "super_type": cls.SUPER_TYPE or cls.TYPE,
            "connection_types": dict(cls.CONNECTION_TYPES),
            "description": cls.DESCRIPTION,
        }

    # --- lifecycle hooks: override ----------------------------------------------------------

    async def on_initialize(self) -> None:
        """Prepare the component.  Raising makes the creation fail (state ``error``)."""

    async def on_finalize(self) -> None:
        """Release what the component holds; called once before it is dropped."""

    async def on_event(self, event: Event) -> None:
        """An event this component subscribed to.  Events of one publisher arrive in the
        order it published them, one at a time; an exception is logged and counted, and
        the next event comes all the same."""

    async def on_connection_added(self, connection: dict[str, Any]) -> None:
        """A connection names this component as its logic: check it and take it (the
        reference's pre-check).  Raise to refuse it: the connection goes to ``error``
        with the exception's message as its reason.  Also called for the connections
        that are already ``running`` when the component is re-created after its
        manager restarted, so that it can rebuild what it derives from them."""

    async def on_connection_updated(self, connection: dict[str, Any]) -> None:
        """A held connection changed (its free attributes: what it connects cannot)."""

    async def on_connection_deleted(self, connection: dict[str, Any]) -> None:
        """Let go of the connection (unsubscribe, clean up); it becomes ``none``."""

    # --- events -----------------------------------------------------------------------------

    def publish(self, event_type: str, body: dict[str, Any]) -> None:
        """Send an event to this component's subscribers (queued; returns at once)."""
        if self.events is not None:
            self.events.publish(Event(self.id, event_type, body))

    def publish_change(
        self,
        event_type: str,
        action: str,
        prev: dict[str, Any] | None,
        curr: dict[str, Any] | None,
        **extra: Any,
    ) -> None:
        """Publish a change event (``action``, ``prev``, ``curr`` and ``extra`` keys)."""
        self.publish(event_type, change_body(action, prev, curr, **extra))

    async def subscribe(self, publisher_id: str, event_types: list[str]) -> None:
        """Receive ``publisher_id``'s events of these types (added to what it had)."""
        types = self.event_filters.setdefault(publisher_id, [])
        types.extend(t for t in event_types if t not in types)
        await self._store_filters()

    async def unsubscribe(self, publisher_id: str) -> None:
        """Receive nothing more from ``publisher_id``."""
        if self.event_filters.pop(publisher_id, None) is not None:
            await self._store_filters()

    async def request(
        self,
        object_id: str,
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, str] | None = None,
    ) -> Response:
        """Call another object (``/<object_id>/<path>``), wherever it runs.  An error (the
        object unknown, not alive, or refusing) comes back as a Response with its status."""
        if self.calls is None:
            return Response(503, {"error": "Unavailable", "message": f"{self.id} is not hosted"})
        return await self.calls.request(object_id, method, path, body, query)

    async def _store_filters(self) -> None:
        if self.events is not None:
            await self.events.set_filters(self.id, self.event_filters)

    # --- lifecycle, called by the component manager -----------------------------------------

    async def initialize(self) -> None:
        """Restore the settings and property a client put (from :attr:`state`), then
        ``on_initialize``."""
        settings = self.state.get(SETTINGS_KEY)
        if isinstance(settings, dict):
            self.settings = dict(settings)
        stored = self.state.get(PROPERTY_KEY)
        if isinstance(stored, dict):
            self.property.description = str(stored.get("description", ""))
            self.property.extra = dict(stored.get("extra", {}))
        try:
            await self.on_initialize()
        except Exception:
            self._set_state(ObjectState.ERROR)
            raise
        self._set_state(ObjectState.RUNNING)

    async def finalize(self) -> None:
        if self.property.state == ObjectState.RUNNING:
            self._set_state(ObjectState.FINALIZING)
        await self.on_finalize()

    def _set_state(self, state: ObjectState) -> None:
        old = self.property.state
        self.property.set_state(state)
        if old != state and self.state_listener is not None:
            self.state_listener(state)

    # --- request routing --------------------------------------------------------------------

    async def dispatch(self, request: Request) -> Response:
        """Answer ``request`` with the handler whose pattern matches its path.

        Raises :class:`NotFound` when no pattern matches, and
        :class:`MethodNotAllowed` when patterns match but not for this method.
        """
        path = request.path.strip("/")
        # HEAD is a GET whose body is not sent (the HTTP layer drops it).
        method = "GET" if request.method == "HEAD" else request.method
        allowed: list[str] = []
        for r in self._routes:
            m = r.regex.match(path)
            if m is None:
                continue
            if r.method != method:
                allowed.append(r.method)
                if r.method == "GET":
                    allowed.append("HEAD")
                continue
            handler: Handler = getattr(self, r.handler_name)
            return await handler(request, **m.groupdict())
        if allowed:
            raise MethodNotAllowed(
                f"{request.method} is not allowed on {self.id}/{path}",
                allowed=sorted(set(allowed)),
            )
        raise NotFound(f"{self.id} has no resource {path!r}", path=path)

    # --- routes every object answers --------------------------------------------------------

    @route("GET", "property")
    async def get_property(self, request: Request) -> Response:
        return Response(200, self.property.to_json())

    @route("PUT", "property")
    async def put_property(self, request: Request) -> Response:
        body = request.json_object()
        state = parse_state(body["state"]) if "state" in body else None
        kept = (self.property.description, dict(self.property.extra))
        self.property.update_from({k: v for k, v in body.items() if k != "state"})
        # Finalizing is how a client deletes the component (its records go with it): what
        # else the body changes is answered, not stored.
        going = state == ObjectState.FINALIZING and self.property.state != state
        if (self.property.description, self.property.extra) != kept and not going:
            record = {"description": self.property.description, "extra": self.property.extra}
            try:
                self.state.put(PROPERTY_KEY, record)
            except OdenosError:
                self.property.description, self.property.extra = kept
                raise
        if state is not None:
            self._set_state(state)
        return Response(200, self.property.to_json())

    @route("GET", "settings")
    async def get_settings(self, request: Request) -> Response:
        return Response(200, dict(self.settings))

    @route("PUT", "settings")
    async def put_settings(self, request: Request) -> Response:
        settings = dict(request.json_object())
        self.state.put(SETTINGS_KEY, settings)  # refused (413) before anything changes
        self.settings = settings
        return Response(200, dict(self.settings))
