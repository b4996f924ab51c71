"""The packet queues of a Network component: InPackets going up, OutPackets going down.

A driver posts each packet it receives from a switch to the ``in`` queue
(``InPacketAdded``); a logic component takes it from there, and posts the
packets it wants sent to the ``out`` queue (``OutPacketAdded``), which the
driver drains.  A pure data model, raising the HTTP-facing errors of
:mod:`odenos.errors`; each packet added is reported to the listener (kind
``"InPacket"`` or ``"OutPacket"``, action ``add``).  Taking packets out is not
reported: the reference has no event for it.

Each queue is first in, first out, and bounded (:data:`DEFAULT_QUEUE_LIMIT`):
a queue that nobody drains must not grow until the process dies, and the
newest packets are the ones worth keeping, so when a queue is full the oldest
packet is dropped and the queue's ``dropped`` counter (in ``GET packets``)
says how many were.

Packet ids are generated per queue as ten-digit sequence numbers
(``"0000000000"``, as ODENOS numbers them), never reused, so they sort in
arrival order.  ``data`` is an opaque string (clients usually base64 the
frame): the network stores it and counts its bytes, never decodes it.  As for
flows, the node and ports a packet names are checked for form, not looked up
in the topology.

Each queue takes its basic type and its OpenFlow one: ``InPacket`` and
``OFPInPacket`` (which adds ``time``, when the switch saw it, in seconds) in
``in``, ``OutPacket`` and ``OFPOutPacket`` in ``out``.  A packet's ``header`` is
a BasicFlowMatch or an OFPFlowMatch (whose ``in_node`` may be left out).
ODENOS also queued a packet posted to the other queue (an InPacket in ``out``,
which no driver can send); that is a 400 here.
"""

from __future__ import annotations

import copy
import json
import logging
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from odenos.components.network.basic_flow import FlowMatch, parse_match
from odenos.components.network.changes import ChangeAction, ChangeKind, ChangeListener
from odenos.components.network.objects import check_id, check_type, json_type, require_object
from odenos.errors import BadRequest, NotFound, PayloadTooLarge

log = logging.getLogger(__name__)

DEFAULT_QUEUE_LIMIT = 10_000
#: At most this many bytes of packets (as JSON) in one queue: 64 MiB.
DEFAULT_QUEUE_BYTES = 64 * 1024**2


def _required_id(obj: dict[str, Any], key: str, what: str) -> str:
    if obj.get(key) is None:
        raise BadRequest(f"{what} needs {key}", field=key)
    return check_id(obj[key], key)


def _header(obj: dict[str, Any]) -> FlowMatch | None:
    raw = obj.get("header")
    return None if raw is None else parse_match(raw, "header", need_node=False)


def _data(obj: dict[str, Any]) -> str | None:
    data = obj.get("data")
    if data is not None and not isinstance(data, str):
        raise BadRequest(f"packet data must be a string, got {json_type(data)}", field="data")
    return data


def _attributes(obj: dict[str, Any]) -> dict[str, Any]:
    raw = obj.get("attributes")
    return {} if raw is None else copy.deepcopy(require_object(raw, "packet attributes"))


def _port_list(obj: dict[str, Any], key: str) -> list[str] | None:
    raw = obj.get(key)
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise BadRequest(f"{key} must be a JSON array, got {json_type(raw)}", field=key)
    return [check_id(item, f"{key}[{i}]") for i, item in enumerate(raw)]


@dataclass
class InPacket:
    """A packet a switch received on ``port`` of ``node``."""

    packet_id: str
    node: str
    port: str
    header: FlowMatch | None = None
    data: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    TYPE = "InPacket"

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.TYPE,
            "packet_id": self.packet_id,
            "node": self.node,
            "port": self.port,
            "header": None if self.header is None else self.header.to_json(),
            "data": self.data,
            "attributes": copy.deepcopy(self.attributes),
        }

    @classmethod
    def from_json(cls, body: Any, packet_id: str) -> InPacket:
        """Read an InPacket body: ``node`` and ``port`` required; its packet_id is ignored."""
        obj = require_object(body, f"an {cls.TYPE}")
        check_type(obj, cls.TYPE)
        return cls(
            packet_id,
            node=_required_id(obj, "node", "an InPacket"),
            port=_required_id(obj, "port", "an InPacket"),
            header=_header(obj),
            data=_data(obj),
            attributes=_attributes(obj),
        )


