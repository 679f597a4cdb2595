"""The monitor's configuration: one TOML file, typed sections, environment overrides.

Precedence (highest first): ``MTPONTE_LIVE__SECTION__KEY`` environment variables, the
TOML file, the defaults below. Defaults are safe: ``runner.mode = "log_only"`` (the
seed's "teste em vazio": decide and journal, send nothing) and a real (non-demo)
account is refused until ``runner.allow_real_account = true``.

Example::

    symbol = "WIN"
    [runner]
    mode = "trade"
    magic = 7001
    [strategy]
    entry_mode = "stop"
    [risk]
    daily_loss_limit = 500.0
    [feed]
    kind = "replay"
    path = "data/win_m5.csv"
    [broker]
    kind = "paper"
    [journal]
    url = "sqlite:///state/journal.sqlite"

The sections' models are in :mod:`mtponte.live._config_sections` (imported here, so
``from mtponte.live.config import RunnerSection`` keeps working); this module holds the
whole :class:`LiveConfig`, its loading and validation report, path resolution, the
diff of two configurations (what may change while running) and :class:`ConfigWatcher`.
"""

from __future__ import annotations

import time as _time
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError, model_validator
from pydantic_settings import SettingsConfigDict

from mtponte._settings import EnvFirstSettings
from mtponte.alerts.config import AlertsConfig
from mtponte.errors import ConfigError
from mtponte.live._config_sections import (
    BrokerSection,
    FeedSection,
    GuardSection,
    JournalSection,
    RiskSection,
    RunnerSection,
)
from mtponte.live.session import SessionSection
from mtponte.strategies.params import ElephantParams


