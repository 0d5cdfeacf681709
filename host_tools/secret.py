"""Secrets for the host tools: from a file or the environment, never argv (every local user
sees a command line in `ps`). One reader for the collector, lampctl and lamppost-ops."""
from __future__ import annotations

import os

BROKER_PASSWORD_ENV = "LAMPPOST_MQTT_PASSWORD"


class SecretError(ValueError):
    """A secret that could not be read, or was given where everyone can read it."""


def read_secret(path: str | None, env: str, what: str) -> str | None:
    """A secret from a file (its first line) or the environment variable env; None if neither."""
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.readline().rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as e:
            raise SecretError(f"{what}: cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
        if not text:
            raise SecretError(f"{what}: {path} is empty")
        return text
    return os.environ.get(env) or None


def broker_password(args) -> str | None:
    """The broker password of a command with --password-file: refuses --password on argv."""
    if getattr(args, "password", None) is not None:
        raise SecretError("--password on the command line is refused (every user on this machine can "
                          f"read it): use --password-file FILE or ${BROKER_PASSWORD_ENV}")
    return read_secret(getattr(args, "password_file", None), BROKER_PASSWORD_ENV, "broker password")