@dataclass
class OutPacket:
    """A packet to send out of ``node``: by ``port``, by each of ``ports``, or by every
    port but ``ports_except`` (ODENOS's ``ports-except``, how a packet is flooded).

    Exactly one of the three is set; the others are ``None``.  Written as ODENOS
    writes it: ``ports`` and ``ports-except`` always lists, ``port`` folded into
    ``ports``; ``ports`` empty and ``ports-except`` a list (even empty: every port) is
    a flood.
    """

    packet_id: str
    node: str
    port: str | None = None
    ports: list[str] | None = None
    ports_except: list[str] | None = None
    header: FlowMatch | None = None
    data: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    TYPE = "OutPacket"

    def destinations(self) -> list[str]:
        """The ports named (``port`` or ``ports``); empty for a flood."""
        if self.ports is not None:
            return list(self.ports)
        return [] if self.port is None else [self.port]

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.TYPE,
            "packet_id": self.packet_id,
            "node": self.node,
            "ports": self.destinations(),
            "ports-except": [] if self.ports_except is None else list(self.ports_except),
            "header": None if self.header is None else self.header.to_json(),
            "data": self.data,
            "attributes": copy.deepcopy(self.attributes),
        }

    @classmethod
    def from_json(cls, body: Any, packet_id: str) -> OutPacket:
        """Read an OutPacket body: ``node`` and exactly one of ``port``, ``ports`` (not
        empty) and ``ports-except`` (may be empty: every port), an empty list next to
        another of them counting as absent; its packet_id is ignored."""
        obj = require_object(body, f"an {cls.TYPE}")
        check_type(obj, cls.TYPE)
        node = _required_id(obj, "node", f"an {cls.TYPE}")
        port = None if obj.get("port") is None else check_id(obj["port"], "port")
        ports = _port_list(obj, "ports")
        ports_except = _port_list(obj, "ports-except")
        # An empty list next to another destination counts as absent (ODENOS's clients
        # send "ports-except": [] along with "ports").
        if ports_except == [] and (port is not None or ports):
            ports_except = None
        if ports == [] and (port is not None or ports_except is not None):
            ports = None
        given = [
            key
            for key, v in (("port", port), ("ports", ports), ("ports-except", ports_except))
            if v is not None
        ]
        if len(given) != 1:
            raise BadRequest(
                "an OutPacket needs exactly one of port, ports and ports-except, got "
                + (", ".join(given) if given else "none"),
                field="port",
            )
        if ports is not None and not ports:
            raise BadRequest("OutPacket ports must not be empty", field="ports")
        return cls(
            packet_id,
            node=node,
            port=port,
            ports=ports,
            ports_except=ports_except,
            header=_header(obj),
            data=_data(obj),
            attributes=_attributes(obj),
        )


@dataclass
class OFPInPacket(InPacket):
    """An InPacket from an OpenFlow switch, with ``time``: when it was received (seconds,
    as the driver counts them; 0 when it does not say)."""

    time: float = 0.0

    TYPE = "OFPInPacket"

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "time": self.time}

    @classmethod
    def from_json(cls, body: Any, packet_id: str) -> OFPInPacket:
        packet = super().from_json(body, packet_id)
        assert isinstance(packet, OFPInPacket)
        raw = body.get("time")
        if raw is not None:
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise BadRequest(
                    f"OFPInPacket time must be a number of seconds, got {json_type(raw)}",
                    field="time",
                )
            if not math.isfinite(raw) or raw < 0:
                raise BadRequest(f"OFPInPacket time must be 0 or more, got {raw}", field="time")
            packet.time = float(raw)
        return packet


@dataclass
class OFPOutPacket(OutPacket):
    """An OutPacket for an OpenFlow switch (the same fields)."""

    TYPE = "OFPOutPacket"


Packet = InPacket | OutPacket


def _dispatch(
    types: tuple[type[InPacket], ...] | tuple[type[OutPacket], ...], queue: str
) -> Callable[[Any, str], Packet]:
    """The parser of the ``queue`` queue: the packet class its body's ``type`` names
    (absent: the first of ``types``)."""
    by_type: dict[str, Any] = {cls.TYPE: cls for cls in types}

    def parse(body: Any, packet_id: str) -> Packet:
        kind = body.get("type") if isinstance(body, dict) else None
        cls = types[0] if kind is None else by_type.get(kind) if isinstance(kind, str) else None
        if cls is None:
            raise BadRequest(
                f"packets/{queue} takes {' or '.join(by_type)}, not {kind!r}",
                type=" or ".join(by_type),
                field="type",
            )
        packet: Packet = cls.from_json(body, packet_id)
        return packet

    return parse


parse_in_packet = _dispatch((InPacket, OFPInPacket), "in")
parse_out_packet = _dispatch((OutPacket, OFPOutPacket), "out")


