"""Tasmota habits (lamppost/cmd_tas.py) on MicroPython: the closest-command suggestion."""
from lamppost import cmd_tas
from lamppost.cmd_read import HELP


def _err(name):
    try:
        cmd_tas.c_unknown(None, name, False, True)
    except ValueError as e:
        return str(e)
    raise AssertionError("no error for " + name)


def test_distance_counts_a_swap_as_one_edit():
    assert cmd_tas._dist("status", "status") == 0
    assert cmd_tas._dist("stauts", "status") == 1
    assert cmd_tas._dist("powr", "power") == 1
    assert cmd_tas._dist("", "dim") == 3


def test_unknown_command_names_the_closest_only_when_close():
    assert "did you mean Power?" in _err("powr")
    assert "did you mean Status?" in _err("stauts")
    assert "did you mean Dimmer?" in _err("dimer")
    assert "did you mean" not in _err("frobnicate")
    assert "did you mean" not in _err("x" * 32)


def test_help_table_is_sorted_and_names_every_tasmota_alias():
    names = [n for n, _ in HELP]
    assert names == sorted(names, key=lambda n: n.lower())
    for n in cmd_tas.NAMES:
        assert n in names
