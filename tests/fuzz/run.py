"""``make fuzz``: the OpenAPI description, checked against a running system.

Starts a whole system (embedded ZooKeeper, the core process, two component managers)
on loopback with free ports in a temporary directory, creates the components of
:data:`COMPONENTS` on ``romgr1`` (two Networks and one of each logic component, without
connections: their own REST APIs answer without them), and runs schemathesis against
``/openapi.json`` with every check (``--checks all``), the examples, coverage and
fuzzing phases and a bounded number of examples per operation (``FUZZ_EXAMPLES``, 50 by
default: about three minutes on two cores), in three passes (see :data:`PASSES`).
``tests/fuzz/schemathesis.toml`` says only what a schema cannot (which ids exist, which
body references are 400 as in ODENOS).

It fails if schemathesis finds anything, if a daemon died or stopped being ready, or if
a daemon logged a traceback.  The system is stopped either way; its directory is kept
(and named) when something failed.

    python tests/fuzz/run.py [--seed N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
#: What the run creates: the Network most operations address, the one whose property
#: (state) is changed, and one of each logic component whose own routes are described.
COMPONENTS = (
    ("fuzznet", "Network"),
    ("fuzzspare", "Network"),
    ("fuzzlsw", "LearningSwitch"),
    ("fuzzslicer", "Slicer"),
    ("fuzzfed", "Federator"),
    ("fuzzll", "LinkLayerizer"),
)


#: Three passes: a property's state is its component's (``error`` refuses every request
#: with a 503 until repaired, ``finalizing`` deletes it), so PUT property runs after the
#: rest, on the Network ``fuzzspare``, once nothing else needs the components; and a
#: cluster preference applies to every request after it (``rest.forward_timeout`` 0.1 s
#: makes a slow answer a 504), so PUT preferences runs alone, last.
PASSES = (
    (
        "every operation but PUT property and PUT preferences",
        ["--exclude-operation-id", "putObjectProperty", "--exclude-operation-id", "putPreferences"],
    ),
    ("PUT property (states included)", ["--include-operation-id", "putObjectProperty"]),
    ("PUT preferences", ["--include-operation-id", "putPreferences"]),
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(work: Path) -> Path:
    conf = work / "odenos.conf"
    conf.write_text(
        "\n".join(
            [
                "MANAGER systemmanager",
                "PROCESS romgr1,python",
                "PROCESS romgr2,python",
                "rest.host 127.0.0.1",
                f"rest.port {free_port()}",
                "zookeeper.embed",
                "zookeeper.host 127.0.0.1",
                f"zookeeper.port {free_port()}",
                f"var.dir {work / 'var'}",
                "",
            ]
        )
    )
    return conf


def rest_port(conf: Path) -> int:
    for line in conf.read_text().splitlines():
        if line.startswith("rest.port "):
            return int(line.split()[1])
    raise SystemExit(f"{conf}: no rest.port")


def create_component(base: str, comp_id: str, comp_type: str) -> None:
    body = json.dumps({"type": comp_type, "cm_id": "romgr1"}).encode()
    request = urllib.request.Request(
        f"{base}/systemmanager/components/{comp_id}",
        data=body,
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        if resp.status not in (200, 201):
            raise SystemExit(f"creating {comp_id}: {resp.status}")


def problems_after(odenos: list[str], work: Path) -> list[str]:
    """What the run left broken: a daemon not alive and ready, a traceback in a log."""
    found = []
    status = subprocess.run([*odenos, "status", "--json"], capture_output=True, text=True)
    try:
        processes = json.loads(status.stdout)["processes"]
    except (ValueError, KeyError):
        return [f"odenos status answered: {status.stdout or status.stderr}"]
    for process in processes:
        if not (process.get("alive") and process.get("ready")):
            found.append(f"{process['name']} is not alive and ready after the run: {process}")
    for log in sorted((work / "var" / "log").glob("*.log")):
        text = log.read_text(errors="replace")
        if "Traceback" in text:
            found.append(f"{log} holds a traceback")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", help="schemathesis's seed, to replay a run")
    args = parser.parse_args()
    examples = os.environ.get("FUZZ_EXAMPLES", "50")

    work = Path(tempfile.mkdtemp(prefix="odenos-fuzz-"))
    conf = write_config(work)
    odenos = [str(BIN / "odenos"), "-c", str(conf)]
    base = f"http://127.0.0.1:{rest_port(conf)}"
    started = time.monotonic()
    ok = False
    try:
        subprocess.run([*odenos, "start"], check=True, cwd=work)
        for comp_id, comp_type in COMPONENTS:
            create_component(base, comp_id, comp_type)
        failed = False
        for title, selection in PASSES:
            command = [
                str(BIN / "schemathesis"),
                "--config-file",
                str(HERE / "schemathesis.toml"),
                "run",
                f"{base}/openapi.json",
                *selection,
                "--checks",
                "all",
                "--phases",
                "examples,coverage,fuzzing",
                "--max-examples",
                examples,
                # One worker: hypothesis describes its filters by parsing their source, and
                # CPython 3.11 (seen on 3.11.7) can fail ast.parse with a SystemError ("AST
                # constructor recursion depth mismatch") when two threads parse at once: a
                # tool error, not a finding. Two workers were not faster here (92 s either way).
                "--workers",
                "1",
                "--request-timeout",
                "70",
                *(["--seed", args.seed] if args.seed else []),
            ]
            print(f"make fuzz: {title}\n$", " ".join(command), flush=True)
            failed |= subprocess.run(command, cwd=work).returncode != 0
        problems = problems_after(odenos, work)
        for problem in problems:
            print("make fuzz:", problem, file=sys.stderr)
        ok = not failed and not problems
    except (subprocess.CalledProcessError, urllib.error.URLError, OSError) as err:
        print(f"make fuzz: could not run: {err}", file=sys.stderr)
    finally:
        subprocess.run([*odenos, "stop"], cwd=work, capture_output=True)
    took = time.monotonic() - started
    if ok:
        shutil.rmtree(work, ignore_errors=True)
        print(f"make fuzz: nothing found ({took:.0f} s)")
        return 0
    print(f"make fuzz: FAILED after {took:.0f} s; the system's files are in {work}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
