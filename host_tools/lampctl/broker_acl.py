"""Broker accounts for provisioned posts: a mosquitto `password_file` and `acl_file`.

Every post logs in as its own id with a random password (kept in its config.json, which
deploy copies to the board); the ACL's pattern lines let a user publish only under
`tele/<user>/` and `stat/<user>/` and read only `cmnd/<user>/`, so a post cannot speak for
another or read its commands. The collector has its own account (COLLECTOR_USER, a name no
post id can take): it reads `tele/` and `stat/` and writes `cmnd/`. The files go to
`<out>/_broker/` (`_` cannot start a post id): password_file (mosquitto_passwd's format,
PBKDF2-SHA512 as mosquitto 2 hashes), acl_file, collector.password and a mosquitto.conf
snippet. The set-up is in docs/collector.md. Home Assistant gets an account too (HA_USER,
homeassistant.password): it reads discovery and telemetry and may send Power/Dimmer only.
"""
from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path

COLLECTOR_USER = "lamppost.collector"  # '.' is not allowed in a post id: no post can be it
HA_USER = "lamppost.homeassistant"  # Home Assistant's account (docs/tasmota-ha.md)
DIR = "_broker"
ITERATIONS = 101  # mosquitto_passwd's default; passwords are random 144-bit tokens
SALT_BYTES = 12  # as mosquitto_passwd

ACL = f"""# Written by `lampctl provision`; regenerated on every run, do not edit by hand.
# The collector: reads what every post reports, sends commands to any post.
user {COLLECTOR_USER}
topic read tele/+/+
topic read stat/+/+
topic write cmnd/#

# Every post logs in with its id as user name (%u): it publishes only under its own id
# and reads only its own commands.
pattern write tele/%u/+
pattern write stat/%u/+
pattern read cmnd/%u/+
# Home Assistant discovery: a post announces (and on Decommission removes) only its own
# entities, homeassistant/<component>/<id>/<object>/config.
pattern write homeassistant/+/%u/+/config

# Home Assistant: reads discovery and telemetry; may send only the light's commands
# (Power, Dimmer), which a post obeys unsigned only when its config says ha_control.
user {HA_USER}
topic read homeassistant/#
topic readwrite homeassistant/status
topic read tele/+/+
topic read stat/+/RESULT
topic write cmnd/+/Power
topic write cmnd/+/Power1
topic write cmnd/+/Dimmer
"""


def new_password() -> str:
    """A random broker password (24 URL-safe characters, 144 bits)."""
    return secrets.token_urlsafe(18)


def hash_password(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """mosquitto_passwd's sha512-pbkdf2 entry: $7$<iterations>$<salt b64>$<hash b64>."""
    salt = salt if salt is not None else os.urandom(SALT_BYTES)
    dig = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(dig).decode()}"


def check_password(password: str, entry: str) -> bool:
    """True when entry (the part after 'user:') is password's hash."""
    try:
        _, alg, it, salt, dig = entry.split("$")
        if alg != "7":
            return False
        return secrets.compare_digest(hash_password(password, base64.b64decode(salt), int(it)), entry)
    except (ValueError, TypeError):
        return False


def _write_private(path: Path, text: str) -> None:
    """Atomically, readable by the owner only (they hold credentials)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def read_password_file(path: Path) -> dict[str, str]:
    """user -> hash entry of a password_file (missing file: empty)."""
    out: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            user, sep, entry = line.partition(":")
            if sep and user and not line.startswith("#"):
                out[user] = entry
    return out


def collector_password(out: Path, name: str = "collector") -> str:
    """The collector's (or Home Assistant's, name "homeassistant") account password, made on
    first use and kept in <name>.password."""
    f = out / DIR / f"{name}.password"
    if f.exists():
        pw = f.read_text().strip()
        if pw:
            return pw
    pw = new_password()
    (out / DIR).mkdir(parents=True, exist_ok=True)
    _write_private(f, pw + "\n")
    return pw


def write(out: Path, accounts: dict[str, str]) -> Path:
    """Add or update accounts (user -> password) and the collector's in out/_broker/, keep
    every other user already there; (re)write the ACL and the conf snippet. Returns the dir."""
    d = out / DIR
    d.mkdir(parents=True, exist_ok=True)
    pwfile = d / "password_file"
    users = read_password_file(pwfile)
    accounts = {COLLECTOR_USER: collector_password(out),
                HA_USER: collector_password(out, "homeassistant"), **accounts}
    for user, pw in accounts.items():
        if not check_password(pw, users.get(user, "")):
            users[user] = hash_password(pw)
    _write_private(pwfile, "".join(f"{u}:{h}\n" for u, h in sorted(users.items())))
    (d / "acl_file").write_text(ACL)
    (d / "mosquitto.conf").write_text(
        "# lamppost posts and collector: per-client accounts, no anonymous access.\n"
        "# Copy password_file and acl_file where mosquitto can read them and fix the paths.\n"
        "per_listener_settings false\nallow_anonymous false\n"
        f"password_file {pwfile.resolve()}\nacl_file {(d / 'acl_file').resolve()}\n")
    return d
