"""How the Aggregator names what it creates, and how the names map back.

Aggregated node
    One node in the aggregated network, whose id is the Aggregator's own id
    (as ODENOS's Aggregator did): unique in the system, and the same after a
    restart.

Aggregated ports
    The port of the aggregated node standing for port ``P`` of original node
    ``N`` is named ``<N>_<P>``, with ``N`` escaped so that the first ``_`` of
    a name is always the separator: in ``N`` a ``~`` is written ``~~`` and a
    ``_`` is written ``~u``; ``P`` is written as it is.  So
    ``node001``/``port0011`` is ``node001_port0011`` (ODENOS's spelling), and
    ``sw_1``/``eth_0`` is ``sw~u1_eth_0``.  The naming is injective (two
    original ports never get the same name) and deterministic (a restarted
    Aggregator finds the names it gave), and uses no character that a URL
    path would change.  :func:`port_origin` reverses it; whether the port is
    shown (an edge port now) is the topology mirror's answer
    (:meth:`~odenos.components.aggregator.routing.TopologyMirror.edge_port`).

Original flows
    The flow that carries aggregated flow ``F`` in the original network is
    ``<aggregator_id>_<F>``: the prefix tells the Aggregator's flows apart
    from flows others put in the original network, also after a restart and
    when ``F`` is gone from the aggregated network.
"""

from __future__ import annotations

from odenos.components.escaping import escape, unescape

_SEPARATOR = "_"


def port_name(node_id: str, port_id: str) -> str:
    """The aggregated port id standing for ``port_id`` of original node ``node_id``."""
    return f"{escape(node_id)}{_SEPARATOR}{port_id}"


def port_origin(name: str) -> tuple[str, str] | None:
    """``(node_id, port_id)`` that :func:`port_name` turned into ``name``; None if it made
    no such name."""
    escaped_node, sep, port_id = name.partition(_SEPARATOR)
    if not sep or not escaped_node or not port_id:
        return None
    node_id = unescape(escaped_node)
    return None if node_id is None else (node_id, port_id)


def original_flow_id(aggregator_id: str, aggregated_flow_id: str) -> str:
    """The original network's flow carrying aggregated flow ``aggregated_flow_id``."""
    return f"{aggregator_id}{_SEPARATOR}{aggregated_flow_id}"


def aggregated_flow_id(aggregator_id: str, original_id: str) -> str | None:
    """The aggregated flow an original flow carries; None if the flow is not this
    Aggregator's."""
    prefix = f"{aggregator_id}{_SEPARATOR}"
    if not original_id.startswith(prefix) or len(original_id) == len(prefix):
        return None
    return original_id[len(prefix) :]
