"""Per-post configuration for a board: validated with the firmware's own schema, one config per post.

`lampctl provision --id NL-0001 --wifi SSID --secrets secrets.toml --broker HOST[:PORT] [--lat --lon --lamp ...]`
writes build/posts/NL-0001/config.json (secrets included, file mode 0600); there is no
bundle per post: `lampctl deploy --post NL-0001` copies the one shared bundle and this
config to the board. `--from posts.csv|posts.toml`
provisions many posts at once: every row is checked first and nothing is
written unless all are valid. The schema is the firmware's own (lamppost/config.py plus
the network keys of lamppost/uplinkcfg.py), imported here under CPython through
lamppost_common/firmware.py, so host and board can never disagree. `--tls --ca FILE.der` turns on MQTT over TLS with that CA
pinned: the file is copied next to config.json and deploy puts it on the board.
Broker accounts: each post gets its id as MQTT user and a random password (kept on a
re-provision), and <out>/_broker/ gets the mosquitto password_file and acl_file that let a
post publish only under its own id (host_tools/lampctl/broker_acl.py, docs/collector.md);
`--no-broker-auth` leaves them out, `--mqtt-user/--mqtt-pass` set an account by hand.
"""
from __future__ import annotations

import csv
import json
import os
import re
import sys
import tomllib
import types
from pathlib import Path

from lamppost_common import assets
from lamppost_common import firmware as fw
from lamppost_common.ids import ID_RE, check_post_id  # noqa: F401 (ID_RE: re-exported)

POSTS = fw.build_dir() / "posts"

TLS_PORT = 8883  # MQTT over TLS
# command-line / CSV / TOML field -> config key (the asset columns' names: lamppost_common/assets.py)
ALIASES = assets.ALIASES


class ProvisionError(ValueError):
    """A post that cannot be provisioned; the message names the post and field."""


def firmware_config() -> types.ModuleType:
    """firmware/lamppost/config.py under CPython (lamppost_common/firmware.py)."""
    return fw.config_module()


def schema() -> dict:
    """Every key a post's config may hold (lamppost_common/firmware.py schema())."""
    return fw.schema()


def check_ca(path: Path) -> str:
    """The name the CA certificate gets on the board; ProvisionError unless it is a readable DER file."""
    try:
        head = path.read_bytes()[:16]
    except OSError as e:
        raise ProvisionError(f"ca: cannot read {path}: {e.strerror or e}") from None
    if head.startswith(b"-----BEGIN"):
        raise ProvisionError(f"ca: {path} is PEM; the board needs DER: "
                             f"openssl x509 -in {path} -outform der -out {path.stem}.der")
    if not head or head[0] != 0x30:
        raise ProvisionError(f"ca: {path} is not a DER certificate")
    return path.name


def _coerce(key: str, text, sch: dict):
    """Text from a command line or CSV cell -> the schema's type (numbers, booleans)."""
    if not isinstance(text, str):
        return text
    kind = sch[key][0]
    try:
        if kind == "i":
            return int(text)
        if kind == "f":
            return float(text)
    except ValueError:
        return text  # check() then says "must be a number"
    if isinstance(kind, tuple):  # choices are lower case; the console takes HPS as hps too
        return text.lower()
    if kind == "b":
        return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(text.lower(), text)
    return text


def register_fields(fields: dict) -> dict:
    """The asset columns of a post (street, light_point, cabinet, municipality, ...): not the
    board's business, kept in the posts file for `lamppost-ops register import`."""
    return {assets.column(k): v for k, v in fields.items()
            if assets.register_only(k) and v not in (None, "")}


