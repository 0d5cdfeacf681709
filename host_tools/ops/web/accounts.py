"""Console accounts: roles per municipality, argon2 password hashes, API tokens, login limits.

Every account belongs to one municipality and sees only its posts and orders. Roles:
viewer (read), operator (read, send commands), admin (operator + accounts of its
municipality), contractor (only the orders of its contractor; may mark them acknowledged
or repaired). Passwords are hashed with argon2id (argon2-cffi); API tokens are random and
only their SHA-256 is stored, so a database dump gives no usable secret.

Sessions: the signed cookie names the user and the account's session generation at login;
logout, a password change and disable/enable raise the generation, so every cookie issued
before is refused from the next request on (the cookie itself cannot be taken back).
"""
from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from host_tools.ops import schema as S
from host_tools.ops.config import ID_RE

ROLES = ("viewer", "operator", "admin", "contractor")
USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MIN_PASSWORD = 10
_hasher = PasswordHasher()
# verified against when the user does not exist, so a wrong name costs as long as a wrong password
_DUMMY = _hasher.hash("not a password of anyone")


class AccountError(ValueError):
    """A request the account store refuses; the message says why."""


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    municipality: str
    contractor: str | None
    # the account's session generation when read (a login puts it in the cookie); not part of
    # equality, so a live stream compares who the user is, and checks the generation itself
    session_gen: int = field(default=0, compare=False)

    @property
    def can_read_fleet(self) -> bool:
        return self.role in ("viewer", "operator", "admin")

    @property
    def can_command(self) -> bool:
        return self.role in ("operator", "admin")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _user(row) -> User:
    return User(row["id"], row["username"], row["role"], row["municipality"], row["contractor"],
                row["session_gen"])


def check_password(pw: str) -> None:
    if len(pw) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(pw) > 1024:
        raise AccountError("a password of more than 1024 characters is refused")


def add_user(db, username: str, password: str, role: str, municipality: str,
             contractor: str | None = None) -> User:
    if not USERNAME_RE.fullmatch(username or ""):
        raise AccountError(f"user name must match {USERNAME_RE.pattern}")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if not ID_RE.fullmatch(municipality or ""):
        raise AccountError("municipality must be an id such as houten")
    if (role == "contractor") != bool(contractor):
        raise AccountError("a contractor account names its contractor (--contractor), "
                           "and only a contractor account does")
    check_password(password)
    try:
        with db.begin() as c:
            uid = c.execute(insert(S.users).values(
                username=username, password_hash=_hasher.hash(password), role=role,
                municipality=municipality, contractor=contractor, disabled=False,
                created_at=time.time(), session_gen=0).returning(S.users.c.id)).scalar_one()
    except IntegrityError:
        raise AccountError(f"user {username} exists already") from None
    return User(uid, username, role, municipality, contractor)


def _revoke_tokens(c, username: str) -> int:
    """Delete every API token of the user: a token is a credential like the password, so
    one that leaked with it must not outlive a password change or a disable."""
    T, U = S.api_tokens, S.users
    return c.execute(T.delete().where(T.c.user_id.in_(select(U.c.id).where(U.c.username == username)))).rowcount


def set_password(db, username: str, password: str) -> None:
    """New password: ends the account's sessions and revokes its API tokens."""
    check_password(password)
    with db.begin() as c:
        n = c.execute(update(S.users).where(S.users.c.username == username)
                      .values(password_hash=_hasher.hash(password),
                              session_gen=S.users.c.session_gen + 1)).rowcount
        _revoke_tokens(c, username)
    if not n:
        raise AccountError(f"no user {username}")


def set_disabled(db, username: str, disabled: bool) -> None:
    with db.begin() as c:
        # re-enabling must not bring back the cookies of before the disable either
        n = c.execute(update(S.users).where(S.users.c.username == username)
                      .values(disabled=disabled, session_gen=S.users.c.session_gen + 1)).rowcount
        if disabled:  # revoked, not suspended: enabling the account again brings none back
            _revoke_tokens(c, username)
    if not n:
        raise AccountError(f"no user {username}")


