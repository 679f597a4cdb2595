from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from mtponte.cli import app
from mtponte.data import save_bars_csv, synth_win

runner = CliRunner()


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "win.csv"
    save_bars_csv(synth_win(days=60, seed=5), path)
    return path


def test_demo(tmp_path):
    res = runner.invoke(app, ["demo", "--out", str(tmp_path), "--days", "40"])
    assert res.exit_code == 0, res.output
    assert "streaming replay == batch backtest" in res.output
    assert (tmp_path / "report.html").is_file() and (tmp_path / "bars.csv").is_file()
    # The live monitor's account published as a master, copied by three followers.
    assert "every follower holds what the master holds" in res.output
    summary = json.loads((tmp_path / "copy" / "summary.json").read_text())
    n = summary["published_opens"]
    assert n > 0 and summary["master_trades"] >= n
    rows = {r["symbol"]: r for r in summary["followers"]}
    assert [rows[s]["copies"] for s in ("WIN.pro", "WINc", "WIN")] == [n, n, n]
    assert [rows[s]["lots"] for s in ("WIN.pro", "WINc", "WIN")] == [[1.0], [100.0], [2.0]]
    assert all(r["failed"] == 0 and r["latency_p99_ms"] is not None for r in rows.values())


def test_backtest_outputs(tmp_path, data_file):
    res = runner.invoke(
        app,
        [
            "backtest",
            str(data_file),
            "--symbol",
            "WIN",
            "--timeframe",
            "M5",
            "--set",
            "entry_mode=next_open",
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    with (tmp_path / "trades.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == [
        "entry_time",
        "exit_time",
        "side",
        "volume",
        "entry_price",
        "exit_price",
        "sl",
        "tp",
        "pnl_points",
        "pnl_money",
        "exit_reason",
    ]
    assert rows[0]["entry_time"].endswith("-03:00")
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["stats"]["trades"] == len(rows) > 0
    assert stats["params"]["entry_mode"] == "next_open"
    html = (tmp_path / "report.html").read_text()
    # The Bokeh chart is embedded with its JavaScript inline (offline: no <script src>).
    assert "data-root-id" in html and "<script src" not in html
    assert "Monthly" in html and "By entry hour" in html and "By weekday" in html


def test_optimize(tmp_path, data_file):
    res = runner.invoke(
        app,
        [
            "optimize",
            str(data_file),
            "--grid",
            "sl_atr=1,2",
            "--grid",
            "tp_atr=2,3,4",
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    with (tmp_path / "optimize.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 and rows[0]["rank"] == "1"
    sharpe = [float(r["sharpe"]) for r in rows if r["sharpe"]]
    assert sharpe == sorted(sharpe, reverse=True)


def test_data_synth(tmp_path):
    out = tmp_path / "s.csv"
    res = runner.invoke(
        app, ["data", "synth", "--symbol", "WIN", "--days", "2", "--seed", "3", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert len(out.read_text().splitlines()) == 1 + 2 * 114


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["backtest", "missing.csv", "--out", "x"], "file not found"),
        (["backtest", "{data}", "--out", "x", "--set", "nope=1"], "unknown parameter"),
        (["backtest", "{data}", "--out", "x", "--set", "sl_atr=-1"], "sl_atr"),
        (["backtest", "{data}", "--out", "x", "--symbol", "XYZ"], "unknown symbol"),
        (["backtest", "{data}", "--out", "x", "--timeframe", "M7"], "unknown timeframe"),
        (["optimize", "{data}", "--out", "x", "--grid", "sl_atr="], "no values"),
        (
            ["optimize", "{data}", "--out", "x", "--grid", "sl_atr=1", "--rank-by", "luck"],
            "not a metric",
        ),
    ],
)
def test_errors_are_one_line_without_traceback(args, message, data_file, tmp_path):
    args = [
        a.replace("{data}", str(data_file)).replace("x", str(tmp_path / "o"))
        if a in ("{data}", "x")
        else a
        for a in args
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1, res.output


def test_bad_data_row_named(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "time,open,high,low,close,volume\n2024-01-02 09:00,1,2,0.5,1.5,1\n"
        "2024-01-02 09:05,1,0.1,0.5,1.5,1\n"
    )
    res = runner.invoke(app, ["backtest", str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert f"{bad}:3: high is below low" in res.output


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["server", "--db", "nonsense"], {}, "bad database URL 'nonsense'"),
        (
            ["server", "--db", "postgresql://u:hunter2@127.0.0.1:1/x"],
            {},
            "cannot open database postgresql+psycopg://u:***@127.0.0.1:1/x",
        ),
        (["server"], {"MTPONTE_MASTER_STALE_S": "abc"}, "MTPONTE_MASTER_STALE_S"),
        (["admin", "revoke", "7", "--db", "sqlite:///{tmp}/c.db"], {}, "no token 7"),
    ],
)
def test_server_and_admin_errors_are_one_line(args, env, message, tmp_path):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    res = runner.invoke(app, args, env=env)
    assert res.exit_code == 2, res.output
    assert message in res.output and "hunter2" not in res.output
    assert "Traceback" not in res.output
