"""Operator commands that look at a running system: ``odenos tree``, ``odenos components``,
``odenos managers``, and ``odenos config`` (the cluster-wide preferences).

``components`` and ``managers`` ask the REST translator of this host (as ``odenos
status`` does, with a token of the tokens file if the port wants one) and print a
table, or with ``--json`` the system manager's answers as they are.  ``tree`` reads
ZooKeeper itself, with this host's credentials: every znode of the system under the
connect string's chroot, its data and, for an ephemeral node, the session that owns it
(which daemon, when the daemons' status files say).  The cluster secret
(``/odenos/secret``) is never printed.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from kazoo.exceptions import NoNodeError

from odenos.cluster import status_file
from odenos.config import Config
from odenos.zk import paths
from odenos.zk.gate import read_status_file

#: Znodes whose data is never printed.
HIDDEN = (paths.SECRET,)
#: The longest data shown on a line of ``odenos tree`` (``--json`` shows it all).
DATA_WIDTH = 100


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table: columns as wide as their widest cell, ``-`` for None."""
    cells = [[("-" if v is None else str(v)) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in cells:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


# --- REST ----------------------------------------------------------------------------------


def _get(config: Config, path: str) -> Any:
    from odenos.cli import get_json, rest_url  # the CLI's REST client

    url = rest_url(config, path)
    status, body = get_json(config, url, timeout=10.0)
    if status != 200:
        answer = f"answered {status}" if status else "does not answer"
        raise SystemExit(f"error: GET {url} {answer} (is the system running?)")
    return body


def cmd_components(config: Config, as_json: bool) -> int:
    components = _get(config, "components")
    connections = _get(config, "connections")
    if as_json:
        print(json.dumps({"components": components, "connections": connections}, indent=2))
        return 0
    by_component: dict[str, list[str]] = {}
    for conn_id, conn in sorted(connections.items()):
        for end in ("logic_id", "network_id"):
            by_component.setdefault(str(conn.get(end)), []).append(
                f"{conn_id}({conn.get('connection_type')},{conn.get('state')})"
            )
    rows = [
        (
            comp_id,
            comp.get("type"),
            comp.get("cm_id"),
            comp.get("state"),
            comp.get("restart_policy"),
            " ".join(by_component.get(comp_id, [])) or None,
            comp.get("reason"),
        )
        for comp_id, comp in sorted(components.items())
    ]
    print(table(("id", "type", "manager", "state", "restart", "connections", "reason"), rows))
    return 0


def cmd_managers(config: Config, as_json: bool) -> int:
    managers = _get(config, "component_managers")
    components = _get(config, "components")
    if as_json:
        print(json.dumps(managers, indent=2))
        return 0
    count: dict[str, int] = {}
    for comp in components.values():
        count[str(comp.get("cm_id"))] = count.get(str(comp.get("cm_id")), 0) + 1
    rows = [
        (
            m.get("id"),
            m.get("state"),
            m.get("approved"),
            m.get("host"),
            m.get("pid"),
            m.get("address"),
            count.get(str(m.get("id")), 0),
            m.get("component_types"),
        )
        for m in sorted(managers, key=lambda m: str(m.get("id")))
    ]
    headers = ("id", "state", "approved", "host", "pid", "address", "components", "types")
    print(table(headers, rows))
    return 0


# --- ZooKeeper -----------------------------------------------------------------------------


def _owners(config: Config) -> dict[int, str]:
    """Session id -> the daemon of this host that holds it (from their status files)."""
    from odenos.cli import plan

    found = {}
    for p in plan(config):
        status = read_status_file(status_file(config, p.name)) or {}
        session = status.get("session")
        if isinstance(session, str):
            try:
                found[int(session, 16)] = p.name
            except ValueError:
                continue
    return found


def _decode(raw: bytes | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


async def _walk(config: Config, root: str) -> list[dict[str, Any]]:
    from odenos.cli import operator_zookeeper

    zk = await operator_zookeeper(config, "odenos tree")
    kazoo = zk.kazoo

    def walk() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        todo = [root]
        while todo:
            path = todo.pop()
            try:
                raw, stat = kazoo.get(path)
                children = kazoo.get_children(path)
            except NoNodeError:
                continue
            found.append(
                {
                    "path": path,
                    "data": "(hidden)" if path in HIDDEN else _decode(raw),
                    "ephemeral_owner": stat.ephemeralOwner or None,
                    "children": len(children),
                }
            )
            base = path.rstrip("/")
            todo.extend(f"{base}/{c}" for c in sorted(children, reverse=True) if c != "zookeeper")
        return found

    try:
        return await asyncio.to_thread(walk)
    finally:
        await zk.stop()


def cmd_tree(config: Config, root: str | None, as_json: bool) -> int:
    start = root or "/"
    if not start.startswith("/"):
        print(f"error: a znode path starts with '/', not {start!r}", file=sys.stderr)
        return 2
    nodes = asyncio.run(_walk(config, start))
    owners = _owners(config)
    for node in nodes:
        owner = node["ephemeral_owner"]
        if owner is not None:
            node["ephemeral_owner"] = f"0x{owner:x}"
            if owner in owners:
                node["owner_daemon"] = owners[owner]
    if as_json:
        print(json.dumps(nodes, indent=2))
        return 0
    if not nodes:
        print(f"error: no znode {start}", file=sys.stderr)
        return 1
    for node in nodes:
        depth = 0 if node["path"] == start else node["path"][len(start) :].strip("/").count("/") + 1
        name = node["path"] if depth == 0 else node["path"].rpartition("/")[2]
        line = "  " * depth + name
        if node["ephemeral_owner"] is not None:
            line += f"  [ephemeral, session {node['ephemeral_owner']}"
            line += f" = {node['owner_daemon']}]" if "owner_daemon" in node else "]"
        if node["data"] is not None:
            text = node["data"] if isinstance(node["data"], str) else json.dumps(node["data"])
            line += f"  {text if len(text) <= DATA_WIDTH else text[: DATA_WIDTH - 3] + '...'}"
        print(line)
    return 0


# --- preferences -----------------------------------------------------------------------------


def cmd_config(config: Config, action: str | None, args: list[str]) -> int:
    """``config get [KEY]``: the cluster's preferences (each key, its value or
    ``(default)``, and what it does); ``config set KEY VALUE``: one of them (VALUE is
    JSON when it parses, else text; ``null`` puts back the default)."""
    from odenos.cli import call_rest, rest_url
    from odenos.preferences import PREFERENCES

    url = rest_url(config, "preferences")
    current = _get(config, "preferences")
    if action == "get" and len(args) <= 1:
        if args:
            if args[0] not in PREFERENCES:
                print(
                    f"error: no preference {args[0]!r} ({', '.join(PREFERENCES)})", file=sys.stderr
                )
                return 2
            print(json.dumps(current.get(args[0])) if args[0] in current else "(default)")
            return 0
        for key, pref in PREFERENCES.items():
            shown = json.dumps(current[key]) if key in current else "(default)"
            print(f"{key} = {shown}    # {pref.description}")
        return 0
    if action == "set" and len(args) == 2:
        key, text = args
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        status, body = call_rest(config, "PUT", url, timeout=10.0, body={**current, key: value})
        if status == 200:
            print(f"{key} = {json.dumps(body.get(key)) if key in body else '(default)'}")
            return 0
        message = body.get("message") if isinstance(body, dict) else None
        print(f"error: config set {key}: {message or status or 'no answer'}", file=sys.stderr)
        return 1
    print("usage: odenos config get [KEY] | odenos config set KEY VALUE", file=sys.stderr)
    return 2
