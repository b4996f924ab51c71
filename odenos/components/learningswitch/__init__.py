"""The built-in LearningSwitch (see :mod:`odenos.components.learningswitch.component`)."""

from odenos.components.learningswitch.component import LearningSwitch

__all__ = ["LearningSwitch"]
