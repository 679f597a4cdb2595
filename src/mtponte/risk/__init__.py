"""Pre-trade risk rules: small, pure, composable (no I/O).

Each rule reads a frozen :class:`~mtponte.risk.rules.RiskContext` and returns a
:class:`~mtponte.risk.rules.Decision` naming the rule and the reason; :func:`evaluate`
runs a list of rules and :func:`first_refusal` finds the one that blocks an entry.
"""

from mtponte.risk.rules import (
    DEFAULT_RULES,
    Decision,
    RiskContext,
    RiskLimits,
    Rule,
    command_pending,
    daily_loss,
    evaluate,
    first_refusal,
    kill_switch,
    market_phase,
    max_trades_per_day,
    one_position,
    signal_validity,
    trading_window,
)

__all__ = [
    "DEFAULT_RULES",
    "Decision",
    "RiskContext",
    "RiskLimits",
    "Rule",
    "command_pending",
    "daily_loss",
    "evaluate",
    "first_refusal",
    "kill_switch",
    "market_phase",
    "max_trades_per_day",
    "one_position",
    "signal_validity",
    "trading_window",
]
