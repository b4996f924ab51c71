"""The Network component's topology API, driven through ``Component.dispatch``."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from odenos.components.network import Network
from odenos.errors import BadRequest, Conflict, MethodNotAllowed, NotFound
from tests.support import call


def node_body(node_id: str, **attributes: Any) -> dict[str, Any]:
    return {
        "type": "Node",
        "node_id": node_id,
        "version": "0",
        "ports": {},
        "attributes": {"oper_status": "UP", **attributes},
    }


def port_body(node_id: str, port_id: str, **attributes: Any) -> dict[str, Any]:
    return {
        "type": "Port",
        "node_id": node_id,
        "port_id": port_id,
        "out_link": None,
        "in_link": None,
        "attributes": dict(attributes),
    }


def link_body(link_id: str, src: tuple[str, str], dst: tuple[str, str]) -> dict[str, Any]:
    return {
        "type": "Link",
        "link_id": link_id,
        "src_node": src[0],
        "src_port": src[1],
        "dst_node": dst[0],
        "dst_port": dst[1],
        "attributes": {},
    }


async def sample(net: Network) -> None:
    """The reference's sample session: node001/port0011 -> link0012 -> node002/port0021."""
    for node_id, port_id in (("node001", "port0011"), ("node002", "port0021")):
        assert (
            await call(net, "PUT", f"topology/nodes/{node_id}", node_body(node_id))
        ).status == 201
        resp = await call(
            net, "PUT", f"topology/nodes/{node_id}/ports/{port_id}", port_body(node_id, port_id)
        )
        assert resp.status == 201
    resp = await call(
        net,
        "PUT",
        "topology/links/link0012",
        link_body("link0012", ("node001", "port0011"), ("node002", "port0021")),
    )
    assert resp.status == 201


# --- the sample session ----------------------------------------------------------------------


async def test_sample_session_builds_linked_topology(net: Network) -> None:
    await sample(net)
    topo = (await call(net, "GET", "topology")).body
    assert topo["type"] == "Topology"
    assert set(topo["nodes"]) == {"node001", "node002"}
    assert set(topo["links"]) == {"link0012"}
    port0011 = topo["nodes"]["node001"]["ports"]["port0011"]
    port0021 = topo["nodes"]["node002"]["ports"]["port0021"]
    assert (port0011["out_link"], port0011["in_link"]) == ("link0012", None)
    assert (port0021["out_link"], port0021["in_link"]) == (None, "link0012")
    link = topo["links"]["link0012"]
    assert link == {
        "type": "Link",
        "version": "1",
        "link_id": "link0012",
        "src_node": "node001",
        "src_port": "port0011",
        "dst_node": "node002",
        "dst_port": "port0021",
        "attributes": {"oper_status": "UP", "cost": "1"},  # ODENOS's defaults
    }
    node = topo["nodes"]["node001"]
    assert (node["type"], node["version"], node["node_id"]) == ("Node", "1", "node001")
    assert node["attributes"] == {"oper_status": "UP", "vendor": "unknown"}
    assert port0011["attributes"] == {
        "oper_status": "UP",
        "vendor": "unknown",
        "is_boundary": "false",
        "physical_id": "port0011@node001",
    }


async def test_topology_version_counts_changes(net: Network) -> None:
    assert (await call(net, "GET", "topology")).body["version"] == "0"
    await sample(net)
    # 2 nodes + 2 ports + 1 link, one version step each
    assert (await call(net, "GET", "topology")).body["version"] == "5"


async def test_node_defaults_and_extra_attributes(net: Network) -> None:
    body = {"node_id": "n1", "attributes": {"vendor": "x", "colour": "blue"}}
    node = (await call(net, "PUT", "topology/nodes/n1", body)).body
    assert node["attributes"] == {"oper_status": "UP", "vendor": "x", "colour": "blue"}
    assert node["version"] == "1"
    assert node["ports"] == {}
    assert (await call(net, "GET", "topology/nodes/n1")).body == node


# --- create versus update, versions ----------------------------------------------------------


async def test_put_node_201_then_200_and_version_increments(net: Network) -> None:
    first = await call(net, "PUT", "topology/nodes/n1", node_body("n1"))
    assert (first.status, first.body["version"]) == (201, "1")
    second = await call(
        net, "PUT", "topology/nodes/n1", {**node_body("n1", vendor="v"), "version": "1"}
    )
    assert (second.status, second.body["version"]) == (200, "2")
    assert second.body["attributes"]["vendor"] == "v"


