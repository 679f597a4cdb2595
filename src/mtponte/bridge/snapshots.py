"""State snapshots the executor publishes in ``state/`` (heartbeat, account,
positions, orders, symbols)."""

from __future__ import annotations

from mtponte.bridge.fileio import BridgeDir, atomic_write_json
from mtponte.bridge.protocol import (
    MAX_DEALS,
    AccountState,
    BarsState,
    BarState,
    DealsState,
    DealState,
    Heartbeat,
    OrdersState,
    OrderState,
    PositionsState,
    PositionState,
    SymbolsState,
    SymbolState,
)
from mtponte.brokers.base import Broker


def write_bars(
    root: BridgeDir,
    broker: Broker,
    seq: int,
    now: int,
    subscriptions: tuple[tuple[str, str], ...],
    count: int,
) -> None:
    """``state/bars-<SYMBOL>-<TF>.json``: the last ``count`` closed bars of each subscription."""
    for symbol, tf in subscriptions:
        bars = [
            BarState(
                time=int(b.time.timestamp()),
                open=b.open,
                high=b.high,
                low=b.low,
                close=b.close,
                tick_volume=b.tick_volume,
                real_volume=b.real_volume,
                spread=b.spread,
            )
            for b in broker.bars(symbol, tf, count)
        ]
        atomic_write_json(
            root.state / f"bars-{symbol}-{tf}.json",
            BarsState(seq=seq, time=now, symbol=symbol, timeframe=tf, bars=bars),
        )


def write_state(
    root: BridgeDir,
    broker: Broker,
    seq: int,
    now: int,
    log_only: bool,
    python_heartbeat_age_ms: int | None,
) -> None:
    """Publish heartbeat, account, positions, orders and symbols snapshots."""
    t, b = now, broker
    st = root.state
    acct = b.account()
    atomic_write_json(
        st / "account.json",
        AccountState(
            seq=seq,
            time=t,
            login=acct.login,
            currency=acct.currency,
            balance=acct.balance,
            equity=acct.equity,
            daily_pnl=acct.daily_pnl,
            account_mode=acct.account_mode,
            trade_mode="demo" if b.is_demo() is True else "real",
        ),
        fsync=False,
    )
    atomic_write_json(
        st / "positions.json",
        PositionsState(
            seq=seq,
            time=t,
            positions=[
                PositionState(
                    ticket=p.ticket,
                    symbol=p.symbol,
                    side="buy" if p.side > 0 else "sell",
                    volume=p.volume,
                    open_price=p.open_price,
                    sl=p.sl,
                    tp=p.tp,
                    magic=p.magic,
                    comment=p.comment,
                    profit=p.profit,
                    open_time=int(p.open_time.timestamp() * 1000),
                )
                for p in b.positions()
            ],
        ),
        fsync=False,
    )
    since = t - 86_400_000
    recent = [d for d in b.deals() if d.time.timestamp() * 1000 >= since][-MAX_DEALS:]
    atomic_write_json(
        st / "deals.json",
        DealsState(
            seq=seq,
            time=t,
            deals=[
                DealState(
                    deal=d.deal,
                    order=d.order,
                    position=d.position,
                    symbol=d.symbol,
                    side="buy" if d.side > 0 else "sell",
                    volume=d.volume,
                    price=d.price,
                    entry=d.entry if d.entry in ("in", "out", "inout") else "out",
                    time=int(d.time.timestamp() * 1000),
                    magic=d.magic,
                    comment=d.comment,
                    profit=d.profit,
                )
                for d in recent
            ],
        ),
        fsync=False,
    )
    atomic_write_json(
        st / "orders.json",
        OrdersState(
            seq=seq,
            time=t,
            orders=[
                OrderState(
                    ticket=o.ticket,
                    symbol=o.symbol,
                    side="buy" if o.side > 0 else "sell",
                    order_type=o.order_type,
                    volume=o.volume,
                    price=o.price,
                    sl=o.sl,
                    tp=o.tp,
                    expiry=int(o.expiry.timestamp() * 1000) if o.expiry else None,
                    magic=o.magic,
                    comment=o.comment,
                )
                for o in b.orders()
            ],
        ),
        fsync=False,
    )
    atomic_write_json(
        st / "symbols.json",
        SymbolsState(
            seq=seq,
            time=t,
            symbols=[
                SymbolState(
                    name=s.name,
                    tick_size=s.tick_size,
                    tick_value=s.tick_value,
                    contract_size=s.contract_size,
                    digits=s.digits,
                    lot_min=s.lot_min,
                    lot_max=s.lot_max,
                    lot_step=s.lot_step,
                    filling_modes=["fok", "ioc"],
                )
                for s in b.symbols().values()
            ],
        ),
        fsync=False,
    )
    atomic_write_json(
        st / "heartbeat.json",
        Heartbeat(
            seq=seq,
            time=t,
            log_only=log_only,
            kill_switch=root.kill_switch.exists(),
            python_heartbeat_age_ms=python_heartbeat_age_ms,
        ),
        fsync=False,
    )
