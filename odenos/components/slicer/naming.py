"""How the Slicer names the original flows it makes, and how the names map back.

The flow that carries flow ``F`` of sliver network ``S`` in the original
network is ``<slicer_id>_<S escaped>_<F>``, where in ``S`` a ``~`` is
written ``~~`` and a ``_`` is written ``~u`` (``F`` is written as it is).
So flow ``flow1`` of ``network01`` under slicer ``slicer`` is
``slicer_network01_flow1``, and flow ``f`` of ``net_a`` is
``slicer_net~ua_f``.

Why this shape:

* **No collision between slivers.**  ODENOS kept the sliver's flow id, so two
  slivers using the same flow id overwrote each other in the original
  network.  The sliver's id is part of the name, and since the escaped
  sliver id never contains ``_``, the first ``_`` after the prefix always
  ends it: two (sliver, flow) pairs never get the same name.
* **Reversible and deterministic.**  :func:`sliver_flow` gives the pair back
  from the name alone, so that a restarted Slicer finds the flows it made
  (and those of a sliver it no longer serves) by listing the original
  network's flows, without keeping a map anywhere.
* **Told apart from other flows** of the original network by the
  ``<slicer_id>_`` prefix (as the Aggregator's ``<aggregator_id>_``).

Only characters a URL path keeps as they are are added.
"""

from __future__ import annotations

from odenos.components.escaping import escape, unescape

_SEPARATOR = "_"


def original_flow_id(slicer_id: str, network_id: str, flow_id: str) -> str:
    """The original network's flow carrying flow ``flow_id`` of sliver ``network_id``."""
    return f"{slicer_id}{_SEPARATOR}{escape(network_id)}{_SEPARATOR}{flow_id}"


def sliver_flow(slicer_id: str, original_id: str) -> tuple[str, str] | None:
    """``(sliver network id, flow id)`` that :func:`original_flow_id` turned into
    ``original_id``; None if it is no name this Slicer made."""
    prefix = f"{slicer_id}{_SEPARATOR}"
    if not original_id.startswith(prefix):
        return None
    escaped, sep, flow_id = original_id[len(prefix) :].partition(_SEPARATOR)
    if not sep or not escaped or not flow_id:
        return None
    network_id = unescape(escaped)
    return None if not network_id else (network_id, flow_id)


def flow_key(network_id: str, flow_id: str) -> str:
    """``<network_id>::<flow_id>``: how ODENOS's flow maps name a sliver's flow."""
    return f"{network_id}::{flow_id}"