async def test_put_without_change_keeps_version(net: Network) -> None:
    await call(net, "PUT", "topology/nodes/n1", node_body("n1"))
    again = await call(net, "PUT", "topology/nodes/n1", {"attributes": {"oper_status": "UP"}})
    assert (again.status, again.body["version"]) == (200, "1")


async def test_stale_version_is_conflict_and_changes_nothing(net: Network) -> None:
    await call(net, "PUT", "topology/nodes/n1", node_body("n1"))
    await call(net, "PUT", "topology/nodes/n1", {"node_id": "n1", "attributes": {"a": "1"}})
    with pytest.raises(Conflict) as err:
        await call(net, "PUT", "topology/nodes/n1", {"version": "1", "attributes": {"a": "2"}})
    assert err.value.details["version"] == "2"
    # "0" means "I am creating it": the node exists, so this is stale too.
    with pytest.raises(Conflict):
        await call(net, "PUT", "topology/nodes/n1", node_body("n1", a="3"))
    node = (await call(net, "GET", "topology/nodes/n1")).body
    assert (node["version"], node["attributes"]["a"]) == ("2", "1")


async def test_create_ignores_the_version_as_odenos_does(net: Network) -> None:
    created = await call(net, "PUT", "topology/nodes/n1", {"version": "3"})
    assert (created.status, created.body["version"]) == (201, "1")
    with pytest.raises(Conflict):  # an update still names the stored version
        await call(net, "PUT", "topology/nodes/n1", {"version": "3"})
    assert (await call(net, "PUT", "topology/nodes/n2", {"version": ""})).status == 201


async def test_link_and_port_versions(net: Network) -> None:
    await sample(net)
    port = (await call(net, "GET", "topology/nodes/node001/ports/port0011")).body
    assert port["version"] == "2"  # created, then given its out_link
    with pytest.raises(Conflict):
        await call(
            net,
            "PUT",
            "topology/links/link0012",
            {
                **link_body("link0012", ("node001", "port0011"), ("node002", "port0021")),
                "version": "7",
            },
        )


# --- nodes -----------------------------------------------------------------------------------


async def test_post_node_generates_id_ignoring_given(net: Network) -> None:
    resp = await call(net, "POST", "topology/nodes", node_body("ignored", vendor="v"))
    assert resp.status == 200
    node_id = resp.body["node_id"]
    assert node_id != "ignored"
    uuid.UUID(node_id)
    assert (await call(net, "GET", f"topology/nodes/{node_id}")).body == resp.body
    with pytest.raises(NotFound):
        await call(net, "GET", "topology/nodes/ignored")


async def test_post_node_with_ports_rebinds_them(net: Network) -> None:
    body = {"ports": {"p1": port_body("whatever", "p1")}}
    node = (await call(net, "POST", "topology/nodes", body)).body
    assert node["ports"]["p1"]["node_id"] == node["node_id"]
    assert node["ports"]["p1"]["version"] == "1"


async def test_put_node_body_id_must_match_path(net: Network) -> None:
    with pytest.raises(BadRequest, match="does not match"):
        await call(net, "PUT", "topology/nodes/n1", node_body("n2"))


async def test_node_update_keeps_its_ports(net: Network) -> None:
    await sample(net)
    await call(net, "PUT", "topology/nodes/node001", {"attributes": {"vendor": "y"}})
    node = (await call(net, "GET", "topology/nodes/node001")).body
    assert set(node["ports"]) == {"port0011"}


async def test_get_unknown_node_is_not_found(net: Network) -> None:
    with pytest.raises(NotFound, match="nope"):
        await call(net, "GET", "topology/nodes/nope")
    # ODENOS's answer: deleting what is not there is done (200, no body).
    assert (await call(net, "DELETE", "topology/nodes/nope")).status == 200
    with pytest.raises(NotFound):  # a port of an unknown node stays a 404
        await call(net, "DELETE", "topology/nodes/nope/ports/p1")
    with pytest.raises(NotFound):
        await call(net, "PUT", "topology/nodes/nope/attributes", {"a": "b"})


