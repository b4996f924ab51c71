"""Paths the daemons serve to each other on their internal addresses, never routed by the
REST translator (it routes ``/<object_id>/...``, and no object id starts with ``_``)."""

#: A component manager or a REST translator takes the events delivered to it here.
EVENTS_PATH = "/_events"

#: A component manager stops gracefully when this is posted to
#: (``DELETE /systemmanager/component_managers/<id>``).
SHUTDOWN_PATH = "/_shutdown"
