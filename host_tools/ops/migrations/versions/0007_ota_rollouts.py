"""OTA rollouts in the database: ota_rollouts and ota_rollout_posts (before, each rollout
wrote a JSON file beside the process that ran it)

Revision ID: 0007_ota_rollouts
Revises: 0006_rollups_telemetry_once

A rollout's per-post states are written as they change, with a heartbeat of the process
running it, so any machine of the service shows them and a rollout whose process died is
resumed (`lamppost-ops ota rollout --resume ID`). Old state files are not imported: a
finished rollout's file stays where it was for the record.
"""
from alembic import op
import sqlalchemy as sa


revision = '0007_ota_rollouts'
down_revision = '0006_rollups_telemetry_once'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ota_rollouts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('version', sa.String(length=32), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('why', sa.Text(), nullable=True),
    sa.Column('canary', sa.Float(), nullable=False),
    sa.Column('wave_size', sa.Integer(), nullable=False),
    sa.Column('max_fail', sa.Float(), nullable=False),
    sa.Column('wave_timeout_s', sa.Float(), nullable=False),
    sa.Column('waves', sa.Text(), nullable=False),
    sa.Column('started_at', sa.Float(), nullable=False),
    sa.Column('heartbeat_at', sa.Float(), nullable=False),
    sa.Column('ended_at', sa.Float(), nullable=True),
    sa.Column('owner', sa.String(length=16), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('ota_rollout_posts',
    sa.Column('rollout_id', sa.Integer(), nullable=False),
    sa.Column('post_id', sa.String(length=32), nullable=False),
    sa.Column('wave', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('why', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['rollout_id'], ['ota_rollouts.id'], ),
    sa.PrimaryKeyConstraint('rollout_id', 'post_id')
    )
    op.create_index('ix_ota_rollout_posts_post', 'ota_rollout_posts', ['post_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_ota_rollout_posts_post', table_name='ota_rollout_posts')
    op.drop_table('ota_rollout_posts')
    op.drop_table('ota_rollouts')
