"""Properties of firmware parsers and policies, run on the real MicroPython (issue 18 item 7):
the clock's ISO parser, config.load/config.check on any JSON, signed command payloads, the
host's and the firmware's MAC of the same command, and the safe-mode fallback schedule over
latitudes and dates against an independent sun (astral)."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from astral import Observer
from astral.sun import elevation
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from host_tools.collector.sign import mac_hex as host_mac, sign
from host_tools.lampctl.provision import firmware_config

EPOCH2000 = 946684800
UTC = dt.timezone.utc
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# carried as JSON to MicroPython, whose json decodes a \\uD800\\uDC00 pair as two code points:
# the Basic Multilingual Plane only, no lone surrogates
text_ = st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"]), max_size=24)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | text_,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text_, inner, max_size=4),
    max_leaves=12)


def _mp_error(e: RuntimeError) -> str:
    return str(e).split(":", 1)[0]


# --- clock.parse_iso ------------------------------------------------------------------
@SETTINGS
@given(st.integers(0, 100 * 365 * 86400))
def test_iso_text_round_trips_through_the_parser(mp, t):
    assert mp.call("lamppost.clock", "parse_iso", mp.call("lamppost.clock", "iso", t)) == t


iso_like = st.builds(
    lambda parts, seps: "".join(p + s for p, s in zip(parts, seps)),
    st.tuples(*[st.text("0123456789 +-_x", min_size=n, max_size=n) for n in (4, 2, 2, 2, 2, 2)]),
    st.tuples(*[st.sampled_from(s) for s in (["-", "/"], ["-"], ["T", " "], [":"], [":", "."], ["Z", "z"])]))


@SETTINGS
@given(st.one_of(iso_like, text_))
@example("2026-02-29T00:00:00Z")  # no 29 February in 2026
@example("2026-04-31T12:00:00Z")
@example("2026-+1-15T00:00:00Z")  # int() takes '+1'
@example("2026-01-1_T00:00:00Z")
@example("2026-01-15T00:00: 1Z")
def test_parse_iso_accepts_exactly_the_iso_form(mp, text):
    """Either a ValueError, or a time whose ISO text is the input: nothing in between."""
    try:
        t = mp.call("lamppost.clock", "parse_iso", text)
    except RuntimeError as e:
        assert _mp_error(e) == "ValueError", e
        return
    assert mp.call("lamppost.clock", "iso", t) == text


# --- config.load / config.check -----------------------------------------------------------
KEYS = sorted(firmware_config().SCHEMA)


@SETTINGS
@given(st.one_of(st.dictionaries(st.sampled_from(KEYS) | text_, json_values, max_size=8),
                 json_values))
def test_config_load_of_any_json_gives_valid_or_default_values(mp, doc):
    keys, problems, bad = mp.call("props", "config_load", json.dumps(doc))
    assert set(KEYS) <= set(keys)
    assert bad == [], bad
    if not isinstance(doc, dict):
        assert problems  # a list, a number or a string is reported, not taken for a config


@SETTINGS
@given(st.one_of(text_.map(lambda t: t + "{"), st.binary(max_size=40).map(lambda b: b.decode("latin-1"))))
def test_config_load_of_broken_text_falls_back_and_says_so(mp, text):
    keys, problems, bad = mp.call("props", "config_load", text)
    assert set(KEYS) <= set(keys) and bad == []


@SETTINGS
@given(st.sampled_from(KEYS), json_values)
def test_config_check_returns_or_raises_value_error_only(mp, key, value):
    kind, v = mp.call("props", "config_check", key, value)
    if kind == "ok":
        assert mp.call("props", "config_check", key, v) == ["ok", v]  # a checked value stays valid


# --- signed commands ------------------------------------------------------------------------
cmds = st.sampled_from(["teleperiod", "TelePeriod", "RELAY", "config", "Dim"]) | text_


@SETTINGS
@given(key=text_.filter(bool), dev=text_, cmd=cmds, param=text_, ctr=st.integers(-2**40, 2**62))
def test_host_and_firmware_sign_the_same_command_the_same_way(mp, key, dev, cmd, param, ctr):
    """The host lowercases the command name and so does the firmware (ASCII letters, as
    MicroPython's str.lower): `lamppost-collector send TelePeriod` verifies on the post."""
    assert host_mac(key, dev, cmd, param, ctr) == mp.call(
        "lamppost.signedcmd", "mac_hex", key, dev, cmd, param, ctr)


SKEW_S = 300  # a counter is Unix seconds within this of the post's clock (docs/persistence.md)
VALID_T = 788918400  # 2024-12-31T00:00Z in seconds since 2000: a clock below it was never set
post_now = st.integers(VALID_T, VALID_T + 80 * 365 * 86400)  # the post's clock, seconds since 2000


@SETTINGS
@given(key=text_.filter(bool), cmd=cmds, param=text_, now=post_now, up=st.integers(0, 10**7),
       off=st.integers(-2 * SKEW_S, 2 * SKEW_S),
       last_off=st.none() | st.integers(-3 * SKEW_S, 2 * SKEW_S))
def test_a_host_signed_command_verifies_once_and_only_above_the_counter(
        mp, key, cmd, param, now, up, off, last_off):
    """A counter (the sender's Unix time) is accepted only within SKEW_S of the post's clock and
    above the last accepted one; a lost counter (None) or one beyond the window stands for the
    boot time, so nothing signed before this boot verifies. Accepted once: the same payload again
    is a replay."""
    unix, boot = now + EPOCH2000, now - up
    ctr = unix + off
    last = None if last_off is None else unix + last_off
    payload = sign(key, "NL-1", cmd, param, ctr)
    got, why, after = mp.call("props", "verify", key, "NL-1", last, cmd, payload, now, boot)
    floor = boot + EPOCH2000 if last is None or last > unix + SKEW_S else last
    if abs(off) > SKEW_S:
        assert got is None and "within 300 s" in why and after == last
    elif ctr > floor:
        assert (got, why, after) == (param, None, ctr)
        again = mp.call("props", "verify", key, "NL-1", ctr, cmd, payload, now, boot)
        assert again[0] is None and "replay" in again[1] and again[2] == ctr
    else:
        assert got is None and "replay" in why and after == last


@SETTINGS
@given(payload=st.one_of(text_, json_values.map(json.dumps),
                         st.fixed_dictionaries({"param": json_values, "ctr": json_values,
                                                "mac": json_values}).map(json.dumps)))
def test_any_payload_is_verified_or_refused_with_a_reason(mp, payload):
    now = VALID_T + 40 * 365 * 86400
    got, why, after = mp.call("props", "verify", "k3y", "NL-1", now + EPOCH2000 - 5, "relay", payload,
                              now, now - 3600)
    assert got is None and isinstance(why, str) and why and after == now + EPOCH2000 - 5


# --- the safe-mode fallback schedule ------------------------------------------------------
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(t=st.integers(int(dt.datetime(2025, 1, 2, tzinfo=UTC).timestamp()),
                     int(dt.datetime(2045, 12, 31, tzinfo=UTC).timestamp())),
       lat=st.floats(-89, 89), lon=st.floats(-180, 180))
def test_safe_schedule_lights_whenever_the_sun_is_down(mp, t, lat, lon):
    """Against astral: the lamp burns whenever the sun is below the horizon, and is off
    only in full daylight (above 5°: more than the 15 min margin after sunrise, since the
    sun climbs at most 15° an hour). Between, either is right."""
    e = elevation(Observer(latitude=lat, longitude=lon), dt.datetime.fromtimestamp(t, UTC),
                  with_refraction=False)
    on = mp.call("props", "safe_lamp_on", t - EPOCH2000, lat, lon)
    if e < -1.5:
        assert on, e
    elif e > 5.0:
        assert not on, e


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(t=st.integers(0, VALID_T - 1),  # below the first time the firmware trusts (safe.py _VALID_T)
       lat=st.floats(-89, 89), lon=st.floats(-180, 180))
def test_safe_schedule_burns_when_the_clock_was_never_set(mp, t, lat, lon):
    assert mp.call("props", "safe_lamp_on", t, lat, lon) is True