async def test_node_delete_refused_while_linked_then_allowed(net: Network) -> None:
    await sample(net)
    with pytest.raises(Conflict, match="link0012") as err:
        await call(net, "DELETE", "topology/nodes/node001")
    assert err.value.details["links"] == ["link0012"]
    with pytest.raises(Conflict, match="link0012"):
        await call(net, "DELETE", "topology/nodes/node002/ports/port0021")
    deleted = await call(net, "DELETE", "topology/links/link0012")
    assert (deleted.status, deleted.body) == (200, None)
    port = (await call(net, "GET", "topology/nodes/node001/ports/port0011")).body
    assert (port["out_link"], port["in_link"]) == (None, None)
    assert (await call(net, "DELETE", "topology/nodes/node001")).status == 200
    with pytest.raises(NotFound):
        await call(net, "GET", "topology/nodes/node001")
    assert set((await call(net, "GET", "topology/nodes")).body) == {"node002"}


async def test_attribute_merge_without_version_check(net: Network) -> None:
    await call(net, "PUT", "topology/nodes/n1", node_body("n1", vendor="a", keep="k"))
    resp = await call(net, "PUT", "topology/nodes/n1/attributes", {"vendor": "b", "new": "1"})
    assert resp.status == 200
    assert resp.body["attributes"] == {"oper_status": "UP", "vendor": "b", "keep": "k", "new": "1"}
    assert resp.body["version"] == "2"
    with pytest.raises(BadRequest):
        await call(net, "PUT", "topology/nodes/n1/attributes", ["vendor"])


async def test_attribute_query_filters(net: Network) -> None:
    await call(net, "PUT", "topology/nodes/a", node_body("a", vendor="x"))
    await call(net, "PUT", "topology/nodes/b", node_body("b", vendor="y"))
    await call(
        net, "PUT", "topology/nodes/c", {"attributes": {"oper_status": "DOWN", "vendor": "x"}}
    )

    async def ids(query: str) -> set[str]:
        resp = await call(net, "GET", "topology/nodes", query={"attributes": query})
        return set(resp.body)

    assert await ids('"oper_status=UP"') == {"a", "b"}
    assert await ids("oper_status=UP,vendor=x") == {"a"}
    assert await ids("vendor=x") == {"a", "c"}
    assert await ids("vendor=z") == set()
    assert set((await call(net, "GET", "topology/nodes")).body) == {"a", "b", "c"}
    with pytest.raises(BadRequest, match="key=value"):
        await ids("vendor")


async def test_attribute_query_is_strict_about_its_form(net: Network) -> None:
    """What the OpenAPI pattern ``AttributesQuery`` admits is what the Network reads:
    quotes and blanks around pairs, keys and values are dropped; an empty pair, a pair
    without ``=`` or a key of only blanks and quotes is a 400."""
    await call(net, "PUT", "topology/nodes/a", node_body("a", vendor="x"))

    async def ids(query: str) -> set[str]:
        resp = await call(net, "GET", "topology/nodes", query={"attributes": query})
        return set(resp.body)

    assert await ids('"oper_status=UP","vendor=x"') == {"a"}
    assert await ids(" 'vendor' = \"x\" ") == {"a"}
    assert await ids("") == {"a"}  # no filter
    for bad in (
        "vendor=x,",
        ",vendor=x",
        "vendor=x,,oper_status=UP",
        " =x",
        "''=x",
        "\u0080\u00a0",
    ):
        with pytest.raises(BadRequest, match="key=value"):
            await ids(bad)


async def test_ids_in_bodies_are_path_segments(net: Network) -> None:
    """An id a body names (a link's ends, a port map's keys, a physical id) must be
    addressable in a URL: no control characters, not only dots."""
    for bad in ("a\x00b", "..", ".", "a/b", "\x7f"):
        with pytest.raises(BadRequest):
            await call(net, "PUT", "topology/nodes/n", {"ports": {bad: {}}})
        with pytest.raises(BadRequest):
            await call(net, "PUT", "topology/nodes/n", {"attributes": {"physical_id": bad}})
    assert await call(net, "PUT", "topology/nodes/n", {"ports": {"...x": {}}})


