"""A second process loads every numba kernel from the on-disk cache, compiling none."""

from __future__ import annotations

import json
import os
import subprocess
import sys

CODE = """
import json, sys
from numba.core.registry import CPUDispatcher
from mtponte.backtest import run_backtest
from mtponte.data import synth_win
from mtponte.domain import WIN
from mtponte.strategies import ElephantParams

run_backtest(synth_win(days=3, seed=1), WIN, ElephantParams())
hits = misses = 0
for name, mod in list(sys.modules.items()):
    if name.startswith("mtponte"):
        for obj in vars(mod).values():
            if isinstance(obj, CPUDispatcher) and obj.signatures:
                s = obj.stats
                hits += sum(s.cache_hits.values())
                misses += sum(s.cache_misses.values())
print(json.dumps({"hits": hits, "misses": misses}))
"""


def run(cache_dir) -> dict[str, int]:
    env = {**os.environ, "MTPONTE_CACHE_DIR": str(cache_dir)}
    env.pop("NUMBA_CACHE_DIR", None)
    env.pop("NUMBA_DISABLE_JIT", None)
    out = subprocess.run(
        [sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_loads_kernels_from_cache(tmp_path):
    first = run(tmp_path)
    assert first["misses"] > 0  # compiled and saved
    second = run(tmp_path)
    assert second["misses"] == 0 and second["hits"] > 0  # nothing compiled
    assert any((tmp_path / "numba").rglob("*.nbi"))
