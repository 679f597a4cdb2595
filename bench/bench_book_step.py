"""CPU of one master event's batch step of target books (not a test):
``uv run python bench/bench_book_step.py --followers 1,100,1000``.

In process (no HTTP timing): N followers heartbeat their facts, the master stores
``--events`` opens and closes, and after each the batch step of every book of the
master (``refresh_master``) is timed with ``time.thread_time()`` — the server's own
work per event, which holds still on a machine too busy for wall-clock latencies.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path

from bench_follow import FACTS, _event_body, setup  # run as a script: bench/ is on sys.path


def measure(n: int, events: int, db: str | None) -> dict[str, float]:
    from fastapi.testclient import TestClient

    from mtponte.copy.server.app import create_app
    from mtponte.copy.server.models import Account
    from mtponte.copy.server.service import publish_event
    from mtponte.copy.server.settings import ServerSettings
    from mtponte.copy.server.targets import refresh_master

    with tempfile.TemporaryDirectory() as tmp:
        url = db or f"sqlite:///{Path(tmp) / 'copy.db'}"
        mid, _pub, fs = setup(url, n)
        app = create_app(ServerSettings(database_url=url))
        with TestClient(app) as c:
            for fid, tok in fs:
                r = c.post(
                    f"/api/v1/followers/{fid}/heartbeats",
                    headers={"Authorization": f"Bearer {tok}"},
                    json={**FACTS, "instance": f"b{fid}"},
                )
                assert r.status_code == 204, r.text
            cpu, wall = [], []
            for k in range(events):
                # Stored without the route (which steps the books in its transaction),
                # so the step below does the work of one event.
                body = _event_body(k)
                with app.state.sessions() as s:
                    master = s.get(Account, mid)
                    assert master is not None
                    key = str(body.pop("idempotency_key"))
                    kind, ticket = str(body["kind"]), str(body["ticket"])
                    publish_event(s, master, kind, key, ticket, body, 10**6)
                    s.commit()
                t0, w0 = time.thread_time(), time.perf_counter()
                with app.state.sessions() as s:
                    out = refresh_master(s, mid, 60)
                cpu.append((time.thread_time() - t0) * 1000)
                wall.append((time.perf_counter() - w0) * 1000)
                assert len(out) == n
    return {
        "followers": n,
        "step_cpu_p50_ms": round(statistics.median(cpu), 1),
        "step_cpu_max_ms": round(max(cpu), 1),
        "step_wall_p50_ms": round(statistics.median(wall), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--followers", default="1,100,1000")
    ap.add_argument("--events", type=int, default=20)
    ap.add_argument("--db", default=None, help="database URL (default: SQLite in a temp dir)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    for n in [int(x) for x in args.followers.split(",")]:
        print(json.dumps(measure(n, args.events, args.db)), flush=True)


if __name__ == "__main__":
    main()