def list_users(db, municipality: str | None = None) -> list[dict]:
    U = S.users
    q = select(U.c.id, U.c.username, U.c.role, U.c.municipality, U.c.contractor, U.c.disabled,
               U.c.created_at).order_by(U.c.municipality, U.c.username)
    if municipality:
        q = q.where(U.c.municipality == municipality)
    with db.connect() as c:
        return [dict(r) for r in c.execute(q).mappings()]


def authenticate(db, username: str, password: str) -> User | None:
    """The user if the name and password match an enabled account, else None."""
    row = None
    # a name no account can have is not looked up (PostgreSQL refuses one with a NUL byte)
    if USERNAME_RE.fullmatch(username or ""):
        with db.connect() as c:
            row = c.execute(select(S.users).where(S.users.c.username == username)).mappings().first()
    try:
        _hasher.verify(row["password_hash"] if row else _DUMMY, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row["disabled"]:
        return None
    if _hasher.check_needs_rehash(row["password_hash"]):
        with db.begin() as c:
            c.execute(update(S.users).where(S.users.c.id == row["id"])
                      .values(password_hash=_hasher.hash(password)))
    return _user(row)


def load_user(db, uid: int, session_gen: int | None = None) -> User | None:
    """The user, or None once the account is disabled or gone; with `session_gen` (a session
    cookie's), also None once that session was ended (logout, password change, disable)."""
    with db.connect() as c:
        row = c.execute(select(S.users).where(S.users.c.id == uid)).mappings().first()
    if not row or row["disabled"]:
        return None
    if session_gen is not None and row["session_gen"] != session_gen:
        return None
    return _user(row)


def end_sessions(db, uid: int) -> None:
    """Every session cookie of the user issued so far stops working (logout: the cookie is
    signed, not stored, so a copy of it would otherwise work until it expires)."""
    with db.begin() as c:
        c.execute(update(S.users).where(S.users.c.id == uid)
                  .values(session_gen=S.users.c.session_gen + 1))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(db, username: str, name: str = "script") -> str:
    """A new API token for the user (shown once; only its hash is kept)."""
    token = "lpo_" + secrets.token_urlsafe(32)
    with db.begin() as c:
        uid = c.execute(select(S.users.c.id).where(S.users.c.username == username)).scalar()
        if uid is None:
            raise AccountError(f"no user {username}")
        c.execute(insert(S.api_tokens).values(user_id=uid, token_hash=_token_hash(token),
                                              name=name[:64], created_at=time.time()))
    return token


def token_user(db, token: str) -> User | None:
    if not token.startswith("lpo_") or len(token) > 100:
        return None
    T, U = S.api_tokens, S.users
    with db.connect() as c:
        row = c.execute(select(U).join(T, T.c.user_id == U.c.id)
                        .where(T.c.token_hash == _token_hash(token))).mappings().first()
    return _user(row) if row and not row["disabled"] else None


class LoginLimiter:
    """At most `limit` failed logins per user name (`addr_factor` times that per client address,
    several people may share one) within `window_s`; beyond that every attempt is refused
    (429) until the window has passed. In memory: one
    service process answers the console (docs/console-web.md)."""

    def __init__(self, limit: int = 5, window_s: float = 300.0, clock=time.monotonic,
                 addr_factor: int = 4):
        self.limit, self.window, self.clock, self.addr_factor = limit, window_s, clock, addr_factor
        self.fails: dict[str, deque] = {}
        self.lock = threading.Lock()

    def _limit(self, key: str) -> int:
        return self.limit * (self.addr_factor if key.startswith("addr:") else 1)

    def _recent(self, key: str) -> deque:
        q = self.fails.setdefault(key, deque())
        now = self.clock()
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def blocked(self, *keys: str) -> float:
        """Seconds until a login may be tried again (0: now)."""
        with self.lock:
            waits = [q[-(self._limit(k))] + self.window - self.clock() for k in keys
                     if len(q := self._recent(k)) >= self._limit(k)]
        return max(waits, default=0.0)

    def failed(self, *keys: str) -> None:
        with self.lock:
            for k in keys:
                self._recent(k).append(self.clock())
            if len(self.fails) > 100_000:  # bounded memory under a spray of names
                for k in [k for k, q in self.fails.items() if not q]:
                    del self.fails[k]

    def succeeded(self, *keys: str) -> None:
        with self.lock:
            for k in keys:
                self.fails.pop(k, None)
