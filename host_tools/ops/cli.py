"""lamppost-ops: the operations service (placeholder until the subcommands land)."""
import sys


def main(argv=None) -> int:
    print("lamppost-ops: no subcommands yet", file=sys.stderr)
    return 2
