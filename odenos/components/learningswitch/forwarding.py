"""What the LearningSwitch makes of a packet, and what its flows look like.

Pure functions over JSON bodies, the FDB and a
:class:`~odenos.components.aggregator.routing.TopologyMirror`; the component does the
requests.  As ODENOS's ``LearningSwitch.onInPacketAdded``:

* an InPacket is usable when its ``header`` is an ``OFPFlowMatch`` with ``in_node``,
  ``in_port``, ``eth_src`` (not the broadcast address) and ``eth_dst``
  (:func:`read_in_packet`; anything else is :class:`UnusablePacket`, dropped with the
  reason logged);
* to an unknown ``eth_dst`` it is flooded (:func:`flood_packets`): an ``OFPOutPacket``
  on the node it came in at, by every port but ``in_port``, as ODENOS sent it; but
  also without the ports that carry links, and with one more OutPacket on each other
  node that has edge ports (by every port but its linked ones).  ODENOS flooded the
  ingress node only, through its inter-switch ports too, so on a network of several
  switches a host elsewhere was reached only if the switches forwarded the copy, and
  the copy came back to the switch as InPackets at inner ports, learnt there;
* to a known ``eth_dst`` it is sent out of the port it was learnt at
  (:func:`unicast_packet`), after an ``OFPFlow`` for the pair (:func:`flow_body`):
  matching ``in_node``, ``in_port``, ``eth_src``, ``eth_dst``, along a cheapest path,
  out of that port, with the current timers, priority 0 and the switch as owner; a
  subclass adds match fields of its own (``extra_match``: the LearningSwitchVlan's
  ``vlan_vid``), and then a flow is one per pair *and* those fields (:func:`flow_key`).

:func:`why_broken` says when a flow of the switch must go: a MAC of it learnt elsewhere
since (ODENOS deleted the flows of a MAC that moved), a link of its path gone or down
(ODENOS: deleted), a cheaper path found (ODENOS deleted *every* flow, its own and
others', when a new link changed any path), or, after a restart, a port it uses gone.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from odenos.components.aggregator.routing import TopologyMirror
from odenos.components.learningswitch.fdb import (
    BROADCAST,
    HARD,
    IDLE,
    Location,
    normalise_mac,
)
from odenos.components.network.ofp_match import OFP_MATCH_TYPE

OUT_PACKET = "OFPOutPacket"
OFP_FLOW = "OFPFlow"
OUTPUT = "FlowActionOutput"
#: ODENOS's priority for the flows it installs (``DEFAULT_PRIORITY``): the lowest, so
#: that any flow a client puts wins over a learnt one.
PRIORITY = "0"
#: Statuses in which a flow is (or is becoming) installed.
LIVE_STATUSES = frozenset({"none", "establishing", "established"})
_EPSILON = 1e-9


class UnusablePacket(ValueError):
    """An InPacket the LearningSwitch cannot forward; the message says why."""


@dataclass(frozen=True)
class Arrival:
    """What the switch reads of a usable InPacket (MACs in their one spelling)."""

    node: str
    in_node: str
    in_port: str
    eth_src: str
    eth_dst: str
    header: dict[str, Any]
    data: Any
    attributes: Any

    @property
    def source(self) -> Location:
        return Location(self.in_node, self.in_port)


def _text(obj: dict[str, Any], key: str, what: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise UnusablePacket(f"{what} has no {key}")
    return value


def read_in_packet(packet: Any) -> Arrival:
    """The usable parts of an InPacket body, or :class:`UnusablePacket`."""
    if not isinstance(packet, dict):
        raise UnusablePacket("it is not a JSON object")
    header = packet.get("header")
    if not isinstance(header, dict):
        raise UnusablePacket("it has no header")
    if header.get("type") != OFP_MATCH_TYPE:
        raise UnusablePacket(f"its header is a {header.get('type')!r}, not an OFPFlowMatch")
    macs = []
    for key in ("eth_src", "eth_dst"):
        mac = normalise_mac(header.get(key))
        if mac is None:
            raise UnusablePacket(f"its header's {key} {header.get(key)!r} is no MAC address")
        macs.append(mac)
    if macs[0] == BROADCAST:
        # No station sends from the broadcast address.  Learnt, it would draw every
        # broadcast of the network (ARP, DHCP) to one port, by OutPacket and by a flow.
        # Other group addresses are learnt as ODENOS learns them: its own sample
        # (rest_slicer.sh) sends from ff:11:22:33:44:55.
        raise UnusablePacket(f"its header's eth_src is the broadcast address {BROADCAST}")
    return Arrival(
        node=_text(packet, "node", "it"),
        in_node=_text(header, "in_node", "its header"),
        in_port=_text(header, "in_port", "its header"),
        eth_src=macs[0],
        eth_dst=macs[1],
        header=copy.deepcopy(header),
        data=packet.get("data"),
        attributes=copy.deepcopy(packet.get("attributes")),
    )


def _out_packet(arrival: Arrival, node: str, key: str, ports: list[str]) -> dict[str, Any]:
    return {
        "type": OUT_PACKET,
        "node": node,
        key: ports,
        "header": copy.deepcopy(arrival.header),
        "data": arrival.data,
        "attributes": copy.deepcopy(arrival.attributes),
    }


def _linked_ports(topology: TopologyMirror, node: str) -> set[str]:
    return {p.port_id for p in topology.nodes.get(node, {}).values() if not p.is_edge}


def flood_packets(arrival: Arrival, topology: TopologyMirror) -> list[dict[str, Any]]:
    """The OutPackets that flood ``arrival`` to every host: first the ingress node's (all
    its ports but ``in_port`` and the linked ones), then one per other node with an edge
    port (all its ports but the linked ones), by node id."""
    ingress = sorted({arrival.in_port} | _linked_ports(topology, arrival.node))
    packets = [_out_packet(arrival, arrival.node, "ports-except", ingress)]
    for node in sorted(topology.nodes):
        ports = topology.nodes[node]
        if node == arrival.node or not any(p.is_edge for p in ports.values()):
            continue
        packets.append(
            _out_packet(arrival, node, "ports-except", sorted(_linked_ports(topology, node)))
        )
    return packets


def unicast_packet(arrival: Arrival, destination: Location) -> dict[str, Any]:
    """The OutPacket that sends ``arrival`` out of the port its destination was learnt at."""
    return _out_packet(arrival, destination.node_id, "ports", [destination.port_id])


def flow_id_of(owner: str, number: int) -> str:
    """ODENOS's flow id, ``<switch id>_<n>`` (``lsw_0``), ``n`` from a counter that is
    never reset, so that an id is never given twice (ODENOS counted its flows, and gave a
    removed flow's id again)."""
    return f"{owner}_{number}"


def flow_number(owner: str, flow_id: Any) -> int | None:
    """``n`` of a flow id ``<owner>_<n>``; None for another id."""
    if not isinstance(flow_id, str) or not flow_id.startswith(f"{owner}_"):
        return None
    tail = flow_id[len(owner) + 1 :]
    return int(tail) if re.fullmatch(r"0|[1-9][0-9]{0,17}", tail) else None


def flow_body(
    flow_id: str,
    owner: str,
    arrival: Arrival,
    destination: Location,
    path: list[str],
    timers: Mapping[str, int],
    extra_match: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The OFPFlow the switch PUTs for ``arrival`` to ``destination``; version ``"0"``:
    create it, never overwrite another.  ``extra_match``: more fields its match has
    (OFPFlowMatch names and values, e.g. ``{"vlan_vid": 10}``)."""
    return {
        "type": OFP_FLOW,
        "version": "0",
        "flow_id": flow_id,
        "owner": owner,
        "enabled": True,
        "priority": PRIORITY,
        "status": "none",
        "matches": [
            {
                "type": OFP_MATCH_TYPE,
                "in_node": arrival.in_node,
                "in_port": arrival.in_port,
                "eth_src": arrival.eth_src,
                "eth_dst": arrival.eth_dst,
                **(extra_match or {}),
            }
        ],
        "path": list(path),
        "edge_actions": {destination.node_id: [{"type": OUTPUT, "output": destination.port_id}]},
        "idle_timeout": timers[IDLE],
        "hard_timeout": timers[HARD],
        "attributes": {},
    }


#: The match fields every flow of the switch has; any other is an extra one.
BASE_MATCH_KEYS = frozenset({"type", "in_node", "in_port", "eth_src", "eth_dst"})

#: A flow's identity for "is one already there": where it enters, the pair, where it
#: leaves, and its extra match fields (sorted ``(name, value)`` pairs).
FlowKey = tuple[Location, str, str, Location, tuple[tuple[str, Any], ...]]


def flow_key(
    source: Location,
    eth_src: str,
    eth_dst: str,
    destination: Location,
    extra_match: Mapping[str, Any] | None = None,
) -> FlowKey:
    """What makes two flows of the switch the same flow: a pair on VLAN 10 and the same
    pair on VLAN 20 (or with no ``vlan_vid``) are two."""
    return (source, eth_src, eth_dst, destination, tuple(sorted((extra_match or {}).items())))


@dataclass(frozen=True)
class LearnedFlow:
    """A flow of the switch as the network shows it (what the switch needs of it)."""

    flow_id: str
    version: Any
    status: str
    enabled: bool
    source: Location
    eth_src: str
    eth_dst: str
    destination: Location
    path: tuple[str, ...]
    #: Its match's fields beyond the four (sorted ``(name, value)`` pairs): the
    #: LearningSwitchVlan's ``vlan_vid``; none for a LearningSwitch's.
    extra_match: tuple[tuple[str, Any], ...] = ()

    @property
    def key(self) -> FlowKey:
        return flow_key(
            self.source, self.eth_src, self.eth_dst, self.destination, dict(self.extra_match)
        )

    @property
    def live(self) -> bool:
        """Installed or being installed, and not being taken down."""
        return self.enabled and self.status in LIVE_STATUSES

    def uses_port(self, node_id: str, port_id: str | None = None) -> bool:
        """Whether it enters or leaves by that port (any port of the node when None)."""
        return any(
            end.node_id == node_id and (port_id is None or end.port_id == port_id)
            for end in (self.source, self.destination)
        )

    @classmethod
    def from_json(cls, raw: Any, owner: str) -> LearnedFlow | None:
        """The flow if it is one the switch ``owner`` made (its id, its owner, one
        OFPFlowMatch with the four fields, one output); None otherwise.  Its match's
        other fields are kept as :attr:`extra_match` (a network's OFPFlowMatch values are
        integers and strings)."""
        if not isinstance(raw, dict) or raw.get("owner") != owner:
            return None
        flow_id = raw.get("flow_id")
        if flow_number(owner, flow_id) is None or raw.get("type") != OFP_FLOW:
            return None
        matches, actions, path = raw.get("matches"), raw.get("edge_actions"), raw.get("path")
        if not isinstance(matches, list) or len(matches) != 1 or not isinstance(matches[0], dict):
            return None
        if not isinstance(actions, dict) or len(actions) != 1:
            return None
        if not isinstance(path, list) or not all(isinstance(x, str) for x in path):
            return None
        match = matches[0]
        ((out_node, outputs),) = actions.items()
        if not isinstance(outputs, list) or len(outputs) != 1 or not isinstance(outputs[0], dict):
            return None
        raw_fields = [
            match.get("in_node"),
            match.get("in_port"),
            out_node,
            outputs[0].get("output"),
        ]
        fields = [x for x in raw_fields if isinstance(x, str) and x]
        if len(fields) != len(raw_fields):
            return None
        src, dst = normalise_mac(match.get("eth_src")), normalise_mac(match.get("eth_dst"))
        if src is None or dst is None:
            return None
        return cls(
            flow_id=str(flow_id),
            version=raw.get("version"),
            status=str(raw.get("status")),
            enabled=raw.get("enabled") is not False,
            source=Location(fields[0], fields[1]),
            eth_src=src,
            eth_dst=dst,
            destination=Location(fields[2], fields[3]),
            path=tuple(path),
            extra_match=tuple(sorted((k, v) for k, v in match.items() if k not in BASE_MATCH_KEYS)),
        )


def path_cost(topology: TopologyMirror, path: tuple[str, ...] | list[str]) -> float:
    return sum(topology.links[link_id].cost for link_id in path)


class PathCosts:
    """The cheapest path costs of a topology, remembered per pair of nodes (one pass
    over many flows asks for the same pairs)."""

    def __init__(self, topology: TopologyMirror) -> None:
        self._topology = topology
        self._costs: dict[tuple[str, str], float | None] = {}

    def cheapest(self, src: str, dst: str) -> float | None:
        key = (src, dst)
        if key not in self._costs:
            path = self._topology.shortest_path(src, dst)
            self._costs[key] = None if path is None else path_cost(self._topology, path)
        return self._costs[key]


def why_broken(
    flow: LearnedFlow,
    topology: TopologyMirror,
    fdb: Mapping[str, Location],
    costs: PathCosts,
    *,
    check_ports: bool = False,
) -> str | None:
    """Why ``flow`` must go, or None while it is right.  ``check_ports``: also when a
    port it enters or leaves by is not in the topology (after a restart, when its
    deletion may have been missed; not on each event, since a switch may see packets at
    ports its driver has not reported)."""
    learnt = fdb.get(flow.eth_src)
    if learnt is not None and learnt != flow.source:
        return f"{flow.eth_src} is now at {learnt.node_id}/{learnt.port_id}"
    learnt = fdb.get(flow.eth_dst)
    if learnt is not None and learnt != flow.destination:
        return f"{flow.eth_dst} is now at {learnt.node_id}/{learnt.port_id}"
    src, dst = flow.source.node_id, flow.destination.node_id
    if not topology.path_ok(list(flow.path), src, dst):
        return f"its path {list(flow.path)} is no longer a usable path from {src} to {dst}"
    cheapest = costs.cheapest(src, dst)
    if cheapest is not None and cheapest < path_cost(topology, flow.path) - _EPSILON:
        return f"a cheaper path from {src} to {dst} exists"
    if check_ports:
        for end in (flow.source, flow.destination):
            if topology.port(end.node_id, end.port_id) is None:
                return f"port {end.node_id}/{end.port_id} is gone"
    return None
