"""The built-in Aggregator: the whole original network shown as one node (see
:mod:`odenos.components.aggregator.component`)."""

from odenos.components.aggregator.component import Aggregator

__all__ = ["Aggregator"]
