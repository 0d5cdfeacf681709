"""Signs remote commands the way the firmware checks them (firmware/lamppost/hmacauth.py)."""
from __future__ import annotations

import hashlib
import hmac
import json


def mac_hex(key: str, dev_id: str, cmd: str, param: str, ctr: int) -> str:
    msg = f"{dev_id}|{cmd.lower()}|{param}|{ctr}".encode()
    return hmac.new(key.encode(), msg, hashlib.sha256).hexdigest()


def sign(key: str, dev_id: str, cmd: str, param: str, ctr: int) -> str:
    """The MQTT payload for cmnd/<dev_id>/<cmd>: param with counter and MAC."""
    return json.dumps({"param": param, "ctr": ctr, "mac": mac_hex(key, dev_id, cmd, param, ctr)})
