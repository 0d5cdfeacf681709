"""Subscribes a Register to a broker (paho-mqtt in its own thread)."""
from __future__ import annotations

import os
import threading
import uuid

import paho.mqtt.client as mqtt

from host_tools.collector.store import Register

TOPICS = ("tele/+/+", "stat/+/+")


def unique_client_id() -> str:
    """A client id no other collector uses: a broker drops the older of two sessions with one id."""
    return f"lamppost-collector-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class Listener:
    """client_id None (the default) is unique per listener and its session is clean: what the
    broker carried while it was away is gone. A fixed id is the caller's explicit choice and
    gets a persistent session (clean_session=False, subscriptions at QoS 1), so the broker
    queues the alarms and events (QoS 1) that arrive while the collector is down and
    delivers them when it comes back with the same id."""

    def __init__(self, reg: Register, host: str, port: int, client_id: str | None = None,
                 user: str | None = None, password: str | None = None):
        self.reg = reg
        self.client_id = client_id or unique_client_id()
        self.persistent = client_id is not None
        self.ready = threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             clean_session=not self.persistent)
        if user:
            self.c.username_pw_set(user, password)
        self.c.on_connect = self._on_connect
        self.c.on_subscribe = self._on_subscribe
        self.c.on_disconnect = lambda *a: self.ready.clear()
        self.c.on_message = lambda c, u, m: self.reg.handle(m.topic, m.payload)
        self.c.reconnect_delay_set(1, 30)
        self.c.connect(host, port, keepalive=30)
        self.c.loop_start()

    def _on_connect(self, c, userdata, flags, rc, props=None):
        # QoS 1: a persistent session queues these while we are away
        c.subscribe([(t, 1) for t in TOPICS])

    def _on_subscribe(self, c, userdata, mid, reason_codes, props=None):
        """Ready once the broker acknowledged the subscriptions (SUBACK): a message published
        after that is delivered; one published after CONNECT but before SUBACK may not be."""
        self.ready.set()

    def wait_ready(self, timeout: float = 30.0) -> bool:
        return self.ready.wait(timeout)

    def publish(self, topic: str, payload: str) -> None:
        self.c.publish(topic, payload, qos=1)

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()
