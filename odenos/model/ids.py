"""The one rule for object ids, and the names no object may take.

Ids become znode names (``/odenos/components/<id>``, ``/components/<cm_id>:<id>``)
and the first segment of a REST path (``/<id>/...``), so the rule is narrow:
a letter or digit, then letters, digits, ``_``, ``.`` or ``-``.  Nothing starts
with ``_``: that prefix is kept for the daemons' internal endpoints
(:mod:`odenos.http.internal`), which the translator therefore can never route to.

Reserved names are compared without regard to case, so that no object can be
called ``Metrics`` beside the translator's ``/metrics``.
"""

from __future__ import annotations

import re
from typing import Any

from odenos.errors import BadRequest

#: Ids the REST translator serves itself or routes to the core process, never to a
#: component or a component manager.
RESERVED_IDS = frozenset(
    {"resttranslator", "eventmanager", "metrics", "event", "openapi.json", "openapi.yaml"}
)

MAX_ID_LENGTH = 128
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")
ID_RULE = f"a letter or digit, then up to {MAX_ID_LENGTH - 1} letters, digits, '_', '.' or '-'"


def is_valid_id(value: Any) -> bool:
    """``value`` is a string that follows the id rule in full (no trailing newline)."""
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def is_reserved(value: str) -> bool:
    return value.casefold() in RESERVED_IDS


def check_id(value: Any, what: str) -> str:
    """``value`` if it is a valid id, else :class:`BadRequest` naming ``what``."""
    if not is_valid_id(value):
        raise BadRequest(
            f"{what} {value!r} is not a valid id: {ID_RULE}",
            value=value if isinstance(value, str) else repr(value),
        )
    return str(value)
