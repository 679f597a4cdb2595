"""Market-data loaders with auto-detection and one-line errors.

Formats
-------
``mt5``
    MetaTrader 5 "Export bars": tab-separated, ``<DATE> <TIME> <OPEN> <HIGH> <LOW>
    <CLOSE> <TICKVOL> <VOL> <SPREAD>``, dates ``YYYY.MM.DD`` (daily exports have no
    ``<TIME>``). UTF-16 (with BOM), UTF-8 (with or without BOM) or ASCII.
``rates``
    The ``copy_rates_*`` layout: ``time`` (epoch seconds), ``open, high, low, close,
    tick_volume, spread, real_volume``; CSV or Parquet.
``csv``
    Generic CSV with a header: ``time``/``date``/``datetime`` (or ``date`` + ``time``),
    ``open, high, low, close``, ``volume`` and/or ``tick_volume``/``real_volume``
    (any case), separated by ``,`` or ``;``; day-first dates with ``dayfirst=True``.

Time zones
----------
MT5 stamps bars with the broker's *server clock*: exported dates and ``copy_rates``
epoch seconds are server wall time written as if it were UTC. Those are read as wall
time in ``server_timezone``. Generic CSV times with an offset keep it; without one
they are exchange-local (``timezone``). Everything is converted to UTC inside.

Speed
-----
Typed columns are read as typed with Arrow (Parquet, and ``pyarrow.csv`` for text),
checked with vectorized numpy, and time zones are converted once on int64 arrays
(:mod:`mtponte.data._fast`). Anything that path does not recognise as a clean file of
a common layout goes to the careful pandas reader (:mod:`mtponte.data._careful`),
which gives the same bars or the precise error (file, line, problem).
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from mtponte.domain.bars import Bars
from mtponte.errors import DataError

FORMATS = ("auto", "mt5", "rates", "csv")


def load_bars(
    path: str | Path,
    *,
    timezone: str = "America/Sao_Paulo",
    server_timezone: str | None = None,
    fmt: str = "auto",
    dayfirst: bool = False,
) -> Bars:
    """Load bars from ``path``.

    Parameters
    ----------
    path
        CSV or Parquet file.
    timezone
        Exchange time zone: session dates and windows are computed there, and
        generic-CSV times without an offset are read in it.
    server_timezone
        Broker server clock zone for MT5 formats (default: ``timezone``).
    fmt
        ``auto`` (default), ``mt5``, ``rates`` or ``csv``.
    dayfirst
        Generic CSV: read ``01/02/2024`` as 1 February.

    Returns
    -------
    Bars
        Sorted, validated bars with UTC times.

    Raises
    ------
    DataError
        One line naming the file, the line and the problem.
    """
    p = Path(path)
    name = str(path)
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}", name)
    for zone in (timezone, server_timezone):
        if zone is not None:
            try:
                ZoneInfo(zone)
            except Exception:
                raise DataError(f"unknown time zone {zone!r}", name) from None
    from mtponte.data._fast import load_fast

    bars = load_fast(p, timezone, server_timezone, fmt)
    if bars is not None:
        return bars
    # Unusual layout or bad input: the careful reader names the line and the problem.
    from mtponte.data._careful import load_careful

    return load_careful(p, name, timezone, server_timezone, fmt, dayfirst)


def parse_text(
    text: str,
    name: str,
    *,
    timezone: str = "America/Sao_Paulo",
    server_timezone: str | None = None,
    fmt: str = "auto",
    dayfirst: bool = False,
) -> Bars:
    """Bars from the decoded text of a bar file (header line first): what
    :func:`load_bars` does after reading and decoding a text file (a file being
    followed, :mod:`mtponte.live.csvtail`, is parsed chunk by chunk with its header).

    Parameters
    ----------
    text
        Decoded text, ``\n`` line ends.
    name
        Shown in errors (the file).
    timezone, server_timezone, fmt, dayfirst
        As for :func:`load_bars` (``fmt`` not ``auto`` skips detection).

    Returns
    -------
    Bars

    Raises
    ------
    DataError
        One line naming the file, the line and the problem.
    """
    # The careful reader: a followed file's chunks are small, and its errors name lines.
    from mtponte.data._careful import parse_text as _parse

    return _parse(text, name, timezone, server_timezone, fmt, dayfirst)


def save_bars_csv(bars: Bars, path: str | Path) -> None:
    """Write ``bars`` as a generic CSV with ISO-8601 exchange-local times and offsets."""
    import pandas as pd

    idx = pd.DatetimeIndex(pd.to_datetime(bars.time, unit="s", utc=True)).tz_convert(
        ZoneInfo(bars.timezone)
    )
    df = pd.DataFrame(
        {
            "time": idx.strftime("%Y-%m-%dT%H:%M:%S%z").str.replace(
                r"(\d\d)(\d\d)$", r"\1:\2", regex=True
            ),
            "open": bars.open,
            "high": bars.high,
            "low": bars.low,
            "close": bars.close,
            "tick_volume": bars.tick_volume,
            "real_volume": bars.real_volume,
        }
    )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