async def test_integral_numbers_and_string_attributes(net: Network) -> None:
    """JSON does not tell 3 from 3.0: a version 0.0 is the version 0; the attributes
    ODENOS defines as strings are strings (or null)."""
    created = await call(net, "PUT", "topology/nodes/n", {"version": 0.0})
    assert created.status == 201
    assert (await call(net, "PUT", "topology/nodes/n", {"version": 1.0})).status == 200
    with pytest.raises(BadRequest, match="version"):
        await call(net, "PUT", "topology/nodes/n", {"version": 1.5})
    for key in ("oper_status", "vendor"):
        with pytest.raises(BadRequest, match=key):
            await call(net, "PUT", "topology/nodes/m", {"attributes": {key: 5}})
    assert await call(net, "PUT", "topology/nodes/m", {"attributes": {"oper_status": None}})
    assert (await call(net, "GET", "topology/nodes/m")).body["attributes"]["oper_status"] == "UP"


async def test_attribute_query_compares_as_text(net: Network) -> None:
    await call(net, "PUT", "topology/nodes/a", {"attributes": {"cost": 10, "edge": True}})
    resp = await call(net, "GET", "topology/nodes", query={"attributes": "cost=10,edge=true"})
    assert set(resp.body) == {"a"}


# --- physical addressing ---------------------------------------------------------------------


async def test_physical_nodes(net: Network) -> None:
    created = await call(
        net, "PUT", "topology/physical_nodes/phy1", {"attributes": {"vendor": "v"}}
    )
    assert created.status == 201
    node_id = created.body["node_id"]
    uuid.UUID(node_id)
    assert created.body["attributes"]["physical_id"] == "phy1"

    got = await call(net, "GET", "topology/physical_nodes/phy1")
    assert got.body["node_id"] == node_id

    updated = await call(
        net, "PUT", "topology/physical_nodes/phy1", {"attributes": {"vendor": "w"}}
    )
    assert (updated.status, updated.body["node_id"], updated.body["version"]) == (200, node_id, "2")
    # a full PUT keeps the node addressable by its physical id
    assert updated.body["attributes"]["physical_id"] == "phy1"

    merged = await call(net, "PUT", "topology/physical_nodes/phy1/attributes", {"x": "1"})
    assert merged.body["attributes"]["x"] == "1"
    assert (await call(net, "GET", f"topology/nodes/{node_id}")).body == merged.body

    with pytest.raises(Conflict, match="other"):  # phy1 is another node's
        await call(net, "PUT", "topology/physical_nodes/phy1", {"node_id": "other"})
    with pytest.raises(BadRequest):
        await call(net, "PUT", "topology/physical_nodes/phy1", {"attributes": {"physical_id": "z"}})

    assert (await call(net, "DELETE", "topology/physical_nodes/phy1")).status == 200
    with pytest.raises(NotFound, match="phy1"):
        await call(net, "GET", "topology/physical_nodes/phy1")


async def test_physical_node_create_with_given_id(net: Network) -> None:
    resp = await call(net, "PUT", "topology/physical_nodes/phy1", {"node_id": "n1"})
    assert (resp.status, resp.body["node_id"]) == (201, "n1")
    await call(net, "PUT", "topology/nodes/n2", node_body("n2"))
    with pytest.raises(Conflict):
        await call(net, "PUT", "topology/physical_nodes/phy2", {"node_id": "n2"})
    # Once phy1 is n1's, a body naming another node is a conflict with what is stored.
    with pytest.raises(Conflict, match="n1"):
        await call(net, "PUT", "topology/physical_nodes/phy1", {"node_id": "n2"})
    assert (await call(net, "PUT", "topology/physical_nodes/phy1", {"node_id": "n1"})).body


async def test_physical_id_belongs_to_one_node(net: Network) -> None:
    await call(net, "PUT", "topology/nodes/n1", node_body("n1", physical_id="phy"))
    with pytest.raises(Conflict, match="n1"):
        await call(net, "PUT", "topology/nodes/n2", node_body("n2", physical_id="phy"))
    await call(net, "PUT", "topology/nodes/n2", node_body("n2"))
    with pytest.raises(Conflict):
        await call(net, "PUT", "topology/nodes/n2/attributes", {"physical_id": "phy"})


