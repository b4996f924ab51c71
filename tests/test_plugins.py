"""Loading component types from plugin directories: good plugins are offered, bad ones
are reported with their file and error, and nothing a plugin does at import takes the
loader down."""

from __future__ import annotations

import inspect
import textwrap
from pathlib import Path

import pytest

from componentmanager.plugins import ComponentTypes, load_component_types
from odenos.components.base import Component, Request
from odenos.components.network import Network
from odenos.errors import MethodNotAllowed, NotFound
from odenos.model.property import ObjectState

#: What every manager offers, plugins or not (ODENOS's standard components).
BUILTINS = {
    "Network",
    "DummyDriver",
    "Aggregator",
    "Slicer",
    "Federator",
    "LinkLayerizer",
    "LearningSwitch",
    "LearningSwitchVlan",
}

ECHO = """
    from odenos.components.base import Component, Request, Response, route


    class Echo(Component):
        TYPE = "Echo"
        DESCRIPTION = "answers what it is told"
        CONNECTION_TYPES = {"original": "1"}

        @route("GET", "echo/<word>")
        async def echo(self, request: Request, word: str) -> Response:
            return Response(200, {"word": word, "query": dict(request.query)})

        @route("PUT", "echo")
        async def put_echo(self, request: Request) -> Response:
            return Response(200, request.json_object())


    class Helper:
        '''Not a component: must not be offered.'''
"""

GREETER_INIT = """
    from odenos.components.base import Component, Request, Response, route

    from .words import GREETING


    class Greeter(Component):
        TYPE = "Greeter"

        @route("GET", "greeting")
        async def greeting(self, request: Request) -> Response:
            return Response(200, {"greeting": GREETING})
"""

ECHO_AGAIN = """
    from odenos.components.base import Component


    class OtherEcho(Component):
        TYPE = "Echo"
"""

NETWORK_CLONE = """
    from odenos.components.base import Component


    class FakeNetwork(Component):
        TYPE = "Network"
"""


def write(path: Path, source: str) -> Path:
    """Write dedented ``source`` to ``path`` (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    """A plugin directory holding good, broken and clashing plugins, and things to skip."""
    d = tmp_path / "components"
    write(d / "echo.py", ECHO)
    write(d / "greeter" / "__init__.py", GREETER_INIT)
    write(d / "greeter" / "words.py", 'GREETING = "hello"\n')
    write(d / "broken_syntax.py", "def oops(:\n    pass\n")
    write(d / "raises.py", 'raise RuntimeError("plugin exploded at import")\n')
    write(d / "echo_again.py", ECHO_AGAIN)
    write(d / "network_clone.py", NETWORK_CLONE)
    write(d / "_private.py", 'raise RuntimeError("private modules are not plugins")\n')
    write(d / "notes.txt", "not python\n")
    (d / "not_a_package").mkdir()
    write(d / "not_a_package" / "mod.py", 'raise RuntimeError("not a package")\n')
    return d


def problems_about(found: ComponentTypes, name: str) -> list[str]:
    """The problems whose text names the file ``name``."""
    return [p for p in found.problems if f"/{name}:" in p or f"/{name} " in p]


def test_offers_builtin_and_good_plugins(plugin_dir: Path) -> None:
    """Network, the module plugin and the package plugin are offered; nothing else."""
    found = load_component_types([plugin_dir])
    assert set(found.types) == BUILTINS | {"Echo", "Greeter"}
    assert found.types["Network"] is Network
    assert inspect.getfile(found.types["Echo"]) == str(plugin_dir / "echo.py")
    assert issubclass(found.types["Greeter"], Component)


def test_reports_each_bad_file_with_its_error(plugin_dir: Path) -> None:
    """A syntax error, an exception at import and two clashing TYPEs: one problem each,
    naming the file and what is wrong; nothing raised."""
    found = load_component_types([plugin_dir])

    [syntax] = problems_about(found, "broken_syntax.py")
    assert "SyntaxError" in syntax
    [raises] = problems_about(found, "raises.py")
    assert "RuntimeError: plugin exploded at import" in raises
    [clash] = problems_about(found, "echo_again.py")
    assert "'Echo' is already defined" in clash and "ignored" in clash
    [builtin_clash] = problems_about(found, "network_clone.py")
    assert "'Network' is already defined" in builtin_clash
    assert len(found.problems) == 4, found.problems


def test_skips_private_modules_and_non_plugins(plugin_dir: Path) -> None:
    """``_private.py``, text files and directories without ``__init__.py`` are not
    imported (their import would have raised and been reported)."""
    found = load_component_types([plugin_dir])
    for name in ("_private.py", "notes.txt", "not_a_package"):
        assert not [p for p in found.problems if name in p], found.problems


def test_missing_directory_is_reported(tmp_path: Path, plugin_dir: Path) -> None:
    """A directory of the PROCESS line that does not exist is a problem, not a crash;
    the other directories still load."""
    missing = tmp_path / "no-such-dir"
    found = load_component_types([missing, plugin_dir])
    assert f"{missing}: component directory does not exist" in found.problems
    assert {"Echo", "Greeter"} <= set(found.types)


def test_no_directories_offers_the_builtins() -> None:
    """Without plugin directories the manager still offers Network."""
    found = load_component_types([])
    assert set(found.types) == BUILTINS
    assert found.problems == []


async def test_loaded_echo_is_created_and_dispatched(plugin_dir: Path) -> None:
    """The plugin's class works as a component: initialize, route, property, refusals."""
    echo_type = load_component_types([plugin_dir]).types["Echo"]
    echo = echo_type("echo0", "romgr1")
    await echo.initialize()
    assert echo.property.state is ObjectState.RUNNING

    reply = await echo.dispatch(Request("GET", "echo/hello", {"x": "1"}))
    assert (reply.status, reply.body) == (200, {"word": "hello", "query": {"x": "1"}})
    reply = await echo.dispatch(Request("PUT", "/echo/", body={"k": "v"}))
    assert (reply.status, reply.body) == (200, {"k": "v"})
    prop = (await echo.dispatch(Request("GET", "property"))).body
    assert (prop["id"], prop["type"], prop["state"]) == ("echo0", "Echo", "running")
    assert echo_type.type_info() == {
        "type": "Echo",
        "super_type": "Echo",
        "connection_types": {"original": "1"},
        "description": "answers what it is told",
    }
    with pytest.raises(MethodNotAllowed) as info:
        await echo.dispatch(Request("DELETE", "echo/hello"))
    assert info.value.details["allowed"] == ["GET", "HEAD"]
    with pytest.raises(NotFound):
        await echo.dispatch(Request("GET", "nothing/here"))


async def test_package_plugin_imports_its_own_modules(plugin_dir: Path) -> None:
    """A package plugin may import its submodules relatively."""
    greeter = load_component_types([plugin_dir]).types["Greeter"]("greeter0", "romgr1")
    reply = await greeter.dispatch(Request("GET", "greeting"))
    assert (reply.status, reply.body) == (200, {"greeting": "hello"})


def test_package_plugin_may_define_its_component_in_a_submodule(tmp_path: Path) -> None:
    """The usual package layout: ``shapes/__init__.py`` re-exports ``shapes.square.Square``."""
    d = tmp_path / "components"
    write(d / "shapes" / "__init__.py", "from .square import Square\n")
    write(
        d / "shapes" / "square.py",
        """
        from odenos.components.base import Component


        class Square(Component):
            TYPE = "Square"
        """,
    )
    found = load_component_types([d])
    assert "Square" in found.types, found.problems
