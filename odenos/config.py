"""The ``etc/odenos.conf`` parser (reference section 2).

One setting a line: a key, white space, a value (the rest of the line).  A
key alone is a flag that is on.  ``#`` starts a comment anywhere on a line.
Keys are case-sensitive (``MANAGER`` and ``PROCESS`` upper case, as in
ODENOS).  Anything malformed raises :class:`~odenos.errors.ConfigError`
naming the file and line and what was expected; unknown, ignored and repeated
keys, and ``PROCESS`` component directories that do not exist, only produce a
warning in :attr:`Config.warnings`, for the caller to log (a missing component
directory is not fatal: the component manager starts with the other types).

Relative paths are resolved against the *base directory*: the parent of the
config file's directory when that directory is ``etc`` (the ODENOS layout,
``etc/`` and ``var/`` side by side), else the config file's directory.
"""

from __future__ import annotations

import ipaddress
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from odenos.errors import ConfigError
from odenos.http.rest_auth import Token, load_tokens, tls_context
from odenos.model.ids import ID_RULE, RESERVED_IDS, is_reserved, is_valid_id
from odenos.zk.acl import load_credentials

DEFAULT_MANAGER_ID = "systemmanager"
DEFAULT_ZOOKEEPER_PORT = 2181
SUPPORTED_LANGUAGES = ("python",)
#: ``process.event_loop``: the first is the default.
EVENT_LOOPS = ("uvloop", "asyncio")

_DECIMAL = re.compile(r"[0-9]+")
# RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens.
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_HOST_RULE = (
    "a host name (dot-separated labels of letters, digits and inner '-'), "
    "an IPv4 address, or an IPv6 address (optionally in brackets)"
)
_FLAG_VALUES = dict.fromkeys(("on", "true", "yes", "1"), True) | dict.fromkeys(
    ("off", "false", "no", "0"), False
)
_FLAG_KEYS = (
    "manager.disabled",
    "manager.auto_approve",
    "zookeeper.embed",
    "zookeeper.world_read",
)
_PORT = "a port number"
_MS = "a time in milliseconds"
#: Keys that need a value, with what the value should be (for messages).
_VALUE_KEYS = {
    "MANAGER": "the system manager id",
    "PROCESS": "<cm id>,<language>[,<component dir>...]",
    "rest.host": _HOST_RULE,
    "rest.port": f"{_PORT} (1-65535)",
    "rest.root": "an existing folder of static files",
    "rest.auth": "off (no authentication on the REST port: say so explicitly)",
    "rest.auth.tokens": "a file of '<token> <role> [<name>]' lines, readable by its owner only",
    "rest.tls.cert": "a PEM certificate (chain) file",
    "rest.tls.key": "its PEM private key file",
    "rest.forward_timeout": f"{_MS} (100-600000)",
    "process.host": _HOST_RULE,
    "process.event_loop": "uvloop or asyncio",
    "zookeeper.host": "host[:port][,host[:port]...][/chroot]",
    "zookeeper.port": f"{_PORT} (1-65535)",
    "zookeeper.session_timeout": f"{_MS} (1000-600000)",
    "zookeeper.classpath": "a Java class path",
    "zookeeper.auth": "a file holding 'user:password', readable by its owner only, or off",
    "var.dir": "a folder",
    "monitor": "a comma-separated list of object ids",
    "monitor.logging": "a comma-separated list of object ids",
    "log.config": "a YAML file of Python logging's dictConfig (version: 1), as etc/logging.yaml",
}
_CASE_HINTS = {k.lower(): k for k in (*_FLAG_KEYS, *_VALUE_KEYS)}


@dataclass(frozen=True)
class ProcessSpec:
    """One ``PROCESS`` line: a component manager to run on this host."""

    cm_id: str
    language: str
    component_dirs: tuple[Path, ...]
    line: int


