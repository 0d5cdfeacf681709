"""Config keys of the network (lamppost/net.py), merged into config.SCHEMA by config.load
only when the post's config holds any of them, so posts without a network carry none of it;
the console's Config imports it for one command to read or set them (config.spec).
Same format as config.SCHEMA: key: (kind, lo, hi, default, secret).
"""
SCHEMA = {
    # MQTT is off while mqtt_host is empty
    "wifi_ssid": ("s", 0, 32, "", False),
    "wifi_pass": ("s", 0, 64, "", True),
    "mqtt_host": ("s", 0, 64, "", False),
    "mqtt_port": ("i", 1, 65535, 1883, False),
    "mqtt_tls": ("b", 0, 0, False, False),
    "mqtt_ca": ("s", 1, 64, "ca.der", False),  # pinned CA on flash, DER (mbedtls)
    "mqtt_user": ("s", 0, 64, "", False),
    "mqtt_pass": ("s", 0, 64, "", True),
    "mqtt_keepalive": ("i", 10, 1200, 60, False),
    "cmd_key": ("s", 0, 64, "", True),  # HMAC key for state-changing remote commands
    "outbox_max": ("i", 8, 1000, 200, False),
    # over-the-air updates (lamppost/ota.py): the operator's Ed25519 PUBLIC key, 64 hex digits;
    # no key: every offer is refused. Public: a post holds nothing that could sign a bundle
    "ota_key": ("s", 0, 64, "", False),
    # Home Assistant (lamppost/hadisc.py, docs/tasmota-ha.md)
    "site": ("s", 0, 32, "", False),  # municipality/site: namespaces HA unique_ids and device
    "ha_discovery": ("b", 0, 0, True, False),  # announce entities under homeassistant/ at boot
    "ha_control": ("b", 0, 0, False, False),  # unsigned Power/Dimmer from the broker (trust its ACL)
    "ha_url": ("s", 0, 96, "", False),  # configuration_url of the HA device (e.g. the register)
}
