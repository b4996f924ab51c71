"""What the daemons' logs said while they were benchmarked: warnings, errors, tracebacks.

A bench run is also a stress test; its figures are worth less if a daemon
logged an exception on the way.  Lines are grouped with their numbers and
addresses blanked, so that a thousand "503" warnings make one entry.
"""

from __future__ import annotations

import collections
import re
from pathlib import Path

_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d[ T][\d:,.]+\s+")
_PYTHON_LEVEL = re.compile(r"^(WARNING|ERROR|CRITICAL) ")
_JAVA_LEVEL = re.compile(r"\b(WARN|ERROR)\b")


def _normalize(text: str) -> str:
    return re.sub(r"\d+", "N", text)[:160]


def digest(root: Path, limit: int = 12) -> list[str]:
    """Lines describing the warnings and errors of every ``*.log`` under ``root``."""
    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    for path in sorted(root.rglob("*.log")):
        where = path.relative_to(root).parts
        kind = f"{where[0]}/{path.stem}" if len(where) > 1 else path.stem
        lines = path.read_text(errors="replace").splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            i += 1
            if path.stem == "zookeeper":
                match = _JAVA_LEVEL.search(line)
                if match:
                    counts[(kind, _normalize(line[match.start() :]))] += 1
            elif line.startswith("Traceback"):
                # A traceback (chained ones included) runs until the next log line;
                # the exception that ended it is its last line.
                end = i
                while end < len(lines) and not _TIMESTAMP.match(lines[end]):
                    end += 1
                block = [text for text in lines[i:end] if text.strip()] or ["?"]
                counts[(kind, "Traceback -> " + _normalize(block[-1]))] += 1
                i = end
            else:
                body = _TIMESTAMP.sub("", line)
                if _PYTHON_LEVEL.match(body):
                    counts[(kind, _normalize(body))] += 1
    if not counts:
        return ["no warnings, errors or tracebacks in the daemons' logs"]
    out = [f"{n:5d}x {kind}: {text}" for (kind, text), n in counts.most_common(limit)]
    rest = len(counts) - limit
    if rest > 0:
        out.append(f"   ... and {rest} more distinct lines")
    return out
