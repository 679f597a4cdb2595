import csv
import json

import pytest
from typer.testing import CliRunner

from mtponte.cli import app
from mtponte.data import save_bars_csv, synth_win

runner = CliRunner()
GRID = ["--grid", "sl_atr=1,2", "--grid", "tp_atr=2,3,4"]


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "win.csv"
    save_bars_csv(synth_win(days=60, seed=5), path)
    return path


def _rows(path):
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_forward_ranks_in_sample_and_reports_both(tmp_path, data_file):
    res = runner.invoke(
        app,
        [
            "optimize",
            str(data_file),
            *GRID,
            "--forward",
            "1/3",
            "--heatmap",
            "sl_atr,tp_atr",
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "forward" in res.output
    rows = _rows(tmp_path / "optimize.csv")
    assert len(rows) == 6 and rows[0]["rank"] == "1"
    assert "oos_sharpe" in rows[0] and "oos_trades" in rows[0]
    sharpe = [float(r["sharpe"]) for r in rows if r["sharpe"]]
    assert sharpe == sorted(sharpe, reverse=True)
    doc = json.loads((tmp_path / "optimize.json").read_text())
    assert [d["rank"] for d in doc] == [int(r["rank"]) for r in rows]
    html = (tmp_path / "heatmap.html").read_text()
    assert "data-root-id" in html and "<script src" not in html


def test_walk_forward_writes_one_row_per_window(tmp_path, data_file):
    res = runner.invoke(
        app,
        [
            "optimize",
            str(data_file),
            *GRID,
            "--walk-forward",
            "3",
            "--is-ratio",
            "2",
            "--rank-by",
            "net_money",
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    rows = _rows(tmp_path / "walkforward.csv")
    assert [r["window"] for r in rows] == ["1", "2", "3"]
    assert all(r["in_sample"] and r["out_of_sample"] and r["oos_net_money"] for r in rows)
    assert len(json.loads((tmp_path / "walkforward.json").read_text())) == 3


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--forward", "1/0"], "between 0 and 1"),
        (["--forward", "5/3"], "between 0 and 1"),
        (["--forward", "half"], "expected a fraction like 1/3 or a date"),
        (["--forward", "2024-02-30"], "expected a fraction like 1/3 or a date"),
        (["--forward", "2999-01-01"], "leaves no session on one side"),
        (["--forward", "1/3", "--walk-forward", "2"], "exclusive"),
        (["--walk-forward", "0"], "at least 1"),
        (["--walk-forward", "500"], "needs at least 503 sessions"),
        (["--heatmap", "sl_atr"], "two different parameters"),
        (["--heatmap", "sl_atr,atr_period"], "'atr_period' is not swept"),
    ],
)
def test_bad_options_are_one_line_errors(extra, message, data_file, tmp_path):
    res = runner.invoke(app, ["optimize", str(data_file), *GRID, *extra, "--out", str(tmp_path)])
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1, res.output
