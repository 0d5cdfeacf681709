"""Signs remote commands the way the firmware checks them (firmware/lamppost/signedcmd.py)."""
from __future__ import annotations

import hashlib
import hmac
import json


def ascii_lower(text: str) -> str:
    """Lower case of ASCII letters only, as MicroPython's str.lower (the firmware's MAC)."""
    return "".join(c.lower() if c < "\x80" else c for c in text)


def mac_hex(key: str, dev_id: str, cmd: str, param: str, ctr: int) -> str:
    """The MAC the firmware checks (lamppost/signedcmd.py): the command name in lower case."""
    msg = f"{dev_id}|{ascii_lower(cmd)}|{param}|{ctr}".encode()
    return hmac.new(key.encode(), msg, hashlib.sha256).hexdigest()


def sign(key: str, dev_id: str, cmd: str, param: str, ctr: int) -> str:
    """The MQTT payload for cmnd/<dev_id>/<cmd>: param with counter and MAC."""
    return json.dumps({"param": param, "ctr": ctr, "mac": mac_hex(key, dev_id, cmd, param, ctr)})