async def test_physical_ports(net: Network) -> None:
    await call(net, "PUT", "topology/nodes/n1", node_body("n1"))
    with pytest.raises(BadRequest, match="node_id"):
        await call(net, "PUT", "topology/physical_ports/pp1", {"attributes": {}})
    with pytest.raises(NotFound):
        await call(net, "PUT", "topology/physical_ports/pp1", {"node_id": "ghost"})
    created = await call(
        net, "PUT", "topology/physical_ports/pp1", {"node_id": "n1", "port_id": "p1"}
    )
    assert created.status == 201
    assert created.body["attributes"]["physical_id"] == "pp1"
    assert (await call(net, "GET", "topology/physical_ports/pp1")).body["port_id"] == "p1"

    for other in ({"node_id": "n2"}, {"port_id": "p9"}):
        with pytest.raises(Conflict, match="p1"):
            await call(net, "PUT", "topology/physical_ports/pp1", other)
    updated = await call(net, "PUT", "topology/physical_ports/pp1", {"attributes": {"a": "1"}})
    assert (updated.status, updated.body["version"]) == (200, "2")
    merged = await call(net, "PUT", "topology/physical_ports/pp1/attributes", {"b": "2"})
    assert merged.body["attributes"] == {
        "oper_status": "UP",
        "vendor": "unknown",
        "is_boundary": "false",
        "physical_id": "pp1",
        "a": "1",
        "b": "2",
    }

    assert (await call(net, "DELETE", "topology/physical_ports/pp1")).status == 200
    with pytest.raises(NotFound):
        await call(net, "GET", "topology/nodes/n1/ports/p1")


# --- ports -----------------------------------------------------------------------------------


async def test_ports_crud_and_query(net: Network) -> None:
    await call(net, "PUT", "topology/nodes/n1", node_body("n1"))
    posted = await call(
        net, "POST", "topology/nodes/n1/ports", port_body("n1", "given", speed="10")
    )
    assert posted.status == 200
    port_id = posted.body["port_id"]
    assert port_id != "given"
    await call(net, "PUT", "topology/nodes/n1/ports/p2", {"attributes": {"speed": "40"}})
    ports = (await call(net, "GET", "topology/nodes/n1/ports")).body
    assert set(ports) == {port_id, "p2"}
    fast = await call(net, "GET", "topology/nodes/n1/ports", query={"attributes": "speed=40"})
    assert set(fast.body) == {"p2"}
    assert set((await call(net, "GET", "topology/nodes/n1")).body["ports"]) == {port_id, "p2"}

    merged = await call(net, "PUT", "topology/nodes/n1/ports/p2/attributes", {"x": "y"})
    assert merged.body["attributes"]["speed"] == "40"
    assert merged.body["attributes"]["x"] == "y"

    assert (await call(net, "DELETE", "topology/nodes/n1/ports/p2")).status == 200
    with pytest.raises(NotFound, match="p2"):
        await call(net, "GET", "topology/nodes/n1/ports/p2")


async def test_port_node_rules(net: Network) -> None:
    await call(net, "PUT", "topology/nodes/n1", node_body("n1"))
    with pytest.raises(NotFound, match="ghost"):
        await call(net, "PUT", "topology/nodes/ghost/ports/p1", port_body("ghost", "p1"))
    with pytest.raises(NotFound):
        await call(net, "GET", "topology/nodes/ghost/ports")
    with pytest.raises(BadRequest, match="n2"):
        await call(net, "PUT", "topology/nodes/n1/ports/p1", port_body("n2", "p1"))
    with pytest.raises(BadRequest):
        await call(net, "PUT", "topology/nodes/n1/ports/p1", port_body("n1", "p9"))


async def test_port_put_ignores_link_fields(net: Network) -> None:
    await sample(net)
    body = {**port_body("node001", "port0011", a="1"), "out_link": None, "in_link": "bogus"}
    port = (await call(net, "PUT", "topology/nodes/node001/ports/port0011", body)).body
    assert (port["out_link"], port["in_link"]) == ("link0012", None)
    assert port["attributes"]["a"] == "1"


# --- links -----------------------------------------------------------------------------------


