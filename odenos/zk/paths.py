"""Every znode path of the system, built here and nowhere else.

The tree, as ``zkCli.sh ls`` shows it (reference section 3)::

    /system_manager/<manager_id>           ephemeral: the live, active system manager
    /system_manager/<manager_id>~<host:pid>  ephemeral: a standby system manager
    /component_managers/<cm_id>            ephemeral: a live component manager
    /components/<cm_id>:<comp_id>          ephemeral: a live component
    /odenos/components/<comp_id>           persistent: desired components (type, cm_id)
    /odenos/connections/<conn_id>          persistent: connections and their state
    /odenos/subscriptions/<subscriber_id>  persistent: event filters of a subscriber
    /odenos/approvals/<cm_id>              persistent: a component manager may take components
    /odenos/state/<comp_id>/<key>          persistent: a component's durable records
    /odenos/lock/                          the global lock (kazoo's Lock recipe)
    /odenos/election/                      the system managers' election (same recipe)
    /odenos/cluster                        persistent: the cluster id (odenos.identity)
    /odenos/secret                         persistent: the cluster secret (odenos.http.signing)

The first three are the reference's and stay as ODENOS had them.  What the
reference kept in memory (and lost on a restart) lives under ``/odenos``.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

SYSTEM_MANAGER = "/system_manager"
COMPONENT_MANAGERS = "/component_managers"
COMPONENTS = "/components"

ROOT = "/odenos"
DESIRED_COMPONENTS = f"{ROOT}/components"
CONNECTIONS = f"{ROOT}/connections"
SUBSCRIPTIONS = f"{ROOT}/subscriptions"
#: ``<cm_id>``: the component managers that may take components (admission).
APPROVALS = f"{ROOT}/approvals"
GLOBAL_LOCK = f"{ROOT}/lock"
#: The system managers' election (kazoo's Lock recipe): the holder is the active one.
ELECTION = f"{ROOT}/election"
STATE = f"{ROOT}/state"
#: ``{"id", "created", "reinitialized_from"?}``: which cluster this ZooKeeper holds.
CLUSTER = f"{ROOT}/cluster"
#: ``{"current", "previous"}``: the secret that signs daemon-to-daemon requests.
SECRET = f"{ROOT}/secret"

#: Persistent parents created at start-up by every daemon (idempotent).
PERSISTENT_PARENTS = (
    SYSTEM_MANAGER,
    COMPONENT_MANAGERS,
    COMPONENTS,
    DESIRED_COMPONENTS,
    CONNECTIONS,
    SUBSCRIPTIONS,
    APPROVALS,
    GLOBAL_LOCK,
    ELECTION,
    STATE,
)

#: Separates the manager id from the component id in a ``/components`` child name.
COMPONENT_SEP = ":"


#: The reference's tree: ODENOS's tools list it, so it may be world-readable (see
#: :mod:`odenos.zk.acl`); everything under ``/odenos`` is the system's alone.
PUBLIC_PARENTS = (SYSTEM_MANAGER, COMPONENT_MANAGERS, COMPONENTS)


def is_public(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PUBLIC_PARENTS)


def system_manager(manager_id: str) -> str:
    return f"{SYSTEM_MANAGER}/{manager_id}"


#: Separates the manager id from the instance in a standby's ``/system_manager`` child.
STANDBY_SEP = "~"


def system_manager_standby(manager_id: str, instance: str) -> str:
    return f"{SYSTEM_MANAGER}/{manager_id}{STANDBY_SEP}{instance}"


def component_manager(cm_id: str) -> str:
    return f"{COMPONENT_MANAGERS}/{cm_id}"


def live_component_name(cm_id: str, comp_id: str) -> str:
    return f"{cm_id}{COMPONENT_SEP}{comp_id}"


def live_component(cm_id: str, comp_id: str) -> str:
    return live_component_path(live_component_name(cm_id, comp_id))


def live_component_path(name: str) -> str:
    """The path of a ``/components`` child given its name (``"romgr1:network0"``)."""
    return f"{COMPONENTS}/{name}"


def is_live_component_of(name: str, cm_id: str) -> bool:
    """Is the ``/components`` child ``name`` one of manager ``cm_id``'s?"""
    return name.startswith(live_component_name(cm_id, ""))


def object_settings(object_id: str) -> str:
    """Persistent: a daemon's object's settings (system manager, component manager)."""
    return f"{ROOT}/settings/{object_id}"


def split_live_component_name(name: str) -> tuple[str, str]:
    """``"romgr1:network0"`` -> ``("romgr1", "network0")``.

    Manager ids cannot hold ``:`` (the config refuses them), so the first
    ``:`` is the separator even when a component id contains one.
    """
    cm_id, sep, comp_id = name.partition(COMPONENT_SEP)
    if not sep:
        raise ValueError(f"not a live component name: {name!r}")
    return cm_id, comp_id


def desired_component(comp_id: str) -> str:
    return f"{DESIRED_COMPONENTS}/{comp_id}"


def connection(conn_id: str) -> str:
    return f"{CONNECTIONS}/{conn_id}"


def approval(cm_id: str) -> str:
    return f"{APPROVALS}/{cm_id}"


def subscription(subscriber_id: str) -> str:
    return f"{SUBSCRIPTIONS}/{subscriber_id}"


def state_root(comp_id: str) -> str:
    """Persistent: the root of a component's records (one child per record)."""
    return f"{STATE}/{comp_id}"


def state_record(comp_id: str, key: str) -> str:
    """The znode of record ``key`` (any string) of ``comp_id``.  A component with tens of
    thousands of records lists past 1 MiB: kazoo reads that, Java's zkCli does not."""
    return f"{state_root(comp_id)}/{state_key_name(key)}"


def state_key_name(key: str) -> str:
    """A record key as a znode name: percent-encoded, so that ``/`` and the names
    ZooKeeper refuses (``.``, ``..``) cannot occur."""
    return quote(key, safe="-_~").replace(".", "%2E")


def state_key_of(name: str) -> str:
    return unquote(name)


def basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]
