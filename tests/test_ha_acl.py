"""The broker ACL of `lampctl provision` and Home Assistant (issue 17): a post announces and
removes only its own discovery entities; Home Assistant's account reads discovery and
telemetry and may send a post only the light's commands (Power, Dimmer)."""
from __future__ import annotations

import shutil
import time

import pytest

from host_tools.lampctl import broker_acl
from test_broker_acl import Client, _provision, _until
from simulator.broker import Broker

pytestmark = pytest.mark.skipif(not shutil.which("mosquitto"),
                                reason="the ACL is mosquitto's (apt-get install mosquitto)")


def test_discovery_topics_are_each_posts_own_and_ha_sends_only_light_commands(tmp_path):
    out = tmp_path / "posts"
    cfgs = _provision(out, "NL-A1", "NL-B1")
    d = out / broker_acl.DIR
    ha_pw = (d / "homeassistant.password").read_text().strip()
    with Broker("mosquitto", password_file=d / "password_file", acl_file=d / "acl_file") as b:
        ha = Client(b, broker_acl.HA_USER, ha_pw, "ha")
        a = Client(b, "NL-A1", cfgs["NL-A1"]["mqtt_pass"], "post-a")
        try:
            assert ha.up.is_set() and a.up.is_set()
            ha.sub("homeassistant/#")
            a.sub("cmnd/NL-A1/+")
            a.pub("homeassistant/sensor/NL-B1/power/config", '{"spoofed": 1}')
            a.pub("homeassistant/sensor/NL-A1/power/config", '{"own": 1}')
            a.pub("homeassistant/sensor/NL-A1/power/config", "")  # Decommission's removal
            ha.pub("cmnd/NL-A1/Config", "ha_control true")
            ha.pub("cmnd/NL-A1/Power", "ON")
            ha.pub("cmnd/NL-A1/Dimmer", "40")
            assert _until(lambda: len(ha.got) >= 2 and len(a.got) >= 2)
            time.sleep(0.2)  # anything else in flight arrives in this time (loopback, one broker)
            assert ha.got == [("homeassistant/sensor/NL-A1/power/config", b'{"own": 1}'),
                              ("homeassistant/sensor/NL-A1/power/config", b"")]
            assert a.got == [("cmnd/NL-A1/Power", b"ON"), ("cmnd/NL-A1/Dimmer", b"40")]
        finally:
            ha.close()
            a.close()
