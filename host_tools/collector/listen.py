"""Subscribes a Register to a broker (paho-mqtt in its own thread)."""
from __future__ import annotations

import threading

import paho.mqtt.client as mqtt

from host_tools.collector.store import Register

TOPICS = ("tele/+/+", "stat/+/+")


class Listener:
    def __init__(self, reg: Register, host: str, port: int, client_id: str = "lamppost-collector",
                 user: str | None = None, password: str | None = None):
        self.reg = reg
        self.ready = threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        if user:
            self.c.username_pw_set(user, password)
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = lambda *a: self.ready.clear()
        self.c.on_message = lambda c, u, m: self.reg.handle(m.topic, m.payload)
        self.c.reconnect_delay_set(1, 30)
        self.c.connect(host, port, keepalive=30)
        self.c.loop_start()

    def _on_connect(self, c, userdata, flags, rc, props=None):
        for t in TOPICS:
            c.subscribe(t, 1)
        self.ready.set()

    def wait_ready(self, timeout: float = 5.0) -> bool:
        return self.ready.wait(timeout)

    def publish(self, topic: str, payload: str) -> None:
        self.c.publish(topic, payload, qos=1)

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()
