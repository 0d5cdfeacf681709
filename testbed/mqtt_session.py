"""The broker side of a `lamppost-sim run`: a broker (given or embedded) and a collector.

With no --broker the run starts an embedded one (mosquitto if installed, else
amqtt) on a free loopback port, so the demo needs no system service. The
collector (host_tools/collector) subscribes before the firmware boots and, at
the end, shows what arrived over MQTT.
"""
from __future__ import annotations

import time
from collections import deque

from host_tools.collector.cli import ALARM_COLS, POST_COLS, post_rows, text_table
from host_tools.collector.listen import Listener
from host_tools.collector.store import Register
from lamppost_common.addr import parse_addr
from simulator.broker import Broker, kind_from_env


class MqttSession:
    def __init__(self, broker: str | None, db: str = ":memory:", echo: bool = False):
        self.embedded = None
        if broker is not None:
            parse_addr(broker)
        if broker is None:
            self.embedded = Broker(kind_from_env())
            broker = self.embedded.addr
        host, port = parse_addr(broker)  # ValueError before anything starts
        self.addr = broker
        self.reg = Register(db)
        self.lines: deque[str] = deque()  # alarms received, printed by drain() in the main thread
        if echo:
            handle = self.reg.handle

            def tee(topic, payload):
                got = handle(topic, payload)  # validated (host_tools/collector/validate.py)
                if got is None:
                    self.lines.append(f"  mqtt>   {str(topic)[:80]} (quarantined)")
                elif got[0] == "alarm":
                    d = got[2]
                    self.lines.append(f"  mqtt>   {topic} {d.get('alarm')} {d.get('state')} "
                                      f"(dseq {d['dseq']}, {d.get('t')})")
                return got
            self.reg.handle = tee
        self.listener = Listener(self.reg, host, port)
        if not self.listener.wait_ready(10):
            raise OSError(f"collector could not subscribe on {broker}")

    def drain(self, t: int = 0) -> None:
        while self.lines:
            print(self.lines.popleft(), flush=True)

    @property
    def label(self) -> str:
        return f"{self.embedded.kind} (embedded) on {self.addr}" if self.embedded else self.addr

    def settle(self, seconds: float = 0.5) -> None:
        """Give the last messages (and the will) time to reach the collector."""
        time.sleep(seconds)
        self.drain()

    def summary(self, net=None, iso=str) -> str:
        alarms = self.reg.events()
        lines = []
        if net is not None and net.log:
            lines += ["network:"] + [f"  {iso(t)}  {what}" for t, what in net.log] + [
                f"  the firmware opened {net.accepted} connection(s), {net.refused} refused", ""]
        lines += ["collector (received over MQTT):", text_table(post_rows(self.reg), POST_COLS)]
        if alarms:
            lines += ["", text_table(alarms, ALARM_COLS)]
        return "\n".join(lines)

    def close(self) -> None:
        self.listener.close()
        if self.embedded:
            self.embedded.close()
