"""What the translator counts: requests by route template, forward latency, refusals.

A **route template** is the OpenAPI path a request matches, with every parameter
written ``{id}`` (``/{id}/topology/nodes/{id}``): a label of bounded cardinality,
whatever ids clients use.  Paths are matched segment by segment against a trie
built once from ``openapi.yaml`` (a literal segment before a parameter), so the
label costs a few dictionary lookups per request; a path the description does not
have is ``unmatched``.

A **refusal** is a request answered without reaching its object, labelled by why,
from the cluster view at that moment: ``not_found``, ``system_manager_down``,
``manager_down`` (its component manager is gone), ``manager_<state>`` (registering,
pending...), ``component_<state>`` (initializing, error, finalizing), ``unreachable``
(its process did not answer, or went while the request was in flight, before
ZooKeeper said why).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from odenos.cluster import RUNNING, ClusterView
from odenos.http.openapi import load_spec

UNMATCHED = "unmatched"


@dataclass
class _Node:
    literal: dict[str, _Node] = field(default_factory=dict)
    param: _Node | None = None
    template: str | None = None


class RouteTemplates:
    def __init__(self, paths: list[str]) -> None:
        self._root = _Node()
        for path in paths:
            node = self._root
            parts = [p for p in path.split("/") if p]
            for part in parts:
                if part.startswith("{") and part.endswith("}"):
                    node.param = node.param or _Node()
                    node = node.param
                else:
                    node = node.literal.setdefault(part, _Node())
            if node.template is None:
                node.template = "/" + "/".join("{id}" if p.startswith("{") else p for p in parts)

    @classmethod
    def from_openapi(cls) -> RouteTemplates:
        return cls(list(load_spec().get("paths", {})))

    def match(self, segments: tuple[str, ...] | list[str]) -> str:
        """The template of a request path's (decoded) segments."""
        found = self._walk(self._root, list(segments), 0)
        return found if found is not None else UNMATCHED

    def _walk(self, node: _Node, segments: list[str], i: int) -> str | None:
        if i == len(segments):
            return node.template
        child = node.literal.get(segments[i])
        if child is not None:
            found = self._walk(child, segments, i + 1)
            if found is not None:
                return found
        if node.param is not None:
            return self._walk(node.param, segments, i + 1)
        return None


def refusal_reason(view: ClusterView, object_id: str) -> str:
    """Why a request for ``object_id`` is refused, as a label (see the module docstring)."""
    if object_id == view.manager_id:
        return "system_manager_down"
    manager = view.manager(object_id)
    if manager is not None:
        return f"manager_{manager.get('state')}"
    owner = view.owner_of(object_id)
    if owner is None:
        return "manager_down" if object_id in view.known_manager_ids() else "not_found"
    owning = view.manager(owner)
    if owning is None:
        return "manager_down"
    if owning.get("state") != RUNNING:
        return f"manager_{owning.get('state')}"
    return f"component_{view.component_status(object_id)[0]}"