@dataclass(frozen=True)
class ZooKeeperConfig:
    """Where ZooKeeper is, and whether the core process runs it itself.

    ``hosts`` gives every host its port; ``chroot`` is ``None`` or
    ``/a[/b...]``.  With ``embed`` on, ``hosts`` is ``127.0.0.1:<port>``,
    where the embedded server listens.
    """

    hosts: str
    port: int
    chroot: str | None
    embed: bool
    session_timeout_ms: int
    classpath: str | None
    #: ``user:password`` for ZooKeeper (see :mod:`odenos.zk.acl`); None: no ACLs.
    auth_file: Path | None = None
    #: Others may read the public tree (/system_manager, /component_managers, /components).
    world_read: bool = True
    #: The credentials are generated there on first start if missing (the embedded default).
    generate_auth: bool = False

    @property
    def connect_string(self) -> str:
        """The string kazoo's ``KazooClient(hosts=...)`` takes."""
        return self.hosts + (self.chroot or "")


@dataclass(frozen=True)
class Config:
    """A validated ``odenos.conf``; every path in it is absolute."""

    path: Path
    base_dir: Path
    manager_disabled: bool
    #: The active system manager approves every component manager that registers.
    auto_approve: bool
    manager_id: str
    processes: tuple[ProcessSpec, ...]
    rest_host: str
    rest_port: int
    rest_root: Path | None
    #: Bearer tokens of the REST port (None: no authentication there).
    rest_tokens: tuple[Token, ...] | None
    #: The file they come from (read again when it changes; None without tokens).
    rest_tokens_path: Path | None
    #: The REST port's TLS certificate and key (None: plain HTTP).
    rest_tls: tuple[Path, Path] | None
    process_host: str
    #: The daemons' event loop: "uvloop" (default) or "asyncio" (the standard library's).
    event_loop: str
    forward_timeout: float
    zookeeper: ZooKeeperConfig
    var_dir: Path
    monitor: tuple[str, ...]
    monitor_logging: tuple[str, ...]
    warnings: tuple[str, ...]
    #: The daemons' logging (a dictConfig YAML file); None: a line of text each on stderr.
    log_config: dict[str, Any] | None = None

    def process(self, cm_id: str) -> ProcessSpec:
        """The ``PROCESS`` line of ``cm_id``; :class:`ConfigError` when there is none."""
        for spec in self.processes:
            if spec.cm_id == cm_id:
                return spec
        raise ConfigError(f"no PROCESS line for {cm_id!r}", str(self.path))


