"""Ids written so that ``_`` can join them into one name that maps back.

Logic components name what they make from the ids of what it stands for, joined by
``_`` (ODENOS's spelling: ``node001_port0011``).  An id may hold ``_`` itself, so the
parts that come before a separator are escaped: ``~`` is written ``~~`` and ``_`` is
written ``~u``.  The escaped text has no ``_``, so the first ``_`` after it is always
the separator; the writing is injective and uses no character a URL path would change.
"""

from __future__ import annotations


def escape(part: str) -> str:
    """``part`` with ``~`` written ``~~`` and ``_`` written ``~u``."""
    return part.replace("~", "~~").replace("_", "~u")


def unescape(text: str) -> str | None:
    """What :func:`escape` wrote ``text`` from; None when no escaping gives ``text`` (a
    name not made this way)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "~":
            out.append(char)
            i += 1
            continue
        escaped = text[i + 1 : i + 2]
        if escaped == "~":
            out.append("~")
        elif escaped == "u":
            out.append("_")
        else:
            return None
        i += 2
    return "".join(out)
