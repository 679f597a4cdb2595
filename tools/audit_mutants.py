"""Re-run the test audit's 32 one-line mutants (``shared/reviews/test-audit.md`` §2).

Usage::

    uv run python tools/audit_mutants.py            # every mutant, SQLite only
    uv run python tools/audit_mutants.py T2 C9      # some of them
    uv run python tools/audit_mutants.py --jit      # trading mutants compiled by numba
    uv run python tools/audit_mutants.py --pg       # server tests on PostgreSQL too

Each mutant is a text replacement in a scratch copy of ``src/`` (the checkout is never
touched); ``PYTHONPATH`` points the named tests at the copy, and the table says which
of them failed. A mutant is *caught* when at least one named test fails, *survived*
when they all pass; anything else (a collection error, no test run) is an *error*,
never counted as caught. The audit's line numbers have moved since main 207e210, so
each mutant is located by its text, which must occur exactly as often as expected.
Exit status 0 only when every mutant expected to be caught was caught.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    """One audit mutant: replace ``old`` by ``new`` (its ``nth`` occurrence) in ``path``."""

    id: str
    behaviour: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    nth: int = 0
    count: int = 1  # how often ``old`` occurs in the file (a guard against drift)
    equivalent: str = ""  # why it cannot be caught, when it cannot


ENG = "tests/backtest/test_engine.py::"
SG = "tests/backtest/test_short_and_gaps.py::"
EX = "tests/bridge/test_executor.py::"
SAFE = "tests/bridge/test_executor_safeguards.py::"
AM = "tests/copy/server/test_audit_mutants.py::"
RR = "tests/copy/server/test_audit_rerun.py::"
FILL = "src/mtponte/backtest/fill.py"
EXE = "src/mtponte/bridge/executor.py"
EXE_ORDERS = "src/mtponte/bridge/_executor_orders.py"  # split out of executor.py
EXE_RECOVERY = "src/mtponte/bridge/_executor_recovery.py"
CHK = "src/mtponte/bridge/checks.py"
SRV = "src/mtponte/copy/server/"

MUTANTS = [
    Mutant(
        "T1", "SL before TP in one bar (long)", FILL,
        "if l <= sl + EPS:", "if l <= sl + EPS and h < tp - EPS:",
        (ENG + "test_sl_before_tp_in_the_same_bar",),
    ),
    Mutant(
        "T2", "SL before TP (short)", FILL,
        "if h >= sl - EPS:", "if h >= sl - EPS and l > tp + EPS:",
        (SG + "test_short_sl_is_checked_before_tp_in_one_bar",),
    ),
    Mutant(
        "T3", "flat time at a bar opening exactly on it", FILL,
        "tod >= flat_tod", "tod > flat_tod",
        (SG + "test_flat_time_exactly_on_a_bar_open_exits_at_that_open",),
    ),
    Mutant(
        "T4", "flat on a later date", FILL,
        "return day > entry_day or tod >= flat_tod", "return tod >= flat_tod",
        (ENG + "test_flat_time_on_a_later_date",),
    ),
    Mutant(
        "T5", "lookback means exclude the current bar", "src/mtponte/indicators/core.py",
        "for k in range(i - n, i):", "for k in range(i - n + 1, i + 1):",
        (
            "tests/indicators/test_indicators.py::test_mean_prev_excludes_current_bar",
            "tests/strategies/test_elephant_rules.py::test_threshold_uses_previous_bars_only",
        ),
        count=2,
    ),
    Mutant(
        "T6", "ATR uses true range", "src/mtponte/indicators/core.py",
        "if prev_close == prev_close:", "if False:",
        (SG + "test_true_range_counts_the_gap_from_the_previous_close",),
    ),
    Mutant(
        "T7", "ATR from bars closed before the entry bar (next_open)",
        "src/mtponte/strategies/elephant.py",
        "a = atr_[j]", "a = atr_[j + 1]",
        (ENG + "test_next_open_entry_and_levels_from_fill",),
    ),
    Mutant(
        "T8", "short stop entry fills at min(O, stop)", FILL,
        "return o if o < stop else stop", "return stop",
        (SG + "test_short_stop_entry_on_a_gap_down_fills_at_the_open",),
    ),
    Mutant(
        "B1", "duplicate id with another seq refused", EXE,
        "if seq != cmd.seq:", "if False:",
        (EX + "test_duplicate_id_with_other_seq_is_rejected_without_clobbering",),
    ),
    Mutant(
        "B2", "a replayed file is never executed again", EXE,
        "known = self.journal.get(cmd.id)", "known = None",
        (EX + "test_replayed_file_is_not_executed_again",),
    ),
    Mutant(
        "B3", "TTL expiry on receipt", CHK,
        "if ctx.now_ms > cmd.expires_at():", "if False:",
        (SAFE + "test_b3_check_command_refuses_an_expired_command_itself",),
    ),
    Mutant(
        "B4", "TTL expiry during crash recovery", EXE_RECOVERY,
        "if self.clock() > cmd.expires_at():", "if False:",
        (EX + "test_expired_while_crashed_is_not_executed",),
        equivalent="recovery then re-runs check_command, whose first check is the same "
        "TTL: same status (rejected), reason (expired) and outcome (nothing sent)",
    ),
    Mutant(
        "B5", "kill switch closes positions", EXE_ORDERS,
        "if ours or self.broker.orders():", "if False:",
        (EX + "test_kill_switch_closes_everything_and_refuses",),
    ),
    Mutant(
        "B6", "kill switch cancels pending orders when flat", EXE_ORDERS,
        "if ours or self.broker.orders():", "if ours:",
        (SAFE + "test_b6_kill_switch_cancels_a_pending_order_when_flat",),
    ),
    Mutant(
        "B7", "trading-hours window", CHK,
        "if not limits.trading_start <= local.time() <= limits.trading_end:", "if False:",
        (SAFE + "test_b7_entries_only_inside_the_trading_window",),
    ),
    Mutant(
        "B8", "kill switch refuses non-entry commands", CHK,
        "if ctx.kill_switch:", "if ctx.kill_switch and cmd.kind in ENTRY_KINDS:",
        ("tests/cli/test_cli_bridge.py::test_send_status_kill",),
    ),
    Mutant(
        "B9", "broker TIMEOUT resolved from records", EXE,
        "if rep.retcode == TIMEOUT:", "if False:",
        ("tests/bridge/test_executor_timeout.py::test_a_timed_out_open_is_never_sent_twice",),
    ),
    Mutant(
        "C1", "stale master answers success:false", SRV + "signals.py",
        "if row.last_seen is None or not seen_within(row.last_seen, stale_s):",
        "if row.last_seen is None:",
        ("tests/copy/server/test_compat.py::test_stale_master_never_answers_an_empty_list",),
    ),
    Mutant(
        "C2", "never-seen master answers success:false", SRV + "signals.py",
        "if row.last_seen is None or not seen_within(row.last_seen, stale_s):",
        "if row.last_seen is not None and not seen_within(row.last_seen, stale_s):",
        (AM + "test_c2_a_never_seen_master_is_offline_not_flat",),
    ),
    Mutant(
        "C3", "edge cache honours stale_at", SRV + "_books.py",
        "if book is not None and time.time() < book.stale_at:", "if book is not None:",
        (
            "tests/copy/server/test_edge.py::test_a_master_going_stale_is_not_hidden_by_the_cache",
            RR + "test_c3_the_edge_never_serves_a_master_gone_stale",
        ),
    ),
    Mutant(
        "C4", "scope check (native require)", SRV + "deps.py",
        "if principal.scope != scope or account is None", "if account is None",
        (AM + "test_c4_native_routes_check_the_scope_itself",),
    ),
    Mutant(
        "C5", "scope check (compat publish)", SRV + "routers/compat.py",
        'if p.scope != "publish" or master is None', "if master is None",
        (
            AM + "test_c5_compat_publish_checks_the_scope_itself",
            RR + "test_c5_the_publish_helper_refuses_a_token_of_another_scope",
        ),
    ),
    Mutant(
        "C13", "scope check (compat follow)", SRV + "routers/compat.py",
        'if p.scope != "follow" or follower is None or follower.role != "follower":',
        "if follower is None:",
        (AM + "test_c13_compat_follow_checks_the_scope_itself",),
    ),
    Mutant(
        "C15", "issue_token follow->follower rule", SRV + "admin.py",
        'if scope == "follow" and account is not None and account.role != "follower":',
        "if False:",
        (AM + "test_c15_issue_token_binds_scopes_to_roles",),
    ),
    Mutant(
        "C6", "token bound to its account", SRV + "deps.py",
        " or principal.account_id != account.id", "",
        ("tests/copy/server/test_native_api.py::test_every_route_needs_the_right_token",),
    ),
    Mutant(
        "C7", "idempotency pre-check", SRV + "service.py",
        "        if existing is not None:\n", "        if False:\n",
        (
            "tests/copy/server/test_native_api.py::test_idempotent_sequenced_events",
            AM + "test_c9_the_same_key_at_once_is_one_event",
        ),
        equivalent="the same check runs again under the per-master lock (service.py, "
        "'raced in from another worker'), and the rollback undoes the seq taken: only "
        "a write lock is taken needlessly",
    ),
    Mutant(
        "C8", "native idempotency key honoured", SRV + "routers/masters.py",
        "            body.idempotency_key,\n",
        "            f\"{body.idempotency_key}{__import__('time').time_ns()}\",\n",
        ("tests/copy/server/test_native_api.py::test_idempotent_sequenced_events",),
    ),
    Mutant(
        "C9", "same-key race fallback", SRV + "service.py",
        "except IntegrityError:", "except ZeroDivisionError:",
        (AM + "test_c9_the_same_key_at_once_is_one_event",
         RR + "test_c9_an_integrity_error_on_the_key_answers_the_stored_event"),
    ),
    Mutant(
        "C12", "compat retry stored once", SRV + "service.py",
        "seen = sentra_seen(history, kind, payload, datetime.now(UTC))", "seen = None",
        ("tests/copy/server/test_compat.py::test_retried_master_post_is_stored_once",),
    ),
    Mutant(
        "C10", "dashboard revoke reaches cached pollers", SRV + "routers/dashboard.py",
        "request.app.state.edge.grants.refresh_soon()", "pass",
        (AM + "test_c10_dashboard_revoke_reaches_a_cached_poller",),
    ),
    Mutant(
        "C11", "grants watcher fails closed", SRV + "_grants.py",
        "self._install(self.epoch, {})", "pass",
        (AM + "test_c11_the_grant_table_fails_closed",),
    ),
    Mutant(
        "C14", "CSRF on the settings form", SRV + "routers/dashboard.py",
        'check_csrf(request, str(form.get("csrf", "")))', "pass",
        (AM + "test_c14_every_form_checks_csrf",),
    ),
]  # fmt: skip


def apply(mutant: Mutant, src_root: Path) -> str:
    """Return the mutated text of the mutant's file (read from ``src_root``)."""
    text = (src_root / mutant.path).read_text(encoding="utf-8")
    found = text.count(mutant.old)
    if found != mutant.count:
        raise SystemExit(
            f"{mutant.id}: {mutant.old!r} occurs {found} times in {mutant.path}, "
            f"expected {mutant.count}: the source moved, update the mutant"
        )
    at = -1
    for _ in range(mutant.nth + 1):
        at = text.index(mutant.old, at + 1)
    return text[:at] + mutant.new + text[at + len(mutant.old) :]


