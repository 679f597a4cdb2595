"""When the grants table is read again (``copy/server/_grants.py``), for the mutants
``tools/mutate.py`` found alive: an unchanged epoch before ``reload_s`` reads nothing
(the whole table is not re-read every ``check_s`` by every worker); a moved epoch, a
revocation here (``refresh_soon``) or ``reload_s`` elapsed each read it once."""

from __future__ import annotations

import time

from mtponte.copy.server._grants import Grants


def _grants(reload_s: float = 3600.0) -> tuple[Grants, list[int], list[int]]:
    g = Grants(reload_s=reload_s, check_s=1.0)
    epoch, loads = [5], []

    def loader():
        loads.append(epoch[0])
        return epoch[0], {}

    g.loader = loader
    g.epoch_reader = lambda: epoch[0]
    g.load_now()
    return g, epoch, loads


def test_nothing_is_read_while_the_epoch_stands_and_no_reload_is_due():
    g, _, loads = _grants()
    assert loads == [5]
    for _ in range(3):
        assert g._work() is None
    assert loads == [5]


def test_a_moved_epoch_or_a_local_revocation_reads_the_table_once():
    g, epoch, loads = _grants()
    epoch[0] = 6
    g._install(*g._work())
    assert loads == [5, 6] and g._work() is None
    g.refresh_soon()
    g._install(*g._work())
    assert loads == [5, 6, 6] and g._work() is None  # the force is spent


def test_the_table_is_read_again_when_reload_s_has_passed():
    g, _, loads = _grants(reload_s=0.05)
    assert g._work() is None
    time.sleep(0.06)
    g._install(*g._work())
    assert loads == [5, 5] and g._work() is None
