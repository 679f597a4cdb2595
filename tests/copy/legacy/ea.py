"""Python models of the legacy Sentra EAs (v4.00, MT5), re-expressed from their public
source (``sentrapartners-ctrl/Sentra-Partenrs``: ``EAs/Master/MT5``, ``EAs/Slave/MT5``)
to drive the real server the way they do. Only behaviour that reaches the server or
the follower's account is modelled; the names follow the EAs' functions.

Master EA: ``OnTradeTransaction`` posts ``open`` on every ``DEAL_ADD`` of a buy/sell
deal whose position still exists (so a partial close re-sends an ``open`` with the
smaller volume; a full close sends nothing), ``close`` on every ``HISTORY_ADD`` (an
order moved to history: after every executed market order, opening ones included)
with the price of the newest exit deal of the position, 0 if none yet, and ``modify``
only on ``ORDER_UPDATE`` (a position's SL/TP change is a ``POSITION`` transaction: not
posted). ``OnTimer`` (1 s) posts a heartbeat with every position, then re-sends queued
posts (newest first, each 2 s after its last try, dropped after 3 failures). Numbers
are printed as ``DoubleToString``: lots with 2 decimals, prices with 5.

Slave EA: polls ``slave-signals`` every second; a non-200 or an answer without
``"success":true`` is ignored; ``action`` routes to open / close / modify / heartbeat
handlers (its ``ExtractValue`` substring parser takes the first occurrence of a key; a
value in quotes runs to the next quote, any other to the next comma, ``}`` or space).
The heartbeat handler closes copies of tickets not listed and opens listed tickets it
has no copy of, at the listed lots adjusted only for MasterIsCent/SlaveIsCent and its
``NormalizeLot`` (raise to the minimum, floor to the step in binary floating point);
only the open handler applies the volume multiplier and max volume, and only the
modify handler changes SL/TP. Settings are read once, at start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

SUFFIXES = ("c", "m", ".a", ".b", "_i", "pro", "ecn", ".raw", ".lp")


# --- the Slave EA's string helpers ---------------------------------------------------


def extract_value(text: str, key: str) -> str:
    start = text.find(f'"{key}":')
    if start < 0:
        return ""
    start = text.find(":", start) + 1
    while start < len(text) and text[start] == " ":
        start += 1
    quoted = start < len(text) and text[start] == '"'
    if quoted:
        start += 1
    end = start
    if quoted:
        while end < len(text) and text[end] != '"':
            end += 1
    else:
        while end < len(text) and text[end] not in ",} ":
            end += 1
    return text[start:end].strip()


def split_string(text: str, sep: str) -> list[str]:
    out, pos = [], 0
    while (nxt := text.find(sep, pos)) >= 0:
        out.append(text[pos:nxt])
        pos = nxt + len(sep)
    if pos < len(text):
        out.append(text[pos:])
    return out


def to_double(s: str) -> float:
    """MQL ``StringToDouble``: the leading number, 0 when there is none."""
    n = 0
    while n < len(s) and (s[n].isdigit() or s[n] in ".-+eE"):
        n += 1
    try:
        return float(s[:n]) if n else 0.0
    except ValueError:
        return 0.0


# --- accounts ------------------------------------------------------------------------


@dataclass
class Position:
    ticket: int
    symbol: str
    type: int  # 0 buy, 1 sell
    volume: float
    price: float
    sl: float = 0.0
    tp: float = 0.0
    time: int = 0
    comment: str = ""


@dataclass
class Account:
    """An MT5 hedging account: its positions and, per position, its exit deals."""

    symbols: dict[str, tuple[float, float, float]] = field(
        default_factory=lambda: {"EURUSD": (0.01, 100.0, 0.01), "GBPUSD": (0.01, 100.0, 0.01)}
    )
    positions: dict[int, Position] = field(default_factory=dict)
    exits: dict[int, list[float]] = field(default_factory=dict)
    next_ticket: int = 5000
    trades: list[tuple[str, Any]] = field(default_factory=list)  # what the EA did

    def open(self, symbol: str, type_: int, lots: float, sl: float, tp: float, comment: str) -> int:
        lo, hi, _ = self.symbols[symbol]
        assert lo <= lots <= hi, (symbol, lots)
        self.next_ticket += 1
        self.positions[self.next_ticket] = Position(
            self.next_ticket, symbol, type_, lots, 1.1, sl, tp, comment=comment
        )
        self.trades.append(("open", (symbol, type_, lots)))
        return self.next_ticket

    def close(self, ticket: int) -> None:
        self.trades.append(("close", self.positions.pop(ticket).symbol))

    def modify(self, ticket: int, sl: float, tp: float) -> None:
        p = self.positions[ticket]
        p.sl, p.tp = sl, tp
        self.trades.append(("modify", (ticket, sl, tp)))


# --- Master EA -----------------------------------------------------------------------


class MasterEA:
    """The Master EA on a terminal (``account``) with a clock (``now``, the broker's
    ``TimeCurrent``) and a network that can be down (posts fail, nothing arrives)."""

    def __init__(self, client: Any, token: str, login: str = "1001", email: str = "m@x.io"):
        self.client, self.url = client, f"/api/mt/copy/t/{token}/master-signal"
        self.login, self.email = login, email
        self.account = Account()
        self.now = 1_800_000_000
        self.down = False
        self.queue: list[list[Any]] = []  # [data, tries, last try]
        self.last_heartbeat = 0
        self.answers: list[dict[str, Any]] = []

    # what the trader does, and the transactions MT5 reports for it
    def open(
        self, symbol: str, type_: int, lots: float, sl: float = 0, tp: float = 0, deal_first=True
    ) -> int:
        acc = self.account
        acc.next_ticket += 1
        t = acc.next_ticket
        acc.positions[t] = Position(t, symbol, type_, lots, 1.1, sl, tp, self.now)
        self._transactions(t, deal_first, exit_added=False)
        return t

    def partial_close(self, ticket: int, lots: float, price: float, deal_first=True) -> None:
        p = self.account.positions[ticket]
        p.volume = round(p.volume - lots, 2)
        self.account.exits.setdefault(ticket, []).append(price)
        self._transactions(ticket, deal_first)

    def close(self, ticket: int, price: float, deal_first=True) -> None:
        del self.account.positions[ticket]
        self.account.exits.setdefault(ticket, []).append(price)
        self._transactions(ticket, deal_first)

    def modify(self, ticket: int, sl: float, tp: float) -> None:
        p = self.account.positions[ticket]
        p.sl, p.tp = sl, tp  # TRADE_TRANSACTION_POSITION: the EA posts nothing

    def _transactions(self, ticket: int, deal_first: bool, exit_added: bool = True) -> None:
        """DEAL_ADD then HISTORY_ADD (or the order reaching history before its deal:
        the newest exit deal the EA then finds is the one before this operation's)."""
        exits = self.account.exits.get(ticket, [])
        seen = exits if deal_first or not exit_added else exits[:-1]
        price = seen[-1] if seen else 0.0
        steps = ("deal", "history") if deal_first else ("history", "deal")
        for kind in steps:
            if kind == "deal":  # SendOpenEvent, if the position still exists
                if ticket in self.account.positions:
                    self.send(self._open_body(self.account.positions[ticket]))
            else:  # SendCloseEvent
                self.send(self._close_body(ticket, price))

    # the EA's posts
    def _head(self, action: str, broker: bool = True) -> str:
        b = '"broker":"BrokerA",' if broker else ""
        return (
            f'{{"action":"{action}","master_email":"{self.email}",'
            f'"account_number":"{self.login}",{b}"timestamp":{self.now},'
        )

    def _open_body(self, p: Position) -> str:
        return self._head("open") + (
            f'"ticket":{p.ticket},"symbol":"{p.symbol}","type":{p.type},"lots":{p.volume:.2f},'
            f'"open_price":{p.price:.5f},"stop_loss":{p.sl:.5f},"take_profit":{p.tp:.5f},'
            f'"open_time":{p.time},"comment":""}}'
        )

    def _close_body(self, ticket: int, price: float) -> str:
        profit = 0.0 if price == 0 else 1.5
        return self._head("close", broker=False) + (
            f'"ticket":{ticket},"profit":{profit:.2f},"close_price":{price:.5f}}}'
        )

    def heartbeat_body(self) -> str:
        items = [
            f'{{"ticket":{p.ticket},"symbol":"{p.symbol}","type":{p.type},'
            f'"lots":{p.volume:.2f},"open_price":{p.price:.5f},"stop_loss":{p.sl:.5f},'
            f'"take_profit":{p.tp:.5f},"open_time":{p.time}}}'
            for p in self.account.positions.values()
        ]
        return (
            self._head("heartbeat")
            + '"positions":['
            + ",".join(items)
            + f'],"positions_count":{len(items)}}}'
        )

    def _post(self, data: str) -> bool:
        if self.down:
            return False
        r = self.client.post(
            self.url, content=data.encode(), headers={"Content-Type": "application/json"}
        )
        if r.status_code == 200:
            self.answers.append(r.json())
        return r.status_code == 200

    def send(self, data: str) -> None:  # SendToServer
        if not self._post(data):
            self.queue.append([data, 0, self.now])

    def on_timer(self) -> None:
        if self.now - self.last_heartbeat >= 1:
            self.send(self.heartbeat_body())
            self.last_heartbeat = self.now
        for i in range(len(self.queue) - 1, -1, -1):  # ProcessRetryQueue
            item = self.queue[i]
            if self.now - item[2] < 2:
                continue
            if self._post(item[0]):
                del self.queue[i]
            else:
                item[1] += 1
                item[2] = self.now
                if item[1] >= 3:
                    del self.queue[i]

    def tick(self, seconds: int = 1) -> None:
        for _ in range(seconds):
            self.now += 1
            self.on_timer()


# --- Slave EA ------------------------------------------------------------------------


class SlaveEA:
    """The Slave EA on its own account: ``init`` loads the settings, ``poll`` is one
    ``CheckMasterSignals``."""

    def __init__(
        self,
        client: Any,
        token: str,
        master: str = "1001",
        email: str = "slave@x.io",
        lot_multiplier: float = 1.0,
        master_is_cent: bool = False,
        slave_is_cent: bool = False,
        account: Account | None = None,
    ):
        self.client, self.base = client, f"/api/mt/copy/t/{token}"
        self.master, self.email = master, email
        self.lot_multiplier = lot_multiplier
        self.master_is_cent, self.slave_is_cent = master_is_cent, slave_is_cent
        self.account = account or Account()
        self.copies: list[tuple[int, str, str]] = []  # slavePositions: ticket, master, symbol
        self.settings: dict[str, Any] = {}
        self.settings_loaded = False
        self.handled: list[str] = []  # the action of each answer handled

    # LoadServerSettings
    def init(self) -> None:
        r = self.client.get(
            self.base + "/settings",
            params={"user_email": self.email, "master_account_id": self.master},
        )
        text = r.text
        if r.status_code != 200 or '"success":true' not in text:
            return
        s: dict[str, Any] = {
            "volumeMultiplier": to_double(extract_value(text, "volumeMultiplier")),
            "maxVolume": to_double(extract_value(text, "maxVolume")),
            "enableSymbolFilter": extract_value(text, "enableSymbolFilter") == "true",
            "enableDirectionFilter": extract_value(text, "enableDirectionFilter") == "true",
            "enableRiskManagement": extract_value(text, "enableRiskManagement") == "true",
            "maxDailyLoss": to_double(extract_value(text, "maxDailyLoss")),
            "maxDailyTrades": int(to_double(extract_value(text, "maxDailyTrades"))),
            "isActive": extract_value(text, "isActive") == "true",
            "allowedSymbols": [],
            "allowedDirections": [],
        }
        for key in ("allowedSymbols", "allowedDirections"):
            raw = extract_value(text, key)
            if raw:
                for ch in '[]"':
                    raw = raw.replace(ch, "")
                s[key] = split_string(raw, ",")
        self.settings, self.settings_loaded = s, True

    # CheckMasterSignals / ProcessMasterSignals
    def poll(self) -> str:
        r = self.client.get(
            self.base + "/slave-signals",
            params={"master_account_id": self.master, "slave_email": self.email},
        )
        if r.status_code != 200 or '"success":true' not in r.text:
            self.handled.append("-")
            return "-"
        text = r.text
        action = extract_value(text, "action")
        {
            "open": self.on_open,
            "close": self.on_close,
            "modify": self.on_modify,
            "heartbeat": self.on_heartbeat,
        }.get(action, self.on_legacy)(text)
        self.handled.append(action)
        return action

    def find(self, master_ticket: str) -> int:
        for i, c in enumerate(self.copies):
            if c[1] == master_ticket:
                return i
        return -1

    def adjust(self, lots: float) -> float:  # AdjustLotForAccountType
        if self.master_is_cent and not self.slave_is_cent:
            return lots / 100.0
        if not self.master_is_cent and self.slave_is_cent:
            return lots * 100.0
        return lots

    def normalize_lot(self, symbol: str, lots: float) -> float:
        lo, hi, step = self.account.symbols[symbol]
        lots = min(max(lots, lo), hi)
        return round(math.floor(lots / step) * step, 2)

    def normalize_symbol(self, symbol: str) -> str:
        if symbol in self.account.symbols:
            return symbol
        base = symbol
        for suf in SUFFIXES:
            if len(symbol) > len(suf) and symbol.endswith(suf):
                base = symbol[: -len(suf)]
                break
        if base != symbol and base in self.account.symbols:
            return base
        for suf in SUFFIXES:
            if base + suf in self.account.symbols:
                return base + suf
        return ""

    def validate(self, symbol: str, type_: int) -> bool:  # ValidateTrade
        s = self.settings
        if not self.settings_loaded:
            return True
        if not s["isActive"]:
            return False
        if s["enableSymbolFilter"] and not any(a in symbol for a in s["allowedSymbols"]):
            return False
        if (
            s["enableDirectionFilter"]
            and ("BUY" if type_ == 0 else "SELL") not in s["allowedDirections"]
        ):
            return False
        # Risk: dailyLoss is never added to, the trade count only by the open handler;
        # each is refused once ">=" its limit.
        return not (
            s["enableRiskManagement"] and (s["maxDailyLoss"] <= 0 or s["maxDailyTrades"] <= 0)
        )

    def on_open(self, text: str) -> None:  # ProcessOpenEvent
        mt = extract_value(text, "ticket")
        symbol = extract_value(text, "symbol")
        type_ = int(to_double(extract_value(text, "type")))
        lots = to_double(extract_value(text, "lots"))
        sl = to_double(extract_value(text, "stop_loss"))
        tp = to_double(extract_value(text, "take_profit"))
        if self.find(mt) >= 0 or not self.validate(symbol, type_):
            return
        sym = self.normalize_symbol(symbol)
        if not sym:
            return
        lots = self.adjust(lots)
        if self.settings_loaded and self.settings["volumeMultiplier"] > 0:
            lots *= self.settings["volumeMultiplier"]
        else:
            lots *= self.lot_multiplier
        if self.settings_loaded and 0 < self.settings["maxVolume"] < lots:
            lots = self.settings["maxVolume"]
        lots = self.normalize_lot(sym, lots)
        t = self.account.open(sym, type_, lots, sl, tp, "Copy:" + mt)
        self.copies.append((t, mt, sym))

    def on_close(self, text: str) -> None:  # ProcessCloseEvent
        i = self.find(extract_value(text, "ticket"))
        if i < 0:
            return
        t = self.copies[i][0]
        if t in self.account.positions:
            self.account.close(t)
        del self.copies[i]

    def on_modify(self, text: str) -> None:  # ProcessModifyEvent
        i = self.find(extract_value(text, "ticket"))
        sl = to_double(extract_value(text, "stop_loss"))
        tp = to_double(extract_value(text, "take_profit"))
        if i >= 0 and self.copies[i][0] in self.account.positions:
            self.account.modify(self.copies[i][0], sl, tp)

    def close_all(self) -> None:
        for t, _, _ in reversed(self.copies):
            if t in self.account.positions:
                self.account.close(t)
        self.copies = []

    def on_heartbeat(self, text: str) -> None:  # ProcessHeartbeat + SyncPositions
        start = text.find('"positions":[')
        if start < 0:
            self.close_all()
            return
        end = text.find("]", start)
        body = text[start + 13 : end]
        if body in ("", " "):
            self.close_all()
            return
        listed = []
        for item in split_string(body, "},{"):
            item = item.replace("{", "").replace("}", "")
            listed.append(
                {
                    "ticket": extract_value(item, "ticket"),
                    "symbol": extract_value(item, "symbol"),
                    "type": int(to_double(extract_value(item, "type"))),
                    "lots": to_double(extract_value(item, "lots")),
                    "sl": to_double(extract_value(item, "stop_loss")),
                    "tp": to_double(extract_value(item, "take_profit")),
                }
            )
        tickets = {m["ticket"] for m in listed}
        for i in range(len(self.copies) - 1, -1, -1):
            t, mt, _ = self.copies[i]
            if mt not in tickets:
                if t in self.account.positions:
                    self.account.close(t)
                del self.copies[i]
        for m in listed:
            if self.find(m["ticket"]) >= 0:
                continue
            sym = self.normalize_symbol(m["symbol"])
            if not sym or not self.validate(sym, m["type"]):
                continue
            lots = self.normalize_lot(sym, self.adjust(m["lots"]))
            if lots < self.account.symbols[sym][0]:
                continue
            t = self.account.open(sym, m["type"], lots, m["sl"], m["tp"], "Copy: " + m["ticket"])
            self.copies.append((t, m["ticket"], sym))

    def on_legacy(self, text: str) -> None:  # ProcessLegacyFormat: every item as an open
        start = text.find('"positions":[')
        if start < 0:
            return
        body = text[start + 13 : text.find("]", start)]
        for item in split_string(body, "},{") if body else []:
            self.on_open(item.replace("{", "").replace("}", ""))

    def send_heartbeat(self, login: str = "2001", balance: float = 1000.0) -> int:
        """SendSlaveHeartbeat: only how many copies it holds, and its money."""
        data = (
            f'{{"slave_email":"{self.email}","master_account_id":"{self.master}",'
            f'"account_number":"{login}","broker":"BrokerB","timestamp":1800000000,'
            f'"positions_count":{len(self.copies)},"balance":{balance:.2f},'
            f'"equity":{balance:.2f}}}'
        )
        r = self.client.post(
            self.base + "/slave-heartbeat",
            content=data.encode(),
            headers={"Content-Type": "application/json"},
        )
        return r.status_code

    def held(self) -> dict[str, Position]:
        """The copies on the account, by master ticket."""
        return {mt: self.account.positions[t] for t, mt, _ in self.copies}
