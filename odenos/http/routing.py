"""The one routing rule: which object a canonical path addresses, and where it goes.

The REST translator, the system manager's ``/systemmanager/components/<id>/...``
and component-to-component calls all decide with :func:`resolve`, on an
:class:`~odenos.http.objectpath.ObjectPath`, and send exactly the path it returns.
The decision comes from the watch-fed view alone (:meth:`ClusterView.route`).
"""

from __future__ import annotations

from dataclasses import dataclass

from odenos.cluster import ClusterView, Target
from odenos.errors import ObjectNotFound
from odenos.http.objectpath import ObjectPath


@dataclass(frozen=True)
class Route:
    """Where a request goes, and the path it is sent with there."""

    target: Target
    path: ObjectPath


def addressed(path: ObjectPath, manager_id: str) -> ObjectPath:
    """The path as its object reads it: ``/<manager_id>/components/<id>/<rest>`` is the
    same request as ``/<id>/<rest>`` (reference: forwarded to the component); any other
    path is itself.  ``/<manager_id>/components/<id>`` alone is the system manager's."""
    seg = path.segments
    if len(seg) >= 4 and seg[0] == manager_id and seg[1] == "components":
        return path.below(2)
    return path


def resolve(view: ClusterView, path: ObjectPath) -> Route:
    """Route ``path``.

    Raises :class:`ObjectNotFound` (404) for the root, an id nobody knows, or an
    id under ``/<manager_id>/components/`` that is not a component;
    :class:`~odenos.errors.ObjectUnavailable` (503) for a known object that cannot
    answer now.  ``PUT/GET <id>/property`` gets through to a component in
    ``error`` or ``finalizing``: it is how such a component is repaired.
    """
    target_path = addressed(path, view.manager_id)
    object_id = target_path.object_id
    if object_id is None:
        raise ObjectNotFound("/")
    if target_path is not path and view.desired_component(object_id) is None:
        raise ObjectNotFound(object_id)
    allow_failed = target_path.segments[1:] == ("property",)
    return Route(view.route(object_id, allow_failed=allow_failed), target_path)
