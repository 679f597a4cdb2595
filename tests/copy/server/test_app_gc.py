"""The server process freezes the collector once started (a full collection over the
imported libraries' heap stalled every follower's push by ~100 ms)."""

from __future__ import annotations

import gc

import pytest
from fastapi.testclient import TestClient

from mtponte.copy.server import app as app_module
from mtponte.copy.server.settings import ServerSettings


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    before = gc.get_threshold()
    yield
    gc.unfreeze()  # the test process must not keep this heap forever
    gc.set_threshold(*before)


def test_the_served_app_freezes_the_collector_after_start(unfrozen, tmp_path, monkeypatch):
    monkeypatch.setenv("MTPONTE_DATABASE_URL", f"sqlite:///{tmp_path / 'copy.db'}")
    assert gc.get_freeze_count() == 0
    with TestClient(app_module.serve_app()):
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == app_module.GC_THRESHOLD


def test_an_app_built_in_a_test_run_does_not(unfrozen, tmp_path):
    url = f"sqlite:///{tmp_path / 'copy.db'}"
    before = gc.get_threshold()
    with TestClient(app_module.create_app(ServerSettings(database_url=url))):
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold() == before
