"""`lampctl ota keygen | sign | verify | push`: sign a firmware bundle and update one post by hand.

keygen writes the operator's Ed25519 private key (kept off the posts) and prints the public
key that provisioning puts into each post's config as ota_key. sign turns `make firmware`'s
build/bundle into a signed OTA bundle; push offers it to one post over the broker and
serves its chunks until the post confirms, rolls back or refuses (exit 0 only on confirmed).
Fleets: `lamppost-ops ota rollout`. The scheme and protocol: docs/ota.md.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from host_tools.ota import bundle as ob
from host_tools.ota.server import TERMINAL, OtaServer
from host_tools.secret import SecretError, broker_password


def _out(args, d: dict, text: str) -> None:
    print(json.dumps(d) if getattr(args, "json", False) else text)


def cmd_keygen(args) -> int:
    try:
        pub = ob.keygen(Path(args.key))
    except (ob.BundleError, OSError) as e:
        print(f"lampctl ota keygen: {e}", file=sys.stderr)
        return 1
    _out(args, {"key": args.key, "ota_key": pub},
         f"private key: {args.key} (keep it off the posts)\nota_key (provision every post with it): {pub}")
    return 0


def cmd_sign(args) -> int:
    src = Path(args.src)
    chip = args.chip
    try:
        if chip is None:
            try:
                chip = json.loads((src / "MANIFEST.json").read_text())["chip"]
            except (OSError, ValueError, KeyError):
                raise ob.BundleError(f"{src}/MANIFEST.json names no chip: give --chip") from None
        b = ob.build(src, Path(args.out), args.version, chip, ob.load_key(Path(args.key)), args.rollback)
    except ob.BundleError as e:
        print(f"lampctl ota sign: {e}", file=sys.stderr)
        return 1
    _out(args, {"bundle": str(b.dir), "version": b.version, "chip": b.chip, "files": len(b.files),
                "bytes": b.total_bytes(), "rollback": b.rollback},
         f"signed {b.version} for {b.chip}{' (rollback)' if b.rollback else ''}: {len(b.files)} files, "
         f"{b.total_bytes()} bytes, in {b.dir}")
    return 0


def cmd_verify(args) -> int:
    try:
        b = ob.load(Path(args.bundle), args.ota_key)
    except ob.BundleError as e:
        print(f"lampctl ota verify: {e}", file=sys.stderr)
        return 1
    _out(args, {"ok": True, "version": b.version, "chip": b.chip},
         f"{b.dir}: signature and {len(b.files)} files verify ({b.version}, {b.chip})")
    return 0


def cmd_push(args) -> int:
    try:
        pw = broker_password(args)
    except SecretError as e:
        print(f"lampctl ota push: {e}", file=sys.stderr)
        return 2
    try:
        b = ob.load(Path(args.bundle))
        host, _, port = args.broker.rpartition(":")
        srv = OtaServer(host or "127.0.0.1", int(port), args.user, pw)
    except (ob.BundleError, ValueError, OSError) as e:
        print(f"lampctl ota push: {e}", file=sys.stderr)
        return 1
    try:
        srv.offer(args.post, b)
        end = time.monotonic() + args.wait
        last = None
        while time.monotonic() < end:
            st = srv.wait(args.post, TERMINAL, min(5.0, end - time.monotonic()))
            if st is None:
                continue
            line = f"{st.post}: {st.state} ({st.bytes_sent} of {b.total_bytes()} bytes sent)"
            if line != last and not args.json:
                print(line, flush=True)
                last = line
            if st.state in TERMINAL:
                break
        st = srv.state(args.post)
    finally:
        srv.close()
    d = st.to_dict() if st else {"post": args.post, "state": "offered"}
    if args.json:
        print(json.dumps(d))
    elif d.get("why"):
        print(f"why: {d['why']}")
    return 0 if d["state"] == "confirmed" else 1


def register(sub) -> None:
    p = sub.add_parser("ota", help="over-the-air updates: keygen, sign, verify, push (docs/ota.md)")
    s = p.add_subparsers(dest="ota_cmd", required=True, metavar="ACTION")
    k = s.add_parser("keygen", help="new operator signing key; prints the posts' ota_key")
    k.add_argument("key", help="private key file to create (PEM, mode 0600)")
    k.set_defaults(func=cmd_keygen)
    g = s.add_parser("sign", help="sign a `make firmware` bundle as a version")
    g.add_argument("--key", required=True, help="the operator's private key (lampctl ota keygen)")
    g.add_argument("--version", required=True, help="MAJOR.MINOR.PATCH, as FW_VERSION in lamppost/app.py")
    g.add_argument("--src", default="build/bundle", help="bundle directory (default: build/bundle)")
    g.add_argument("--chip", help="target chip (default: from the bundle's MANIFEST.json)")
    g.add_argument("--rollback", action="store_true", help="allow posts on a newer version to take it")
    g.add_argument("--out", required=True, help="directory of the signed bundle")
    g.set_defaults(func=cmd_sign)
    v = s.add_parser("verify", help="check a signed bundle against a public key")
    v.add_argument("bundle")
    v.add_argument("--ota-key", dest="ota_key", required=True, help="public key, 64 hex digits")
    v.set_defaults(func=cmd_verify)
    u = s.add_parser("push", help="update one post over MQTT and wait for its verdict")
    u.add_argument("post", help="post id")
    u.add_argument("--bundle", required=True, help="signed bundle directory")
    u.add_argument("--broker", required=True, help="HOST:PORT of the MQTT broker")
    u.add_argument("--user")
    u.add_argument("--password-file", dest="password_file",
                   help="broker password: first line of FILE (else $LAMPPOST_MQTT_PASSWORD)")
    u.add_argument("--password", help=argparse.SUPPRESS)  # refused: a secret on the command line
    u.add_argument("--wait", type=float, default=3600.0, help="seconds to wait for the verdict (default 3600)")
    u.set_defaults(func=cmd_push)
