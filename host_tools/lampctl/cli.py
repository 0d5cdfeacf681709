"""Talk to a lamppost streetlight board and ship firmware to it: console, build, provision, flash, deploy.

One entry point, subcommands registered by topic modules.
Console commands (status, monitor, alarms, ...) live in `serial_cmds`; build,
provision, flash and deploy in `ship_cmds`. Each module has register(sub),
adding its subparsers with `func(args) -> int` defaults.
"""
from __future__ import annotations

import argparse
import sys

from host_tools.lampctl import ota_cmds, serial_cmds, ship_cmds


def add_global_options(ap, suppress: bool = False, console: bool = True) -> None:
    """--json, --port, --timeout, --pin. On a subcommand (suppress=True) they default to
    SUPPRESS, so `lampctl status --json` works and an option not repeated there keeps the
    value given before the subcommand (or the top-level default). console=False: only --json
    (build, provision, flash never talk to a console, so their --help does not offer it)."""
    ap.add_argument("--json", action="store_true", help="machine-readable output",
                    **({"default": argparse.SUPPRESS} if suppress else {}))
    if console:
        serial_cmds.add_global_options(ap, suppress)


class _SubParser(argparse.ArgumentParser):
    """Every subcommand (and sub-subcommand) takes the global options too, the console's only
    where it talks to one (`add_parser(..., console=False)` leaves them out). A subcommand's own
    option of the same name (flash/deploy --port) replaces the global one there."""

    def __init__(self, console: bool = True, **kw):
        kw.setdefault("conflict_handler", "resolve")
        super().__init__(**kw)
        add_global_options(self, suppress=True, console=console)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="lampctl", description=__doc__.splitlines()[0],
                                 epilog="Global options may be given before or after COMMAND.")
    add_global_options(ap)
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND", parser_class=_SubParser)
    serial_cmds.register(sub)
    ship_cmds.register(sub)
    ota_cmds.register(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
