"""The deployment files: compose.yaml structure and environment names, systemd units."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest

from mtponte.copy.server.settings import ServerSettings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_compose_services_and_settings_names() -> None:
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = doc["services"]
    assert set(services) == {"postgres", "redis", "server", "proxy"}
    server = services["server"]
    env = server["environment"]
    for name in ("MTPONTE_DATABASE_URL", "MTPONTE_REDIS_URL", "MTPONTE_SECRET_KEY"):
        assert name in env
    # every MTPONTE_* name the server is given is a setting it reads
    fields = {f"MTPONTE_{f.upper()}" for f in ServerSettings.model_fields}
    assert {k for k in env if k.startswith("MTPONTE_")} <= fields
    assert env["MTPONTE_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in env["MTPONTE_DATABASE_URL"]
    assert env["MTPONTE_REDIS_URL"].startswith("redis://redis:")
    cmd = server["command"]
    assert cmd[:2] == ["mtponte", "server"] and "0.0.0.0" in cmd
    workers = cmd[cmd.index("--workers") + 1]
    assert int(re.sub(r"\$\{MTPONTE_WORKERS:-(\d+)\}", r"\1", workers)) > 1
    assert server["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert server["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "ports" not in server  # reachable only through the proxy
    proxy = services["proxy"]
    assert "443:443" in proxy["ports"]
    caddy = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    assert "reverse_proxy server:8000" in caddy and "8000" in server["expose"]
    assert (DEPLOY / server["build"]["dockerfile"].removeprefix("deploy/")).is_file()
    for volume in ("pgdata",):
        assert volume in doc["volumes"]
    # secrets come from the environment, never from the file
    text = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    assert "${MTPONTE_SECRET_KEY:?" in text and "${POSTGRES_PASSWORD:?" in text


@pytest.mark.parametrize(
    ("unit", "runs"),
    [
        ("mtponte-server.service", "mtponte server"),
        ("mtponte-follow@.service", "mtponte follow --config"),
    ],
)
def test_systemd_units(unit: str, runs: str) -> None:
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read_string((DEPLOY / "systemd" / unit).read_text(encoding="utf-8"))
    assert set(cp.sections()) == {"Unit", "Service", "Install"}
    svc = cp["Service"]
    assert runs in svc["ExecStart"] and svc["Restart"] == "always"
    assert cp["Install"]["WantedBy"] == "multi-user.target"