def run_tests(mutant: Mutant, work: Path, jit: bool, pg: bool) -> tuple[str, list[str]]:
    """(result, the named tests that failed) for one mutant applied in ``work``."""
    report = work / "junit.xml"
    report.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    cmd += ["--junitxml", str(report)]
    cmd += list(mutant.tests)
    if not pg and any("/copy/" in t for t in mutant.tests):
        cmd += ["-k", "not postgres"]
    env = dict(os.environ, PYTHONPATH=str(work / "src"), MTPONTE_CACHE_DIR=str(work / ".numba"))
    env.pop("MTPONTE_FAIL_ON_SKIP", None)
    if not jit:
        env["NUMBA_DISABLE_JIT"] = "1"  # same Python functions, no compile per mutant
    if not pg:
        env.pop("MTPONTE_TEST_DATABASE_URL", None)
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=900)
    failed = []
    if report.exists():
        for case in ET.parse(report).iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed.append(f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}")
    if proc.returncode == 0:
        return "survived", failed
    if proc.returncode == 1 and failed:
        return "caught", failed
    return f"error (pytest exit {proc.returncode}): {proc.stdout[-400:]}", failed


def main(argv: list[str] | None = None) -> int:
    """Run the mutants and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ids", nargs="*", help="mutant ids (default: all 32)")
    ap.add_argument("--jit", action="store_true", help="compile with numba (slow per mutant)")
    ap.add_argument("--pg", action="store_true", help="server tests on PostgreSQL as well")
    args = ap.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.ids or m.id in args.ids]
    unknown = set(args.ids) - {m.id for m in MUTANTS}
    if unknown:
        ap.error(f"unknown mutant(s): {sorted(unknown)}")
    with tempfile.TemporaryDirectory(prefix="mtp-audit-") as tmp:
        work = Path(tmp)
        for name in ("src", "tests"):
            shutil.copytree(ROOT / name, work / name, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy2(ROOT / "pyproject.toml", work / "pyproject.toml")
        for m in chosen:  # every mutant located before any run
            apply(m, ROOT)
        everything = Mutant("baseline", "", "", "", "", tuple({t for m in chosen for t in m.tests}))
        result, failed = run_tests(everything, work, args.jit, args.pg)
        if result != "survived":  # the named tests must pass on the unmutated code
            print(f"baseline: the named tests do not pass unmutated: {result} {failed}")
            return 2
        rows, bad = [], 0
        for m in chosen:
            target = work / m.path
            original = target.read_text(encoding="utf-8")
            target.write_text(apply(m, work), encoding="utf-8")
            try:
                result, failed = run_tests(m, work, args.jit, args.pg)
            finally:
                target.write_text(original, encoding="utf-8")
            expected = "survived" if m.equivalent else "caught"
            if result != expected:
                bad += 1
            note = f"equivalent, survives as expected: {m.equivalent}" if m.equivalent else ""
            shown = ", ".join(sorted(set(failed))) or "-"
            rows.append(f"| {m.id} | {m.behaviour} | {shown} | {result} {note}".rstrip() + " |")
            print(rows[-1], flush=True)
        print("\n| mutant | behaviour | caught by | result |\n|---|---|---|---|")
        print("\n".join(rows))
        caught = sum(" caught " in r for r in rows)
        print(f"\n{caught} of {len(rows)} caught; {bad} not as expected")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
