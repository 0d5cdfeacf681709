"""The firmware's STATE carries Outbox.FlashFull as true/false (firmware/lamppost/uplink.py): the
collector's validator takes it (it quarantined every STATE before, so every post looked silent
to the operations service), and refuses anything else there."""
from __future__ import annotations

import json

import pytest

from host_tools.collector.validate import Reject, validate


def _state(full) -> bytes:
    return json.dumps({"Time": "2026-01-15T22:00:00Z", "UptimeSec": 60, "Heap": 30000,
                       "Outbox": {"Pending": 0, "Bad": 0, "FlashFull": full}}).encode()


@pytest.mark.parametrize("full", [True, False])
def test_state_with_the_firmwares_flash_full_flag_is_accepted(full):
    kind, pid, d = validate("tele/NL-0001/STATE", _state(full))
    assert (kind, pid, d["Outbox"]["FlashFull"]) == ("state", "NL-0001", full)


@pytest.mark.parametrize("bad", [1, "yes", None, [True]])
def test_flash_full_that_is_not_a_flag_is_quarantined(bad):
    with pytest.raises(Reject, match="FlashFull"):
        validate("tele/NL-0001/STATE", _state(bad))
