"""The OpenAPI description of the REST API, as the REST translator serves it.

The description is written by hand in ``openapi.yaml`` beside this module (it
ships as package data); ``tests/test_openapi.py`` keeps it and the routes the
code serves in step, both ways.  The translator answers ``GET /openapi.json``
and ``GET /openapi.yaml`` with it.
"""

from __future__ import annotations

import functools
import json
from importlib.resources import files
from typing import Any

import yaml
from aiohttp import web

SPEC_FILE = "openapi.yaml"


@functools.cache
def spec_text() -> str:
    """The YAML source, read once from the package."""
    return files(__package__).joinpath(SPEC_FILE).read_text(encoding="utf-8")


@functools.cache
def load_spec() -> dict[str, Any]:
    """The description as a dict, parsed once.  Shared: do not modify it."""
    spec = yaml.safe_load(spec_text())
    if not isinstance(spec, dict):
        raise TypeError(f"{SPEC_FILE} holds a {type(spec).__name__}, not an OpenAPI document")
    return spec


@functools.cache
def _spec_json() -> bytes:
    return json.dumps(load_spec()).encode()


async def serve_openapi(request: web.Request) -> web.Response:
    """``GET /openapi.json``."""
    return web.Response(body=_spec_json(), content_type="application/json")


async def serve_openapi_yaml(request: web.Request) -> web.Response:
    """``GET /openapi.yaml``: the source, comments included."""
    return web.Response(text=spec_text(), content_type="application/yaml")
