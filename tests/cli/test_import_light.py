"""``mtponte --help`` and the CLI module load no heavy library."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("numba", "fastapi", "sqlalchemy", "pandas", "pyarrow", "httpx", "numpy", "uvicorn")


def test_cli_app_imports_no_heavy_library():
    code = f"import sys\nimport mtponte.cli.app\nprint(*[m for m in {HEAVY!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []


def test_help_runs_without_heavy_libraries():
    code = (
        "import sys\nfrom mtponte.cli.app import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print('LOADED', *[m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "backtest" in out.stdout
    assert out.stdout.rsplit("LOADED", 1)[1].split() == []
