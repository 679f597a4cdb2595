"""``python -m mtponte`` = the ``mtponte`` command."""

from mtponte.cli import main

main()
