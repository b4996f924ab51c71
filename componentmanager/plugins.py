"""Finding the component types a component manager can create.

The built-in types (``Network``, ``DummyDriver``, ``Aggregator``, ``Slicer``,
``Federator``, ``LinkLayerizer``, ``LearningSwitch``, ``LearningSwitchVlan``) always;
then every ``*.py`` module and every package in the directories of the ``PROCESS``
line, and the ``odenos.components`` entry-point group.  A module that fails to import is
reported with its file and error and skipped: one broken plugin does not take
the manager down.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import logging
import sys
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

from odenos.components.aggregator import Aggregator
from odenos.components.base import Component
from odenos.components.dummy_driver import DummyDriver
from odenos.components.federator import Federator
from odenos.components.learningswitch import LearningSwitch, LearningSwitchVlan
from odenos.components.linklayerizer import LinkLayerizer
from odenos.components.network import Network
from odenos.components.slicer import Slicer

log = logging.getLogger(__name__)

BUILTIN_TYPES: tuple[type[Component], ...] = (
    Network,
    DummyDriver,
    Aggregator,
    Slicer,
    Federator,
    LinkLayerizer,
    LearningSwitch,
    LearningSwitchVlan,
)
ENTRY_POINT_GROUP = "odenos.components"


class ComponentTypes:
    """The types one manager offers, and the problems met while loading them."""

    def __init__(self) -> None:
        self.types: dict[str, type[Component]] = {}
        self.problems: list[str] = []

    def add(self, cls: type[Component], origin: str) -> None:
        existing = self.types.get(cls.TYPE)
        if existing is not None and existing is not cls:
            self.problems.append(
                f"{origin}: component type {cls.TYPE!r} is already defined by "
                f"{existing.__module__}; ignored"
            )
            return
        self.types[cls.TYPE] = cls


def _components_in(module: ModuleType) -> list[type[Component]]:
    return [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, Component)
        # Its own classes, also those a package re-exports from its submodules.
        and (obj.__module__ == module.__name__ or obj.__module__.startswith(module.__name__ + "."))
        and "TYPE" in vars(obj)
    ]


def _import_file(path: Path) -> ModuleType:
    target = path / "__init__.py" if path.is_dir() else path
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    name = f"odenos_plugin_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(
        name, target, submodule_search_locations=[str(path)] if path.is_dir() else None
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {target}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _candidates(directory: Path) -> Iterable[Path]:
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith(("_", ".")):
            continue
        if (entry.is_file() and entry.suffix == ".py") or (
            entry.is_dir() and (entry / "__init__.py").is_file()
        ):
            yield entry


def load_component_types(directories: Iterable[Path]) -> ComponentTypes:
    found = ComponentTypes()
    for cls in BUILTIN_TYPES:
        found.add(cls, "built-in")
    for directory in directories:
        if not directory.is_dir():
            found.problems.append(f"{directory}: component directory does not exist")
            continue
        for path in _candidates(directory):
            try:
                module = _import_file(path)
            except (Exception, SystemExit) as exc:
                found.problems.append(f"{path}: plugin failed to load: {type(exc).__name__}: {exc}")
                continue
            for cls in _components_in(module):
                found.add(cls, str(path))
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()
        except Exception as exc:
            found.problems.append(f"entry point {ep.value}: failed to load: {exc!r}")
            continue
        if inspect.isclass(loaded) and issubclass(loaded, Component):
            found.add(loaded, f"entry point {ep.value}")
        else:
            found.problems.append(f"entry point {ep.value}: not a Component subclass")
    for problem in found.problems:
        log.error("%s", problem)
    return found
