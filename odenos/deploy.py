"""Declarative deployment: ``odenos apply -f deploy.yaml`` and ``odenos export``.

A deployment file says what should run (``etc/deploy.example.yaml``)::

    preferences: {log.level: INFO}                 # the cluster-wide preferences
    components:
      network0: {type: Network, manager: romgr1}   # manager: optional (placement)
      driver0:
        type: DummyDriver
        restart_policy: reassign                   # stay (default) or reassign
        reassign_after: 30
        settings: {colour: blue}                   # the component's settings
      slicer0:
        type: Slicer
        slice_conditions:                          # "priority": [conditions, each with an id]
          "10": [{id: a1, connection: c-a, in_node: agg, in_port: p1}]
      federator0:
        type: Federator                            # or LinkLayerizer
        boundaries:                                # id: boundary (without id and type)
          b1: {network1: n0, node1: x, port1: p, network2: n1, node2: y, port2: q}
    connections:
      c-driver: {type: original, logic: driver0, network: network0}
    subscriptions:                                 # through the event manager
      watcher: {network0: [NodeChanged]}

``apply`` compares it with what runs (the REST API of this host's translator) and
makes the difference, in dependency order: preferences, components (created, or
their restart policy, settings, a Slicer's slice conditions and a Federator's or a
LinkLayerizer's boundaries updated: the file's list is the whole table, so a
priority or a boundary it does not name is deleted), connections, subscriptions.  A second
apply of the same file changes nothing and says so.  ``--dry-run`` prints the plan
only; ``--prune`` also deletes the connections and components the file does not
name (connections first).  What cannot be made in place (a component of another
type or on another manager, a connection with other ends) is an error that names
the file's line: delete it, or ``--prune`` with it left out, then apply.

The file is read with ``yaml.safe_load`` rules (no tags, no objects), and every
error names the file and line.  ``export`` prints the running system in the same
format (REST clients' own subscriptions and components' own left out).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from odenos.config import Config
from odenos.errors import OdenosError
from odenos.model.ids import is_valid_id

SECTIONS = ("preferences", "components", "connections", "subscriptions")
COMPONENT_KEYS = (
    "type",
    "manager",
    "restart_policy",
    "reassign_after",
    "settings",
    "slice_conditions",
    "boundaries",
)
#: Which component types take the keys of their own tables.
TABLE_TYPES = {"slice_conditions": ("Slicer",), "boundaries": ("Federator", "LinkLayerizer")}
CONNECTION_KEYS = ("type", "logic", "network")


class DeployError(OdenosError):
    code = "DeployError"
    status = 400

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")


# --- reading the file, with line numbers ---------------------------------------------------------


class _Lines(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping key."""


