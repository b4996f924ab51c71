"""The built-in Network component: a topology of nodes, ports and links."""

from odenos.components.network.component import Network

__all__ = ["Network"]
