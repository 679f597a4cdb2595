"""The copy-trading publisher: a master account's position changes, as events and
snapshots, delivered to the copy server through a durable outbox.

See ``docs/publisher.md``.
"""

from mtponte.copy.publisher._diff import Change, Diff, Pos, diff, select, to_pos
from mtponte.copy.publisher._outbox import DeadLetter, Outbox, Queued
from mtponte.copy.publisher._publisher import PollSummary, Publisher
from mtponte.copy.publisher.settings import (
    BrokerSection,
    PublisherSettings,
    load_settings,
    make_broker,
)

__all__ = [
    "BrokerSection",
    "Change",
    "DeadLetter",
    "Diff",
    "Outbox",
    "PollSummary",
    "Pos",
    "Publisher",
    "PublisherSettings",
    "Queued",
    "diff",
    "load_settings",
    "make_broker",
    "select",
    "to_pos",
]