def load_config(path: str | Path) -> Config:
    """Read and parse ``path``; a missing or unreadable file is a :class:`ConfigError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(f"cannot read the configuration file: {reason}", str(path)) from exc
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 text ({exc})"
        raise ConfigError(f"cannot read the configuration file: {reason}", str(path)) from exc
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> Config:
    """Parse ``text``, the contents of the config file ``path``.

    ``path`` names the file in messages and sets the base directory; it is
    not read.  Raises :class:`ConfigError` at the first malformed line.
    """
    return _Parser(text, Path(path)).config()


class _Parser:
    """One parse of one file.

    Every line is read before any is interpreted, so the order of keys never
    matters (``zookeeper.port`` may follow ``zookeeper.host``, ``MANAGER``
    may follow ``PROCESS``); for a repeated key the last line wins.
    """

    def __init__(self, text: str, path: Path) -> None:
        self.file = str(path)
        self.path = path.resolve()
        parent = self.path.parent
        self.base_dir = parent.parent if parent.name == "etc" else parent
        self.values: dict[str, tuple[str | None, int]] = {}
        self.processes: list[tuple[str, int]] = []
        self.warnings: list[str] = []
        for lineno, raw in enumerate(text.splitlines(), start=1):
            self._read(raw, lineno)

    def _read(self, raw: str, lineno: int) -> None:
        words = raw.split("#", 1)[0].split(None, 1)
        if not words:
            return
        key, value = words[0], (words[1].strip() if len(words) > 1 else None)
        if key.startswith("pubsub."):
            self._warn(
                f"{key!r} ignored: ODENOS's Redis pub/sub transport is not used here", lineno
            )
        elif key not in _FLAG_KEYS and key not in _VALUE_KEYS:
            hint = _CASE_HINTS.get(key.lower())
            more = f"; keys are case-sensitive: did you mean {hint!r}?" if hint else ""
            self._warn(f"unknown key {key!r} (ignored){more}", lineno)
        elif value is None and key in _VALUE_KEYS:
            raise self._error(f"{key} needs a value: {_VALUE_KEYS[key]}", lineno)
        elif key == "PROCESS" and value is not None:
            self.processes.append((value, lineno))
        else:
            if key in self.values:
                earlier = self.values[key][1]
                self._warn(f"{key} is also set on line {earlier}; this later one wins", lineno)
            self.values[key] = (value, lineno)

    def _warn(self, message: str, lineno: int) -> None:
        self.warnings.append(f"{self.file}:{lineno}: {message}")

    def _error(self, message: str, lineno: int | None) -> ConfigError:
        return ConfigError(message, self.file, lineno)

    def _text(self, key: str, default: str) -> str:
        value = self.values.get(key, (None, 0))[0]
        return default if value is None else value

    def _line(self, key: str) -> int | None:
        return self.values[key][1] if key in self.values else None

    def _flag(self, key: str, default: bool) -> bool:
        if key not in self.values:
            return default
        value, lineno = self.values[key]
        if value is None:
            return True
        if value.lower() not in _FLAG_VALUES:
            expected = "on/off, true/false, yes/no, 1/0; the key alone means on"
            raise self._error(f"{key}: {value!r} is not a flag value ({expected})", lineno)
        return _FLAG_VALUES[value.lower()]

    def _choice(self, key: str, choices: tuple[str, ...]) -> str:
        """``key``'s value, one of ``choices`` (the first is the default)."""
        if key not in self.values:
            return choices[0]
        value, lineno = self.values[key]
        if value not in choices:
            raise self._error(f"{key}: {value!r} is not {' or '.join(choices)}", lineno)
        return value

    def _integer(self, key: str, default: int, low: int, high: int, noun: str) -> int:
        if key not in self.values:
            return default
        value, lineno = self.values[key]
        if value is None or not _DECIMAL.fullmatch(value) or not low <= int(value) <= high:
            raise self._error(f"{key}: {value!r} is not {noun} ({low}-{high})", lineno)
        return int(value)

    def _resolve(self, value: str) -> Path:
        return (self.base_dir / value).resolve()

    def _host_name(self, key: str, default: str) -> str:
        """``key``'s host, IPv6 brackets removed (the form a bind or connect takes)."""
        if key not in self.values:
            return default
        value, lineno = self.values[key]
        host = None if value is None else _host_address(value)
        if host is None:
            raise self._error(f"{key}: {value!r} is not {_HOST_RULE}", lineno)
        return host

    def _process_host(self) -> str:
        host = self._host_name("process.host", "127.0.0.1")
        if host in ("0.0.0.0", "::"):
            # It is published in ZooKeeper for others to connect to: a wildcard says nothing.
            raise self._error(
                f"process.host: {host!r} is a wildcard, but other processes connect to this "
                "address; name this host's own address (or 127.0.0.1 on a single host)",
                self.values["process.host"][1],
            )
        return host

    def _rest_tokens(self) -> tuple[Token, ...] | None:
        """The tokens, or None; a REST port open beyond loopback needs them, or an explicit
        ``rest.auth off``."""
        tokens = None
        if "rest.auth.tokens" in self.values:
            value, lineno = self.values["rest.auth.tokens"]
            if value is None:
                raise self._error("rest.auth.tokens: a file is needed", lineno)
            tokens = load_tokens(self._resolve(value))
        auth, lineno = self.values.get("rest.auth", (None, 0))
        if auth is not None and auth.lower() != "off":
            raise self._error(f"rest.auth: {auth!r}: the only value is off", lineno)
        explicitly_off = "rest.auth" in self.values
        if tokens is not None and explicitly_off:
            raise self._error("rest.auth off, but rest.auth.tokens is set: choose", lineno)
        host = self._host_name("rest.host", "localhost")
        if tokens is None and not explicitly_off and not _is_loopback(host):
            raise self._error(
                f"rest.host {host!r} is reachable from other hosts, and the REST API has no "
                "authentication: set rest.auth.tokens, or write 'rest.auth off' to mean it",
                self._line("rest.host"),
            )
        return tokens

    def _rest_tokens_path(self) -> Path | None:
        value, _ = self.values.get("rest.auth.tokens", (None, 0))
        return None if value is None else self._resolve(value)

    def _rest_tls(self) -> tuple[Path, Path] | None:
        cert = self.values.get("rest.tls.cert")
        key = self.values.get("rest.tls.key")
        if cert is None and key is None:
            return None
        if cert is None or key is None or cert[0] is None or key[0] is None:
            lineno = (cert or key or (None, 0))[1]
            raise self._error("rest.tls.cert and rest.tls.key go together", lineno)
        pair = (self._resolve(cert[0]), self._resolve(key[0]))
        tls_context(*pair)  # a pair that cannot be loaded is an error now, not at start
        return pair

    def _rest_root(self) -> Path | None:
        if "rest.root" not in self.values:
            return None
        value, lineno = self.values["rest.root"]
        assert value is not None  # a value key without a value was refused when read
        path = self._resolve(value)
        problem = _folder_problem(path)
        if problem is not None:
            named = repr(value) if Path(value) == path else f"{value!r} ({path})"
            raise self._error(
                f"rest.root: {named} {problem}; expected {_VALUE_KEYS['rest.root']}", lineno
            )
        return path

    def _check_id(self, key: str, value: str, lineno: int) -> None:
        if not is_valid_id(value):
            raise self._error(f"{key}: {value!r} is not a valid id ({ID_RULE})", lineno)
        # A component manager of a reserved id would shadow a core object in the REST
        # translator's /<object_id>/ routing.
        if is_reserved(value):
            core = ", ".join(sorted(RESERVED_IDS))
            raise self._error(
                f"{key}: {value!r} is taken by a core object ({core}); choose another id", lineno
            )

    def _process(self, value: str, lineno: int, manager_id: str) -> ProcessSpec:
        fields = [f.strip() for f in value.split(",")]
        if len(fields) < 2 or "" in fields:
            expected = f"{_VALUE_KEYS['PROCESS']} with no empty field"
            raise self._error(f"PROCESS: {value!r} is malformed: expected {expected}", lineno)
        cm_id, language, *dirs = fields
        self._check_id("PROCESS", cm_id, lineno)
        if cm_id == manager_id:
            fix = "give the component manager another id"
            raise self._error(
                f"PROCESS: {cm_id!r} is the system manager's id (MANAGER); {fix}", lineno
            )
        if language.lower() not in SUPPORTED_LANGUAGES:
            why = "only python component managers exist here"
            raise self._error(
                f"PROCESS {cm_id}: language {language!r} is not supported: {why}", lineno
            )
        folders = tuple(map(self._resolve, dirs))
        for folder in folders:
            problem = _folder_problem(folder)
            if problem is not None:
                # Not fatal: the component manager still starts, with the built-in types and
                # those of its other directories (its plugin loader reports this too).
                self._warn(
                    f"PROCESS {cm_id}: component directory {folder} {problem}; "
                    "its component types will not be available",
                    lineno,
                )
        return ProcessSpec(cm_id, language.lower(), folders, lineno)

    def _processes(self, manager_id: str) -> tuple[ProcessSpec, ...]:
        specs: dict[str, ProcessSpec] = {}
        for value, lineno in self.processes:
            spec = self._process(value, lineno, manager_id)
            if spec.cm_id in specs:
                dup = f"{spec.cm_id!r} is already defined on line {specs[spec.cm_id].line}"
                raise self._error(
                    f"PROCESS: {dup}; each component manager needs its own id", lineno
                )
            specs[spec.cm_id] = spec
        return tuple(specs.values())

    def _host(self, item: str, lineno: int | None) -> tuple[str, int | None]:
        """``host``, ``host:port``, ``[v6]:port`` or bare ``v6`` -> (host, port or None)."""
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            port_text: str | None = rest[1:] if rest.startswith(":") else None
            bad = rest != "" and port_text is None
        elif item.count(":") > 1:
            host, port_text, bad = item, None, False
        else:
            host, colon, after = item.partition(":")
            port_text, bad = (after if colon else None), False
        if bad or _host_address(host) is None:
            raise self._error(
                f"zookeeper.host: {item!r} is not host[:port], the host being {_HOST_RULE}",
                lineno,
            )
        if port_text is not None and not (
            _DECIMAL.fullmatch(port_text) and 1 <= int(port_text) <= 65535
        ):
            raise self._error(
                f"zookeeper.host: {item!r} has no valid port: expected {_PORT} (1-65535)", lineno
            )
        return host, None if port_text is None else int(port_text)

    def _zookeeper(self) -> ZooKeeperConfig:
        port = self._integer("zookeeper.port", DEFAULT_ZOOKEEPER_PORT, 1, 65535, _PORT)
        embed = self._flag("zookeeper.embed", True)
        value = self._text("zookeeper.host", "127.0.0.1")
        lineno = self._line("zookeeper.host")
        hosts_part, slash, chroot_part = value.partition("/")
        chroot = "/" + chroot_part if slash else None
        if chroot is not None and any(s in ("", ".", "..") for s in chroot_part.split("/")):
            rule = "/name[/name...] with no empty, '.' or '..' part and no trailing '/'"
            raise self._error(f"zookeeper.host: chroot {chroot!r} is not {rule}", lineno)
        hosts = [self._host(h.strip(), lineno) for h in hosts_part.split(",")]
        if embed:
            named = f"zookeeper.embed is on, but zookeeper.host names {value!r}"
            external = "add 'zookeeper.embed off' to use an external ZooKeeper"
            if len(hosts) != 1 or not _is_loopback(hosts[0][0]):
                raise self._error(f"{named}; {external}", lineno)
            if hosts[0][1] not in (None, port):
                listens = f"the embedded server listens on port {port} (zookeeper.port)"
                raise self._error(
                    f"{named}; {listens}: make the ports agree, or {external}", lineno
                )
            # The embedded server binds 127.0.0.1 only: another loopback spelling
            # (localhost may resolve to ::1 first) would not reach it.
            hosts = [("127.0.0.1", port)]
        joined = ",".join(_join_host(h, port if p is None else p) for h, p in hosts)
        timeout = self._integer("zookeeper.session_timeout", 4000, 1000, 600000, _MS)
        classpath = self.values.get("zookeeper.classpath", (None, 0))[0]
        auth_file, generate = self._zookeeper_auth(embed)
        return ZooKeeperConfig(
            joined,
            port,
            chroot,
            embed,
            timeout,
            classpath,
            auth_file,
            self._flag("zookeeper.world_read", True),
            generate,
        )

    def _zookeeper_auth(self, embed: bool) -> tuple[Path | None, bool]:
        """(credentials file, generate it if missing).  By default the embedded server's
        are generated under var.dir; an external ensemble's must be given."""
        value, lineno = self.values.get("zookeeper.auth", (None, 0))
        if value is None:
            if not embed:
                return None, False
            return self._resolve(self._text("var.dir", "var")) / "zookeeper.auth", True
        if value.lower() in ("off", "false", "no", "0"):
            return None, False
        path = self._resolve(value)
        try:
            load_credentials(path)
        except ConfigError as err:
            raise self._error(f"zookeeper.auth: {err.message}", lineno) from None
        return path, False

    def config(self) -> Config:
        manager_id = self._text("MANAGER", DEFAULT_MANAGER_ID)
        if "MANAGER" in self.values:
            self._check_id("MANAGER", manager_id, self.values["MANAGER"][1])
        timeout_ms = self._integer("rest.forward_timeout", 10000, 100, 600000, _MS)
        return Config(
            path=self.path,
            base_dir=self.base_dir,
            manager_disabled=self._flag("manager.disabled", False),
            auto_approve=self._flag("manager.auto_approve", self._flag("zookeeper.embed", True)),
            manager_id=manager_id,
            processes=self._processes(manager_id),
            rest_host=self._host_name("rest.host", "localhost"),
            rest_port=self._integer("rest.port", 10080, 1, 65535, _PORT),
            rest_root=self._rest_root(),
            rest_tokens=self._rest_tokens(),
            rest_tokens_path=self._rest_tokens_path(),
            rest_tls=self._rest_tls(),
            process_host=self._process_host(),
            event_loop=self._choice("process.event_loop", EVENT_LOOPS),
            forward_timeout=timeout_ms / 1000,
            zookeeper=self._zookeeper(),
            var_dir=self._resolve(self._text("var.dir", "var")),
            monitor=_comma_list(self._text("monitor", "")),
            monitor_logging=_comma_list(self._text("monitor.logging", "")),
            warnings=tuple(self.warnings),
            log_config=self._log_config(),
        )

    def _log_config(self) -> dict[str, Any] | None:
        """The ``log.config`` file, read and checked for form now (a bad one is an error
        naming the line, not a daemon that cannot log)."""
        if "log.config" not in self.values:
            return None
        value, lineno = self.values["log.config"]
        assert value is not None
        path = self._resolve(value)
        try:
            loaded = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise self._error(f"log.config: cannot read {path}: {exc.strerror}", lineno) from None
        except yaml.YAMLError as exc:
            raise self._error(f"log.config: {path} is not YAML: {exc}", lineno) from None
        if not isinstance(loaded, dict) or loaded.get("version") != 1:
            raise self._error(
                f"log.config: {path} is not a logging configuration "
                f"(a mapping with 'version: 1'); expected {_VALUE_KEYS['log.config']}",
                lineno,
            )
        return loaded


