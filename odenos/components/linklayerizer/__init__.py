"""The built-in LinkLayerizer (see :mod:`odenos.components.linklayerizer.component`)."""

from odenos.components.linklayerizer.component import LinkLayerizer

__all__ = ["LinkLayerizer"]
