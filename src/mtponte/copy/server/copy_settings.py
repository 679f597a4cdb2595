"""Copy settings of a subscription (moved to :mod:`mtponte.copy.engine.settings`)."""

from mtponte.copy.engine.settings import LEGACY_KEYS, CopySettings

__all__ = ["LEGACY_KEYS", "CopySettings"]
