"""The LearningSwitchVlan (ODENOS's ``LearningSwitchVlan``, a subclass registered by
default): the LearningSwitch whose flows also match the packet header's ``vlan_vid``.

Everything else is the LearningSwitch's: connection types, REST API, durable records,
flooding (to every host, the header and its VLAN tag copied as they came), the FDB.

How VLANs change the flow rules:

* a packet whose ``OFPFlowMatch`` header has a ``vlan_vid`` gets a flow matching
  ``in_node``, ``in_port``, ``eth_src``, ``eth_dst`` *and* that ``vlan_vid``; one without
  gets the LearningSwitch's flow, with no ``vlan_vid`` (any VLAN).  ``"vlan_vid": 0``
  (untagged, ``OFPVID_NONE``) is a value like any, matched as given.  ODENOS set the
  field from the header unconditionally, so an untagged header gave a matched field
  with a null value;
* "a live flow for the same pair is already there" compares the whole match: the same
  pair on VLAN 10 and on VLAN 20, or on VLAN 10 and with no ``vlan_vid``, are two flows
  (ODENOS compared whole flows too);
* the FDB stays keyed by MAC, as ODENOS keeps it (one place per MAC, whatever the
  VLAN): its REST API (``GET fdb``, ``DELETE fdb/<mac>``) and durable records are the
  LearningSwitch's, and a destination is found whatever VLAN it was learnt on.  So when
  a MAC moves, its flows on *every* VLAN that the new place contradicts are deleted
  (ODENOS: every flow of the MAC), and a link change checks each flow on its own path,
  whatever its VLAN.  The switch does not keep VLANs apart: a flood goes to every host,
  as ODENOS's did.
"""

from __future__ import annotations

from typing import Any

from odenos.components.learningswitch.component import LearningSwitch
from odenos.components.learningswitch.forwarding import Arrival, UnusablePacket
from odenos.components.network.ofp_match import check_value
from odenos.errors import BadRequest

VLAN_VID = "vlan_vid"


def vlan_match(arrival: Arrival) -> dict[str, Any]:
    """``{"vlan_vid": <vid>}`` when the packet's header has a ``vlan_vid``, ``{}``
    otherwise; :class:`UnusablePacket` when it is not an OpenFlow VLAN id (0 to
    0x1FFF)."""
    raw = arrival.header.get(VLAN_VID)
    if raw is None:
        return {}
    try:
        return {VLAN_VID: check_value(VLAN_VID, raw, "its header's vlan_vid")}
    except BadRequest as exc:
        raise UnusablePacket(str(exc)) from None


class LearningSwitchVlan(LearningSwitch):
    TYPE = "LearningSwitchVlan"
    #: ODENOS's: it inherits ``LearningSwitch.getSuperType()``.
    SUPER_TYPE = "LearningSwitch"
    DESCRIPTION = "Learning Switch VLAN"

    def extra_match(self, arrival: Arrival) -> dict[str, Any]:
        return vlan_match(arrival)
