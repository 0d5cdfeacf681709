"""fleet: telemetry history (partitioned by time on PostgreSQL) and its hourly/daily rollups

Revision ID: 0002_fleet
Revises: 0001
Create Date: 2026-12-02 01:25:00

`telemetry` holds one row per SENSOR report (post, post time). On PostgreSQL it is a
declaratively partitioned table (RANGE on `t`, one partition per UTC day, created ahead
by host_tools/ops/telemetry.py, dropped whole by the retention setting); on SQLite it is
a plain table (small installations, the same commands). The rollups are what reports read.
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_fleet'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # declarative partitioning has no portable DDL: the parent is created by hand, the
        # primary key must hold the partition key (t)
        op.execute("""
            CREATE TABLE telemetry (
                post_id VARCHAR(32) NOT NULL,
                t BIGINT NOT NULL,
                total_kwh FLOAT,
                hours FLOAT,
                power_w FLOAT,
                voltage FLOAT,
                current_a FLOAT,
                factor FLOAT,
                received_at FLOAT NOT NULL,
                PRIMARY KEY (post_id, t)
            ) PARTITION BY RANGE (t)""")
    else:
        op.create_table('telemetry',
        sa.Column('post_id', sa.String(length=32), nullable=False),
        sa.Column('t', sa.BigInteger(), nullable=False),
        sa.Column('total_kwh', sa.Float(), nullable=True),
        sa.Column('hours', sa.Float(), nullable=True),
        sa.Column('power_w', sa.Float(), nullable=True),
        sa.Column('voltage', sa.Float(), nullable=True),
        sa.Column('current_a', sa.Float(), nullable=True),
        sa.Column('factor', sa.Float(), nullable=True),
        sa.Column('received_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('post_id', 't')
        )
    for name, col in (('energy_hourly', 'hour_t'), ('energy_daily', 'day_t')):
        op.create_table(name,
        sa.Column('post_id', sa.String(length=32), nullable=False),
        sa.Column(col, sa.BigInteger(), nullable=False),
        sa.Column('energy_kwh', sa.Float(), nullable=False),
        sa.Column('burn_h', sa.Float(), nullable=False),
        sa.Column('samples', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('post_id', col)
        )


def downgrade() -> None:
    op.drop_table('energy_daily')
    op.drop_table('energy_hourly')
    op.drop_table('telemetry')  # on PostgreSQL this drops every partition with it