def post_config(fields: dict) -> dict:
    """The validated config of one post from its fields; ProvisionError listing every problem.
    Asset columns (register_fields) are skipped: they are for the operations register."""
    sch = schema()
    f = {assets.column(k): v for k, v in fields.items()
         if v not in (None, "") and not assets.register_only(k)}
    pid = str(f.get("id", ""))
    who = f"post {pid!r}" if pid else "post (no id)"
    errors = []
    try:
        check_post_id(pid)
    except ValueError as e:
        errors.append(f"id: {e}")
    wifi = f.pop("wifi", None)
    if wifi is not None:
        ssid, sep, pw = str(wifi).partition(":")
        f.setdefault("wifi_ssid", ssid)
        if sep:
            f.setdefault("wifi_pass", pw)
    tls = f.pop("tls", None)
    if tls is not None:
        f.setdefault("mqtt_tls", tls)
    ca = f.pop("ca", None)
    if ca is not None:
        f.setdefault("mqtt_tls", True)
        try:
            f.setdefault("mqtt_ca", check_ca(Path(str(ca))))
        except ProvisionError as e:
            errors.append(str(e))
    broker = f.pop("broker", None)
    if broker is not None:
        host, sep, port = str(broker).rpartition(":") if ":" in str(broker) else (str(broker), "", "")
        f.setdefault("mqtt_host", host)
        if sep:
            f.setdefault("mqtt_port", port)
    serial_only = not f.get("wifi_ssid") and not f.get("mqtt_host")  # console only, no network
    if serial_only:
        f.pop("wifi_pass", None)  # a default (--secrets) meant for the posts on the WiFi
    elif not f.get("wifi_ssid"):
        errors.append("wifi: missing credentials, give --wifi SSID (the post has no other way "
                      "onto the network; neither --wifi nor --broker for a serial-only post)")
    elif "wifi_pass" not in f:
        errors.append(f"wifi: no password for {f['wifi_ssid']!r}: give wifi_pass in --secrets FILE, "
                      "run on a terminal to be asked, or SSID:PASSWORD (SSID: for an open network)")
    elif f.get("wifi_pass") and not (8 <= len(str(f["wifi_pass"])) <= 63
                                     or re.fullmatch(r"[0-9A-Fa-f]{64}", str(f["wifi_pass"]))):
        errors.append("wifi: WPA2 passwords have 8-63 characters (or are a 64-hex-digit key)")
    town = register_fields(fields).get("municipality")
    if town and not serial_only and len(str(town)) <= 32:
        f.setdefault("site", str(town))  # namespaces HA's unique_ids: two towns' NL-0001 never collide
    if not serial_only and not f.get("mqtt_host"):
        errors.append("broker: missing, give --broker HOST[:PORT] (or neither --wifi nor --broker "
                      "for a serial-only post)")
    if ("lat" in f) != ("lon" in f):  # half a position switches the lamp at the wrong times
        have, miss = ("lat", "lon") if "lat" in f else ("lon", "lat")
        errors.append(f"{have} without {miss}: give both --lat and --lon (or neither, for the "
                      "board's default position)")
    if f.get("mqtt_user") and not f.get("mqtt_pass"):
        errors.append("mqtt_user without mqtt_pass: give --mqtt-pass too (or neither, for a broker "
                      "without passwords)")
    elif f.get("mqtt_pass") and not f.get("mqtt_user"):
        errors.append("mqtt_pass without mqtt_user: MQTT sends a password only with a user name, "
                      "give --mqtt-user too")
    cfg = {}
    for k, v in f.items():
        if k not in sch:
            errors.append(f"{k}: unknown setting (known: {', '.join(sorted(sch))})")
            continue
        try:
            cfg[k] = fw.check(k, _coerce(k, v, sch), sch)
        except ValueError as e:
            errors.append(f"{k}: {e}" + (" (a coordinate in degrees)" if k in ("lat", "lon") else ""))
    if cfg.get("mqtt_tls") is True:
        if "mqtt_port" not in cfg:
            cfg["mqtt_port"] = TLS_PORT
        if "mqtt_ca" not in cfg:
            errors.append("tls: the board verifies the broker against a pinned CA: give --ca FILE.der "
                          "(or --set mqtt_ca=NAME for one already on the board)")
    if errors:
        raise ProvisionError(f"{who}: " + "; ".join(errors))
    return cfg


def read_posts(path: Path, defaults: dict) -> list[tuple[str, dict]]:
    """(where, fields) per post from a CSV (header row) or TOML ([defaults] and [[post]] tables)."""
    if not path.exists():
        raise ProvisionError(f"{path}: no such file")
    rows = []
    if path.suffix == ".toml":
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as e:
            raise ProvisionError(f"{path}: {e}") from None
        base = {**defaults, **data.get("defaults", {})}
        for i, post in enumerate(data.get("post", [])):
            rows.append((f"{path}: post[{i}]", {**base, **post}))
    elif path.suffix == ".csv":
        with path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                clean = {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k}
                rows.append((f"{path}:{len(rows) + 2}", {**defaults, **clean}))
    else:
        raise ProvisionError(f"{path}: give a .csv or .toml file of posts")
    if not rows:
        raise ProvisionError(f"{path}: no posts in it")
    return rows


