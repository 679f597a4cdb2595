"""CI honesty (issue 15): ``.ci/run`` stops when PostgreSQL cannot be reached, and a
test that skips for want of a service fails the run under ``MTPONTE_FAIL_ON_SKIP=1``.
Simulated without touching the machine's PostgreSQL: ``.ci/services.sh`` is pointed at
a closed port, with no ``pg_ctlcluster`` on its PATH (so it cannot start one)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason=".ci/run is a bash script")


def _services(tmp_path: Path, pg_port: int) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"  # python3 only: no pg_ctlcluster, no redis-server
    bin_dir.mkdir(exist_ok=True)
    python3 = shutil.which("python3") or sys.executable
    (bin_dir / "python3").unlink(missing_ok=True)
    (bin_dir / "python3").symlink_to(python3)
    env = {
        "PATH": str(bin_dir),
        "MTPONTE_CI_PG_PORT": str(pg_port),
        "MTPONTE_TEST_REDIS_URL": "redis://127.0.0.1:6379/15",  # Redis is not the point
    }
    bash = shutil.which("bash") or "/bin/bash"
    return subprocess.run(
        [
            bash,
            "-c",
            'set -euo pipefail; source .ci/services.sh; echo "url=$MTPONTE_TEST_DATABASE_URL"',
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_ci_stops_when_postgres_cannot_be_reached(tmp_path):
    r = _services(tmp_path, _free_port())  # nothing listens there once the socket closed
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "PostgreSQL is not answering" in r.stderr
    assert "url=" not in r.stdout  # stopped before the tests


def test_ci_uses_postgres_when_it_answers(tmp_path):
    with socket.socket() as listener:  # a stand-in that accepts connections
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        r = _services(tmp_path, port)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert f"url=postgresql://postgres@127.0.0.1:{port}/test" in r.stdout


def test_a_test_skipped_for_want_of_postgres_fails_under_fail_on_skip():
    target = [
        "tests/copy/server/test_audit_rerun.py",
        "-k",
        "c5 and postgres",
        "-p",
        "no:cacheprovider",
    ]
    env = {k: v for k, v in os.environ.items() if k != "MTPONTE_TEST_DATABASE_URL"}
    env.pop("MTPONTE_FAIL_ON_SKIP", None)
    quiet = subprocess.run(
        [sys.executable, "-m", "pytest", *target], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert quiet.returncode == 0 and "1 skipped" in quiet.stdout, quiet.stdout[-500:]
    env["MTPONTE_FAIL_ON_SKIP"] = "1"
    ci = subprocess.run(
        [sys.executable, "-m", "pytest", *target], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert ci.returncode == 1, ci.stdout[-500:]
    assert "skipped in CI (MTPONTE_FAIL_ON_SKIP=1)" in ci.stdout
    assert "MTPONTE_TEST_DATABASE_URL is not set" in ci.stdout