async def test_link_ends_must_exist(net: Network) -> None:
    await sample(net)
    cases = [
        (("ghost", "port0011"), ("node002", "port0021"), "src_node"),
        (("node001", "ghost"), ("node002", "port0021"), "src_port"),
        (("node002", "port0021"), ("ghost", "port0011"), "dst_node"),
        (("node002", "port0021"), ("node001", "ghost"), "dst_port"),
    ]
    for src, dst, field in cases:
        with pytest.raises(BadRequest, match=field) as err:
            await call(net, "PUT", "topology/links/l2", link_body("l2", src, dst))
        assert err.value.details["field"] == field
    with pytest.raises(NotFound):
        await call(net, "GET", "topology/links/l2")


async def test_link_port_already_taken_is_conflict(net: Network) -> None:
    await sample(net)
    await call(
        net, "PUT", "topology/nodes/node002/ports/port0022", port_body("node002", "port0022")
    )
    with pytest.raises(Conflict, match="link0012"):
        await call(
            net,
            "PUT",
            "topology/links/other",
            link_body("other", ("node001", "port0011"), ("node002", "port0022")),
        )
    with pytest.raises(Conflict):
        await call(
            net,
            "POST",
            "topology/links",
            link_body("x", ("node002", "port0022"), ("node002", "port0021")),
        )
    # the reverse direction is free
    reverse = await call(
        net,
        "POST",
        "topology/links",
        link_body("ignored", ("node002", "port0021"), ("node001", "port0011")),
    )
    assert reverse.status == 200
    reverse_id = reverse.body["link_id"]
    assert reverse_id != "ignored"
    port = (await call(net, "GET", "topology/nodes/node001/ports/port0011")).body
    assert (port["out_link"], port["in_link"]) == ("link0012", reverse_id)


async def test_link_update_moves_port_references(net: Network) -> None:
    await sample(net)
    await call(
        net, "PUT", "topology/nodes/node002/ports/port0022", port_body("node002", "port0022")
    )
    resp = await call(
        net,
        "PUT",
        "topology/links/link0012",
        {**link_body("link0012", ("node001", "port0011"), ("node002", "port0022")), "version": "1"},
    )
    assert (resp.status, resp.body["version"], resp.body["dst_port"]) == (200, "2", "port0022")
    old = (await call(net, "GET", "topology/nodes/node002/ports/port0021")).body
    new = (await call(net, "GET", "topology/nodes/node002/ports/port0022")).body
    assert old["in_link"] is None
    assert new["in_link"] == "link0012"
    assert (await call(net, "DELETE", "topology/nodes/node002/ports/port0021")).status == 200


async def test_link_queries_and_attributes(net: Network) -> None:
    await sample(net)
    merged = await call(net, "PUT", "topology/links/link0012/attributes", {"cost": "5"})
    assert merged.body["attributes"] == {"oper_status": "UP", "cost": "5"}
    found = await call(net, "GET", "topology/links", query={"attributes": "cost=5"})
    assert set(found.body) == {"link0012"}
    none = await call(net, "GET", "topology/links", query={"attributes": "cost=6"})
    assert none.body == {}
    with pytest.raises(NotFound):
        await call(net, "PUT", "topology/links/ghost/attributes", {"cost": "1"})


# --- the whole topology ----------------------------------------------------------------------


def whole_topology() -> dict[str, Any]:
    return {
        "type": "Topology",
        "nodes": {
            "a": {**node_body("a"), "ports": {"pa": port_body("a", "pa")}},
            "b": {"ports": {"pb": {"attributes": {"physical_id": "phy-pb"}}}},
        },
        "links": {"ab": link_body("ab", ("a", "pa"), ("b", "pb"))},
    }


async def test_put_topology_replaces_everything(net: Network) -> None:
    await sample(net)
    resp = await call(net, "PUT", "topology", whole_topology())
    assert resp.status == 200
    topo = (await call(net, "GET", "topology")).body
    assert resp.body == topo
    assert set(topo["nodes"]) == {"a", "b"}
    assert set(topo["links"]) == {"ab"}
    assert topo["nodes"]["a"]["ports"]["pa"]["out_link"] == "ab"
    assert topo["nodes"]["b"]["ports"]["pb"]["in_link"] == "ab"
    assert topo["nodes"]["b"]["attributes"] == {"oper_status": "UP", "vendor": "unknown"}
    assert (await call(net, "GET", "topology/physical_ports/phy-pb")).body["port_id"] == "pb"
    with pytest.raises(Conflict):
        await call(net, "DELETE", "topology/nodes/a")