class _BadKey(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _construct_mapping(
    loader: _Lines, node: yaml.MappingNode, deep: bool = False
) -> dict[Any, Any]:
    mapping = _LinedDict()
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            raise _BadKey(line, f"a key must be text, not {key!r}")
        if key in mapping:
            raise _BadKey(line, f"{key!r} is given twice")
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.lines[key] = line
    return mapping


class _LinedDict(dict[str, Any]):
    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[str, int] = {}


_Lines.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@dataclass
class Deployment:
    path: str
    preferences: dict[str, Any] = field(default_factory=dict)
    components: dict[str, dict[str, Any]] = field(default_factory=dict)
    connections: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    lines: dict[tuple[str, str], int] = field(default_factory=dict)

    def where(self, section: str, name: str = "") -> str:
        line = self.lines.get((section, name)) or self.lines.get((section, ""))
        return f"{self.path}:{line}" if line else self.path


def load(path: Path) -> Deployment:
    """Read and check a deployment file; DeployError names the file and line."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise DeployError(str(path), f"cannot read it: {exc.strerror}") from None
    try:
        raw = yaml.load(text, Loader=_Lines)  # a SafeLoader that keeps line numbers
    except _BadKey as exc:
        raise DeployError(f"{path}:{exc.line}", exc.message) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise DeployError(where, f"not YAML: {getattr(exc, 'problem', exc)}") from None
    deployment = Deployment(str(path))
    if raw is None:
        return deployment
    if not isinstance(raw, _LinedDict):
        raise DeployError(f"{path}:1", f"a deployment is a mapping of {', '.join(SECTIONS)}")
    for section, line in raw.lines.items():
        deployment.lines[(section, "")] = line
        if section not in SECTIONS:
            raise DeployError(
                f"{path}:{line}", f"unknown section {section!r} ({', '.join(SECTIONS)})"
            )
    for section in SECTIONS:
        body = raw.get(section)
        if body is None:
            continue
        if not isinstance(body, _LinedDict):
            raise DeployError(deployment.where(section), f"{section} is a mapping")
        for name, line in body.lines.items():
            deployment.lines[(section, name)] = line
        _read_section(deployment, section, body)
    for conn_id, conn in deployment.connections.items():
        for end in ("logic", "network"):
            # An end the file does not create must exist already: checked when applied.
            if not is_valid_id(str(conn[end])):
                raise DeployError(deployment.where("connections", conn_id), f"{end} is not an id")
    return deployment


def _read_section(deployment: Deployment, section: str, body: dict[str, Any]) -> None:
    if section == "preferences":
        deployment.preferences = dict(body)
        return
    for name, entry in body.items():
        where = deployment.where(section, name)
        if not is_valid_id(name):
            raise DeployError(where, f"{name!r} is not a valid id")
        if section == "subscriptions":
            if not isinstance(entry, dict) or not all(
                isinstance(v, list) and all(isinstance(t, str) for t in v) for v in entry.values()
            ):
                raise DeployError(where, "a subscription is {publisher_id: [event_type, ...]}")
            deployment.subscriptions[name] = {k: list(v) for k, v in entry.items()}
            continue
        keys = COMPONENT_KEYS if section == "components" else CONNECTION_KEYS
        if not isinstance(entry, dict):
            raise DeployError(where, f"{name} is a mapping of {', '.join(keys)}")
        unknown = sorted(set(entry) - set(keys))
        if unknown:
            raise DeployError(where, f"{name}: unknown key {unknown[0]!r} ({', '.join(keys)})")
        needed = ("type",) if section == "components" else CONNECTION_KEYS
        missing = [k for k in needed if not entry.get(k)]
        if missing:
            raise DeployError(where, f"{name} needs {missing[0]}")
        if section == "components":
            if "settings" in entry and not isinstance(entry["settings"], dict):
                raise DeployError(where, f"{name}: settings is a mapping")
            for key, types in TABLE_TYPES.items():
                if key in entry and entry["type"] not in types:
                    raise DeployError(where, f"{name}: only a {' or '.join(types)} has {key}")
            component = dict(entry)
            if "slice_conditions" in entry:
                component["slice_conditions"] = _read_slice_conditions(
                    where, name, entry["slice_conditions"]
                )
            if "boundaries" in entry:
                component["boundaries"] = _read_boundaries(where, name, entry["boundaries"])
            deployment.components[name] = component
        else:
            deployment.connections[name] = dict(entry)


def _read_slice_conditions(where: str, name: str, raw: Any) -> dict[str, list[dict[str, Any]]]:
    """``{priority: [condition, ...]}``, each priority an integer written as text (a YAML
    key must be text: ``"10":``), every condition a mapping with an ``id`` (without one a
    new id would be made at every apply)."""
    shape = f"{name}: slice_conditions is {{priority: [{{id, connection, in_node, in_port}}]}}"
    if not isinstance(raw, dict):
        raise DeployError(where, shape)
    table: dict[str, list[dict[str, Any]]] = {}
    for priority, conditions in raw.items():
        try:
            key = str(int(priority))
        except (TypeError, ValueError):
            raise DeployError(where, f"{name}: priority {priority!r} is not an integer") from None
        if not isinstance(conditions, list) or not all(isinstance(c, dict) for c in conditions):
            raise DeployError(where, shape)
        for condition in conditions:
            if not is_valid_id(condition.get("id")):
                raise DeployError(where, f"{name}: every slice condition needs an id: {condition}")
        table[key] = [_condition(c) for c in conditions]
    return table


def _condition(raw: dict[str, Any]) -> dict[str, Any]:
    """A slice condition as the Slicer answers it (its type, no null keys)."""
    return {"type": "BasicSliceCondition", **{k: v for k, v in raw.items() if v is not None}}


def _read_boundaries(where: str, name: str, raw: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, dict) or not all(isinstance(b, dict) for b in raw.values()):
        raise DeployError(where, f"{name}: boundaries is {{boundary id: {{...}}}}")
    for boundary_id in raw:
        if not is_valid_id(boundary_id):
            raise DeployError(where, f"{name}: boundary id {boundary_id!r} is not a valid id")
    return {str(k): _boundary(v) for k, v in raw.items()}


def _boundary(raw: dict[str, Any]) -> dict[str, Any]:
    """A boundary without the keys its place says (its id, its component's type)."""
    return {k: v for k, v in raw.items() if k not in ("id", "type")}


# --- comparing and applying ----------------------------------------------------------------------


@dataclass
class Step:
    what: str  # "create component network0 (Network on romgr1)"
    method: str
    path: str  # under the REST root: "systemmanager/components/network0"
    body: Any = None


class Api:
    """This host's REST translator, as the operator's client (see ``odenos.cli``)."""

    def __init__(self, config: Config) -> None:
        from odenos.cli import rest_url

        self._config = config
        self._base = rest_url(config, "").removesuffix(f"{config.manager_id}/")

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        from odenos.cli import call_rest

        return call_rest(self._config, method, self._base + path, timeout=30.0, body=body)

    def get(self, path: str) -> Any:
        status, body = self.call("GET", path)
        if status != 200:
            raise DeployError(
                self._base + path, f"answered {status or 'nothing'}: {_message(body)}"
            )
        return body


def _message(body: Any) -> str:
    return str(body.get("message")) if isinstance(body, dict) else ""


def plan(deployment: Deployment, api: Api, prune: bool) -> list[Step]:
    """What to do to make the running system what the file says."""
    steps: list[Step] = []
    current_prefs = api.get("systemmanager/preferences")
    if deployment.preferences and {**current_prefs, **deployment.preferences} != current_prefs:
        merged = {**current_prefs, **deployment.preferences}
        steps.append(
            Step(
                f"set preferences {json.dumps(deployment.preferences)}",
                "PUT",
                "systemmanager/preferences",
                merged,
            )
        )
    components = api.get("systemmanager/components")
    connections = api.get("systemmanager/connections")
    for comp_id, want in deployment.components.items():
        where = deployment.where("components", comp_id)
        have = components.get(comp_id)
        body = {"type": want["type"], "id": comp_id}
        if want.get("manager"):
            body["cm_id"] = want["manager"]
        for key in ("restart_policy", "reassign_after"):
            if key in want:
                body[key] = want[key]
        if have is None:
            on = f" on {want['manager']}" if want.get("manager") else ""
            steps.append(
                Step(
                    f"create component {comp_id} ({want['type']}{on})",
                    "PUT",
                    f"systemmanager/components/{comp_id}",
                    body,
                )
            )
        else:
            if have.get("type") != want["type"]:
                raise DeployError(
                    where,
                    f"{comp_id} runs as a {have.get('type')}, not a {want['type']}: "
                    "delete it first",
                )
            if want.get("manager") and have.get("cm_id") != want["manager"]:
                raise DeployError(
                    where,
                    f"{comp_id} runs on {have.get('cm_id')}, not {want['manager']}: "
                    "delete it first",
                )
            policy = {k: want[k] for k in ("restart_policy", "reassign_after") if k in want}
            if any(have.get(k) != v for k, v in policy.items()):
                steps.append(
                    Step(
                        f"update component {comp_id} ({json.dumps(policy)})",
                        "PUT",
                        f"systemmanager/components/{comp_id}",
                        {**body, "cm_id": have.get("cm_id")},
                    )
                )
        if "settings" in want:
            current = {} if have is None else api.get(f"{comp_id}/settings")
            if current != want["settings"]:
                steps.append(
                    Step(
                        f"set settings of {comp_id}", "PUT", f"{comp_id}/settings", want["settings"]
                    )
                )
        if "slice_conditions" in want:
            steps += _slice_condition_steps(api, comp_id, want["slice_conditions"], have)
        if "boundaries" in want:
            steps += _boundary_steps(api, comp_id, want["boundaries"], have)
    for conn_id, want in deployment.connections.items():
        where = deployment.where("connections", conn_id)
        have = connections.get(conn_id)
        body = {
            "id": conn_id,
            "type": "LogicAndNetwork",
            "connection_type": want["type"],
            "logic_id": want["logic"],
            "network_id": want["network"],
        }
        if have is None:
            steps.append(
                Step(
                    f"connect {want['logic']} to {want['network']} as {want['type']} ({conn_id})",
                    "PUT",
                    f"systemmanager/connections/{conn_id}",
                    body,
                )
            )
        elif (have.get("connection_type"), have.get("logic_id"), have.get("network_id")) != (
            want["type"],
            want["logic"],
            want["network"],
        ):
            raise DeployError(
                where, f"connection {conn_id} has other ends or type: delete it first"
            )
    subscriptions = api.get("eventmanager/settings/event_subscriptions")
    for sid, filters in deployment.subscriptions.items():
        have = (subscriptions.get(sid) or {}).get("event_filters")
        if have != filters:
            steps.append(
                Step(
                    f"subscribe {sid} to {json.dumps(filters)}",
                    "PUT",
                    f"eventmanager/settings/event_subscriptions/{sid}",
                    {"subscriber_id": sid, "event_filters": filters},
                )
            )
    if prune:
        for conn_id in sorted(set(connections) - set(deployment.connections)):
            steps.append(
                Step(
                    f"delete connection {conn_id} (not in the file)",
                    "DELETE",
                    f"systemmanager/connections/{conn_id}",
                )
            )
        for comp_id in sorted(set(components) - set(deployment.components)):
            steps.append(
                Step(
                    f"delete component {comp_id} (not in the file)",
                    "DELETE",
                    f"systemmanager/components/{comp_id}",
                )
            )
    return steps


def _slice_table(api: Api, comp_id: str) -> dict[str, list[dict[str, Any]]]:
    """A running Slicer's table: ``{priority: [condition, ...]}``."""
    listed = api.get(f"{comp_id}/settings/slice_condition_table")
    return {
        str(priority): [
            _condition(api.get(f"{comp_id}/settings/slice_condition_table/conditions/{cid}"))
            for cid in ids
        ]
        for priority, ids in listed.items()
    }


def _slice_condition_steps(
    api: Api, comp_id: str, wanted: dict[str, list[dict[str, Any]]], have: Any
) -> list[Step]:
    current = {} if have is None else _slice_table(api, comp_id)
    table = f"{comp_id}/settings/slice_condition_table"
    steps = [
        Step(f"set slice conditions {priority} of {comp_id}", "PUT", f"{table}/{priority}", body)
        for priority, body in wanted.items()
        if current.get(priority) != body
    ]
    steps += [
        Step(f"delete slice conditions {priority} of {comp_id}", "DELETE", f"{table}/{priority}")
        for priority in sorted(set(current) - set(wanted))
    ]
    return steps


def _boundary_steps(
    api: Api, comp_id: str, wanted: dict[str, dict[str, Any]], have: Any
) -> list[Step]:
    current = {} if have is None else api.get(f"{comp_id}/settings/boundaries")
    path = f"{comp_id}/settings/boundaries"
    steps: list[Step] = []
    for boundary_id, body in wanted.items():
        running = current.get(boundary_id)
        if running is not None and _boundary(running) == body:
            continue
        if running is not None:  # a Federator takes no other boundary under a used id
            steps.append(
                Step(
                    f"delete boundary {boundary_id} of {comp_id}", "DELETE", f"{path}/{boundary_id}"
                )
            )
        steps.append(
            Step(
                f"set boundary {boundary_id} of {comp_id}",
                "PUT",
                f"{path}/{boundary_id}",
                {**body, "id": boundary_id},
            )
        )
    steps += [
        Step(f"delete boundary {boundary_id} of {comp_id}", "DELETE", f"{path}/{boundary_id}")
        for boundary_id in sorted(set(current) - set(wanted))
    ]
    return steps


def apply(
    deployment: Deployment, api: Api, steps: list[Step], progress: Callable[[int, int, str], None]
) -> None:
    """Run the steps in order; the first refused stops the apply (what ran stays)."""
    for done, step in enumerate(steps):
        progress(done, len(steps), step.what)
        status, body = api.call(step.method, step.path, step.body)
        if status not in (200, 201):
            raise DeployError(
                deployment.path, f"{step.what}: {status or 'no answer'} {_message(body)}"
            )
    progress(len(steps), len(steps), "done")


def export(api: Api) -> dict[str, Any]:
    """The running system as a deployment (what ``apply`` of it would leave unchanged)."""
    out: dict[str, Any] = {}
    prefs = api.get("systemmanager/preferences")
    if prefs:
        out["preferences"] = prefs
    components: dict[str, Any] = {}
    for comp_id, prop in sorted(api.get("systemmanager/components").items()):
        entry: dict[str, Any] = {"type": prop.get("type"), "manager": prop.get("cm_id")}
        if prop.get("restart_policy", "stay") != "stay":
            entry["restart_policy"] = prop["restart_policy"]
        if "reassign_after" in prop:
            entry["reassign_after"] = prop["reassign_after"]
        status, settings = api.call("GET", f"{comp_id}/settings")
        if status == 200 and settings:
            entry["settings"] = settings
        if prop.get("type") in TABLE_TYPES["slice_conditions"]:
            table = _slice_table(api, comp_id)
            if table:
                entry["slice_conditions"] = {
                    priority: [{k: v for k, v in c.items() if k != "type"} for c in conditions]
                    for priority, conditions in table.items()
                }
        if prop.get("type") in TABLE_TYPES["boundaries"]:
            boundaries = api.get(f"{comp_id}/settings/boundaries")
            if boundaries:
                entry["boundaries"] = {k: _boundary(v) for k, v in sorted(boundaries.items())}
        components[comp_id] = entry
    if components:
        out["components"] = components
    connections = {
        conn_id: {
            "type": c.get("connection_type"),
            "logic": c.get("logic_id"),
            "network": c.get("network_id"),
        }
        for conn_id, c in sorted(api.get("systemmanager/connections").items())
    }
    if connections:
        out["connections"] = connections
    subscriptions = {
        sid: sub.get("event_filters", {})
        for sid, sub in sorted(api.get("eventmanager/settings/event_subscriptions").items())
        if not sid.startswith("rest-")
        and sid not in components  # not REST clients', not components' own
    }
    if subscriptions:
        out["subscriptions"] = subscriptions
    return out


# --- the commands --------------------------------------------------------------------------------


def _progress_bar(enabled: bool) -> Callable[[int, int, str], None]:
    def show(done: int, total: int, what: str) -> None:
        if not enabled or total < 2:
            return
        width = 30
        filled = width * done // total
        line = f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {what[:50]:<50}"
        sys.stderr.write(line + ("\n" if done == total else ""))
        sys.stderr.flush()

    return show


def cmd_apply(config: Config, file: str | None, dry_run: bool, prune: bool) -> int:
    if not file:
        print("error: odenos apply -f <deployment file>", file=sys.stderr)
        return 2
    try:
        deployment = load(Path(file))
        api = Api(config)
        steps = plan(deployment, api, prune)
        if not steps:
            print(f"{file}: nothing to change")
            return 0
        for step in steps:
            print(("would " if dry_run else "") + step.what)
        if dry_run:
            print(f"{len(steps)} change(s) planned (--dry-run: nothing done)")
            return 0
        apply(deployment, api, steps, _progress_bar(sys.stderr.isatty() and len(steps) > 20))
        print(f"{len(steps)} change(s) made")
        return 0
    except DeployError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return 1


def cmd_export(config: Config) -> int:
    try:
        body = export(Api(config))
    except DeployError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return 1
    print("# odenos export: the running system, for odenos apply -f")
    print(yaml.safe_dump(body, sort_keys=False, default_flow_style=False), end="")
    return 0