def _broker_accounts(cfgs: list[dict], out: Path, rotate: bool) -> dict[str, str]:
    """Give every post without an account its id as user and a password (the one it already has
    in out/<id>/config.json unless rotate); user -> password of every post."""
    from host_tools.lampctl import broker_acl
    accounts = {}
    for cfg in cfgs:
        if not cfg.get("mqtt_host"):
            continue  # a serial-only post: no broker, no account
        if not cfg.get("mqtt_user"):
            old = {}
            try:
                old = json.loads((out / cfg["id"] / "config.json").read_text())
            except (OSError, ValueError):
                pass
            keep = isinstance(old, dict) and old.get("mqtt_user") == cfg["id"] and \
                isinstance(old.get("mqtt_pass"), str) and old["mqtt_pass"] and not rotate
            cfg["mqtt_user"] = cfg["id"]
            cfg["mqtt_pass"] = old["mqtt_pass"] if keep else broker_acl.new_password()
        accounts[cfg["mqtt_user"]] = cfg["mqtt_pass"]
    return accounts


def provision(posts: list[tuple[str, dict]], out: Path, broker_auth: bool = True,
              rotate: bool = False) -> list[dict]:
    """Validate every post, then write out/<id>/config.json for each; nothing is written on any error.
    broker_auth: each post gets a broker account (user = its id) and out/_broker/ the
    mosquitto password_file and acl_file; rotate: new passwords for these posts."""
    cfgs, errors, seen, cas = [], [], {}, {}
    for where, fields in posts:
        try:
            cfg = post_config(fields)
        except ProvisionError as e:
            errors.append(f"{where}: {e}")
            continue
        if fields.get("ca") and cfg.get("mqtt_ca") == Path(str(fields["ca"])).name:
            cas[cfg["id"]] = Path(str(fields["ca"]))
        if cfg["id"] in seen:
            errors.append(f"{where}: id {cfg['id']!r} already used at {seen[cfg['id']]}")
        seen[cfg["id"]] = where
        cfgs.append(cfg)
    if errors:
        raise ProvisionError("\n".join(errors))
    accounts = _broker_accounts(cfgs, out, rotate) if broker_auth else {}
    for cfg in cfgs:
        d = out / cfg["id"]
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / "config.json.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds credentials
        with os.fdopen(fd, "w") as fh:
            json.dump(cfg, fh, indent=1, sort_keys=True)
        os.replace(tmp, d / "config.json")
        if cfg["id"] in cas:  # deploy copies it to the board next to config.json
            (d / cfg["mqtt_ca"]).write_bytes(cas[cfg["id"]].read_bytes())
    if broker_auth and accounts:
        from host_tools.lampctl import broker_acl
        broker_acl.write(out, accounts)
    return cfgs


def public(cfg: dict) -> dict:
    sch = schema()
    return {k: ("***" if sch[k][4] else v) for k, v in cfg.items()}


def warnings(cfg: dict, fields: dict | None = None) -> list[str]:
    """What provisioning accepts but a technician should change before the post goes up
    (fields: the post's row, for its asset columns)."""
    w = []
    default_w = firmware_config().SCHEMA["rated_w"][3]
    if "rated_w" not in cfg:
        w.append(f"no rated_w: the board assumes {default_w:g} W (the firmware's default), and its "
                 "lamp power alarms compare against it: give --rated-w W (the lamp's nameplate)")
    if not cfg.get("mqtt_host"):
        w.append("serial-only post (no --wifi/--broker): it reports on its console only; "
                 "`lampctl config set wifi_ssid/mqtt_host ...` and a reboot connect it later")
    reg = register_fields(fields or {})
    if reg and "municipality" not in reg:
        w.append(f"asset columns ({', '.join(sorted(reg))}) are kept for the operations register, "
                 "which also needs a municipality column (lamppost-ops register import)")
    if cfg.get("mqtt_port") == TLS_PORT and not cfg.get("mqtt_tls"):
        w.append(f"port {TLS_PORT} is MQTT over TLS but TLS is off: add --tls --ca FILE.der")
    if "lat" not in cfg and "lon" not in cfg:
        w.append("no --lat/--lon, the board uses its default position and switches at the wrong times")
    if cfg.get("mqtt_user") and cfg["mqtt_user"] != cfg["id"]:
        w.append(f"broker user {cfg['mqtt_user']!r} is not the post id: the generated ACL lets a user "
                 "publish only under its own name, so this post cannot report under its id")
    if cfg.get("pin", firmware_config().SCHEMA["pin"][3]) == "0000":
        w.append("service PIN left at the default 0000: anyone at the pole can log in; "
                 "give --pin PIN (4-12 characters)")
    return w


