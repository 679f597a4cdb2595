"""The Python ⇄ MT5 file bridge: protocol v1, atomic file I/O, journals, the
reference executor (the EA's twin) and the Python client."""

from mtponte.bridge.checks import ExecutorLimits
from mtponte.bridge.client import BridgeClient, BridgeTimeout
from mtponte.bridge.executor import Executor
from mtponte.bridge.protocol import Command, Kind, Reason, Result, Status

__all__ = [
    "BridgeClient",
    "BridgeTimeout",
    "Command",
    "Executor",
    "ExecutorLimits",
    "Kind",
    "Reason",
    "Result",
    "Status",
]
