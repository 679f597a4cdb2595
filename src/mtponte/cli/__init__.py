"""Command-line interface (``mtponte``)."""

from mtponte.cli.app import app, main

__all__ = ["app", "main"]
