"""Market data: file loaders and the synthetic WIN generator."""

from mtponte.data.loaders import load_bars, save_bars_csv
from mtponte.data.synth import synth_win

__all__ = ["load_bars", "save_bars_csv", "synth_win"]
