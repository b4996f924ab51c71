"""Every Prometheus metric the daemons keep, named ``odenos_<subsystem>_<what>_<unit>``.

One registry per process (prometheus-client's default): the core process serves its
own (system manager, translator) at the translator's ``GET /metrics``, a component
manager its own at ``GET /<cm_id>/metrics`` (through any translator), a standalone
translator its own at its ``/metrics``.  ``docs/operations.md`` lists them with a
scrape configuration and alert rules.

Definitions only (no import of the rest of the package), so that any module can
count; what is computed at scrape time from the cluster view is in
:mod:`odenos.cluster_metrics`.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

#: Latencies of a daemon's own work: from a tenth of a millisecond to ten seconds.
FAST = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    10,
)
#: Waits that may be long (a lock held by a manager resuming thousands of components).
SLOW = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

# --- ZooKeeper (odenos.zk) --------------------------------------------------------------------

ZK_GATE = Gauge(
    "odenos_zookeeper_gate",
    "1 for the ZooKeeper gate's current state (UP: acting, RECOVERING: connection lost, "
    "session may live, DOWN: no session)",
    ["state"],
)
ZK_SESSION_EVENTS = Counter(
    "odenos_zookeeper_session_events_total",
    "ZooKeeper connection state changes (connected, suspended, lost, closed)",
    ["event"],
)
ZK_RECOVERING = Counter(
    "odenos_zookeeper_recovering_seconds_total",
    "Time spent with the gate RECOVERING (connection lost, waiting for the session)",
)
ZK_EPHEMERAL_RECREATIONS = Counter(
    "odenos_zookeeper_ephemeral_recreations_total",
    "The daemon's ephemeral registration node created again after its session was lost "
    "(a component manager's components are published again with it)",
)
ZK_OPERATION = Histogram(
    "odenos_zookeeper_operation_seconds",
    "Latency of ZooKeeper requests made by the daemon",
    ["operation"],
    buckets=FAST,
)

# --- locks (odenos.zk.lock) -------------------------------------------------------------------

LOCK_WAIT = Histogram("odenos_lock_wait_seconds", "Time waited for a lock", ["lock"], buckets=SLOW)
LOCK_HOLD = Histogram("odenos_lock_hold_seconds", "Time a lock was held", ["lock"], buckets=SLOW)

# --- the REST translator (resttranslator) -------------------------------------------------------

REST_REQUESTS = Counter(
    "odenos_rest_requests_total",
    "Requests through the REST translator, by route template (the OpenAPI path), method and status",
    ["route", "method", "status"],
)
REST_FORWARD = Histogram(
    "odenos_rest_forward_seconds",
    "Time to forward a request to the daemon that holds its object and get the answer",
    ["kind"],
    buckets=FAST,
)
REST_REFUSALS = Counter(
    "odenos_rest_refusals_total",
    "Requests refused without reaching an object, by reason (not_found, manager_down, "
    "restarting, error, ...)",
    ["reason"],
)
REST_SUBSCRIPTIONS = Gauge(
    "odenos_rest_event_subscriptions", "REST clients' event subscriptions held by this translator"
)
REST_EVENTS_QUEUED = Gauge(
    "odenos_rest_event_queue_depth", "Events waiting in REST clients' queues on this translator"
)
REST_EVENTS_DROPPED = Counter(
    "odenos_rest_events_dropped_total",
    "Events a REST client's full queue pushed out (its oldest)",
)

# --- events between components (odenos.events) ---------------------------------------------------

EVENTS_PUBLISHED = Counter("odenos_events_published_total", "Events published by this daemon")
EVENTS_DELIVERED = Counter(
    "odenos_events_delivered_total", "Events handed to a subscriber in this daemon"
)
EVENTS_DROPPED = Counter(
    "odenos_events_dropped_total", "Events not delivered, by reason", ["reason"]
)
EVENTS_QUEUED = Gauge(
    "odenos_events_queue_depth", "Events waiting in this daemon's outboxes and inboxes"
)
