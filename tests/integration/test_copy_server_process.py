"""`mtponte admin` + `mtponte server` as real processes, talking HTTP on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from tests.integration.test_copy_push import free_port, wait_up


def mtp(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "mtponte", *args], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_admin_then_server(tmp_path):
    db = f"sqlite:///{tmp_path / 'copy.db'}"
    master = mtp("admin", "account", "--role", "master", "--number", "1001", "--db", db)
    follower = mtp("admin", "account", "--role", "follower", "--number", "2001", "--db", db)
    mtp("admin", "subscribe", "--follower", follower, "--master", master, "--db", db)
    pub = mtp("admin", "token", "--scope", "publish", "--account", master, "--db", db)
    fol = mtp("admin", "token", "--scope", "follow", "--account", follower, "--db", db)
    assert pub.startswith("mtp_") and fol.startswith("mtp_")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mtponte", "server", "--db", db, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_up(base, "/docs")
        r = httpx.post(
            f"{base}/api/mt/copy/t/{pub}/master-signal",
            json={
                "action": "open",
                "account_number": "1001",
                "ticket": 5,
                "symbol": "EURUSD",
                "type": 0,
                "lots": 0.1,
                "open_price": 1.1,
                "timestamp": 1,
            },
        )
        assert r.json() == {"success": True, "seq": 1}
        r = httpx.get(
            f"{base}/api/mt/copy/t/{fol}/slave-signals", params={"master_account_id": "1001"}
        )
        assert '"positions":[{"ticket":5,' in r.text
        bad = mtp_fail("admin", "token", "--scope", "root", "--db", db)
        assert "scope must be one of" in bad
        # Revoked by another process: the running server refuses it within ~1 s.
        listing = mtp("admin", "tokens", "--db", db)
        assert fol[:12] in listing and fol not in listing  # prefix only, never the secret
        fol_id = next(line.split()[1] for line in listing.splitlines() if fol[:12] in line)
        assert "revoked token" in mtp("admin", "revoke", fol_id, "--db", db)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 5:
            r = httpx.get(
                f"{base}/api/mt/copy/t/{fol}/slave-signals", params={"master_account_id": "1001"}
            )
            if r.status_code == 401:
                break
            time.sleep(0.05)
        assert r.status_code == 401 and time.monotonic() - t0 < 3
        assert "no token 999" in mtp_fail("admin", "revoke", "999", "--db", db)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0].decode()
    assert pub not in out and fol not in out  # access log shows /t/***
    assert '"POST /api/mt/copy/t/***/master-signal" 200' in out


def mtp_fail(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "mtponte", *args], capture_output=True, text=True)
    assert out.returncode == 2
    return out.stdout + out.stderr