async def test_put_topology_keeps_versions_of_unchanged_objects(net: Network) -> None:
    await call(net, "PUT", "topology", whole_topology())
    changed = whole_topology()
    changed["nodes"]["b"]["attributes"] = {"vendor": "v"}
    await call(net, "PUT", "topology", changed)
    topo = (await call(net, "GET", "topology")).body
    assert topo["nodes"]["a"]["version"] == "1"
    assert topo["nodes"]["b"]["version"] == "2"
    assert topo["links"]["ab"]["version"] == "1"
    assert topo["version"] == "2"


async def test_put_topology_rolls_back_on_bad_input(net: Network) -> None:
    await sample(net)
    before = (await call(net, "GET", "topology")).body
    bad_link = whole_topology()
    bad_link["links"]["ab"]["dst_port"] = "missing"
    shared_port = whole_topology()
    shared_port["links"]["ab2"] = link_body("ab2", ("a", "pa"), ("b", "pb"))
    dup_physical = whole_topology()  # two nodes with one physical_id (ports may share one)
    dup_physical["nodes"]["a"]["attributes"] = {"physical_id": "phy-b"}
    dup_physical["nodes"]["b"]["attributes"] = {"physical_id": "phy-b"}
    bad_node = whole_topology()
    bad_node["nodes"]["b"] = "not a node"
    cases: list[Any] = [
        bad_link,
        shared_port,
        dup_physical,
        bad_node,
        {"nodes": [], "links": {}},
        {"type": "Node"},
        {"nodes": {"a/b": {}}},
        [],
    ]
    for body in cases:
        with pytest.raises(BadRequest):
            await call(net, "PUT", "topology", body)
    with pytest.raises(Conflict):
        await call(net, "PUT", "topology", {**whole_topology(), "version": "1"})
    assert (await call(net, "GET", "topology")).body == before


async def test_put_topology_with_current_version(net: Network) -> None:
    await sample(net)
    resp = await call(net, "PUT", "topology", {**whole_topology(), "version": "5"})
    assert resp.body["version"] == "6"


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("topology/nodes/n1", None),
        ("topology/nodes/n1", "node"),
        ("topology/nodes/n1", {"type": "Port"}),
        ("topology/nodes/n1", {"node_id": 7}),
        ("topology/nodes/n1", {"attributes": "UP"}),
        ("topology/nodes/n1", {"attributes": {"physical_id": 3}}),
        ("topology/nodes/n1", {"version": "one"}),
        ("topology/nodes/n1", {"version": True}),
        ("topology/nodes/n1", {"ports": []}),
        ("topology/nodes/n1", {"ports": {"p/1": {}}}),
        ("topology/nodes/n1", {"ports": {"p1": 5}}),
        ("topology/nodes/n0/ports/p1", {"type": "Link"}),
        ("topology/nodes/n0/ports/p1", {"port_id": None, "attributes": []}),
        ("topology/links/l1", {"src_node": "n0", "src_port": "p0", "dst_node": "n0"}),
        (
            "topology/links/l1",
            {"src_node": 1, "src_port": "p0", "dst_node": "n0", "dst_port": "p0"},
        ),
        (
            "topology/links/l1",
            {"src_node": "", "src_port": "p0", "dst_node": "n0", "dst_port": "p0"},
        ),
        (
            "topology/links/l1",
            {"src_node": "a/b", "src_port": "p0", "dst_node": "n0", "dst_port": "p0"},
        ),
        ("topology/links/l1", [1, 2]),
        ("topology/nodes/n0/attributes", "x"),
        ("topology/nodes/n0/ports/p0/attributes", None),
    ],
)
async def test_bad_bodies_are_bad_requests(net: Network, path: str, body: Any) -> None:
    await call(net, "PUT", "topology/nodes/n0", node_body("n0"))
    await call(net, "PUT", "topology/nodes/n0/ports/p0", port_body("n0", "p0"))
    before = (await call(net, "GET", "topology")).body
    with pytest.raises(BadRequest):
        await call(net, "PUT", path, body)
    assert (await call(net, "GET", "topology")).body == before


