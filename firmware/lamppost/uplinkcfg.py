"""Config keys of the network (lamppost/uplink.py), merged into config.SCHEMA by config.load
only when the post's config holds any of them, so posts without a network carry none of it;
the console's Config imports it for one command to read or set them (config.spec).
Same format as config.SCHEMA: key: (kind, lo, hi, default, secret).
"""
SCHEMA = {
    # network: WiFi and the MQTT broker (lamppost/uplink.py); MQTT is off while mqtt_host is empty
    "wifi_ssid": ("s", 0, 32, "", False),  # WiFi network name
    "wifi_pass": ("s", 0, 64, "", True),  # WiFi password (WPA2: 8-63 characters)
    "mqtt_host": ("s", 0, 64, "", False),  # MQTT broker host name or address (empty: no MQTT)
    "mqtt_port": ("i", 1, 65535, 1883, False),  # broker port (1883; 8883 for TLS)
    "mqtt_tls": ("b", 0, 0, False, False),  # MQTT over TLS, the broker checked against mqtt_ca
    "mqtt_ca": ("s", 1, 64, "ca.der", False),  # pinned CA on flash, DER (mbedtls)
    "mqtt_user": ("s", 0, 64, "", False),  # broker user (provision: the post id)
    "mqtt_pass": ("s", 0, 64, "", True),  # broker password
    "mqtt_keepalive": ("i", 10, 1200, 60, False),  # seconds; the broker says Offline after 1.5x
    "cmd_key": ("s", 0, 64, "", True),  # HMAC key for state-changing remote commands
    "outbox_max": ("i", 8, 1000, 200, False),  # reports kept on flash while the broker is away
    # over-the-air updates (lamppost/ota.py); public: a post holds nothing that could sign a bundle
    "ota_key": ("s", 0, 64, "", False),  # the operator's Ed25519 public key, 64 hex digits; empty: every update offer is refused
    # Home Assistant (lamppost/hadisc.py, docs/tasmota-ha.md)
    "site": ("s", 0, 32, "", False),  # municipality/site: namespaces HA unique_ids and device
    "ha_discovery": ("b", 0, 0, True, False),  # announce entities under homeassistant/ at boot
    "ha_control": ("b", 0, 0, False, False),  # unsigned Power/Dimmer from the broker (trust its ACL)
    "ha_url": ("s", 0, 96, "", False),  # configuration_url of the HA device (e.g. the register)
}
