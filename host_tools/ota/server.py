"""The chunk server: offers signed bundles to posts over MQTT and answers their chunk requests.

Posts ask for one chunk at a time on stat/<id>/OTA and get it on cmnd/<id>/OtaData at QoS 1
(file index as i16, offset as u32, big-endian, then the bytes), so a post that lost its
session or its power simply asks again where it stopped. Every post's state follows its
`ev: ota` reports on stat/<id>/EVENT (downloading, trial, confirmed, rolledBack, refused,
failed); the server itself sets offered. Used by `lampctl ota push` (one post) and
`lamppost-ops ota rollout` (waves); the protocol is in docs/ota.md.
"""
from __future__ import annotations

import json
import struct
import threading
import time
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt

from host_tools.ota.bundle import Bundle

CHUNK_MAX = 1024  # the post asks for at most this; a larger request is capped
TERMINAL = ("confirmed", "rolledBack", "refused", "failed")
STATES = ("offered", "downloading", "trial", *TERMINAL)


@dataclass
class PostState:
    post: str
    version: str
    state: str = "offered"
    why: str | None = None
    bytes_sent: int = 0
    chunks: int = 0
    since: float = field(default_factory=time.monotonic)
    history: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"post": self.post, "version": self.version, "state": self.state, "why": self.why,
                "bytes_sent": self.bytes_sent, "chunks": self.chunks, "history": self.history}


class OtaServer:
    """One MQTT session serving any number of posts; thread-safe; close() when done."""

    def __init__(self, host: str, port: int, user: str | None = None, password: str | None = None,
                 client_id: str | None = None):
        self.bundles: dict[str, Bundle] = {}  # post -> bundle offered
        self.posts: dict[str, PostState] = {}
        self.lock = threading.Condition()
        self.wire_bytes = 0  # payload bytes of every chunk sent
        self.ready = threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                             client_id=client_id or f"lamppost-ota-{id(self):x}")
        if user:
            self.c.username_pw_set(user, password)
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.connect(host, port, keepalive=30)
        self.c.loop_start()
        if not self.ready.wait(30):
            self.close()
            raise ConnectionError(f"no MQTT session with {host}:{port}")

    def _on_connect(self, c, userdata, flags, rc, props=None):
        c.subscribe([("stat/+/OTA", 0), ("stat/+/EVENT", 1), ("tele/+/LWT", 1)])
        self.ready.set()

    def offer(self, post: str, bundle: Bundle) -> None:
        with self.lock:
            self.bundles[post] = bundle
            self.posts[post] = PostState(post, bundle.version, history=["offered"])
            self.lock.notify_all()
        self.c.publish(f"cmnd/{post}/OtaOffer", json.dumps(bundle.offer()), qos=1)

    def _on_message(self, c, userdata, m) -> None:
        parts = m.topic.split("/")
        if len(parts) != 3:
            return
        post = parts[1]
        if parts[2] == "LWT":  # a post (back) online: an offer it may have missed goes again
            with self.lock:
                b = self.bundles.get(post)
                again = b is not None and m.payload == b"Online" and self.posts[post].state in (
                    "offered", "downloading")
            if again:
                c.publish(f"cmnd/{post}/OtaOffer", json.dumps(b.offer()), qos=1)
            return
        try:
            d = json.loads(m.payload)
        except ValueError:
            return
        if not isinstance(d, dict):
            return
        if parts[2] == "OTA":
            self._serve(post, d)
        elif parts[2] == "EVENT" and d.get("ev") == "ota":
            self._event(post, d)

    def _serve(self, post: str, d: dict) -> None:
        b = self.bundles.get(post)
        try:
            f, o, n = int(d["f"]), int(d["o"]), min(int(d["n"]), CHUNK_MAX)
        except (KeyError, TypeError, ValueError):
            return
        if b is None or d.get("v") != b.version or not -1 <= f < len(b.files) or o < 0 or n <= 0:
            return  # not offered by us, or an old offer: the post times out and goes on
        data = b.data(f)[o:o + n]
        if not data:
            return
        self.c.publish(f"cmnd/{post}/OtaData", struct.pack(">hI", f, o) + data, qos=1)
        with self.lock:
            st = self.posts[post]
            st.bytes_sent += len(data)
            st.chunks += 1
            self.wire_bytes += len(data) + 6
            if st.state == "offered":
                st.state = "downloading"

    def _event(self, post: str, d: dict) -> None:
        state = d.get("state")
        if state not in STATES:
            return
        with self.lock:
            st = self.posts.get(post)
            if st is None:  # a post we never offered to (a rollback report after a restart)
                st = self.posts[post] = PostState(post, str(d.get("v")))
            elif d.get("v") is not None and d.get("v") != st.version:
                return  # about an earlier offer (a late or repeated report)
            st.state = state
            st.why = d.get("why")
            st.history.append(state)
            self.lock.notify_all()

    def state(self, post: str) -> PostState | None:
        with self.lock:
            return self.posts.get(post)

    def wait(self, post: str, states: tuple[str, ...], timeout: float) -> PostState | None:
        """Block until post reaches one of states (or timeout s pass); its state then."""
        end = time.monotonic() + timeout
        with self.lock:
            while True:
                st = self.posts.get(post)
                if st is not None and st.state in states:
                    return st
                left = end - time.monotonic()
                if left <= 0:
                    return st
                self.lock.wait(min(left, 0.5))

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()
