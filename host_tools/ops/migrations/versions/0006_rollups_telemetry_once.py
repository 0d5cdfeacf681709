"""SENSOR stored once: the console's `readings` move into `telemetry`; rollups carry the
newest report of each hour (energy_hourly.last_t / last_kwh / last_hours)

Revision ID: 0006_rollups_telemetry_once
Revises: 0005_sessions

Before, a SENSOR report was kept twice: in `readings` (the console, 0003_console) and in
partitioned `telemetry` (the fleet, 0002_fleet). The console now reads its plots from
`telemetry` and its energy and burning hours from the rollups. Upgrade copies every
reading that telemetry lacks (a report `serve` already stored in both is kept once; one
outside 2020..2100, which telemetry refuses, is dropped), creating the day partitions
they need on PostgreSQL, then drops `readings`. An index on telemetry's `t` serves the rollup's time window (BRIN on
PostgreSQL, a b-tree on SQLite). The rollups are emptied and rebuilt from
the whole of telemetry by the next `telemetry maintain` round (serve's or by hand), so the
moved history is in them and every hour has its carry columns.
Downgrade recreates `readings` from telemetry and drops the carry columns.
"""
from alembic import op
import sqlalchemy as sa


revision = '0006_rollups_telemetry_once'
down_revision = '0005_sessions'
branch_labels = None
depends_on = None

MIN_T, MAX_T = 1_577_836_800, 4_102_444_800  # host_tools/ops/telemetry.py: a sane post clock


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        from host_tools.ops.telemetry import Partitions
        ts = [t for (t,) in bind.exec_driver_sql(
            f"SELECT DISTINCT t - t %% 86400 FROM readings WHERE t >= {MIN_T} AND t < {MAX_T}")]
        Partitions().ensure(bind, ts)
    # `WHERE true` lets SQLite parse the ON CONFLICT of an INSERT ... SELECT
    op.execute(f"""
        INSERT INTO telemetry (post_id, t, total_kwh, hours, power_w, voltage, current_a, factor, received_at)
        SELECT post_id, t, total_kwh, NULL, power_w, voltage_v, current_a, factor, 0.0
        FROM readings WHERE t >= {MIN_T} AND t < {MAX_T} AND true
        ON CONFLICT (post_id, t) DO NOTHING""")
    op.drop_index('ix_readings_post_t', table_name='readings')
    op.drop_table('readings')
    with op.batch_alter_table('energy_hourly') as b:
        b.add_column(sa.Column('last_t', sa.BigInteger(), nullable=True))
        b.add_column(sa.Column('last_kwh', sa.Float(), nullable=True))
        b.add_column(sa.Column('last_hours', sa.Float(), nullable=True))
    # the rollup reads a t range over every post: BRIN on PostgreSQL (on the partitioned
    # parent: every partition gets one, today's and those made later), a b-tree on SQLite
    op.create_index('ix_telemetry_t', 'telemetry', ['t'], postgresql_using='brin')
    op.execute("DELETE FROM energy_hourly")
    op.execute("DELETE FROM energy_daily")
    op.execute("DELETE FROM counters WHERE name = 'rollup_mark'")


def downgrade() -> None:
    op.drop_index('ix_telemetry_t', table_name='telemetry')
    with op.batch_alter_table('energy_hourly') as b:
        b.drop_column('last_hours')
        b.drop_column('last_kwh')
        b.drop_column('last_t')
    op.create_table('readings',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('post_id', sa.String(length=32), nullable=False),
    sa.Column('t', sa.BigInteger(), nullable=False),
    sa.Column('power_w', sa.Float(), nullable=True),
    sa.Column('voltage_v', sa.Float(), nullable=True),
    sa.Column('current_a', sa.Float(), nullable=True),
    sa.Column('factor', sa.Float(), nullable=True),
    sa.Column('total_kwh', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_readings_post_t', 'readings', ['post_id', 't'], unique=False)
    op.execute("""
        INSERT INTO readings (post_id, t, power_w, voltage_v, current_a, factor, total_kwh)
        SELECT post_id, t, power_w, voltage, current_a, factor, total_kwh FROM telemetry ORDER BY post_id, t""")
