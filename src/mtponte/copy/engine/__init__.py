"""The copy engine: pure functions from a master's book, a subscription's settings and
a follower's account facts to the exact positions that follower should hold.

Decide once, in Python, on the server; followers only execute (DESIGN.md).
"""

from mtponte.copy.engine.book import reset_risk, step, targets_of
from mtponte.copy.engine.model import (
    BookState,
    Copy,
    Decision,
    FollowerFacts,
    MasterFacts,
    MasterOrder,
    MasterPosition,
    MasterView,
    StepResult,
    Target,
)
from mtponte.copy.engine.settings import CopySettings

__all__ = [
    "BookState",
    "Copy",
    "CopySettings",
    "Decision",
    "FollowerFacts",
    "MasterFacts",
    "MasterOrder",
    "MasterPosition",
    "MasterView",
    "StepResult",
    "Target",
    "reset_risk",
    "step",
    "targets_of",
]