class LiveConfig(EnvFirstSettings):
    """The whole monitor configuration (see the module docstring)."""

    model_config = SettingsConfigDict(
        env_prefix="MTPONTE_LIVE__",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    symbol: str = "WIN"
    trade_symbol: str | None = None
    timezone: str | None = None
    server_timezone: str | None = None
    runner: RunnerSection = RunnerSection()
    strategy: ElephantParams = ElephantParams()
    risk: RiskSection = RiskSection()
    feed: FeedSection = FeedSection()
    broker: BrokerSection = BrokerSection()
    journal: JournalSection = JournalSection()
    guard: GuardSection = GuardSection()
    session: SessionSection = SessionSection()
    alerts: AlertsConfig = AlertsConfig()

    @model_validator(mode="after")
    def _server_clock(self) -> LiveConfig:
        f = self.feed
        if self.server_timezone is None and (
            f.kind == "mt5" or (f.kind == "bridge" and f.bridge_times == "server")
        ):
            what = "kind = 'mt5'" if f.kind == "mt5" else "bridge_times = 'server'"
            raise ValueError(f"server_timezone is required when feed.{what}")
        if self.server_timezone is None and self.broker.kind == "mt5":
            raise ValueError("server_timezone is required when broker.kind = 'mt5'")
        if self.session.roll != "off" and self.trade_symbol is not None:
            raise ValueError("trade_symbol and session.roll = 'rule' both name the traded symbol")
        return self


def _key(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(file)"


def config_problems(path: Path | None, data: dict[str, Any] | None = None) -> list[str]:
    """Every problem of the configuration at ``path`` as ``key: message`` lines.

    Parameters
    ----------
    path
        TOML file (``None``: defaults and environment only).
    data
        Already-parsed contents (instead of reading ``path``).

    Returns
    -------
    list of str
        Empty when the configuration is valid.
    """
    try:
        _load(path, data)
    except _Invalid as exc:
        return exc.problems
    return []


class _Invalid(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _load(path: Path | None, data: dict[str, Any] | None) -> LiveConfig:
    if data is None:
        data = {}
        if path is not None:
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except OSError as exc:
                raise _Invalid([f"(file): cannot read {path}: {exc.strerror or exc}"]) from None
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise _Invalid([f"(file): {path} is not valid TOML: {exc}"]) from None
    try:
        return LiveConfig(**data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            msg = err["msg"]
            if err["type"] != "missing" and "input" in err and not isinstance(err["input"], dict):
                msg += f" (got {err['input']!r})"
            lines.append(f"{_key(err['loc'])}: {msg}")
        raise _Invalid(lines) from None


def load_config(path: Path | None, data: dict[str, Any] | None = None) -> LiveConfig:
    """Load and validate; any problem raises one :class:`ConfigError` listing all of them.

    Parameters
    ----------
    path
        TOML file (``None``: defaults and environment only).
    data
        Already-parsed contents (instead of reading ``path``).

    Returns
    -------
    LiveConfig
    """
    try:
        return _load(path, data)
    except _Invalid as exc:
        where = f"{path}: " if path is not None else ""
        raise ConfigError(where + "; ".join(exc.problems)) from None


def resolve_paths(cfg: LiveConfig, base: Path) -> LiveConfig:
    """``cfg`` with relative paths (feed file, logs folder, kill-switch file, SQLite
    journal, paper account file) taken from ``base``, the configuration file's folder.

    Parameters
    ----------
    cfg
        Loaded configuration.
    base
        Folder relative paths are taken from.

    Returns
    -------
    LiveConfig
    """

    def rel(p: Path | None) -> Path | None:
        return None if p is None or p.is_absolute() else base / p

    url = cfg.journal.url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        db = Path(url.removeprefix("sqlite:///"))
        if not db.is_absolute():
            url = "sqlite:///" + (base / db).as_posix()
    paper = cfg.broker.paper_state
    if paper != ":memory:" and not Path(paper).is_absolute():
        paper = (base / paper).as_posix()
    hb = cfg.runner.heartbeat_file
    return cfg.model_copy(
        update={
            "runner": cfg.runner.model_copy(update={"heartbeat_file": rel(hb) or hb}),
            "broker": cfg.broker.model_copy(update={"paper_state": paper}),
            "feed": cfg.feed.model_copy(
                update={
                    "path": rel(cfg.feed.path) or cfg.feed.path,
                    "bridge_dir": rel(cfg.feed.bridge_dir) or cfg.feed.bridge_dir,
                }
            ),
            "journal": cfg.journal.model_copy(
                update={"url": url, "logs_dir": rel(cfg.journal.logs_dir) or cfg.journal.logs_dir}
            ),
            "risk": cfg.risk.model_copy(
                update={
                    "kill_switch_file": rel(cfg.risk.kill_switch_file) or cfg.risk.kill_switch_file
                }
            ),
            "guard": cfg.guard.model_copy(
                update={"flag_file": rel(cfg.guard.flag_file) or cfg.guard.flag_file}
            ),
        }
    )


def with_strategy_overrides(cfg: LiveConfig, overrides: dict[str, str]) -> LiveConfig:
    """``cfg`` with strategy parameters replaced (``--set name=value``, as in backtest)."""
    if not overrides:
        return cfg
    params = ElephantParams.from_overrides({**cfg.strategy.model_dump(), **overrides})
    return cfg.model_copy(update={"strategy": params})


# Keys that may change while running (applied from the next bar); any other change
# needs a restart (the strategy's lookbacks, the symbol, the broker and the feed).
HOT_KEYS = ("risk.", "runner.mode", "runner.heartbeat_every_bars", "journal.log_", "guard.")


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "."))
        else:
            out[key] = v
    return out


def config_diff(old: LiveConfig, new: LiveConfig) -> dict[str, tuple[Any, Any]]:
    """``{key: (old, new)}`` of every value that differs (dotted keys, JSON values)."""
    a, b = _flat(old.model_dump(mode="json")), _flat(new.model_dump(mode="json"))
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def needs_restart(diff: dict[str, tuple[Any, Any]]) -> list[str]:
    """Keys of ``diff`` that cannot change while running."""
    return [k for k in diff if not k.startswith(HOT_KEYS)]


class ConfigWatcher:
    """Re-read the configuration file when it changes ("ajustes em tempo real").

    Parameters
    ----------
    path
        The TOML file.
    base
        Folder relative paths are taken from (default: the file's).
    settle_s
        A change is read only once the file has stayed the same this long (an editor
        may still be writing it).
    """

    def __init__(self, path: Path, base: Path | None = None, settle_s: float = 0.05) -> None:
        self.path = path
        self.base = base or path.parent
        self.settle_s = settle_s
        self._stamp = self._mtime()

    def _mtime(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def poll(self) -> LiveConfig | list[str] | None:
        """``None`` when the file did not change (or is still changing); else the new
        configuration, or the list of its problems (``key: message`` lines)."""
        stamp = self._mtime()
        if stamp == self._stamp:
            return None
        _time.sleep(self.settle_s)
        if self._mtime() != stamp:
            return None  # still being written: look again at the next poll
        self._stamp = stamp
        try:
            data = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except OSError as exc:
            return [f"(file): cannot read {self.path}: {exc.strerror or exc}"]
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            return [f"(file): {self.path} is not valid TOML: {exc}"]
        problems = config_problems(None, data)
        if problems:
            return problems
        return resolve_paths(load_config(None, data), self.base)