@pytest.mark.parametrize("path", ["topology/nodes", "topology/nodes/n0/ports", "topology/links"])
async def test_bad_post_bodies_are_bad_requests(net: Network, path: str) -> None:
    await call(net, "PUT", "topology/nodes/n0", node_body("n0"))
    bodies: list[Any] = [None, "x", [], {"type": "Topology"}]
    for body in bodies:
        with pytest.raises(BadRequest):
            await call(net, "POST", path, body)


async def test_method_not_allowed_and_unknown_paths(net: Network) -> None:
    with pytest.raises(MethodNotAllowed) as err:
        await call(net, "POST", "topology/nodes/x", {})
    assert err.value.details["allowed"] == ["DELETE", "GET", "HEAD", "PUT"]
    with pytest.raises(MethodNotAllowed):
        await call(net, "DELETE", "topology")
    with pytest.raises(MethodNotAllowed):
        await call(net, "GET", "topology/links/l1/attributes")
    with pytest.raises(NotFound):
        await call(net, "GET", "topology/elsewhere")


async def test_component_identity(net: Network) -> None:
    prop = (await call(net, "GET", "property")).body
    assert (prop["type"], prop["super_type"], prop["cm_id"]) == ("Network", "Network", "romgr1")
    assert Network.type_info()["connection_types"] == {}


# --- change hook -----------------------------------------------------------------------------


async def test_every_change_reaches_the_hook() -> None:
    seen: list[tuple[str, str, str | None, str | None]] = []

    class Recording(Network):
        def _changed(self, kind: str, action: Any, prev: Any, curr: Any) -> None:
            seen.append((kind, str(action), prev and prev["version"], curr and curr["version"]))

    net = Recording("network0", "romgr1")
    await sample(net)
    await call(net, "DELETE", "topology/links/link0012")
    assert seen == [
        ("Node", "add", None, "1"),
        ("Port", "add", None, "1"),
        ("Node", "add", None, "1"),
        ("Port", "add", None, "1"),
        ("Link", "add", None, "1"),
        ("Port", "update", "1", "2"),
        ("Port", "update", "1", "2"),
        ("Port", "update", "2", "3"),
        ("Port", "update", "2", "3"),
        ("Link", "delete", "1", None),
    ]


async def test_odenos_delete_answers_and_link_status(net: Network) -> None:
    """ODENOS's answers (issue 9, item 4): a DELETE body naming a version deletes only that
    version (409 otherwise); deleting by an unknown physical id is 200; a link without an
    oper_status of its own is DOWN when a port at its ends is."""
    await call(net, "PUT", "topology/nodes/a", {})
    await call(net, "PUT", "topology/nodes/a/ports/p1", {"attributes": {"oper_status": "DOWN"}})
    await call(net, "PUT", "topology/nodes/a/ports/p2", {})
    ends = {"src_node": "a", "src_port": "p1", "dst_node": "a", "dst_port": "p2"}
    link = (await call(net, "PUT", "topology/links/l1", ends)).body
    assert link["attributes"]["oper_status"] == "DOWN"
    given = {**ends, "attributes": {"oper_status": "UP"}}
    assert (
        await call(net, "PUT", "topology/links/l2", {**given, "src_port": "p2", "dst_port": "p1"})
    ).body["attributes"]["oper_status"] == "UP"
    with pytest.raises(Conflict):
        await call(net, "DELETE", "topology/links/l1", {"version": "7"})
    assert (await call(net, "DELETE", "topology/links/l1", {"version": "1"})).status == 200
    await call(net, "DELETE", "topology/links/l2")
    with pytest.raises(Conflict):
        await call(net, "DELETE", "topology/nodes/a/ports/p2", {"type": "Port", "version": "9"})
    version = (await call(net, "GET", "topology/nodes/a/ports/p2")).body["version"]
    assert (
        await call(net, "DELETE", "topology/nodes/a/ports/p2", {"version": version})
    ).status == 200
    with pytest.raises(Conflict):
        await call(net, "DELETE", "topology/nodes/a", {"version": "5"})
    assert (await call(net, "GET", "topology/nodes/a")).status == 200
    for path in ("topology/physical_nodes/ghost", "topology/physical_ports/ghost"):
        assert (await call(net, "DELETE", path)).status == 200
    assert (await call(net, "DELETE", "topology/nodes/a", {"type": "Node"})).status == 200
