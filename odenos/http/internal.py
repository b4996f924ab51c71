"""Paths the daemons serve to each other on their internal addresses, never routed by the
REST translator (it routes ``/<object_id>/...``, and no object id starts with ``_``)."""

#: A component manager or a REST translator takes the events delivered to it here.
EVENTS_PATH = "/_events"

#: A component manager stops gracefully when this is posted to
#: (``DELETE /systemmanager/component_managers/<id>``).
SHUTDOWN_PATH = "/_shutdown"

#: A component manager answers once its view shows a subscription (a publisher-side barrier,
#: so that a subscription is in effect when the subscribe call returns).
SUBSCRIPTION_SEEN_PATH = "/_subscription_seen"
