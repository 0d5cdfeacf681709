"""Broker addresses as the command lines take them: one parser for the simulator, the
collector and the operations service."""
from __future__ import annotations

MQTT_PORT = 1883  # MQTT without TLS (IANA)


def parse_addr(text: str) -> tuple[str, int]:
    """(host, port) of 'host:port' or 'host' (port 1883); ValueError if malformed."""
    host, _, port = text.rpartition(":")
    if not host:
        return text, MQTT_PORT
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not host:port")
    return host, int(port)