class PacketQueue:
    """One bounded FIFO queue of packets, addressable by packet_id.

    Bounded twice: at most ``limit`` packets, and at most ``byte_limit`` bytes of them
    as JSON (so that a few thousand packets with megabyte-long ids or data cannot take
    the manager's memory).  ``count`` and ``bytes`` total what was ever added (as
    ODENOS counts them), ``dropped`` what was pushed out by the bounds.  Not
    thread-safe.
    """

    def __init__(
        self,
        kind: ChangeKind,
        parse: Callable[[Any, str], Packet],
        limit: int,
        byte_limit: int = DEFAULT_QUEUE_BYTES,
    ) -> None:
        if limit < 1:
            raise ValueError(f"a packet queue needs room for a packet, not {limit}")
        self.kind = kind
        self.limit = limit
        self.byte_limit = byte_limit
        self.count = 0
        self.bytes = 0
        self.dropped = 0
        self._parse = parse
        self._packets: OrderedDict[str, Packet] = OrderedDict()
        self._sizes: dict[str, int] = {}
        self._held = 0
        self._next_id = 0

    def __len__(self) -> int:
        return len(self._packets)

    def add(self, body: Any) -> Packet:
        """Read ``body`` (400 if malformed), queue it under a new id, and return it.

        When the queue is full, its oldest packet is dropped to make room.
        """
        packet = self._parse(body, f"{self._next_id:010d}")
        size = len(json.dumps(packet.to_json()))
        if size > self.byte_limit:
            raise PayloadTooLarge(
                f"a packet of {size} bytes does not fit the {self.kind.value} queue "
                f"({self.byte_limit} bytes)",
                size=size,
                limit=self.byte_limit,
            )
        self._next_id += 1
        while self._packets and (
            len(self._packets) >= self.limit or self._held + size > self.byte_limit
        ):
            oldest, _ = self._packets.popitem(last=False)
            self._held -= self._sizes.pop(oldest)
            self.dropped += 1
            if self.dropped == 1 or self.dropped % self.limit == 0:
                log.warning(
                    "%s queue full (%d packets, %d bytes at most): dropped the oldest, "
                    "%d dropped so far",
                    self.kind.value,
                    self.limit,
                    self.byte_limit,
                    self.dropped,
                )
        self._packets[packet.packet_id] = packet
        self._sizes[packet.packet_id] = size
        self._held += size
        self.count += 1
        self.bytes += len(packet.data.encode()) if packet.data else 0
        return packet

    def packets(self) -> list[Packet]:
        """The queued packets, oldest first."""
        return list(self._packets.values())

    def head(self) -> Packet:
        """The oldest packet, left in the queue; 404 when the queue is empty."""
        if not self._packets:
            raise NotFound(f"the {self.kind.value} queue is empty", queue=self.kind.value)
        return next(iter(self._packets.values()))

    def pop_head(self) -> Packet:
        """Take the oldest packet out of the queue; 404 when the queue is empty."""
        packet = self.head()
        self._forget(packet.packet_id)
        return packet

    def get(self, packet_id: str) -> Packet:
        packet = self._packets.get(packet_id)
        if packet is None:
            raise NotFound(
                f"{self.kind.value} {packet_id!r} is not in the queue",
                queue=self.kind.value,
                packet_id=packet_id,
            )
        return packet

    def has(self, packet_id: str) -> bool:
        return packet_id in self._packets

    def remove(self, packet_id: str) -> Packet:
        """Take the packet ``packet_id`` out of the queue; 404 if it is not there."""
        packet = self.get(packet_id)
        self._forget(packet_id)
        return packet

    def _forget(self, packet_id: str) -> None:
        del self._packets[packet_id]
        self._held -= self._sizes.pop(packet_id)

    def clear(self) -> None:
        self._packets.clear()
        self._sizes.clear()
        self._held = 0

    def status(self, prefix: str) -> dict[str, Any]:
        """This queue's part of ``GET packets``, its keys starting with ``prefix``."""
        return {
            f"{prefix}_packet_count": self.count,
            f"{prefix}_packet_bytes": self.bytes,
            f"{prefix}_packet_queue_count": len(self._packets),
            f"{prefix}_packets": list(self._packets),
            f"{prefix}_packet_dropped": self.dropped,
        }


class PacketQueues:
    """The ``in`` and ``out`` queues of one network."""

    NAMES = ("in", "out")

    def __init__(
        self, listener: ChangeListener | None = None, limit: int = DEFAULT_QUEUE_LIMIT
    ) -> None:
        self.inbound = PacketQueue(ChangeKind.IN_PACKET, parse_in_packet, limit)
        self.outbound = PacketQueue(ChangeKind.OUT_PACKET, parse_out_packet, limit)
        self._listener = listener

    def queue(self, name: str) -> PacketQueue:
        """The queue called ``name`` in URLs (``in`` or ``out``); 404 for another name."""
        if name == "in":
            return self.inbound
        if name == "out":
            return self.outbound
        raise NotFound(f"there is no packet queue {name!r} (in, out)", queue=name)

    def add(self, name: str, body: Any) -> Packet:
        """Queue a packet in ``name`` and report it (after it is queued)."""
        queue = self.queue(name)
        packet = queue.add(body)
        if self._listener is not None:
            self._listener(queue.kind, ChangeAction.ADD, None, packet.to_json())
        return packet

    def queue_status(self, name: str) -> dict[str, Any]:
        """``GET packets/<name>``: ODENOS's PacketStatus with only that queue's half
        filled (the other's counts 0, its ids null), plus its ``dropped`` counter."""
        this = self.queue(name)
        other = "out" if name == "in" else "in"
        return {
            "type": "PacketStatus",
            **this.status(name),
            f"{other}_packet_count": 0,
            f"{other}_packet_bytes": 0,
            f"{other}_packet_queue_count": 0,
            f"{other}_packets": None,
        }

    def status(self) -> dict[str, Any]:
        """ODENOS's PacketStatus, plus each queue's ``dropped`` counter and the bound."""
        return {
            "type": "PacketStatus",
            **self.inbound.status("in"),
            **self.outbound.status("out"),
            "packet_queue_limit": self.inbound.limit,
        }
