"""Talk to a lamppost streetlight board and ship firmware to it: console, build, provision, flash, deploy.

One entry point, subcommands registered by topic modules.
Console commands (status, monitor, alarms, ...) live in `serial_cmds`; build,
provision, flash and deploy in `ship_cmds`. Each module has register(sub),
adding its subparsers with `func(args) -> int` defaults.
"""
from __future__ import annotations

import argparse
import sys

from host_tools.lampctl import serial_cmds, ship_cmds


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="lampctl", description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    serial_cmds.add_global_options(ap)
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    serial_cmds.register(sub)
    ship_cmds.register(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
