"""Signed remote commands: a counter that cannot be saved, or outside the window, is refused.

Issue 10, finding 7 (docs/persistence.md, "Signed commands"). Counters are Unix seconds, as
`lamppost-collector send` signs them; the post's clock counts from 2000.
"""
import json
import os

from lamppost import signedcmd as auth

PATH = "/tmp/lamppost-hmac-window.json"
NOW = 820000000  # 2025-12-26 in seconds since 2000
BOOT = NOW - 3600
UNIX = NOW + auth.UNIX_2000


def _fresh(path=PATH):
    for p in (path, path[:-5] + ".bad"):
        try:
            os.remove(p)
        except OSError:
            pass
    return auth.Verifier("k3y", "NL-1", path)


def _msg(ctr, param="60", cmd="teleperiod"):
    return json.dumps({"param": param, "ctr": ctr, "mac": auth.mac_hex("k3y", "NL-1", cmd, param, ctr)})


def test_a_counter_that_cannot_be_saved_refuses_the_command():
    v = auth.Verifier("k3y", "NL-1", "/nonexistent-dir/auth.json")  # every save fails
    param, why = v.check("teleperiod", _msg(UNIX), NOW, BOOT)
    assert param is None and "could not be saved" in why, why
    assert v.ctr is None  # nothing was accepted
    # after a reboot the same payload is still not a replay of anything that ran, and still
    # refused while the counter cannot be saved
    v2 = auth.Verifier("k3y", "NL-1", "/nonexistent-dir/auth.json")
    assert v2.check("teleperiod", _msg(UNIX), NOW, BOOT)[0] is None


def test_counters_outside_the_window_are_refused_and_cannot_lock_the_post_out():
    v = _fresh()
    for ctr in (10 ** 30, UNIX + auth.SKEW_S + 1, UNIX - auth.SKEW_S - 1, 1, 0, -5):
        param, why = v.check("teleperiod", _msg(ctr), NOW, BOOT)
        assert param is None and "within" in why, (ctr, why)
    assert v.ctr is None
    # the sender's time-based counter still works afterwards
    assert v.check("teleperiod", _msg(UNIX), NOW, BOOT) == ("60", None)
    assert v.check("teleperiod", _msg(UNIX + 1), NOW + 1, BOOT) == ("60", None)
    assert "replay" in v.check("teleperiod", _msg(UNIX), NOW + 2, BOOT)[1]
    assert "replay" in v.check("teleperiod", _msg(UNIX + 1), NOW + 2, BOOT)[1]


def test_a_counter_left_far_ahead_by_older_firmware_does_not_lock_the_post_out():
    with open(PATH, "w") as f:
        f.write('{"ctr": %d}' % 10 ** 30)
    v = auth.Verifier("k3y", "NL-1", PATH)
    assert v.check("teleperiod", _msg(UNIX), NOW, BOOT) == ("60", None)
    assert auth.Verifier("k3y", "NL-1", PATH).ctr == UNIX


def test_a_lost_counter_file_accepts_nothing_signed_before_this_boot():
    v = _fresh()
    sent = _msg(UNIX - 30)  # recorded 30 s before a reflash that removed auth.json
    assert v.check("teleperiod", sent, NOW - 30, BOOT - 10000) == ("60", None)
    v = _fresh()  # the reflash
    param, why = v.check("teleperiod", sent, NOW, NOW - 10)  # booted 10 s ago
    assert param is None and "replay" in why, why
    assert v.check("teleperiod", _msg(UNIX), NOW, NOW - 10) == ("60", None)


def test_an_unreadable_counter_file_is_set_aside_and_named():
    from lamppost import bootfiles
    for bad in ("[1, 2]", '{"ctr": "x"}', '{"ctr": 1.5}', "", '{"ctr": ', "\xff"):
        with open(PATH, "w") as f:
            f.write(bad)
        bootfiles.FOUND[:] = []
        v = auth.Verifier("k3y", "NL-1", PATH)
        found = bootfiles.FOUND
        assert v.ctr is None and len(found) == 1 and PATH in found[0], (bad, found)
        assert "lamppost-hmac-window.bad" in found[0]
        assert v.check("teleperiod", _msg(UNIX - 100), NOW, NOW - 50)[0] is None  # before the boot
        assert v.check("teleperiod", _msg(UNIX), NOW, NOW - 50) == ("60", None)
    bootfiles.FOUND[:] = []
    assert auth.Verifier("k3y", "NL-1", PATH).ctr == UNIX and bootfiles.FOUND == []  # written then


def test_an_unset_clock_refuses_signed_commands():
    v = _fresh()
    param, why = v.check("teleperiod", _msg(UNIX), 1000, 0)
    assert param is None and "clock" in why
