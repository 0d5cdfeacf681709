"""Commands from the console to a post, signed as `lamppost-collector send` signs them.

The payload is host_tools/collector/sign.py's: `{"param", "ctr", "mac"}` with the post's
cmd_key, published on `cmnd/<id>/<Command>` (QoS 1). Keys come from `[console] cmd_key_dir`
(one file `<post id>.key` per post, first line the key, as lampctl provisions them); the
counter is the service's Unix time, raised above the last one sent to that post, so the
firmware's replay check never refuses a fresh command. Every attempt, sent or refused, is a
row in `commands` (who, which post, what, when, the outcome): the command audit trail.
"""
from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import func, insert, select

from host_tools.collector.sign import sign
from host_tools.ops import schema as S

from .accounts import User

COMMANDS = {"Relay": ("on", "off", "auto"), "Dim": None, "SelfTest": ("",)}


class CommandError(ValueError):
    """A command the console refuses before anything is sent."""


def check(command: str, param: str) -> str:
    """The parameter in the form the firmware reads, or CommandError."""
    if command not in COMMANDS:
        raise CommandError(f"command must be one of {', '.join(COMMANDS)}")
    param = (param or "").strip().lower()
    if command == "Dim":
        if param != "auto" and not (param.isdigit() and 0 <= int(param) <= 100):
            raise CommandError("Dim takes 0-100 (%) or auto")
    elif param not in COMMANDS[command]:
        raise CommandError(f"{command} takes {' | '.join(p or '(nothing)' for p in COMMANDS[command])}")
    return param


class Sender:
    """Signs and publishes; `publish(topic, payload) -> None` raises OSError when the broker
    does not take it. Without a publisher (no broker) every command is refused and audited."""

    def __init__(self, db, key_dir: str | None, publish=None, clock=time.time):
        self.db, self.key_dir, self.publish, self.clock = db, key_dir, publish, clock

    def key(self, pid: str) -> str | None:
        if not self.key_dir:
            return None
        try:
            line = (Path(self.key_dir) / f"{pid}.key").read_text().splitlines()[0].strip()
        except (OSError, IndexError, UnicodeDecodeError):
            return None
        return line or None

    def send(self, user: User, pid: str, command: str, param: str) -> dict:
        param = check(command, param)
        C = S.commands
        with self.db.begin() as c:
            last = c.execute(select(func.max(C.c.ctr)).where(C.c.post_id == pid)).scalar() or 0
            ctr = max(int(time.time()), last + 1)
            key = self.key(pid)
            if key is None:
                result = "refused: no command key for this post (cmd_key_dir)"
            elif self.publish is None:
                result = "refused: the console has no broker connection"
            else:
                try:
                    self.publish(f"cmnd/{pid}/{command}", sign(key, pid, command, param, ctr))
                    result = "published"
                except OSError as e:
                    result = f"failed: {e}"
            c.execute(insert(C).values(at=self.clock(), username=user.username,
                                       municipality=user.municipality, post_id=pid, command=command,
                                       param=param, ctr=ctr, result=result))
        return {"post_id": pid, "command": command, "param": param, "ctr": ctr, "result": result,
                "ok": result == "published"}


def paho_publisher(client, timeout_s: float = 10.0):
    """publish() over a connected paho client: QoS 1, waits for the broker's PUBACK."""
    def publish(topic: str, payload: str) -> None:
        info = client.publish(topic, payload, qos=1)
        try:
            info.wait_for_publish(timeout_s)
        except (RuntimeError, ValueError) as e:
            raise OSError(str(e)) from None
        if not info.is_published():
            raise OSError(f"broker did not acknowledge within {timeout_s:g} s")
    return publish
