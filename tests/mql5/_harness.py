"""Compile the bridge EA (``mql5/Experts/MtponteBridge.mq5``) with g++ against the MQL5
harness (``mql5/harness/``) and run it as a process on a sandbox folder.

The EA's source is not edited: :func:`to_cpp` applies a small mechanical rewrite for the
MQL5 forms C++ lacks (``#property``, ``input``, ``#include <Dir\\File.mqh>``, dynamic
arrays ``T a[]`` and ``T &a[]`` parameters, functions used before they are defined with
their default arguments). Everything else (strings, files, clocks, the terminal, the
trade server, ``CTrade``) is C++ in ``mql5/harness/``.

The sandbox is the terminal seen from the EA: ``MQL5/Files`` and ``Common/Files``, the
simulated account in ``terminal.tsv`` (written here before the start, rewritten by the
harness after every change, read here for assertions), ``control/*.ctl`` for quotes and
faults while it runs, ``STOP`` to end it.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MQL5 = ROOT / "mql5"
HARNESS = MQL5 / "harness"
# MTPONTE_EA_SOURCE: build another copy of the EA (e.g. an older commit's, to check that
# a test fails without a fix)
EA = Path(os.environ.get("MTPONTE_EA_SOURCE") or MQL5 / "Experts" / "MtponteBridge.mq5")
GXX_FLAGS = ["-std=c++17", "-O0", "-w"]

_KEYWORDS = {"return", "else", "if", "for", "while", "do", "switch", "case", "class", "struct"}
_FUNC = re.compile(
    r"^([A-Za-z_]\w*)[ \t]+([A-Za-z_]\w*)[ \t]*\(([^()]*)\)([ \t]*const)?\s*\{", re.M
)


def _strip_defaults(params: str) -> str:
    return ",".join(re.sub(r"\s*=\s*[^,]+$", "", p) for p in params.split(","))


def to_cpp(src: str) -> str:
    """The MQL5 source rewritten as C++ for the harness (see the module doc)."""
    src = re.sub(r"^#property\b.*$", "", src, flags=re.M)
    src = re.sub(r"^#include\s*<Trade\\Trade\.mqh>", '#include "Trade.h"', src, flags=re.M)
    src = re.sub(r"^#include\s*<(\w+)\\(\w+)\.mqh>", r'#include "\1/\2.mqh"', src, flags=re.M)
    src = re.sub(
        r"^s?input\s+(\w+)\s+(\w+)\s*=\s*([^;]+);", r"\1 \2 = \3; MQL5_INPUT(\2)", src, flags=re.M
    )
    # a string constant (macro) + a literal: MQL5 concatenates, C++ would add pointers
    src = re.sub(r"\b([A-Z][A-Z0-9_]*)(\s*\+\s*\")", r"string(\1)\2", src)
    src = re.sub(r"\b(const\s+)?(\w+)\s*&\s*(\w+)\[\]", r"\1MqlArray<\2> &\3", src)
    src = re.sub(r"\b(\w+)(\s+)(\w+)\[\]\s*(;|=)", r"MqlArray<\1>\2\3 \4", src)
    protos = []
    for m in _FUNC.finditer(src):
        if m.group(1) in _KEYWORDS:
            continue
        protos.append(f"{m.group(1)} {m.group(2)}({m.group(3)}){m.group(4) or ''};")
    first = next((m for m in _FUNC.finditer(src) if m.group(1) not in _KEYWORDS), None)

    def strip(m: re.Match[str]) -> str:
        if m.group(1) in _KEYWORDS:
            return m.group(0)
        return m.group(0).replace(m.group(3), _strip_defaults(m.group(3)), 1)

    body = _FUNC.sub(strip, src)
    if first is None:
        return body
    # prototypes just before the first function (after the types they may name)
    cut = _FUNC.search(body, first.start())
    assert cut is not None
    return body[: cut.start()] + "\n".join(protos) + "\n" + body[cut.start() :]


def _sources() -> list[Path]:
    return sorted(
        [EA, *(MQL5 / "Include").rglob("*.mqh"), *HARNESS.glob("*.h"), Path(__file__)],
        key=str,
    )


def build(cache: Path | None = None, source: Path | None = None) -> Path:
    """The compiled EA (or ``source``: an MQL5 program), built once per source hash
    (cached in a temporary folder). A script (``OnStart``) gets a main that runs it once."""
    gxx = shutil.which("g++")
    assert gxx is not None, "g++ is needed to compile the EA (apt-get install g++)"
    source = source or EA
    text = source.read_text(encoding="utf-8")
    is_script = re.search(r"^void\s+OnStart\s*\(", text, re.M) is not None
    h = hashlib.sha256(" ".join(GXX_FLAGS).encode() + text.encode())
    for p in _sources():
        h.update(p.read_bytes())
    cache = cache or Path(tempfile.gettempdir()) / "mtponte-mql5-harness"
    out = cache / h.hexdigest()[:16]
    exe = out / "ea"
    if exe.exists():
        return exe
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="build-", dir=cache))
    for mqh in (MQL5 / "Include").rglob("*.mqh"):
        dst = work / mqh.relative_to(MQL5 / "Include")
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(to_cpp(mqh.read_text(encoding="utf-8")), encoding="utf-8")
    main = work / "ea.cpp"
    runner = "harness_script_main.h" if is_script else "harness_main.h"
    main.write_text(
        '#include "Trade.h"\n' + to_cpp(text) + f'\n#include "{runner}"\n',
        encoding="utf-8",
    )
    proc = subprocess.run(
        [gxx, *GXX_FLAGS, f"-I{HARNESS}", f"-I{work}", str(main), "-o", str(work / "ea")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, f"g++ failed on {source.name}:\n{proc.stderr[-6000:]}"
    out.mkdir(parents=True, exist_ok=True)
    os.replace(work / "ea", exe)
    shutil.rmtree(work, ignore_errors=True)
    return exe


# ---------------------------------------------------------------------- the account
NETTING, HEDGING = 1, 2  # ACCOUNT_MARGIN_MODE_EXCHANGE (B3), ACCOUNT_MARGIN_MODE_RETAIL_HEDGING


@dataclass
class SymbolSpec:
    name: str = "WIN"
    digits: int = 0
    point: float = 1.0
    tick_size: float = 5.0
    tick_value: float = 1.0
    contract: float = 1.0
    vmin: float = 1.0
    vstep: float = 1.0
    vmax: float = 100.0
    filling: int = 3  # FOK | IOC
    expiration: int = 15  # GTC | DAY | SPECIFIED | SPECIFIED_DAY
    order_mode: int = 127
    exemode: int = 3  # exchange
    stops_level: int = 0
    freeze_level: int = 0
    bid: float = 120_000.0
    ask: float = 120_005.0

    def line(self) -> str:
        v = [self.name, self.digits, self.point, self.tick_size, self.tick_value, self.contract]
        v += [self.vmin, self.vstep, self.vmax, self.filling, self.expiration, self.order_mode]
        v += [self.exemode, self.stops_level, self.freeze_level, self.bid, self.ask]
        return "symbol\t" + "\t".join(str(x) for x in v)


@dataclass
class Account:
    margin_mode: int = HEDGING
    trade_mode: int = 0  # ACCOUNT_TRADE_MODE: 0 demo, 1 contest, 2 real
    symbols: list[SymbolSpec] = field(default_factory=lambda: [SymbolSpec()])
    balance: float = 100_000.0
    server_offset_s: int = 0
    comment_rewrite: str = ""
    connected: bool = True
    records: list[str] = field(default_factory=list)  # raw terminal.tsv lines (deals ...)

    def text(self) -> str:
        lines = [
            f"account\t{self.margin_mode}\t1001\tBRL\t{self.balance}\t{int(self.connected)}\t1",
            f"trade_mode\t{self.trade_mode}",
            f"server_offset_s\t{self.server_offset_s}",
            f"comment_rewrite\t{self.comment_rewrite}",
        ]
        return "\n".join(lines + [s.line() for s in self.symbols] + self.records) + "\n"


def read_terminal(sandbox: Path) -> dict[str, list[list[str]]]:
    """The simulated account as the harness last saved it, by record kind."""
    out: dict[str, list[list[str]]] = {}
    path = sandbox / "terminal.tsv"
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        f = line.split("\t")
        out.setdefault(f[0], []).append(f[1:])
    return out


# ---------------------------------------------------------------------- the process
DEFAULT_INPUTS = {
    "TimerMs": "10",
    "StateEveryMs": "200",
    "RecoverySettleMs": "300",
    "TimeoutGraceMs": "300",  # the twin's tests use 300 ms too
    "DeadManMs": "0",
    "MaxPositions": "5",
}


_RUNNING: list[EaProcess] = []


@atexit.register
def _stop_leftovers() -> None:  # a failed test must not leave an EA process behind
    for ea in _RUNNING:
        if ea.proc is not None and ea.proc.poll() is None:
            ea.proc.kill()


class EaProcess:
    """One compiled EA running on ``sandbox`` (``bridge`` = its bridge folder)."""

    def __init__(
        self,
        exe: Path,
        sandbox: Path,
        account: Account,
        inputs: dict[str, str],
        env: dict[str, str] | None = None,
    ):
        self.exe, self.sandbox, self.inputs = exe, sandbox, DEFAULT_INPUTS | inputs
        self.env = os.environ | (env or {})
        sandbox.mkdir(parents=True, exist_ok=True)
        (sandbox / "terminal.tsv").write_text(account.text(), encoding="utf-8")
        folder = self.inputs.get("BridgeFolder", "mtponte")
        common = self.inputs.get("UseCommonFolder") == "true"
        self.bridge = sandbox / ("Common/Files" if common else "MQL5/Files") / folder
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = sandbox / "ea.log"

    def start(self, wait: bool = True) -> None:
        cfg = self.sandbox / "ea.cfg"
        cfg.write_text("".join(f"{k}={v}\n" for k, v in self.inputs.items()), encoding="utf-8")
        (self.sandbox / "STOP").unlink(missing_ok=True)
        (self.sandbox / "ea.ready").unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [str(self.exe), str(self.sandbox), str(cfg)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "ab"),  # noqa: SIM115 - the child keeps it
        )
        _RUNNING.append(self)
        if wait:
            deadline = time.monotonic() + 10
            while not (self.sandbox / "ea.ready").exists():
                rc = self.proc.poll()
                assert rc is None, f"EA exited {rc}: {self.log_text()}"
                assert time.monotonic() < deadline, "EA did not finish OnInit"
                time.sleep(0.005)

    def stop(self) -> int:
        assert self.proc is not None
        (self.sandbox / "STOP").write_text("stop")
        rc = self.proc.wait(timeout=10)
        self.proc = None
        return rc

    def wait_exit(self, timeout: float) -> int | None:
        """The exit code if the process ended (a crash point) within ``timeout``."""
        assert self.proc is not None
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.proc = None
        return rc

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    def control(self, *lines: str, wait: bool = True) -> None:
        """Apply control lines (``quote WIN 120000 120005``, ``fault timeout_book 1`` ...)."""
        name = self.sandbox / "control" / f"{time.time_ns()}-{uuid.uuid4().hex[:6]}.ctl"
        name.parent.mkdir(exist_ok=True)
        tmp = name.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        os.replace(tmp, name)
        if wait and self.proc is not None:
            deadline = time.monotonic() + 5
            while name.exists():
                assert time.monotonic() < deadline, "control file not applied"
                time.sleep(0.002)

    def terminal(self) -> dict[str, list[list[str]]]:
        return read_terminal(self.sandbox)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
