"""Subscribes a Register to a broker (paho-mqtt in its own thread).

The listener never dies silently: a message that fails validation goes to quarantine and the
loop goes on; a register that cannot be written (StoreError) or a network loop that ends by
itself sets `failed` with the cause, and `lamppost-collector listen` then exits non-zero, so a
supervisor restarts it. Messages are acknowledged (PUBACK) only once stored or quarantined, so
with a persistent session the broker keeps what a failed collector did not record.
"""
from __future__ import annotations

import logging
import os
import ssl
import threading
import uuid

import paho.mqtt.client as mqtt

from host_tools.collector.store import Register

TOPICS = ("tele/+/+", "stat/+/+")
log = logging.getLogger("lamppost.collector")


def unique_client_id() -> str:
    """A client id no other collector uses: a broker drops the older of two sessions with one id."""
    return f"lamppost-collector-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class Listener:
    """client_id None (the default) is unique per listener and its session is clean: what the
    broker carried while it was away is gone. A fixed id is the caller's explicit choice and
    gets a persistent session (clean_session=False, subscriptions at QoS 1), so the broker
    queues the alarms and events (QoS 1) that arrive while the collector is down and
    delivers them when it comes back with the same id.

    user/password: the collector's broker account; tls/ca: MQTT over TLS, the broker checked
    against ca (a PEM file) or, without one, the system's CAs."""

    def __init__(self, reg: Register, host: str, port: int, client_id: str | None = None,
                 user: str | None = None, password: str | None = None, tls: bool = False,
                 ca: str | None = None):
        self.reg = reg
        self.client_id = client_id or unique_client_id()
        self.persistent = client_id is not None
        self.ready = threading.Event()
        self.failed = threading.Event()
        self.answered = threading.Event()  # the broker answered a CONNECT (accepted or refused)
        self.error: str | None = None  # why the listener stopped, once failed is set
        self.refused: str | None = None  # the broker's reason when it refuses the connection
        self._closing = False
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             clean_session=not self.persistent, manual_ack=True)
        if user:
            self.c.username_pw_set(user, password)
        if tls or ca:
            self.c.tls_set(ca_certs=ca, cert_reqs=ssl.CERT_REQUIRED)
        self.c.on_connect = self._on_connect
        self.c.on_subscribe = self._on_subscribe
        self.c.on_disconnect = lambda *a: self.ready.clear()
        self.c.on_message = self._on_message
        self.c.reconnect_delay_set(1, 30)
        self.c.connect(host, port, keepalive=30)
        self._thread = threading.Thread(target=self._run, name="lamppost-collector-mqtt", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.c.loop_forever(retry_first_connection=True)
        except BaseException as e:  # noqa: BLE001 - whatever ends the loop is reported, never lost
            self._fail(f"MQTT loop stopped: {type(e).__name__}: {e}")
            return
        if not self._closing:
            self._fail(self.error or "MQTT loop ended")

    def _fail(self, why: str) -> None:
        if self.error is None:
            self.error = why
        log.error("listener stopped: %s", why)
        self.failed.set()
        self.ready.clear()

    def _on_connect(self, c, userdata, flags, rc, props=None):
        if rc.is_failure:
            self.refused = str(rc)
            self.answered.set()
            return
        self.refused = None
        # QoS 1: a persistent session queues these while we are away
        c.subscribe([(t, 1) for t in TOPICS])

    def _on_subscribe(self, c, userdata, mid, reason_codes, props=None):
        """Ready once the broker acknowledged the subscriptions (SUBACK): a message published
        after that is delivered; one published after CONNECT but before SUBACK may not be."""
        self.ready.set()
        self.answered.set()

    def _on_message(self, c, userdata, m) -> None:
        try:
            topic = m.topic
        except UnicodeDecodeError:
            topic = m._topic.decode("utf-8", "backslashreplace")  # quarantined by validate
        try:
            self.reg.handle(topic, m.payload)
        except Exception as e:  # StoreError or a bug: stop, do not acknowledge, exit non-zero
            self._fail(f"{type(e).__name__}: {e}")
            c.disconnect()
            return
        c.ack(m.mid, m.qos)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self.failed.is_set()

    def wait_ready(self, timeout: float = 30.0) -> bool:
        return self.ready.wait(timeout)

    def publish(self, topic: str, payload: str) -> None:
        self.c.publish(topic, payload, qos=1)

    def close(self) -> None:
        self._closing = True
        self.c.disconnect()
        self._thread.join(10)
