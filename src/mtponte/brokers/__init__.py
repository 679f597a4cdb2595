"""Broker adapters behind one small port (:class:`~mtponte.brokers.base.Broker`)."""

from mtponte.brokers.base import Broker

__all__ = ["Broker"]