def _join_host(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _host_address(value: str) -> str | None:
    """``value`` as a host to bind or connect to, IPv6 brackets removed; None if it is none.

    A host name follows RFC 1123: labels of at most 63 letters, digits and inner
    hyphens, at most 253 characters in all, an optional trailing dot; its last label
    is not all digits (RFC 1123 2.1), so that ``10.0.0.256`` or ``1234`` is refused
    rather than looked up or read as an address by ``inet_aton``.
    """
    bracketed = value.startswith("[") and value.endswith("]")
    if bracketed or ":" in value:
        inner = value[1:-1] if bracketed else value
        try:
            ipaddress.IPv6Address(inner)
        except ValueError:
            return None
        return inner
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        pass
    else:
        return value
    name = value.removesuffix(".")
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return None
    return None if labels[-1].isdigit() else value


def _folder_problem(path: Path) -> str | None:
    """Why ``path`` is not a usable directory ("does not exist"...), None if it is one."""
    try:
        is_dir = stat.S_ISDIR(path.stat().st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return "does not exist"
    except OSError as exc:
        return f"cannot be examined ({exc.strerror or exc})"
    return None if is_dir else "is not a directory"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _comma_list(value: str) -> tuple[str, ...]:
    return tuple(item for item in (i.strip() for i in value.split(",")) if item)
