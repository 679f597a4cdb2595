"""A random master: hundreds of actions on a paper account, random transport failures,
crashes and restarts. The server ends with the account's exact book, every recorded
event stored exactly once and in order."""

from __future__ import annotations

import random

import pytest

from mtponte.copy.publisher import Outbox, Pos, to_pos
from mtponte.copy.server.book import apply_events
from mtponte.domain.side import Side
from mtponte.domain.symbols import EURUSD
from tests.copy.publisher.conftest import Crash, Rig

T0 = 1_800_000_000.0
FAILURES = ["down", "lost", "503", "crash", "crash_after"]


def act(rig: Rig, rng: random.Random, symbols: list[str]) -> None:
    """One master action; a refused one (bad stops, unknown ticket) changes nothing."""
    b = rig.broker
    ps = b.positions()
    roll = rng.random()
    if not ps or roll < 0.3:
        sym = rng.choice(symbols)
        side = rng.choice([Side.BUY, Side.SELL])
        bid, ask = b.quote(sym)
        px = ask if side is Side.BUY else bid
        sl = round(px - side * rng.choice([0.01, 0.02]), 5) if rng.random() < 0.5 else None
        tp = round(px + side * rng.choice([0.01, 0.03]), 5) if rng.random() < 0.5 else None
        b.market_order(sym, side, rng.choice([0.01, 0.05, 0.1, 0.3, 1.0]), sl=sl, tp=tp)
        return
    p = rng.choice(ps)
    if roll < 0.5:
        b.close_position(p.ticket)
    elif roll < 0.7:
        part = round(rng.uniform(0.01, p.volume), 2)
        if 0 < part < p.volume:
            b.close_position(p.ticket, part)
    elif roll < 0.95:
        bid, ask = b.quote(p.symbol)
        ref = bid if p.side is Side.BUY else ask
        sl = round(ref - p.side * rng.choice([0.005, 0.01, 0.02]), 5)
        tp = round(ref + p.side * rng.choice([0.005, 0.01, 0.02]), 5)
        which = rng.random()
        b.modify_position(p.ticket, sl if which < 0.7 else None, tp if which > 0.4 else None)
    elif p.side is Side.BUY:
        b.modify_position(p.ticket, 0.0, None)  # the paper broker: 0 clears a buy's SL


@pytest.mark.parametrize(("mode", "seed"), [("hedging", 1), ("netting", 2)])
def test_random_master_with_failures_and_restarts_ends_exact_with_no_duplicates(
    rig_factory, monkeypatch, mode, seed
):
    rng = random.Random(seed)
    rig: Rig = rig_factory(mode)
    symbols = ["EURUSD", "GBPUSD"]
    rig.broker._specs["GBPUSD"] = EURUSD.with_name("GBPUSD")
    rig.broker.set_quote("GBPUSD", 1.3000, 1.3002)
    recorded: list[str] = []
    real_record = Outbox.record

    def record(self, changes, positions, now_ms):
        if rng.random() < 0.02:
            raise Crash("killed inside the transaction")
        out = real_record(self, changes, positions, now_ms)
        recorded.extend(q.key for q in out)
        return out

    monkeypatch.setattr(Outbox, "record", record)
    failure_rate = {"p": 0.25}

    def plan(_r):
        return rng.choice(FAILURES) if rng.random() < failure_rate["p"] else "ok"

    rig.transport.plan = plan
    pub = rig.publisher()
    restarts = 0
    now = T0
    actions = 0
    while actions < 320:
        for _ in range(rng.choice([1, 1, 2, 3])):  # several actions within one poll
            act(rig, rng, symbols)
            actions += 1
        if rng.random() < 0.05:  # move the market now and then
            for sym in symbols:
                bid = rig.broker.quote(sym)[0] + rng.choice([-1, 1]) * 0.0005
                rig.broker.set_quote(sym, round(bid, 5), round(bid + 0.0002, 5))
        now += rng.choice([0.2, 1.0, 3.0])
        try:
            pub.poll_once(now)
        except Crash:
            pub = rig.publisher()  # the dead one is dropped without a drain
            restarts += 1
        if rng.random() < 0.03:
            pub = rig.publisher()  # a clean restart
            restarts += 1
    failure_rate["p"] = 0.0
    monkeypatch.setattr(Outbox, "record", real_record)
    for _ in range(3):
        now += 10
        pub.poll_once(now)
    assert pub.outbox.pending_count() == 0 and pub.outbox.dead() == []
    assert restarts > 3
    assert {w for _p, w in rig.transport.seen} >= set(FAILURES)

    truth = sorted((to_pos(p) for p in rig.broker.positions()), key=lambda p: int(p.ticket))
    book = rig.book()
    assert [Pos.from_json(p) for p in book] == truth
    events = rig.events()
    assert [e.idempotency_key for e in events] == recorded  # each once, in order
    if mode == "hedging":  # volumes only shrink: the events alone rebuild the book
        alone = apply_events([], [(e.kind, e.ticket, e.payload) for e in events])
        assert [(p["ticket"], p["side"], p["volume"]) for p in alone] == [
            (p.ticket, p.side, p.volume) for p in truth
        ]
    kinds = {e.kind for e in events}
    assert kinds == {"open", "close", "modify", "partial_close"}
