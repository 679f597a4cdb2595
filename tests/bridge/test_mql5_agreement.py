"""The MQL5 EA and the Python executor speak the same protocol (parsed from both)."""

from __future__ import annotations

import re
from pathlib import Path

from mtponte.bridge import executor as py_executor
from mtponte.bridge.checks import ExecutorLimits
from mtponte.bridge.mql5gen import protocol_mqh, schema_json
from mtponte.bridge.protocol import Command, Kind, OrderType, Reason, Result

MQL5 = Path(__file__).resolve().parents[2] / "mql5"
EA = (MQL5 / "Experts" / "MtponteBridge.mq5").read_text(encoding="utf-8")
HEADER = (MQL5 / "Include" / "Mtponte" / "Protocol.mqh").read_text(encoding="utf-8")


def camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def test_generated_files_are_up_to_date():
    assert protocol_mqh() == HEADER, "run `mtponte bridge schema` and commit the result"
    schema = (MQL5 / "bridge-protocol.schema.json").read_text(encoding="utf-8")
    assert schema == schema_json(), "run `mtponte bridge schema` and commit the result"


def test_ea_uses_only_defined_constants():
    defined = set(re.findall(r"#define (MTP_\w+)", HEADER))
    used = set(re.findall(r"\b(MTP_\w+)", EA))
    assert used - defined == set()


def test_every_kind_field_and_order_type_is_handled():
    for kind in Kind:
        assert f"MTP_KIND_{kind.value.upper()}" in EA, kind
    for ot in OrderType:
        assert f"MTP_ORDER_{ot.value.upper()}" in EA, ot
    for field in Command.model_fields:
        assert f"MTP_CMD_F_{field.upper()}" in EA, f"EA does not parse command field {field}"
    for field in Result.model_fields:
        assert f"MTP_RES_F_{field.upper()}" in EA, f"EA does not write result field {field}"


def test_same_reasons():
    bridge = Path(py_executor.__file__).parent
    py_src = "".join(f.read_text() for f in sorted(bridge.glob("*.py")) if f.name != "protocol.py")
    py_reasons = set(re.findall(r"Reason\.([A-Z0-9_]+)", py_src))
    ea_reasons = {m for m in re.findall(r"MTP_REASON_([A-Z0-9_]+)", EA)}
    assert py_reasons <= {r.name for r in Reason}
    assert py_reasons == ea_reasons


def test_functions_mirror_the_python_executor():
    public = [
        "process_inbox",
        "process_file",
        "parse_command",
        "execute",
        "close_all",
        "apply_kill_switch",
        "recover",
        "resolve",
        "write_result",
        "write_state",
    ]
    for name in public:
        assert hasattr(py_executor.Executor, name), name
        assert re.search(rf"\b\w+\s+{camel(name)}\s*\(", EA), f"EA lacks {camel(name)}()"
    assert re.search(r"\bbool\s+CheckCommand\s*\(", EA)


def test_limits_are_inputs_with_the_same_defaults():
    inputs = dict(re.findall(r"^input\s+\w+\s+(\w+)\s*=\s*([^;]+);", EA, re.M))
    for name, field in ExecutorLimits.model_fields.items():
        if name in ("timezone", "trading_start", "trading_end"):
            continue  # the EA uses server time strings TradingStart/TradingEnd
        ea_name = camel(name).replace("Ms", "Ms")
        assert ea_name in inputs, f"EA lacks input {ea_name}"
        default = field.default
        value = inputs[ea_name].strip().strip('"')
        if isinstance(default, bool):
            assert value == str(default).lower(), name
        elif isinstance(default, (int, float)):
            assert float(value) == float(default), name
        elif default is None:
            assert float(value or 0) == 0, name  # 0 = off in the EA
        elif isinstance(default, tuple):
            assert value == ",".join(default), name
    assert "TradingStart" in inputs and "TradingEnd" in inputs


def test_ea_writes_files_atomically_and_never_deletes_the_inbox():
    assert "FileMove(tmp" in EA
    assert "FileDelete" not in EA and "FolderClean" not in EA
