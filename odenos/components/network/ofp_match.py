"""OFPFlowMatch: an OpenFlow 1.3 match, in ODENOS's JSON names.

Reference: ``docs/reference/odenos-openflow.md`` section 2 (what ODENOS's
sources define).  A field is matched exactly when its key is present and is a
wildcard ("any") when it is absent, so a match keeps only the fields it was
given and writes back the same keys: ``"vlan_vid": 0`` (untagged) is not the
same match as no ``vlan_vid`` at all.  Sixteen fields have a companion
``<field>_mask`` key.

Values are checked for their JSON type and OpenFlow's width: integers are JSON
integers (``2048``, not ``"0x0800"``) within the bits the field has on the wire
(``vlan_pcp`` 0..7, ``tcp_dst`` 0..65535); addresses, ``metadata`` and
``tunnel_id`` are non-blank strings, kept as given.  ODENOS checked only Java's
integer widths; a value no switch can match is refused here, naming the field.
A key this table does not have is a 400 too (ODENOS ignored it), because a
misspelt field ignored is a narrow match turned into one that matches all.

Used for flow ``matches``, packet ``header``\\ s and the fields an
``OFPFlowActionSetField`` sets; in the last two ``in_node`` may be absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from odenos.components.network.objects import check_id, json_type, require_object
from odenos.errors import BadRequest

OFP_MATCH_TYPE = "OFPFlowMatch"

_U8, _U16, _U32, _U64 = 0xFF, 0xFFFF, 0xFFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF

#: Every OpenFlow field: its JSON key and either ``str`` or the largest integer it takes
#: (all integers are unsigned).  In OpenFlow's order (OXM ids 1 to 39).
FIELDS: dict[str, type[str] | int] = {
    "in_phy_port": _U32,
    "metadata": str,  # 64 bits, carried as a string (as ODENOS does)
    "eth_dst": str,
    "eth_src": str,
    "eth_type": _U16,
    "vlan_vid": 0x1FFF,  # 12 bits and OFPVID_PRESENT
    "vlan_pcp": 7,
    "ip_dscp": 63,
    "ip_ecn": 3,
    "ip_proto": _U8,
    "ipv4_src": str,
    "ipv4_dst": str,
    "tcp_src": _U16,
    "tcp_dst": _U16,
    "udp_src": _U16,
    "udp_dst": _U16,
    "sctp_src": _U16,
    "sctp_dst": _U16,
    "icmpv4_type": _U8,
    "icmpv4_code": _U8,
    "arp_op": _U16,
    "arp_spa": str,
    "arp_tpa": str,
    "arp_sha": str,
    "arp_tha": str,
    "ipv6_src": str,
    "ipv6_dst": str,
    "ipv6_flabel": 0xF_FFFF,
    "icmpv6_type": _U8,
    "icmpv6_code": _U8,
    "ipv6_nd_target": str,
    "ipv6_nd_sll": str,
    "ipv6_nd_tll": str,
    "mpls_label": 0xF_FFFF,
    "mpls_tc": 7,
    "mpls_bos": 1,
    "pbb_isid": 0xFF_FFFF,
    "tunnel_id": str,  # 64 bits, carried as a string
    "ipv6_exthdr": 0x1FF,
}

#: The fields that may come with a ``<field>_mask`` key (of the field's own kind).
MASKED = (
    "metadata",
    "eth_dst",
    "eth_src",
    "vlan_vid",
    "ipv4_src",
    "ipv4_dst",
    "arp_spa",
    "arp_tpa",
    "arp_sha",
    "arp_tha",
    "ipv6_src",
    "ipv6_dst",
    "ipv6_flabel",
    "pbb_isid",
    "tunnel_id",
    "ipv6_exthdr",
)

#: Every value key of an OFPFlowMatch but ``in_node`` and ``in_port``, with its kind.
KEYS: dict[str, type[str] | int] = {
    **FIELDS,
    **{f"{name}_mask": FIELDS[name] for name in MASKED},
}
_ORDER = {key: i for i, key in enumerate(KEYS)}
_ALL_KEYS = frozenset({"type", "in_node", "in_port", *KEYS})
#: What a string field may not be made of only (the OpenAPI schema ``OFPString`` agrees).
BLANKS = " \t\n\r"


def check_value(key: str, raw: Any, what: str) -> int | str:
    """``raw`` as the value of OpenFlow field ``key`` (see :data:`KEYS`); ``what`` names
    it in the 400."""
    kind = KEYS[key]
    if kind is str:
        if not isinstance(raw, str):
            raise BadRequest(f"{what} must be a string, got {json_type(raw)}", field=what)
        if not raw.strip(BLANKS):
            raise BadRequest(f"{what} must not be blank", field=what)
        return raw
    assert isinstance(kind, int)
    return check_integer(raw, kind, what)


def check_integer(raw: Any, largest: int, what: str) -> int:
    """``raw`` if it is a JSON integer from 0 to ``largest`` (``2048.0`` is 2048: JSON
    does not tell them apart); 400 naming ``what`` otherwise."""
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise BadRequest(
            f"{what} must be a JSON integer from 0 to {largest}, got {json_type(raw)}",
            field=what,
        )
    if not 0 <= raw <= largest:
        raise BadRequest(f"{what} must be from 0 to {largest}, got {raw}", field=what)
    return raw


@dataclass(frozen=True)
class OFPFlowMatch:
    """Traffic entering ``in_node`` (at ``in_port`` if given) whose headers have the
    values in ``fields`` (each a present key; absent keys match anything)."""

    in_node: str | None
    in_port: str | None = None
    fields: Mapping[str, int | str] = field(default_factory=dict)

    TYPE = OFP_MATCH_TYPE

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": OFP_MATCH_TYPE}
        if self.in_node is not None:
            body["in_node"] = self.in_node
        if self.in_port is not None:
            body["in_port"] = self.in_port
        body.update(self.fields)
        return body

    def __hash__(self) -> int:
        return hash((self.in_node, self.in_port, tuple(self.fields.items())))

    @classmethod
    def from_json(cls, raw: Any, what: str, *, need_node: bool = True) -> OFPFlowMatch:
        """Read a match; ``what`` names it in errors (``"matches[0]"``).  ``need_node``:
        ``in_node`` is required (a flow's match), or optional (a packet's header, the
        fields a SetField action sets)."""
        obj = require_object(raw, what)
        if obj.get("type") != OFP_MATCH_TYPE:
            raise BadRequest(
                f"{what}.type must be {OFP_MATCH_TYPE}, got {obj.get('type')!r}",
                field=f"{what}.type",
            )
        unknown = sorted(set(obj) - _ALL_KEYS)
        if unknown:
            raise BadRequest(
                f"{what} has no field {unknown[0]!r} (an OFPFlowMatch has in_node, in_port "
                f"and the OpenFlow fields: {', '.join(FIELDS)}, and masks of some)",
                field=f"{what}.{unknown[0]}",
            )
        in_node = obj.get("in_node")
        if in_node is None:
            if need_node:
                raise BadRequest(f"{what} needs in_node", field=f"{what}.in_node")
        else:
            in_node = check_id(in_node, f"{what}.in_node")
        in_port = obj.get("in_port")
        if in_port is not None:
            in_port = check_id(in_port, f"{what}.in_port")
        values: dict[str, int | str] = {}
        for key in sorted((k for k in obj if k in KEYS), key=_ORDER.__getitem__):
            if obj[key] is None:
                raise BadRequest(
                    f"{what}.{key} is null: leave the key out to match any value",
                    field=f"{what}.{key}",
                )
            values[key] = check_value(key, obj[key], f"{what}.{key}")
        return cls(in_node, in_port, values)
