"""The one exception hierarchy of the project.

Every error a user can meet derives from :class:`OdenosError`.  Domain errors
carry the data that explains them (which component, which reason) so that the
HTTP layer can render ``{"error": code, "message": text, ...details}`` without
knowing the error, and so that logs say what happened.  ZooKeeper (kazoo)
errors are translated once, in :mod:`odenos.zk.client`, into the
``Coordination*`` errors below.
"""

from __future__ import annotations

from typing import Any


class OdenosError(Exception):
    """Root of every error of this project.

    ``status`` is the HTTP status the REST layer answers with; ``code`` the
    machine-readable ``error`` field of the JSON body; ``details`` extra fields
    of that body (they must be JSON-serialisable).
    """

    status: int = 500
    code: str = "InternalError"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        body.update(self.details)
        return body


# --- configuration ---------------------------------------------------------------------------


class ConfigError(OdenosError):
    """A malformed ``odenos.conf``: names the file and line at fault."""

    code = "ConfigError"

    def __init__(self, message: str, file: str, line: int | None = None) -> None:
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {message}", file=file, line=line)
        self.file = file
        self.line = line


class EnvironmentProblem(OdenosError):
    """Something the host lacks (Java, ZooKeeper jars); the message says how to fix it."""

    code = "EnvironmentProblem"


class ZooKeeperServerError(OdenosError):
    """The embedded ZooKeeper server could not be started or kept running."""

    code = "ZooKeeperServerError"


class LaunchError(OdenosError):
    """``odenos start``/``run`` could not bring a process up; the message says which and why."""

    code = "LaunchError"


class DuplicateDaemon(OdenosError):
    """Another live process already runs under this id (its ephemeral node is not stale)."""

    status = 409
    code = "DuplicateDaemon"


# --- HTTP-facing errors ----------------------------------------------------------------------


class BadRequest(OdenosError):
    status = 400
    code = "BadRequest"


class Forbidden(OdenosError):
    status = 403
    code = "Forbidden"


class NotFound(OdenosError):
    status = 404
    code = "NotFound"


class MethodNotAllowed(OdenosError):
    status = 405
    code = "MethodNotAllowed"


class Conflict(OdenosError):
    status = 409
    code = "Conflict"


class PayloadTooLarge(OdenosError):
    """413: something the request would store passes a limit (ZooKeeper's 1 MB, a bound of
    this project): refused before anything is stored."""

    status = 413
    code = "PayloadTooLarge"


class Unavailable(OdenosError):
    """503: the target exists but cannot answer now; ``retry_after`` seconds is a hint."""

    status = 503
    code = "Unavailable"

    def __init__(self, message: str, retry_after: int = 1, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class BadGateway(OdenosError):
    """502: the process behind answered something that is not a valid answer."""

    status = 502
    code = "BadGateway"


class TooManyRequests(Unavailable):
    """429: this client holds as many as it may; ``Retry-After`` says when one may go."""

    status = 429
    code = "TooManyRequests"


class GatewayTimeout(OdenosError):
    status = 504
    code = "GatewayTimeout"


# --- domain errors ---------------------------------------------------------------------------


class ObjectNotFound(NotFound):
    """No object (system manager, component manager, component) has this id."""

    code = "ObjectNotFound"

    def __init__(self, object_id: str) -> None:
        super().__init__(f"no object with id {object_id!r}", object_id=object_id)
        self.object_id = object_id


class ComponentNotFound(NotFound):
    code = "ComponentNotFound"

    def __init__(self, component_id: str) -> None:
        super().__init__(f"component {component_id!r} does not exist", component_id=component_id)
        self.component_id = component_id


class ComponentManagerNotFound(NotFound):
    code = "ComponentManagerNotFound"

    def __init__(self, cm_id: str) -> None:
        super().__init__(f"component manager {cm_id!r} is not registered", cm_id=cm_id)
        self.cm_id = cm_id


#: The Retry-After of an object that is not available, unless its refusal says otherwise
#: (the cluster-wide preference ``rest.retry_after``, see :mod:`odenos.preferences`).
RETRY_AFTER = 1


class ObjectUnavailable(Unavailable):
    """The object is known but not alive: its manager crashed, is restarting, or it failed."""

    code = "ObjectUnavailable"

    def __init__(self, object_id: str, reason: str, retry_after: int | None = None) -> None:
        super().__init__(
            f"{object_id!r} is not available: {reason}",
            retry_after=RETRY_AFTER if retry_after is None else retry_after,
            object_id=object_id,
            reason=reason,
        )
        self.object_id = object_id
        self.reason = reason


class ComponentCreateFailed(OdenosError):
    """The component manager could not bring the component to ``running``."""

    status = 500
    code = "ComponentCreateFailed"

    def __init__(self, component_id: str, reason: str) -> None:
        super().__init__(
            f"component {component_id!r} could not be created: {reason}",
            component_id=component_id,
            reason=reason,
        )


class ComponentTimeout(GatewayTimeout):
    code = "ComponentTimeout"

    def __init__(self, component_id: str, action: str, seconds: float) -> None:
        super().__init__(
            f"component {component_id!r} was not {action} within {seconds:g} s",
            component_id=component_id,
            action=action,
        )


class InvalidStateTransition(Conflict):
    code = "InvalidStateTransition"

    def __init__(self, object_id: str, current: str, requested: str) -> None:
        super().__init__(
            f"{object_id!r} cannot go from state {current!r} to {requested!r}",
            object_id=object_id,
            current=current,
            requested=requested,
        )


# --- coordination (ZooKeeper) ----------------------------------------------------------------


class CoordinationError(Unavailable):
    """A ZooKeeper operation failed for a reason that is not the caller's input (503)."""

    code = "CoordinationError"


class CoordinationUnavailable(CoordinationError):
    """ZooKeeper cannot be reached (connection lost, session expired, timeout)."""

    code = "CoordinationUnavailable"


class NodeMissing(CoordinationError):
    code = "NodeMissing"

    def __init__(self, path: str) -> None:
        super().__init__(f"znode {path} does not exist", path=path)
        self.path = path


class NodeExists(CoordinationError):
    code = "NodeExists"

    def __init__(self, path: str) -> None:
        super().__init__(f"znode {path} already exists", path=path)
        self.path = path


class NodeVersionMismatch(CoordinationError):
    code = "NodeVersionMismatch"

    def __init__(self, path: str) -> None:
        super().__init__(f"znode {path} changed under us", path=path)
        self.path = path


class LockTimeout(CoordinationError):
    code = "LockTimeout"

    def __init__(self, path: str, seconds: float) -> None:
        super().__init__(
            f"global lock {path} not acquired within {seconds:g} s "
            "(another manager is registering or resuming)",
            path=path,
        )
