"""Crash drill for the file bridge: ``kill -9`` the executor and the client at random
moments while the client works through a fixed plan of commands, then check that
every planned command was executed exactly once (against the paper broker's deals).

Run as a module for the client side: ``python -m tests.integration.drill client DIR N``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def client_main(root: Path, n: int) -> None:
    from mtponte.bridge import BridgeClient

    c = BridgeClient(root)
    c.recover()
    for cid in c.unfinished():
        c.wait(cid, 120)
    rows = c.journal.all()
    k = len(rows)  # plan items already journaled (sent or settled)
    last = rows[-1][3] if rows else None  # result json of the previous item
    while k < n:
        c.heartbeat()
        ticket = json.loads(last).get("ticket") if last else None
        if k % 2 == 1 and ticket:  # close what the previous item opened
            cmd = c.command("close", ttl_ms=3_600_000, ticket=ticket, strategy=f"drill-{k}")
        else:
            cmd = c.command(
                "open",
                ttl_ms=3_600_000,
                symbol="WIN",
                side="buy" if k % 4 == 0 else "sell",
                volume=1,
                strategy=f"drill-{k}",
            )
        c.send(cmd)
        last = c.wait(cmd.id, 120).model_dump_json(exclude_none=True)
        k += 1
    c.close()


EXECUTOR_POINTS = (
    "executor.after_begin",
    "executor.after_execute",
    "executor.after_finish",
    "executor.after_result",
)
CRASH_POINTS = ",".join(
    f"{p}:0.01" for p in (*EXECUTOR_POINTS, "client.after_add", "client.after_write")
)


def _spawn(args: list[str], log: Path, faults: bool | str) -> subprocess.Popen[bytes]:
    """Start a child; ``faults`` True: the random crash points, a string: those points."""
    fh = open(log, "ab")  # noqa: SIM115 - the child owns it
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if faults:
        env["MTPONTE_CRASH_POINTS"] = CRASH_POINTS if faults is True else faults
        env["MTPONTE_CRASH_LOG"] = str(log.parent / "crashpoints.log")
    return subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, env=env
    )


def executor_args(root: Path) -> list[str]:
    return [
        "-m",
        "mtponte",
        "bridge",
        "serve",
        "--dir",
        str(root),
        "--quote",
        "WIN=120000,120005",
        "--max-positions",
        "1000000",
        "--dead-man-ms",
        "0",
        "--no-require-sl",
    ]


@dataclass
class DrillReport:
    planned: int
    kills: int
    self_kills: int  # crash points that fired (see by_point)
    by_point: dict[str, int]
    recovered: int  # commands whose outcome the executor resolved after a crash
    executed: int
    duplicates: int
    lost: int
    phantom: int
    unfinished_client: int
    unfinished_executor: int
    seconds: float


def _filled(root: Path) -> int:
    """Commands the client has seen finished so far (-1 while its journal is not there)."""
    try:
        with sqlite3.connect(root / "journal" / "client.sqlite", timeout=1) as cj:
            return int(
                cj.execute("SELECT COUNT(*) FROM commands WHERE state='filled'").fetchone()[0]
            )
    except sqlite3.Error:
        return -1


def _wait_progress(root: Path, since: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _filled(root) <= since and time.monotonic() < deadline:
        time.sleep(0.05)


def run_drill(
    root: Path, planned: int, kills: int, seed: int = 1, progress: bool = False
) -> DrillReport:
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    logs = root / "logs"
    logs.mkdir(exist_ok=True)
    procs: dict[str, subprocess.Popen[bytes] | None] = {"executor": None, "client": None}
    args = {
        "executor": executor_args(root),
        "client": ["-m", "tests.integration.drill", "client", str(root), str(planned)],
    }
    t0 = time.monotonic()
    done_kills = 0
    try:
        # First every executor window once for certain (probability 1: the executor
        # kills itself at the first command that reaches it), so a run never passes
        # without having crashed inside each of them; then the random phase.
        for point in EXECUTOR_POINTS:
            ex = _spawn(args["executor"], logs / "executor.log", faults=f"{point}:1")
            deadline = time.monotonic() + 120
            while ex.poll() is None and time.monotonic() < deadline:
                client = procs["client"]
                if client is None or client.poll() is not None:
                    procs["client"] = _spawn(args["client"], logs / "client.log", faults=True)
                time.sleep(0.05)
            if ex.poll() is None:
                ex.kill()
                ex.wait()
                raise RuntimeError(f"the executor never reached {point}; see {logs}")
        while done_kills < kills:
            for name in procs:
                p = procs[name]
                if p is None or p.poll() is not None:
                    procs[name] = _spawn(args[name], logs / f"{name}.log", faults=True)
            # Processes take ~0.7 s to start on an idle machine, several seconds on a
            # loaded one: wait until commands flow again (up to 30 s), so kills land
            # while commands are in flight or during a restart's recovery, never only
            # on processes still importing.
            _wait_progress(root, _filled(root), 30.0)
            time.sleep(rng.uniform(0.0, 1.0))
            victims = rng.choice([["executor"], ["client"], ["executor", "client"]])
            for name in victims:
                p = procs[name]
                if p is not None and p.poll() is None:
                    os.kill(p.pid, signal.SIGKILL)
                    p.wait()
                    done_kills += 1
            if progress and done_kills % 20 == 0:
                print(f"  {done_kills}/{kills} kills", file=sys.stderr)
        # Let both finish the plan undisturbed: restart them without crash points.
        for name in procs:
            p = procs[name]
            if p is not None and p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
                done_kills += 1
            procs[name] = _spawn(args[name], logs / f"{name}.log", faults=False)
        client = procs["client"]
        assert client is not None
        if client.wait(timeout=600) != 0:
            raise RuntimeError(f"drill client failed; see {logs / 'client.log'}")
    finally:
        for p in procs.values():
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
    return verify(root, planned, done_kills, time.monotonic() - t0)


def verify(root: Path, planned: int, kills: int, seconds: float) -> DrillReport:
    from mtponte.bridge.protocol import tag_for

    cj = sqlite3.connect(root / "journal" / "client.sqlite")
    rows = cj.execute("SELECT id, state, command FROM commands ORDER BY seq").fetchall()
    ej = sqlite3.connect(root / "journal" / "executor.sqlite")
    unfinished_ex = ej.execute("SELECT COUNT(*) FROM commands WHERE state='executing'").fetchone()[
        0
    ]
    recovered = ej.execute(
        "SELECT COUNT(*) FROM commands WHERE result LIKE '%recovered%'"
    ).fetchone()[0]
    paper = sqlite3.connect(root / "paper.sqlite")
    ins = Counter(r[0] for r in paper.execute("SELECT comment FROM deals WHERE entry='in'"))
    outs = Counter(r[0] for r in paper.execute("SELECT comment FROM deals WHERE entry='out'"))
    # Each open must have exactly one entry deal with its tag, each close one exit deal.
    fills = Counter(
        {
            tag_for(r[0]): (ins if json.loads(r[2])["kind"] == "open" else outs).get(
                tag_for(r[0]), 0
            )
            for r in rows
        }
    )
    known = {tag_for(r[0]) for r in rows}
    phantom = sum(1 for t in (*ins, *outs) if t not in known)
    log = root / "logs" / "crashpoints.log"
    by_point = Counter(log.read_text().split()) if log.exists() else Counter()
    return DrillReport(
        planned=planned,
        kills=kills,
        self_kills=sum(by_point.values()),
        by_point=dict(sorted(by_point.items())),
        recovered=int(recovered),
        executed=sum(1 for c in fills.values() if c >= 1),
        duplicates=sum(c - 1 for c in fills.values() if c > 1),
        lost=sum(1 for c in fills.values() if c == 0) + max(0, planned - len(rows)),
        phantom=phantom,
        unfinished_client=sum(1 for r in rows if r[1] != "filled"),
        unfinished_executor=int(unfinished_ex),
        seconds=seconds,
    )


if __name__ == "__main__":
    if sys.argv[1] == "client":
        client_main(Path(sys.argv[2]), int(sys.argv[3]))
