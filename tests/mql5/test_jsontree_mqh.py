"""``mql5/Include/Mtponte/JsonTree.mqh`` (the follower EA's JSON reader) compiled with the
harness and run on documents; Python's ``json`` is the oracle: every valid document
reads back equal (the tree written back as JSON), every invalid one is refused."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.mql5 import _harness as h

SCRIPT = Path(__file__).resolve().parent / "scripts" / "JsonTreeCheck.mq5"

VALID = [
    "{}",
    "[]",
    '{"version":12,"targets":[],"master_online":true,"master_time_ms":null}',
    '{"version":3,"targets":[{"target_id":"s1t501","symbol":"EURUSD.pro","side":"buy",'
    '"volume":0.3,"sl":1.09,"tp":null,"entry":"market","price":1.1,'
    '"max_deviation_points":0,"master_tickets":["501"]}],"risk":"ok"}',
    ' { "a" : [ 1 , -2.5e3 , 0 , 0.0 , 1E+2 , -0 ] , "b" : { "c" : { "d" : [ [ ] , { } ] } } } ',
    '"just a string"',
    "-12.75",
    "true",
    "null",
    '{"s":"q\\"b\\\\s\\/n\\nt\\tr\\ru\\u00e9\\ud83d\\ude00"}',
    '{"é":"ação €"}',
    '{"dup":1,"dup":2}',
    "[" * 60 + "]" * 60,
]
INVALID = [
    "",
    "{",
    '{"a":1,}',
    "[1,]",
    '{"a" 1}',
    "{a:1}",
    "[01]",
    "[1.]",
    "[.5]",
    "[1e]",
    "[+1]",
    "[NaN]",
    "[Infinity]",
    '["\\x"]',
    '["\\u12"]',
    '["tab\there"]',
    "[true false]",
    "[tru]",
    '{"a":1} x',
    '"unterminated',
    "[" * 70 + "]" * 70,
]


@pytest.fixture(scope="module")
def exe() -> Path:
    return h.build(source=SCRIPT)


def run(exe: Path, tmp: Path, docs: list[str]) -> list[str]:
    files = tmp / "MQL5" / "Files"
    files.mkdir(parents=True)
    (files / "in.txt").write_text("\n".join(docs) + "\n", encoding="utf-8")
    (tmp / "terminal.tsv").write_text(h.Account().text())
    (tmp / "cfg").write_text("")
    subprocess.run([str(exe), str(tmp), str(tmp / "cfg")], check=True, timeout=30)
    return (files / "out.txt").read_text(encoding="utf-8").splitlines()


def test_valid_documents_read_back_equal(exe, tmp_path):
    out = run(exe, tmp_path, VALID)
    assert len(out) == len(VALID)
    for doc, line in zip(VALID, out, strict=True):
        status, _, text = line.partition("\t")
        assert status == "ok", (doc, line)
        # duplicate keys: both kept in the tree, the last one read (as Python's json)
        assert json.loads(text) == json.loads(doc), (doc, text)


def test_invalid_documents_are_refused(exe, tmp_path):
    out = run(exe, tmp_path, INVALID[1:])  # the empty line is skipped by the script
    assert len(out) == len(INVALID) - 1
    for doc, line in zip(INVALID[1:], out, strict=True):
        assert line.startswith("error\t"), (doc, line)
