"""Bodies and steps the end-to-end tests of logic components share: topology objects as
the reference writes them, connections that wait until running, flows read back."""

from __future__ import annotations

from typing import Any

from tests.support import Cluster, http, wait_until

TIMEOUT = 15


def node(node_id: str, **attributes: Any) -> dict[str, Any]:
    return {"type": "Node", "node_id": node_id, "ports": {}, "attributes": attributes}


def port(node_id: str, port_id: str, **attributes: Any) -> dict[str, Any]:
    return {"type": "Port", "node_id": node_id, "port_id": port_id, "attributes": attributes}


def link(link_id: str, src: str, dst: str, **attributes: Any) -> dict[str, Any]:
    """A link from ``src`` to ``dst``, each written ``node/port``."""
    (src_node, src_port), (dst_node, dst_port) = src.split("/"), dst.split("/")
    return {
        "type": "Link",
        "link_id": link_id,
        "src_node": src_node,
        "src_port": src_port,
        "dst_node": dst_node,
        "dst_port": dst_port,
        "attributes": attributes,
    }


def ok(reply: Any, *statuses: int) -> Any:
    """The reply's body, once its status is one of ``statuses`` (200 or 201 by default)."""
    assert reply.status in (statuses or (200, 201)), reply
    return reply.body


def connect(cluster: Cluster, conn_id: str, kind: str, logic: str, network: str) -> None:
    """PUT a LogicAndNetwork connection and wait until it is running."""
    body = {
        "id": conn_id,
        "type": "LogicAndNetwork",
        "connection_type": kind,
        "logic_id": logic,
        "network_id": network,
    }
    ok(http("PUT", f"{cluster.rest}/systemmanager/connections/{conn_id}", body), 201)
    wait_until(
        lambda: cluster.get(f"systemmanager/connections/{conn_id}").body.get("state") == "running",
        TIMEOUT,
        f"{conn_id} running",
    )


def flow_of(cluster: Cluster, network: str, flow_id: str) -> dict[str, Any] | None:
    reply = cluster.get(f"{network}/flows/{flow_id}")
    return reply.body if reply.status == 200 else None


def status_of(cluster: Cluster, network: str, flow_id: str) -> str | None:
    flow = flow_of(cluster, network, flow_id)
    return None if flow is None else flow["status"]


def build_line(cluster: Cluster, network: str = "network0") -> None:
    """node001 - node002 - node003 in ``network``, links both ways; edge ports
    node001/port0011 (vendor acme) and node003/port0032 (max_bandwidth 1000)."""
    for n in ("node001", "node002", "node003"):
        ok(cluster.put(f"{network}/topology/nodes/{n}", node(n)))
    ports = [
        ("node001", "port0011", {"vendor": "acme"}),
        ("node001", "port0012", {}),
        ("node002", "port0021", {}),
        ("node002", "port0022", {}),
        ("node003", "port0031", {}),
        ("node003", "port0032", {"max_bandwidth": "1000"}),
    ]
    for n, p, attributes in ports:
        ok(cluster.put(f"{network}/topology/nodes/{n}/ports/{p}", port(n, p, **attributes)))
    for link_id, src, dst in [
        ("link0012", "node001/port0012", "node002/port0021"),
        ("link0021", "node002/port0021", "node001/port0012"),
        ("link0023", "node002/port0022", "node003/port0031"),
        ("link0032", "node003/port0031", "node002/port0022"),
    ]:
        ok(cluster.put(f"{network}/topology/links/{link_id}", link(link_id, src, dst)))


def in_packet(src: str, dst: str, node: str, port_id: str) -> dict[str, Any]:
    """An OFPInPacket from MAC ``src`` to MAC ``dst`` that came in at ``node``/``port_id``."""
    return {
        "type": "OFPInPacket",
        "node": node,
        "port": port_id,
        "header": {
            "type": "OFPFlowMatch",
            "in_node": node,
            "in_port": port_id,
            "eth_src": src,
            "eth_dst": dst,
        },
        "data": "ZnJhbWU=",
        "attributes": {},
    }


class OutPackets:
    """The OutPackets a network published, read from a REST event subscription (a driver
    takes them out of the queue at once, so the queue cannot show them)."""

    def __init__(self, cluster: Cluster, network: str = "network0") -> None:
        self.cluster = cluster
        self.sid = ok(cluster.get("event/stream"))["subscription_id"]
        ok(cluster.put(f"event/subscriptions/{self.sid}", {network: ["OutPacketAdded"]}))
        self.seen: list[dict[str, Any]] = []

    def wait(self, count: int, what: str) -> list[dict[str, Any]]:
        """The next ``count`` packets, in the order they were queued."""

        def more() -> bool:
            events = ok(self.cluster.get(f"event/stream?subscription_id={self.sid}&timeout=1"))
            self.seen.extend(e["body"]["curr"] for e in events)
            return len(self.seen) >= count

        wait_until(more, TIMEOUT, what)
        taken, self.seen = self.seen[:count], self.seen[count:]
        return taken
