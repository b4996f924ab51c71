"""The built-in Federator (see :mod:`odenos.components.federator.component`)."""

from odenos.components.federator.component import Federator

__all__ = ["Federator"]
