"""How the Federator names what it makes, as ODENOS's Federator did, and how the names map back.

Federated nodes and links
    Node ``N`` of original network ``nw`` is node ``<nw>_<N>`` of the federated
    network; link ``L`` is ``<nw>_<L>``; a port keeps its id under the renamed
    node.  These names are ODENOS's, and they are not injective: network
    ``a_b`` node ``c`` and network ``a`` node ``b_c`` are both ``a_b_c``.  So the
    Federator never parses a federated name: it keeps a real map (see
    :class:`~odenos.components.federator.model.Federation`), and when two
    originals would take one name, only one of them (the first by
    ``(network, id)``) is shown and the other is skipped with a warning.

Boundary links
    Boundary ``B`` is shown as two federated links, ``<B>_link01`` (port1 to
    port2) and ``<B>_link02`` (port2 to port1), as in ODENOS.

Segment flows
    Federated flow ``F`` is carried by one flow per stretch of its path inside
    one original network, the ``k``-th (from 0) being ``<federator_id>_<F>_<k>``
    in its network.  ODENOS gave every segment the federated flow's own id, which
    collides with any other flow of that id in the original network and cannot
    carry a path that enters one network twice; the prefix tells the Federator's
    flows apart (also after a restart), and the index keeps two stretches in one
    network apart.  :func:`segment_origin` reverses it (``k`` is the digits after
    the last ``_``, so ``F`` may contain ``_``).
"""

from __future__ import annotations

SEPARATOR = "_"


def federated_node_id(network_id: str, node_id: str) -> str:
    return f"{network_id}{SEPARATOR}{node_id}"


def federated_link_id(network_id: str, link_id: str) -> str:
    return f"{network_id}{SEPARATOR}{link_id}"


def boundary_link_ids(boundary_id: str) -> tuple[str, str]:
    """The federated links of a boundary: port1 -> port2, then port2 -> port1."""
    return f"{boundary_id}_link01", f"{boundary_id}_link02"


def segment_id(federator_id: str, flow_id: str, index: int) -> str:
    """The original flow carrying stretch ``index`` of federated flow ``flow_id``."""
    return f"{federator_id}{SEPARATOR}{flow_id}{SEPARATOR}{index}"


def segment_origin(federator_id: str, original_flow_id: str) -> tuple[str, int] | None:
    """``(federated flow id, index)`` of a segment flow id; None if the Federator made
    no such id."""
    prefix = f"{federator_id}{SEPARATOR}"
    if not original_flow_id.startswith(prefix):
        return None
    flow_id, sep, index = original_flow_id[len(prefix) :].rpartition(SEPARATOR)
    if not sep or not flow_id or not index.isdigit() or not index.isascii():
        return None
    if index != str(int(index)):  # "01" is not a name segment_id gives
        return None
    return flow_id, int(index)
