"""The one exception hierarchy of mtponte.

Every error a user can cause (bad data, bad parameters, bad configuration) is an
:class:`MtponteError` whose message is a single, complete line: the CLI prints it
without a traceback.
"""

from __future__ import annotations


class MtponteError(Exception):
    """Base class of every error mtponte raises on purpose."""


class ConfigError(MtponteError):
    """A parameter, setting or command-line value is invalid."""


class DataError(MtponteError):
    """A market-data file or array is malformed.

    Parameters
    ----------
    message
        What is wrong.
    path
        The file, when the data came from one.
    line
        1-based line number in that file, when one row is at fault.
    """

    def __init__(self, message: str, path: str | None = None, line: int | None = None) -> None:
        self.path = path
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)


class BrokerError(MtponteError):
    """A broker adapter cannot connect or read the account (never a trade refusal:
    those are :class:`~mtponte.domain.orders.ExecutionReport` values)."""


class AlertError(MtponteError):
    """A notifier could not deliver an alert (the message never contains a secret)."""
