"""REST authentication and TLS (issue 7, item 4): bearer tokens with roles, 401/403 as
JSON, TLS on the public port, and no open REST port beyond loopback by accident."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from odenos.config import load_config
from odenos.errors import ConfigError
from tests.support import Cluster, wait_until
from tests.test_cli import embedded_conf, odenos

pytestmark = pytest.mark.timeout(120)

ADMIN = "admin-token-0123456789abcdef"
READER = "reader-token-0123456789abcdef"


def tokens_file(root: Path, mode: int = 0o600) -> Path:
    path = root / "rest.tokens"
    path.write_text(f"# who may use the API\n{ADMIN} admin ops\n{READER} read dashboards\n")
    path.chmod(mode)
    return path


def call(
    method: str,
    url: str,
    token: str | None = None,
    body: Any = None,
    context: ssl.SSLContext | None = None,
) -> tuple[int, dict[str, str], Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as resp:
            payload = resp.read()
            return resp.status, dict(resp.headers), json.loads(payload) if payload else None
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        return exc.code, dict(exc.headers), json.loads(payload) if payload else None
    except (urllib.error.URLError, ConnectionError):
        return 0, {}, None


def test_tokens_and_roles(cluster: Cluster, tmp_path: Path) -> None:
    cluster.write_config(extra=f"rest.auth.tokens {tokens_file(tmp_path)}")
    cluster.spawn("systemmanager", "systemmanager")
    url = f"{cluster.rest}/systemmanager/property"
    wait_until(lambda: call("GET", url, READER)[0] == 200, 30, "the core")
    cluster.spawn("romgr1", "componentmanager", "--id", "romgr1")
    components = f"{cluster.rest}/systemmanager/components"
    manager = f"{cluster.rest}/systemmanager/component_managers/romgr1"
    wait_until(
        lambda: (call("GET", manager, READER)[2] or {}).get("state") == "running", 30, "romgr1"
    )

    for token in (None, "", "wrong-token-0123456789abcdef", ADMIN[:-1]):
        status, headers, body = call("GET", url, token)
        assert status == 401 and body["error"] == "Unauthorized", token
        assert headers["WWW-Authenticate"].startswith("Bearer")
    assert call("GET", url, READER)[0] == 200
    status, _, body = call("PUT", f"{components}/n0", READER, {"type": "Network"})
    assert status == 403 and body["error"] == "Forbidden"
    assert call("PUT", f"{components}/n0", ADMIN, {"type": "Network"})[0] == 201
    assert call("GET", f"{cluster.rest}/n0/topology", READER)[0] == 200
    # A reader may follow events: /event/... is its own subscription, not the system's.
    status, _, body = call("GET", f"{cluster.rest}/event/stream", READER)
    assert status == 200 and "subscription_id" in body
    sid = body["subscription_id"]
    put = call("PUT", f"{cluster.rest}/event/subscriptions/{sid}", READER, {"n0": ["NodeChanged"]})
    assert put[0] == 200
    # Tokens are never written to a log.
    for name in ("systemmanager", "romgr1"):
        assert ADMIN not in cluster.log(name) and READER not in cluster.log(name)


def test_tokens_are_rotated_by_editing_the_file(cluster: Cluster, tmp_path: Path) -> None:
    """A new token works and a withdrawn one is refused within seconds of the edit,
    without a restart; a file that no longer loads leaves the tokens in force."""
    path = tokens_file(tmp_path)
    cluster.write_config(extra=f"rest.auth.tokens {path}")
    core = cluster.spawn("systemmanager", "systemmanager")
    url = f"{cluster.rest}/systemmanager/property"
    wait_until(lambda: call("GET", url, ADMIN)[0] == 200, 30, "the core")

    fresh = "fresh-admin-token-0123456789abcdef"
    path.write_text(f"{fresh} admin ops\n{READER} read dashboards\n")
    wait_until(lambda: call("GET", url, fresh)[0] == 200, 10, "the new token")
    assert call("GET", url, ADMIN)[0] == 401
    assert call("GET", url, READER)[0] == 200

    path.write_text("not a token line\n")  # a mistake while editing: nothing changes
    time.sleep(2.5)
    assert call("GET", url, fresh)[0] == 200
    path.write_text(f"{fresh} admin ops\n")
    path.chmod(0o644)  # open to others: refused, the previous tokens stay
    time.sleep(2.5)
    assert call("GET", url, READER)[0] == 200
    log = cluster.log("systemmanager")
    assert "not reloaded" in log and fresh not in log and READER not in log
    assert core.poll() is None


def test_the_config_refuses_what_would_leave_the_api_open(tmp_path: Path) -> None:
    conf = tmp_path / "odenos.conf"

    def load(text: str) -> Any:
        conf.write_text("zookeeper.embed off\nzookeeper.host 127.0.0.1\n" + text)
        return load_config(conf)

    with pytest.raises(ConfigError) as info:
        load("rest.host 0.0.0.0\n")
    assert info.value.line == 3 and "rest.auth off" in info.value.message
    assert load("rest.host 0.0.0.0\nrest.auth off\n").rest_tokens is None
    assert (
        len(load(f"rest.host 0.0.0.0\nrest.auth.tokens {tokens_file(tmp_path)}\n").rest_tokens) == 2
    )
    with pytest.raises(ConfigError) as info:
        load(f"rest.auth.tokens {tokens_file(tmp_path, 0o644)}\n")
    assert "chmod 600" in info.value.message
    (tmp_path / "rest.tokens").write_text("short admin\n")
    (tmp_path / "rest.tokens").chmod(0o600)
    with pytest.raises(ConfigError) as info:
        load(f"rest.auth.tokens {tmp_path / 'rest.tokens'}\n")
    assert info.value.line == 1 and info.value.file == str(tmp_path / "rest.tokens")
    # The repr of a token never shows it.
    assert ADMIN not in repr(load(f"rest.auth.tokens {tokens_file(tmp_path)}\n").rest_tokens)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_on_the_public_port_and_odenos_start_with_it(tmp_path: Path) -> None:
    cert, key = tmp_path / "rest.crt", tmp_path / "rest.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    conf, rest = embedded_conf(tmp_path)
    conf.write_text(
        conf.read_text()
        + f"rest.tls.cert {cert}\nrest.tls.key {key}\nrest.auth.tokens {tokens_file(tmp_path)}\n"
    )
    try:
        started = odenos(
            "start", "-c", str(conf), cwd=tmp_path
        )  # its readiness checks: TLS + token
        assert started.returncode == 0, started.stderr
        assert "REST at https://" in started.stdout
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        url = f"https://127.0.0.1:{rest}/systemmanager/property"
        assert call("GET", url, READER, context=context)[0] == 200
        assert call("GET", url, None, context=context)[0] == 401
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(f"http://127.0.0.1:{rest}/systemmanager/property", timeout=5)
        assert json.loads(odenos("status", "-c", str(conf), "--json", cwd=tmp_path).stdout)[
            "processes"
        ][0]["ready"]
    finally:
        odenos("stop", "-c", str(conf), cwd=tmp_path)
