"""The LearningSwitch's forwarding database and timers: MAC addresses, where each was
learned, and the timeouts its flows get.

Pure functions and one small table; the component keeps them durable (one record per
MAC, one for the timers) and answers the REST API with them.

MAC addresses are kept in one spelling, ``aa:bb:cc:dd:ee:ff`` (lower case, colons),
so that ``AA:BB:…`` in one packet and ``aa:bb:…`` in the next are one host and
``DELETE fdb/aabbccddeeff`` finds either.  ODENOS kept the header's string as given
(and so could hold one host twice, and not find an upper-case one by its URL).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from odenos.components.network.ofp_flow import MAX_TIMEOUT
from odenos.components.network.ofp_match import check_integer
from odenos.errors import BadRequest

#: ODENOS's defaults (``LearningSwitch.java`` 65-66), in seconds.
DEFAULT_IDLE_TIMER = 60
DEFAULT_HARD_TIMER = 300
IDLE, HARD = "default_idle_timer", "default_hard_timer"
#: The most MACs the table learns; past it a new source is not learned (its packets are
#: still forwarded), so that a flood of made-up sources cannot grow it without end.
FDB_LIMIT = 10_000

_COLON_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
_BARE_MAC = re.compile(r"^[0-9a-fA-F]{12}$")


def normalise_mac(value: Any) -> str | None:
    """``value`` as ``aa:bb:cc:dd:ee:ff`` if it is a MAC address written with colons
    (either case); None otherwise."""
    if not isinstance(value, str) or not _COLON_MAC.match(value):
        return None
    return value.lower()


#: The broadcast address: a destination only, never learnt.
BROADCAST = "ff:ff:ff:ff:ff:ff"


def mac_from_path(segment: str) -> str:
    """The MAC of ``DELETE fdb/<mac>``: twelve hex digits without colons, as ODENOS takes
    it (``aabbccddeeff`` is ``aa:bb:cc:dd:ee:ff``).  400 otherwise (ODENOS checked only
    the length)."""
    if not _BARE_MAC.match(segment):
        raise BadRequest(
            f"a MAC address in the path is 12 hex digits without colons "
            f"(aabbccddeeff), not {segment!r}",
            field="mac",
        )
    lower = segment.lower()
    return ":".join(lower[i : i + 2] for i in range(0, 12, 2))


def check_timer(body: Any, name: str) -> int:
    """The body of ``PUT settings/<name>``: a JSON integer of seconds, 0 to 65535 (what
    an OpenFlow timeout holds; 0 is none).  ODENOS took any integer, and a flow with a
    timeout over 65535 would then be refused by the network."""
    return check_integer(body, MAX_TIMEOUT, name)


@dataclass(frozen=True)
class Location:
    """Where a MAC was last seen: a port of a node of the network."""

    node_id: str
    port_id: str

    def to_json(self) -> dict[str, str]:
        return {"node_id": self.node_id, "port_id": self.port_id}

    @classmethod
    def from_json(cls, raw: Any) -> Location | None:
        """A stored record back; None if it is not one."""
        if not isinstance(raw, dict):
            return None
        node_id, port_id = raw.get("node_id"), raw.get("port_id")
        if not isinstance(node_id, str) or not node_id:
            return None
        if not isinstance(port_id, str) or not port_id:
            return None
        return cls(node_id, port_id)


def timers_from_record(raw: Any) -> dict[str, int]:
    """The timers as stored (``{default_idle_timer, default_hard_timer}``); the defaults
    for what is missing or unusable."""
    timers = {IDLE: DEFAULT_IDLE_TIMER, HARD: DEFAULT_HARD_TIMER}
    if isinstance(raw, dict):
        for name in (IDLE, HARD):
            value = raw.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TIMEOUT:
                timers[name] = value
    return timers
