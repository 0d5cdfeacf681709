"""lampctl subcommands to ship firmware to a board: build, provision, flash, deploy."""
from host_tools.lampctl import build, flashing, provision


def register(sub) -> None:
    """Add this topic's subparsers to `sub`."""
    build.register(sub)
    provision.register(sub)
    flashing.register(sub)
