"""The built-in LearningSwitch (see :mod:`odenos.components.learningswitch.component`)
and its subclass LearningSwitchVlan (:mod:`odenos.components.learningswitch.vlan`)."""

from odenos.components.learningswitch.component import LearningSwitch
from odenos.components.learningswitch.vlan import LearningSwitchVlan

__all__ = ["LearningSwitch", "LearningSwitchVlan"]
