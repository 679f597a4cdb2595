"""Mutation testing on demand (not in CI): cosmic-ray over the trading, bridge and auth
modules, each against a targeted test selection so a run stays bounded on 2 cores.

Usage::

    uv run python tools/mutate.py                       # every module, 30 mutants each
    uv run python tools/mutate.py fill rules --sample 0 # every mutant of two modules
    uv run python tools/mutate.py executor --rerun-survivors   # after adding tests

The sources and tests are copied to a scratch directory (``--work``, default
``.mutants/``) and cosmic-ray mutates that copy, never the checkout; ``PYTHONPATH``
points the tests at the copy. Mutants inside type annotations and logging calls are
left out before sampling (they cannot change behaviour here: every module uses
``from __future__ import annotations``). A sample (``--sample N``, seeded) is drawn
from the rest; the score is killed / (killed + survived) over the sample. Each
module's session database is kept, so ``--rerun-survivors`` re-runs only the
mutants that survived last time (a new test cannot revive a killed mutant).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Target:
    """One module to mutate and the tests that are meant to catch its mutants."""

    name: str
    path: str
    tests: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()


TRADING_TESTS = (
    "tests/backtest/test_engine.py",
    "tests/backtest/test_short_and_gaps.py",
    "tests/backtest/test_fill_rules.py",
    "tests/strategies/test_elephant_rules.py",
    # the streaming twin against the batch path, without the 1,000-example property
    "tests/strategies/test_batch_vs_streaming.py::test_batch_equals_streaming_synthetic",
    "tests/strategies/test_batch_vs_streaming.py::test_random_generator_is_not_vacuous",
)
BRIDGE_TESTS = (
    "tests/bridge/test_executor.py",
    "tests/bridge/test_executor_safeguards.py",
    "tests/bridge/test_executor_timeout.py",
    "--deselect",  # 50 s of hypothesis per run; the hand-written BAD table stays in
    "tests/bridge/test_executor.py::test_fuzz_nothing_invalid_is_ever_executed",
    # the executors' conformance suite, Python twin only (the EA's needs g++ and time)
    "tests/mql5/test_ea_conformance.py",
    "-k",
    "python or not test_ea_conformance",
)
AUTH_TESTS = (
    "tests/copy/server/test_audit_mutants.py",
    "tests/copy/server/test_audit_rerun.py",
    "tests/copy/server/test_security.py",
    "tests/copy/server/test_grants_schedule.py",
    "tests/copy/server/test_native_api.py",
    "tests/copy/server/test_compat.py",
    "tests/copy/server/test_dashboard.py",
    "-k",
    "not postgres",
)
NO_JIT = (("NUMBA_DISABLE_JIT", "1"),)  # compiling each mutant would dominate the run

TARGETS = {
    t.name: t
    for t in (
        Target(
            "elephant",
            "src/mtponte/strategies/elephant.py",
            (*TRADING_TESTS, "tests/strategies/test_streaming_edges.py"),
            NO_JIT,
        ),
        Target("fill", "src/mtponte/backtest/fill.py", TRADING_TESTS, NO_JIT),
        Target(
            "rules",
            "src/mtponte/risk/rules.py",
            ("tests/risk/test_rules.py", "tests/risk/test_rules_boundaries.py"),
        ),
        Target("executor", "src/mtponte/bridge/executor.py", BRIDGE_TESTS),
        Target("executor_orders", "src/mtponte/bridge/_executor_orders.py", BRIDGE_TESTS),
        Target("executor_recovery", "src/mtponte/bridge/_executor_recovery.py", BRIDGE_TESTS),
        Target("protocol", "src/mtponte/bridge/protocol.py", BRIDGE_TESTS),
        Target("deps", "src/mtponte/copy/server/deps.py", AUTH_TESTS),
        Target("security", "src/mtponte/copy/server/security.py", AUTH_TESTS),
        Target("grants", "src/mtponte/copy/server/_grants.py", AUTH_TESTS),
    )
}


def excluded_spans(source: str) -> list[tuple[int, int, int, int]]:
    """Spans (line, col, end line, end col) of annotations and ``log.*(...)`` calls."""
    spans = []
    for node in ast.walk(ast.parse(source)):
        found: list[ast.AST] = []
        if isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None:
            found.append(node.annotation)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns:
            found.append(node.returns)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "log"
        ):
            found.append(node)
        for n in found:
            spans.append((n.lineno, n.col_offset, n.end_lineno or n.lineno, n.end_col_offset or 0))
    return spans


def _inside(pos: tuple[int, int], span: tuple[int, int, int, int]) -> bool:
    return (span[0], span[1]) <= pos <= (span[2], span[3])


def _copy_tree(work: Path) -> None:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for name in ("src", "tests"):
        shutil.copytree(ROOT / name, work / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", work / "pyproject.toml")


def _env(work: Path, target: Target) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(work / "src")
    env["MTPONTE_CACHE_DIR"] = str(work / ".numba")
    env.pop("MTPONTE_FAIL_ON_SKIP", None)
    env.update(dict(target.env))
    return env


def _test_command(target: Target) -> str:
    args = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
    return shlex.join([*args, *target.tests])  # cosmic-ray splits it with shlex


def _cosmic(args: list[str], work: Path, env: dict[str, str]) -> None:
    exe = Path(sys.executable).with_name("cosmic-ray")
    subprocess.run([str(exe), *args], cwd=work, env=env, check=True)


def write_config(target: Target, work: Path) -> Path:
    """The cosmic-ray configuration of one module, in the scratch copy."""
    config = work / f"{target.name}.toml"
    config.write_text(
        "[cosmic-ray]\n"
        f'module-path = "{target.path}"\n'
        "timeout = 120.0\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(_test_command(target))}\n"
        '[cosmic-ray.distributor]\nname = "local"\n',
        encoding="utf-8",
    )
    return config


def prepare(target: Target, work: Path, session: Path, sample: int, seed: int) -> dict[str, int]:
    """Generate every mutant and skip all but the sample."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    config = write_config(target, work)
    if session.exists():
        session.unlink()
    _cosmic(["init", str(config), str(session)], work, _env(work, target))
    spans = excluded_spans((work / target.path).read_text(encoding="utf-8"))
    with use_db(str(session), WorkDB.Mode.open) as db:
        items = sorted(db.pending_work_items, key=lambda w: w.job_id)  # pending is shuffled
        kept = [
            w
            for w in items
            if not any(_inside(tuple(m.start_pos), s) for m in w.mutations for s in spans)
        ]
        chosen = set(
            w.job_id
            for w in (random.Random(seed).sample(kept, sample) if 0 < sample < len(kept) else kept)
        )
        skip = [w.job_id for w in items if w.job_id not in chosen]
        if skip:
            db.set_multiple_results(skip, WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
    return {"generated": len(items), "eligible": len(kept), "sampled": len(chosen)}


def score(session: Path) -> tuple[int, int, list[str]]:
    """(killed, survived, a description of each survivor) over the tested mutants."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    killed = survived = 0
    survivors = []
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            if result.worker_outcome is not WorkerOutcome.NORMAL:
                if result.worker_outcome is WorkerOutcome.ABNORMAL:
                    killed += 1  # crashed or timed out under the mutant: caught
                continue
            if result.test_outcome is TestOutcome.SURVIVED:
                survived += 1
                m = item.mutations[0]
                survivors.append(
                    f"{item.job_id} {m.module_path}:{m.start_pos[0]} {m.operator_name}"
                    f"[{m.occurrence}]\n{result.diff}"
                )
            elif result.test_outcome is TestOutcome.KILLED:
                killed += 1
    return killed, survived, survivors


def rerun_survivors(session: Path) -> int:
    """Forget the survivors' results so ``exec`` runs them again; return how many."""
    import sqlite3

    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome

    with use_db(str(session), WorkDB.Mode.open) as db:
        ids = [
            item.job_id
            for item, result in db.completed_work_items
            if result.test_outcome is TestOutcome.SURVIVED
        ]
    with sqlite3.connect(session) as con:
        con.executemany("DELETE FROM work_results WHERE job_id = ?", [(i,) for i in ids])
    return len(ids)


def main(argv: list[str] | None = None) -> int:
    """Run the mutation sessions and print a score per module."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("modules", nargs="*", help=f"some of: {' '.join(TARGETS)} (default all)")
    ap.add_argument("--sample", type=int, default=30, help="mutants per module (0: all)")
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--work", type=Path, default=ROOT / ".mutants")
    ap.add_argument("--rerun-survivors", action="store_true")
    ap.add_argument("--survivors", action="store_true", help="print each survivor's diff")
    args = ap.parse_args(argv)
    work: Path = args.work
    sessions = work / "sessions"
    sessions.mkdir(parents=True, exist_ok=True)
    code = work / "code"
    _copy_tree(code)
    rows = []
    unknown = [m for m in args.modules if m not in TARGETS]
    if unknown:
        ap.error(f"unknown module(s) {unknown}: choose from {' '.join(TARGETS)}")
    for name in args.modules or list(TARGETS):
        target = TARGETS[name]
        session = sessions / f"{name}.sqlite"
        t0 = time.monotonic()
        if args.rerun_survivors and session.exists():
            write_config(target, code)
            info = {"rerun": rerun_survivors(session)}
        else:
            info = prepare(target, code, session, args.sample, args.seed)
        print(f"== {name}: {info}", flush=True)
        # the selection must pass unmutated: a broken command (exit 2, 4, 5) would
        # otherwise count every mutant as killed
        base = subprocess.run(
            shlex.split(_test_command(target)), cwd=code, env=_env(code, target), check=False
        )
        if base.returncode != 0:
            print(f"{name}: the tests fail without a mutant (exit {base.returncode})")
            return 2
        _cosmic(["exec", str(code / f"{name}.toml"), str(session)], code, _env(code, target))
        killed, survived, survivors = score(session)
        total = killed + survived
        pct = 100.0 * killed / total if total else float("nan")
        rows.append((name, killed, survived, pct, time.monotonic() - t0))
        if args.survivors:
            for s in survivors:
                print(s)
    print(f"{'module':<10} {'killed':>6} {'survived':>8} {'score':>7} {'seconds':>8}")
    for name, killed, survived, pct, secs in rows:
        print(f"{name:<10} {killed:>6} {survived:>8} {pct:>6.1f}% {secs:>8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
