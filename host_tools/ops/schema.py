"""The operations database as SQLAlchemy Core tables: what the queries use.

The schema itself is created and changed only by the Alembic migrations in
migrations/versions/; tests/ops/test_storage.py checks that the migrated database
and these tables agree, so a change here without a migration fails the suite.
Times: `*_t` columns are the POST's clock (seconds since the Unix epoch, from the
report's `t`), `*_at` columns are the service's clock (epoch seconds, float).
"""
from __future__ import annotations

from sqlalchemy import (BigInteger, Boolean, Column, Connection, Float, ForeignKey, Index, Integer, MetaData,
                        String, Table, Text, UniqueConstraint, literal_column, update)
from sqlalchemy.dialects import postgresql, sqlite

metadata = MetaData()

municipalities = Table(
    "municipalities", metadata,
    Column("id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
)

posts = Table(
    "posts", metadata,
    Column("id", String(32), primary_key=True),
    Column("municipality", String(64), ForeignKey("municipalities.id"), nullable=False),
    Column("street", Text),
    Column("light_point", String(64)),
    Column("cabinet", String(64)),
    Column("luminaire", Text),
    Column("contractor", String(64)),
    Column("lat", Float),
    Column("lon", Float),
    Column("lamp", String(16)),
    Column("rated_w", Float),
    Column("imported_at", Float, nullable=False),
    # what the service knows from the post itself
    Column("last_t", BigInteger),        # newest post time seen from this post
    Column("last_seen_at", Float),       # service time of the newest message (silence rule)
    Column("lwt", String(16)),
    Column("lwt_at", Float),
    Column("lamp_on_t", BigInteger),     # post time of the last switch to on (dusk)
)

post_history = Table(
    "post_history", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("post_id", String(32), nullable=False, index=True),
    Column("at", Float, nullable=False),
    Column("field", String(32), nullable=False),
    Column("old", Text),
    Column("new", Text),
    Column("source", Text),
)

messages = Table(
    "messages", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("post_id", String(32), nullable=False),
    Column("inc", BigInteger, nullable=False),  # outbox incarnation (0 before posts sent one)
    Column("dseq", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("alarm", String(40)),
    Column("state", String(16)),
    Column("t", BigInteger, nullable=False),
    Column("payload", Text, nullable=False),
    Column("received_at", Float, nullable=False),
    UniqueConstraint("post_id", "inc", "dseq", name="uq_messages_post_inc_dseq"),
)

alarms = Table(  # each post's current state per alarm
    "alarms", metadata,
    Column("post_id", String(32), primary_key=True),
    Column("alarm", String(40), primary_key=True),
    Column("raised", Boolean, nullable=False),
    Column("since_t", BigInteger, nullable=False),   # post time of the last raise / clear
    Column("handled", Boolean, nullable=False),      # the engine has judged this raise
)

orders = Table(
    "orders", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("municipality", String(64), nullable=False, index=True),
    Column("subject", String(80), nullable=False),   # post:<id> or cabinet:<id> or area:<post id>
    Column("post_id", String(32)),                    # the post (or first post of a group)
    Column("cabinet", String(64)),
    Column("fault_class", String(24), nullable=False),
    Column("category", Text, nullable=False),
    Column("priority", Integer, nullable=False),     # 1 safety ... 4 energy waste
    Column("contractor", String(64)),
    Column("status", String(16), nullable=False),
    # "subject|class" while the order is open, NULL once closed: the database enforces
    # one open order per subject and fault class, also between several workers
    Column("open_slot", String(120), unique=True),
    Column("repeat_of", Integer),
    Column("escalated", Boolean, nullable=False, default=False),
    Column("first_t", BigInteger, nullable=False),    # post time of the first alarm
    Column("opened_at", Float, nullable=False),
    Column("repaired_t", BigInteger),                 # post time when the repair was reported
    Column("closed_t", BigInteger),                   # post time of verification (recurrence window)
    Column("remote_id", Text),
    Column("description", Text, nullable=False),
)

order_alarms = Table(  # every alarm attached to an order (repeats attach here)
    "order_alarms", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", Integer, ForeignKey("orders.id"), nullable=False, index=True),
    Column("post_id", String(32), nullable=False),
    Column("alarm", String(40), nullable=False),
    Column("t", BigInteger, nullable=False),
)

audit = Table(
    "audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", Integer, ForeignKey("orders.id"), nullable=False, index=True),
    Column("at", Float, nullable=False),       # service clock
    Column("t", BigInteger),                   # post clock where the cause came from a post
    Column("from_status", String(16)),
    Column("to_status", String(16), nullable=False),
    Column("cause", Text, nullable=False),
)

dispatch = Table(  # the persisted dispatch queue
    "dispatch", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", Integer, ForeignKey("orders.id"), nullable=False),
    Column("contractor", String(64), nullable=False),
    Column("action", String(16), nullable=False),        # create | escalate | update
    Column("idem_key", String(80), nullable=False, unique=True),
    Column("state", String(12), nullable=False),         # pending | sent | rejected | merged | manual
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_at", Float, nullable=False),
    Column("last_error", Text),
    Column("remote_id", Text),
    Column("sent_at", Float),
)

group_locks = Table(  # one row per grouping key, locked while a group is decided
    "group_locks", metadata,
    Column("key", String(80), primary_key=True),
)

counters = Table(  # rejected input and the like, for reports and /healthz
    "counters", metadata,
    Column("name", String(40), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

# ---- history at scale (migration 0002_fleet; host_tools/ops/telemetry.py) ----
telemetry = Table(  # one row per SENSOR report (the only copy; the console reads it too); PostgreSQL: by day on t
    "telemetry", metadata,
    Column("post_id", String(32), primary_key=True),
    Column("t", BigInteger, primary_key=True),       # post time of the report
    Column("total_kwh", Float),                      # ENERGY.Total (counter)
    Column("hours", Float),                          # ENERGY.operatingHours (counter)
    Column("power_w", Float),
    Column("voltage", Float),
    Column("current_a", Float),
    Column("factor", Float),
    Column("received_at", Float, nullable=False),
    # the rollup's window is a t range over every post (the primary key leads with the post):
    # a BRIN index on PostgreSQL (rows arrive in about t order, it costs the inserts next to
    # nothing), a b-tree on SQLite (migration 0006)
    Index("ix_telemetry_t", "t", postgresql_using="brin"),
)

energy_hourly = Table(  # rollup: what reports read instead of raw telemetry
    "energy_hourly", metadata,
    Column("post_id", String(32), primary_key=True),
    Column("hour_t", BigInteger, primary_key=True),  # start of the UTC hour (post time)
    Column("energy_kwh", Float, nullable=False),
    Column("burn_h", Float, nullable=False),
    Column("samples", Integer, nullable=False),
    # the hour's newest report (migration 0006): the next window's rollup takes the counters'
    # increase from here, however long the post was silent in between
    Column("last_t", BigInteger),
    Column("last_kwh", Float),
    Column("last_hours", Float),
)

energy_daily = Table(
    "energy_daily", metadata,
    Column("post_id", String(32), primary_key=True),
    Column("day_t", BigInteger, primary_key=True),   # start of the UTC day (post time)
    Column("energy_kwh", Float, nullable=False),
    Column("burn_h", Float, nullable=False),
    Column("samples", Integer, nullable=False),
)

inbound = Table(  # status updates contractors posted (POST /inbound/...): each applied once
    "inbound", metadata,
    Column("source", String(130), primary_key=True),    # municipality/contractor
    Column("event_id", String(128), primary_key=True),  # the contractor's id of this update
    Column("order_id", Integer, ForeignKey("orders.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("at", Float, nullable=False),                # service clock
)

# ---------- the web console (migration 0003_console) ----------
users = Table(  # console accounts: one municipality each; a contractor user names its contractor
    "users", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False),
    Column("password_hash", Text, nullable=False),      # argon2id (argon2-cffi)
    Column("role", String(16), nullable=False),         # viewer | operator | admin | contractor
    Column("municipality", String(64), nullable=False),
    Column("contractor", String(64)),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", Float, nullable=False),
    # raised by logout, password change and disable: a session cookie carrying an older value
    # is refused (the cookie is stateless, so this is what ends it before its 8 h)
    Column("session_gen", Integer, nullable=False, server_default="0"),
    UniqueConstraint("username", name="uq_users_username"),
)

api_tokens = Table(  # bearer tokens for scripts; only the SHA-256 of the token is stored
    "api_tokens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("name", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("token_hash", name="uq_api_tokens_hash"),
)

post_state = Table(  # the newest lamp state a post reported (STATE POWER or a switch event)
    "post_state", metadata,
    Column("post_id", String(32), primary_key=True),
    Column("lamp", String(8)),          # on | off
    Column("lamp_t", BigInteger),       # post time of that report
    Column("dimmer", Float),
    Column("state_t", BigInteger),
)

commands = Table(  # every command a console user sent to a post (the command audit trail)
    "commands", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("username", String(64), nullable=False),
    Column("municipality", String(64), nullable=False),
    Column("post_id", String(32), nullable=False, index=True),
    Column("command", String(16), nullable=False),
    Column("param", String(32), nullable=False),
    Column("ctr", BigInteger, nullable=False),
    Column("result", Text, nullable=False),
)


ota_rollouts = Table(  # firmware rollouts in waves (lamppost-ops ota rollout, host_tools/ops/rollout.py)
    "ota_rollouts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version", String(32), nullable=False),
    Column("scope", Text, nullable=False),            # what the operator named: posts, a municipality, all
    Column("state", String(16), nullable=False),      # running | done | halted | abandoned
    Column("why", Text),                              # why it halted
    Column("canary", Float, nullable=False),
    Column("wave_size", Integer, nullable=False),
    Column("max_fail", Float, nullable=False),
    Column("wave_timeout_s", Float, nullable=False),
    Column("waves", Text, nullable=False),            # JSON: each finished wave's posts, failed, failure_rate
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),    # the running process's last write
    Column("ended_at", Float),
    Column("owner", String(16)),                      # the token of the process running it
)

ota_rollout_posts = Table(  # each post's place and state in a rollout (no FK: --posts may name any id)
    "ota_rollout_posts", metadata,
    Column("rollout_id", Integer, ForeignKey("ota_rollouts.id"), primary_key=True),
    Column("post_id", String(32), primary_key=True),
    Column("wave", Integer, nullable=False),
    Column("state", String(16), nullable=False),       # pending, offered ... confirmed, rolledBack, held
    Column("why", Text),
    Column("updated_at", Float, nullable=False),
    Index("ix_ota_rollout_posts_post", "post_id"),    # the post page: the rollouts a post was in
)

# two writes every part of the service uses (engine, inbound, serve, telemetry)
def insert_ignore(c: Connection, table, **values) -> bool:
    """INSERT that does nothing on a unique conflict; True if a row was written."""
    mod = postgresql if c.dialect.name == "postgresql" else sqlite
    r = c.execute(mod.insert(table).values(**values).on_conflict_do_nothing()
                  .returning(literal_column("1")))
    return r.first() is not None  # (rowcount is -1 on PostgreSQL with RETURNING)


def bump(c: Connection, name: str, n: int = 1) -> None:
    if not insert_ignore(c, counters, name=name, value=n):
        c.execute(update(counters).where(counters.c.name == name)
                  .values(value=counters.c.value + n))
