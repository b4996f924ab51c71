"""The built-in Slicer (see :mod:`odenos.components.slicer.component`)."""

from odenos.components.slicer.component import Slicer

__all__ = ["Slicer"]
