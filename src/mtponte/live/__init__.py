"""The live monitor: feeds, the runner, its journal and configuration.

``live`` imports ``risk``, ``strategies``, ``brokers``, ``backtest`` (fill model and
writers), ``domain`` and ``data``; nothing below imports it.
"""
