"""The copy-trading server: sequenced master events, scoped tokens, Sentra-compatible
routes. Build it with :func:`mtponte.copy.server.app.create_app`."""