def _fail(args, msg: str, code: int = 2) -> int:
    """An error: one JSON object on stdout with --json, always the plain line on stderr."""
    if getattr(args, "json", False):
        print(json.dumps({"error": msg, "exit": code}))
    print(f"lampctl provision: {msg}", file=sys.stderr)
    return code


def secret_keys() -> set[str]:
    """Keys the firmware marks secret (pin, wifi_pass, mqtt_pass, cmd_key)."""
    return {k for k, v in schema().items() if v[4]}


def read_secrets(path: Path) -> tuple[dict, list[str]]:
    """(secrets, warnings) from a TOML file of secret keys (`wifi_pass = "..."`, `pin`, ...),
    so no secret needs the command line; ProvisionError for anything else in it."""
    try:
        text = path.read_text()
        mode = path.stat().st_mode
    except OSError as e:
        raise ProvisionError(f"--secrets {path}: {e.strerror or e}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ProvisionError(f"--secrets {path}: {e}") from None
    allowed = secret_keys()
    bad = sorted(k for k in data if k not in allowed)
    if bad:
        raise ProvisionError(f"--secrets {path}: {', '.join(bad)}: not secret keys (it holds only "
                             f"{', '.join(sorted(allowed))}; other settings go on the command line)")
    wrong = sorted(k for k, v in data.items() if not isinstance(v, str))
    if wrong:
        raise ProvisionError(f"--secrets {path}: {', '.join(wrong)}: give the value as a quoted string")
    warn = [f"{path} can be read by other users: chmod 600 {path}"] if mode & 0o077 else []
    return data, warn


def _ask(what: str) -> str:
    """A secret typed at the terminal, without echo; ProvisionError when there is no terminal."""
    import getpass
    if not sys.stdin.isatty():
        raise ProvisionError(f"{what}: '-' asks on a terminal, and there is none: put it in "
                             "--secrets FILE")
    return getpass.getpass(f"{what}: ")


def _cli_secrets(args, cli: dict, secrets: dict) -> list[str]:
    """Resolve '-' (ask) and a WiFi SSID without a password on the command line; the warnings
    for secrets that were typed on the command line (ps and the shell history show them)."""
    on_argv = []
    if cli.get("wifi") is not None:
        ssid, sep, pw = str(cli["wifi"]).partition(":")
        if pw == "-" or (not sep and "wifi_pass" not in secrets and sys.stdin.isatty()):
            cli["wifi"] = ssid + ":" + _ask(f"WiFi password for {ssid}")
        elif sep and pw:
            on_argv.append("the WiFi password (--wifi SSID:PASSWORD)")
    for key, opt in (("mqtt_pass", "--mqtt-pass"), ("pin", "--pin")):
        if cli.get(key) == "-":
            cli[key] = _ask(f"{key} ({opt})")
        elif cli.get(key) is not None:
            on_argv.append(f"{key} ({opt})")
    for k in sorted(secret_keys() & set(cli) - {"mqtt_pass", "pin"}):
        if cli[k] == "-":
            cli[k] = _ask(f"{k} (--set {k}=-)")
        else:
            on_argv.append(f"{k} (--set {k}=...)")
    return [f"{w} was given on the command line, where ps and the shell history show it: put it "
            "in --secrets FILE, or give '-' to be asked" for w in on_argv]


def cmd_provision(args) -> int:
    cli = {"id": args.id, "wifi": args.wifi, "broker": args.broker, "lat": args.lat, "lon": args.lon,
           "lamp": args.lamp, "rated_w": args.rated_w, "sensor": args.sensor,
           "mqtt_user": args.mqtt_user, "mqtt_pass": args.mqtt_pass, "pin": args.post_pin,
           "tls": True if args.tls else None, "ca": args.ca}
    for item in args.set or []:
        k, sep, v = item.partition("=")
        if not sep:
            return _fail(args, f"--set {item!r}: give KEY=VALUE")
        cli[k.strip()] = v.strip()
    cli = {k: v for k, v in cli.items() if v is not None}
    try:
        secrets, general = read_secrets(Path(args.secrets)) if args.secrets else ({}, [])
        general += _cli_secrets(args, cli, secrets)
        cli = {**secrets, **cli}
        if args.from_file:
            defaults = {k: v for k, v in cli.items() if k != "id"}
            posts = read_posts(Path(args.from_file), defaults)
        else:
            if not args.id:
                raise ProvisionError("give --id POST-ID (or --from posts.csv|posts.toml)")
            posts = [("command line", cli)]
        cfgs = provision(posts, Path(args.out), broker_auth=not args.no_broker_auth,
                         rotate=args.rotate_broker_password)
    except ProvisionError as e:
        return _fail(args, str(e))
    out = [{"id": c["id"], "config": str(Path(args.out) / c["id"] / "config.json"), "settings": public(c),
            "register": register_fields(fields), "warnings": warnings(c, fields)}
           for c, (_, fields) in zip(cfgs, posts)]
    if args.json:
        print(json.dumps(out))
    else:
        for o in out:
            print(f"{o['id']}: {o['config']}  " + ", ".join(f"{k}={v}" for k, v in sorted(o["settings"].items())))
    for w in general:
        print(f"lampctl provision: warning: {w}", file=sys.stderr)
    for o in out:
        for w in o["warnings"]:
            print(f"{o['id']}: warning: {w}", file=sys.stderr)
    if any(o["register"] for o in out):
        print(f"asset columns ({', '.join(sorted({k for o in out for k in o['register']}))}) are not "
              f"for the board: import the same file into the operations register with "
              f"`lamppost-ops register import {args.from_file or 'FILE'}`", file=sys.stderr)
    if not args.no_broker_auth and any(c.get("mqtt_host") for c in cfgs):
        from host_tools.lampctl import broker_acl
        d = Path(args.out) / broker_acl.DIR
        print(f"broker accounts: {d}/password_file and {d}/acl_file (mosquitto); the collector logs in "
              f"as {broker_acl.COLLECTOR_USER} with the password in {d}/collector.password; "
              f"Home Assistant as {broker_acl.HA_USER} with {d}/homeassistant.password",
              file=sys.stderr)
    return 0


def register(sub) -> None:
    p = sub.add_parser("provision", help="write a validated per-post config (with credentials) for deploy",
                       console=False)
    p.add_argument("--id", help="post id, e.g. NL-0001 (names its MQTT topics)")
    p.add_argument("--wifi", metavar="SSID[:PASSWORD]",
                   help="WiFi network; the password from --secrets, asked on a terminal (or SSID:-), "
                        "or after a colon (seen in ps and shell history). Leave out --wifi and "
                        "--broker for a serial-only post")
    p.add_argument("--secrets", metavar="FILE.toml",
                   help='secrets kept off the command line: wifi_pass = "...", pin, mqtt_pass, '
                        "cmd_key (defaults for every post)")
    p.add_argument("--broker", metavar="HOST[:PORT]", help="MQTT broker (port 1883, 8883 with --tls)")
    p.add_argument("--tls", action="store_true", help="MQTT over TLS (needs --ca)")
    p.add_argument("--ca", metavar="FILE.der",
                   help="the broker's CA certificate (DER), pinned on the board; implies --tls")
    p.add_argument("--mqtt-user", dest="mqtt_user", help="the post's broker user (needs --mqtt-pass)")
    p.add_argument("--mqtt-pass", dest="mqtt_pass", help="the broker password (needs --mqtt-user; "
                                                            "'-' asks; better in --secrets)")
    p.add_argument("--pin", dest="post_pin", metavar="PIN",
                   help="the post's service PIN for console logins (default 0000: change it; "
                        "'-' asks; or pin in --secrets)")
    p.add_argument("--lat", help="latitude, degrees north")
    p.add_argument("--lon", help="longitude, degrees east")
    p.add_argument("--lamp", help="led | hps")
    p.add_argument("--rated-w", dest="rated_w", help="lamp power at full output, W")
    p.add_argument("--sensor", help="metering front end: adc | cse7766")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="any other config key of firmware/lamppost/config.py or uplinkcfg.py, "
                   "e.g. cmd_key=SECRET, mqtt_keepalive=120, outbox_max=500 (repeatable)")
    p.add_argument("--from", dest="from_file", metavar="FILE",
                   help="CSV (header row) or TOML ([[post]] tables) of many posts; other flags are defaults")
    p.add_argument("--out", default=str(POSTS), help="where post configs go (default: build/posts)")
    p.add_argument("--no-broker-auth", action="store_true",
                   help="no broker accounts (a broker with anonymous access: anyone can publish as "
                   "any post; for a closed test bench only)")
    p.add_argument("--rotate-broker-password", action="store_true",
                   help="new broker passwords for these posts (default: a re-provision keeps them)")
    p.set_defaults(func=cmd_provision)
