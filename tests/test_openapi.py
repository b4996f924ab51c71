"""The OpenAPI description (``odenos/http/openapi.yaml``) against the routes the code serves.

Both ways: every route that the translator, the system manager, a component manager
and the built-in component types serve is described, and every operation described is
served, so the description neither forgets a route nor promises one that does not exist.
Paths are compared with their parameters' names erased (``/{}/topology/nodes/{}``), and
below the object id a parameter of the code takes any segment of the description: the
Network serves the reference's ``packets/in`` and ``packets/out`` as ``packets/<queue>``.

The routes are read from the code itself: the translator's and a component manager's
aiohttp apps (building one calls nothing on the objects it is given), the system
manager's ``RouteTableDef``, and the components' ``@route`` tables.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, ClassVar, cast

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

import componentmanager.api
import systemmanager.api
import systemmanager.eventmanager
from componentmanager.manager import ComponentManager
from componentmanager.plugins import BUILTIN_TYPES
from odenos.cluster import EVENT_MANAGER_ID, ClusterView
from odenos.components.base import Component
from odenos.config import DEFAULT_MANAGER_ID
from odenos.errors import BadRequest
from odenos.http.client import InternalClient
from odenos.http.forward import Forwarder
from odenos.http.openapi import load_spec
from odenos.http.signing import Signer
from odenos.zk.client import Coordinator
from resttranslator.app import RestTranslator
from resttranslator.events import RestSubscriptions

Client = TestClient[web.Request, web.Application]

#: The operations of an OpenAPI path item.
SPEC_METHODS = ("get", "put", "post", "delete", "patch", "options", "trace")
#: What the description must document for a route that takes any method (``*``).
ANY_METHOD = ("GET", "PUT", "POST", "DELETE")


class AnyComponent(Component):
    """A component type with nothing of its own: the routes every component answers
    (the base class gathers its routes only into its subclasses' tables)."""

    TYPE: ClassVar[str] = "AnyComponent"


def normalise(path: str) -> str:
    """``path`` with its parameters' names (and aiohttp's ``:regex``) erased."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def covers(served: str, described: str) -> bool:
    """Whether the code's route ``served`` takes the requests for the path ``described``:
    the same object id and length; then each segment equal, or a parameter of ``served``."""
    ours, theirs = normalise(served).split("/"), normalise(described).split("/")
    return (
        len(ours) == len(theirs)
        and ours[:2] == theirs[:2]
        and all(a in (b, "{}") for a, b in zip(ours[2:], theirs[2:], strict=True))
    )


def component_path(pattern: str, prefix: str) -> str:
    """A component route's pattern (``topology/nodes/<node_id>``) as a URL path."""
    return f"/{{{prefix}}}/" + re.sub(r"<(\w+)>", r"{\1}", pattern)


# --- what the code serves ----------------------------------------------------------------------

Route = tuple[str, str]  # (method, path as the code writes it)


def translator_routes() -> tuple[list[Route], list[Route]]:
    """(the translator's own routes, its catch-alls), GET standing for HEAD too."""
    events = RestSubscriptions(
        cast(Coordinator, None), cast(ClusterView, None), InternalClient(1.0), lambda: ""
    )
    translator = RestTranslator(cast(ClusterView, None), cast(Forwarder, None), events=events)
    own: list[Route] = []
    catch_all: list[Route] = []
    for route in translator.build_app().router.routes():
        if route.method == "HEAD":
            continue
        found = (route.method, route.resource.canonical if route.resource else "")
        (catch_all if route.handler == translator.handle else own).append(found)
    return own, catch_all


def system_manager_routes() -> list[Route]:
    """The system manager's and the event manager's (both served by the core process)."""
    return [
        (r.method, f"/{DEFAULT_MANAGER_ID}{r.path}")
        for r in systemmanager.api.routes
        if isinstance(r, web.RouteDef)
    ] + [
        (r.method, f"/{EVENT_MANAGER_ID}{r.path}")
        for r in systemmanager.eventmanager.routes
        if isinstance(r, web.RouteDef)
    ]


def component_manager_routes() -> list[Route]:
    """The manager's own routes; its liveness probe ``/``, its event intake ``/_events``
    and its ``/metrics`` (manager to manager, or scraped directly: the translator does not
    serve them) and its dispatch to components (see :func:`component_routes`) left out."""
    stand_in = cast(ComponentManager, SimpleNamespace(cm_id="romgr1"))
    routes: list[Route] = []
    for route in componentmanager.api.build_app(stand_in, Signer()).router.routes():
        internal = route.resource is not None and (
            route.resource.canonical.startswith("/_") or route.resource.canonical == "/metrics"
        )
        if (
            route.method == "HEAD"
            or internal
            or route.handler
            in (
                componentmanager.api.root,
                componentmanager.api.receive_events,
                componentmanager.api.shutdown,
                componentmanager.api.component_request,
            )
        ):
            continue
        assert route.resource is not None
        path = route.resource.canonical
        assert path.startswith("/romgr1/"), path
        routes.append((route.method, "/{cm_id}" + path.removeprefix("/romgr1")))
    return routes


def _id_name(cls: type[Component]) -> str:
    return "component_id" if cls is AnyComponent else f"{cls.TYPE.lower()}_id"


def component_routes() -> list[Route]:
    """What every component answers, and what each built-in type adds."""
    types: list[type[Component]] = [AnyComponent, *BUILTIN_TYPES]
    return sorted(
        {(r.method, component_path(r.pattern, _id_name(cls))) for cls in types for r in cls._routes}
    )


TRANSLATOR_OWN, TRANSLATOR_CATCH_ALL = translator_routes()
SERVED: list[Route] = [
    *TRANSLATOR_OWN,
    *system_manager_routes(),
    *component_manager_routes(),
    *component_routes(),
]


# --- what the description says -----------------------------------------------------------------


def spec_operations() -> list[Route]:
    return [
        (method.upper(), path)
        for path, item in load_spec()["paths"].items()
        for method in SPEC_METHODS
        if method in item
    ]


def resolve(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj``, or what its local ``$ref`` points at."""
    ref = obj.get("$ref")
    if ref is None:
        return obj
    assert ref.startswith("#/"), ref
    target: Any = load_spec()
    for part in ref[2:].split("/"):
        target = target[part]
    return resolve(target)


# --- the description itself --------------------------------------------------------------------


def test_description_is_valid_openapi() -> None:
    validate(load_spec())


#: Strings to try each pattern of the description against the rule of the code.
SAMPLES = (
    "n0",
    "network0",
    "a.b-c_d",
    "0",
    "-a",
    ".",
    "..",
    "...",
    "...x",
    "a/b",
    "a b",
    "a\x00",
    "\x7f",
    "",
    "x" * 128,
    "x" * 129,
    "of:0000000000000001",
    "Ñ",
    "NodeChanged",
    "_x",
    "n0\n",
    "a=1",
    "a=1,b=2",
    '"a=1","b=2"',
    "a=1,",
    ",a=1",
    " =1",
    "''=1",
    "a",
    "a=b=c",
    " ",
    "\t\r\n",
    " x ",
    "\x1c",
    "\u00a0",
    "12",
    '"12"',
    '1"2',
    '"',
    "1 2",
    "-1",
    "\u0663",
    "type=OFPFlowMatch,eth_type=2048",
    'type="OFPFlowMatch", in_node = n1',
    "type=OFPFlowMatch,,x=1",
    "k=",
    '"k"="v"',
    "\u00a0=1",
)


def _agrees(pattern: str, rule: Callable[[str], object]) -> None:
    # JSON Schema patterns are ECMA-262: ``$`` is the end of the string, Python's ``\Z``.
    ecma = re.sub(r"\$$", r"\\Z", pattern)
    for sample in SAMPLES:
        assert bool(re.search(ecma, sample)) == bool(rule(sample)), (pattern, sample)


def test_patterns_say_what_the_code_checks() -> None:
    """The description's patterns and the checks of the code admit the same strings:
    object ids, ids inside a Network (path segments), event types, attribute queries."""
    from odenos.components.network.basic_flow import parse_priority
    from odenos.components.network.objects import ATTRIBUTE_QUERY
    from odenos.components.network.objects import check_id as check_segment
    from odenos.model.event import EVENT_TYPE
    from odenos.model.ids import is_valid_id

    def accepts(check: Callable[[str, str], object]) -> Callable[[str], bool]:
        def rule(value: str) -> bool:
            try:
                check(value, "x")
            except BadRequest:
                return False
            return True

        return rule

    spec = load_spec()
    schemas, parameters = spec["components"]["schemas"], spec["components"]["parameters"]
    _agrees(parameters["ObjectId"]["schema"]["pattern"], is_valid_id)
    _agrees(schemas["Segment"]["pattern"], accepts(check_segment))
    _agrees(parameters["NodeId"]["schema"]["pattern"], accepts(check_segment))
    filters = schemas["EventFilters"]
    _agrees(filters["propertyNames"]["pattern"], is_valid_id)
    _agrees(filters["additionalProperties"]["items"]["pattern"], EVENT_TYPE.fullmatch)
    _agrees(parameters["AttributesQuery"]["schema"]["pattern"], ATTRIBUTE_QUERY.fullmatch)
    from odenos.components.network.flow_query import parse_decimal, parse_pairs
    from odenos.components.network.ofp_match import check_value

    _agrees(schemas["OFPString"]["pattern"], accepts(lambda v, w: check_value("eth_src", v, w)))
    _agrees(schemas["DecimalQuery"]["pattern"], accepts(parse_decimal))
    _agrees(schemas["SubQuery"]["pattern"], accepts(parse_pairs))
    priority = schemas["FlowFields"]["properties"]["priority"]["pattern"]
    ecma = re.sub(r"\$$", r"\\Z", priority)
    for text in ("", "0", "7", "0065535", "65535", "65536", "99999", "100000", "6553", "1e3"):
        assert bool(re.search(ecma, text)) == accepts(lambda value, _: parse_priority(value))(
            text
        ), text


def test_no_two_paths_differ_only_in_parameter_names() -> None:
    """OpenAPI forbids them (they are the same path), and the comparisons below rely on it."""
    seen: dict[str, str] = {}
    for path in load_spec()["paths"]:
        other = seen.setdefault(normalise(path), path)
        assert other == path, f"{path} and {other} are the same path"


def test_forwarded_operations_say_404_503_retry_after_and_504() -> None:
    """Every route that reaches an object may meet an unknown id, an object that is not
    alive (with ``Retry-After``) and a process that does not answer; the translator's own
    routes meet none of these."""
    own = {normalise(path) for _, path in TRANSLATOR_OWN}
    for method, path in spec_operations():
        operation = load_spec()["paths"][path][method.lower()]
        responses = operation["responses"]
        # An operation kept for ODENOS clients that always refuses says so explicitly.
        assert operation.get("x-odenos-refusal-only") or any(
            code.startswith("2") or code == "default" for code in responses
        ), f"{method} {path} has no success answer"
        if normalise(path) in own:
            continue
        for code in ("404", "503", "504"):
            assert code in responses, f"{method} {path} does not list {code}"
        unavailable = resolve(responses["503"])
        assert "Retry-After" in unavailable.get("headers", {}), f"{method} {path}: 503"


# --- both ways ---------------------------------------------------------------------------------


def test_catch_alls_are_the_object_routes() -> None:
    """The translator's only other routes send ``/<object_id>/<path>`` on: the system
    manager's, component managers' and components' routes, enumerated here."""
    assert sorted(TRANSLATOR_CATCH_ALL) == [("*", "/{object_id}"), ("*", "/{object_id}/{tail}")]


@pytest.mark.parametrize(("method", "path"), SERVED, ids=[f"{m} {p}" for m, p in SERVED])
def test_served_route_is_described(method: str, path: str) -> None:
    wanted = ANY_METHOD if method == "*" else (method,)
    described = spec_operations()
    missing = [m for m in wanted if not any(m == dm and covers(path, dp) for dm, dp in described)]
    assert not missing, f"{', '.join(missing)} {path} is served but not in openapi.yaml"


@pytest.mark.parametrize(
    ("method", "path"), spec_operations(), ids=[f"{m} {p}" for m, p in spec_operations()]
)
def test_described_operation_is_served(method: str, path: str) -> None:
    assert any(sm in (method, "*") and covers(sp, path) for sm, sp in SERVED), (
        f"openapi.yaml promises {method} {path}, which nothing serves"
    )


# --- served ------------------------------------------------------------------------------------


async def test_translator_serves_the_description(
    coordinator: Coordinator, aiohttp_client: Callable[..., Awaitable[Client]]
) -> None:
    """``GET /openapi.json`` and ``/openapi.yaml`` through the translator's app, ahead of
    the catch-all that would take them for an object's id."""
    view = ClusterView(coordinator, DEFAULT_MANAGER_ID)
    await view.start()
    http_client = InternalClient(5.0)
    forwarder = Forwarder(view, http_client, 5.0)
    try:
        client = await aiohttp_client(RestTranslator(view, forwarder).build_app())
        resp = await client.get("/openapi.json")
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "application/json"
        assert await resp.json() == load_spec()

        resp = await client.get("/openapi.yaml")
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "application/yaml"
        assert yaml.safe_load(await resp.text()) == load_spec()
    finally:
        await http_client.close()
        view.close()


def test_openflow_schemas_say_what_the_code_takes() -> None:
    """Every OpenFlow match field with its kind and bits, and every OpenFlow action with
    its parameters, as the code's tables have them."""
    from odenos.components.network.ofp_flow import ACTIONS
    from odenos.components.network.ofp_match import KEYS

    schemas = load_spec()["components"]["schemas"]
    match = schemas["OFPFlowMatch"]["properties"]
    assert set(match) == {"type", "in_node", "in_port", *KEYS}
    for key, kind in KEYS.items():
        if kind is str:
            assert match[key] == {"$ref": "#/components/schemas/OFPString"}, key
        else:
            assert (match[key]["type"], match[key]["maximum"]) == ("integer", kind), key
    action_refs = {ref["$ref"].rpartition("/")[2] for ref in schemas["OFPFlowAction"]["oneOf"]}
    assert action_refs == set(ACTIONS)
    for kind, params in ACTIONS.items():
        props = schemas[kind]["properties"]
        assert props["type"] == {"const": kind}
        assert set(params) <= set(props), kind
        for key, allowed in params.items():
            if isinstance(allowed, frozenset):
                assert set(props[key]["enum"]) == allowed, (kind, key)
            else:
                assert props[key]["maximum"] == allowed, (kind, key)
