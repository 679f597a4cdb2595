"""kill -9 the executor and the client at random moments: nothing lost, nothing doubled.

Besides external ``SIGKILL`` at random moments, the processes run with crash points
(``mtponte._faults``) that kill them inside the windows exactly-once depends on.
CI runs ``MTPONTE_CRASH_KILLS`` kills (default 40); ``bench/bench_bridge.py --crash``
runs the full 200+.
"""

from __future__ import annotations

import os
import sys

import pytest

from tests.integration.drill import EXECUTOR_POINTS, run_drill

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")


def test_exactly_once_under_kill_9(tmp_path):
    kills = int(os.environ.get("MTPONTE_CRASH_KILLS", "40"))
    planned = 25 * kills  # enough that commands flow through every kill
    r = run_drill(tmp_path / "bridge", planned=planned, kills=kills, seed=7)
    assert r.kills >= kills
    # every window between the journal and the broker was crashed in (the drill forces
    # each executor point once), and a crash after the broker call was settled from the
    # broker's records, not executed again
    assert set(EXECUTOR_POINTS) <= set(r.by_point), r.by_point
    assert r.recovered > 0, r
    assert (r.duplicates, r.lost, r.phantom) == (0, 0, 0), r
    assert r.executed == planned, r
    assert r.unfinished_client == 0 and r.unfinished_executor == 0, r
