"""One step of the copy engine: master book + settings + follower facts → target book."""

from __future__ import annotations

from mtponte.copy.engine.model import BookState, FollowerFacts, MasterView, StepResult, Target
from mtponte.copy.engine.settings import CopySettings


def step(
    state: BookState,
    master: MasterView,
    settings: CopySettings,
    facts: FollowerFacts | None,
    now: int,
) -> StepResult:
    """Bring one subscription's book up to date with the master as it is now.

    Parameters
    ----------
    state
        What the engine decided before (``BookState(prefix=...)`` for a new
        subscription).
    master
        The master's current positions (snapshot with every later event applied),
        whether it is fresh, and its account facts.
    settings
        The subscription's copy settings.
    facts
        The follower's last reported account facts, or ``None`` before its first
        report (nothing can be sized or resolved then: the book stays as it is).
    now
        Epoch seconds (UTC).

    Returns
    -------
    StepResult
        The new state, the follower's targets and the decisions taken in this step.
    """
    raise NotImplementedError


def reset_risk(state: BookState) -> BookState:
    """Clear a tripped daily-loss stop (the explicit reset)."""
    raise NotImplementedError


def targets_of(state: BookState, netting: bool) -> tuple[Target, ...]:
    """The follower's targets: one per copy (hedging) or the net per symbol (netting)."""
    raise NotImplementedError
