"""lampctl subcommands of this topic (to be filled in by its issue)."""


def register(sub) -> None:
    """Add this topic's subparsers to `sub`."""
