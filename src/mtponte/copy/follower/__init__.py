"""The follower: makes an account hold the target book its copy server decides."""

from mtponte.copy.follower._http import HttpLink
from mtponte.copy.follower._plan import Action, Ledger, plan_hedging, plan_netting, tag_of
from mtponte.copy.follower._stream import StreamLink
from mtponte.copy.follower.follower import (
    CycleResult,
    Follower,
    FollowerOptions,
    LeaseHeld,
    Link,
    LinkError,
    TargetBook,
)

__all__ = [
    "Action",
    "CycleResult",
    "Follower",
    "FollowerOptions",
    "HttpLink",
    "LeaseHeld",
    "Ledger",
    "Link",
    "LinkError",
    "StreamLink",
    "TargetBook",
    "plan_hedging",
    "plan_netting",
    "tag_of",
]
