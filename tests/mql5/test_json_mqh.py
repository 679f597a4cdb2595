"""The EA's own JSON code (``mql5/Include/Mtponte/Json.mqh``) compiled with g++ against a
small MQL5 built-in shim (``mql5shim.h``) and run on the inputs the bridge sees. Python's
``json`` module is the oracle: every flat object is read with the same keys, types and
values; everything the EA must refuse (nesting, NaN, truncation, trailing text, bad
literals) is refused; ``JsonEscape`` output is valid JSON that reads back unchanged.

This runs the EA's parsing and escaping, not its trading code: the rest of the EA needs
the simulated terminal of issue 16."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
MQL5 = HERE.parents[1] / "mql5"
TYPES = {"null": 0, "str": 1, "num": 2, "bool": 3}


def _to_cpp(mqh: str) -> str:
    """The two MQL5 forms C++ lacks: dynamic array members and array parameters."""
    mqh = re.sub(r"\b(\w+)(\s+)(\w+)\[\];", r"MqlArray<\1>\2\3;", mqh)
    return re.sub(r"const (\w+) &(\w+)\[\]", r"const MqlArray<\1> &\2", mqh)


@pytest.fixture(scope="module")
def driver(tmp_path_factory) -> Path:
    gxx = shutil.which("g++")
    assert gxx is not None, "g++ is needed to compile the EA's code (apt-get install g++)"
    build = tmp_path_factory.mktemp("mql5")
    (build / "Json.mqh").write_text(_to_cpp((MQL5 / "Include/Mtponte/Json.mqh").read_text()))
    exe = build / "json_driver"
    subprocess.run(
        [
            gxx,
            "-std=c++17",
            "-Wall",
            "-Werror",
            "-Wno-unused-function",
            f"-I{HERE}",
            f"-I{build}",
            str(HERE / "json_driver.cpp"),
            "-o",
            str(exe),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return exe


def run(exe: Path, lines: list[str], *args: str) -> list[str]:
    out = subprocess.run(
        [str(exe), *args],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.splitlines()


def expected(text: str) -> list[tuple[str, int, str]]:
    """What the EA must read, from Python's json: (key, type, value as text)."""
    out = []
    for k, v in json.loads(text).items():
        if v is None:
            out.append((k, TYPES["null"], ""))
        elif isinstance(v, bool):
            out.append((k, TYPES["bool"], "true" if v else "false"))
        elif isinstance(v, int | float):
            out.append((k, TYPES["num"], None))  # compared as numbers below
        else:
            out.append((k, TYPES["str"], v))
    return out


GOOD = [
    "{}",
    ' { "v" : 1 } ',
    '{"v":1,"id":"6f1c","seq":12,"created_at":1764496800123,"ttl_ms":10000,"kind":"open",'
    '"symbol":"WIN","side":"buy","volume":1.0,"sl":119000.0,"tp":null,"log_only":false}',
    '{"s":"a\\"b\\\\c\\n\\t\\r\\/d","u":"\\u0041\\u00e9"}',
    '{"neg":-1.5e-3,"big":1e300,"z":0}',
]
BAD = [
    "",
    "[1]",
    '{"a":{"b":1}}',
    '{"a":[1]}',
    '{"a":NaN}',
    '{"a":Infinity}',
    '{"a":1',
    '{"a":1} x',
    '{"a":tru}',
    '{"a" 1}',
    '{"a":1,,"b":2}',
    '{"a":"unterminated}',
]
# review #28: RFC 8259 numbers only, and a key never given twice
STRICT = [
    '{"a":01}',
    '{"a":+1}',
    '{"a":1.}',
    '{"a":.5}',
    '{"a":1e}',
    '{"a":-}',
    '{"a":1-2}',
    '{"a":0x10}',
    '{"a":1,"a":2}',
    '{"v":1,"v":1}',
    '{"a":NaN}',
]
BAD += STRICT


def test_json_mqh_reads_flat_objects_like_python(driver):
    for text, line in zip(GOOD, run(driver, GOOD), strict=True):
        fields = line.split("\t")
        assert fields[0] == "ok", (text, line)
        got = [
            (json.loads(f'"{fields[i]}"'), int(fields[i + 1]), json.loads(f'"{fields[i + 2]}"'))
            for i in range(1, len(fields), 3)
        ]
        want = expected(text)
        assert [(k, t) for k, t, _ in got] == [(k, t) for k, t, _ in want], text
        for (_, t, g), (_, _, w), (_, v) in zip(got, want, json.loads(text).items(), strict=True):
            if t == TYPES["num"]:
                assert float(g) == float(v), (text, g)
            elif w is not None:
                assert g == w, (text, g, w)


def test_json_mqh_refuses_what_is_not_one_flat_object(driver):
    for text, line in zip(BAD, run(driver, BAD), strict=True):
        assert line.startswith("error\t"), (text, line)


def test_the_python_twin_refuses_the_same_documents(tmp_path):
    """The executor's parser refuses what the EA's refuses as invalid JSON (json.loads
    alone takes NaN and the last of two keys)."""
    from mtponte.bridge._parse import parse_command
    from mtponte.bridge.protocol import Reason

    for k, text in enumerate(STRICT):
        path = tmp_path / f"{k:012d}-00000000-0000-4000-8000-000000000000.json"
        path.write_text(text, encoding="utf-8")
        parsed = parse_command(path)
        assert parsed is not None and parsed.cmd is None, text
        assert parsed.reason is Reason.INVALID_JSON, (text, parsed.reason)


def test_json_escape_is_valid_json_that_reads_back(driver):
    samples = ["plain", 'quote " and backslash \\', "tab\there", "ctl\x01\x1f", "mtp:0123abcd"]
    for raw, escaped in zip(samples, run(driver, samples, "escape"), strict=True):
        assert json.loads('"' + escaped + '"') == raw, (raw, escaped)
