"""console: accounts, API tokens, readings, each post's live state, the command audit trail

Revision ID: 0003_console
Revises: 0001
Create Date: 2026-12-02 01:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003_console'
down_revision = '0002_fleet'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('users',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.Text(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('municipality', sa.String(length=64), nullable=False),
    sa.Column('contractor', sa.String(length=64), nullable=True),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username', name='uq_users_username')
    )
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash', name='uq_api_tokens_hash')
    )
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
    op.create_table('post_state',
    sa.Column('post_id', sa.String(length=32), nullable=False),
    sa.Column('lamp', sa.String(length=8), nullable=True),
    sa.Column('lamp_t', sa.BigInteger(), nullable=True),
    sa.Column('dimmer', sa.Float(), nullable=True),
    sa.Column('state_t', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('post_id')
    )
    op.create_table('commands',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.Float(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('municipality', sa.String(length=64), nullable=False),
    sa.Column('post_id', sa.String(length=32), nullable=False),
    sa.Column('command', sa.String(length=16), nullable=False),
    sa.Column('param', sa.String(length=32), nullable=False),
    sa.Column('ctr', sa.BigInteger(), nullable=False),
    sa.Column('result', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_commands_post_id', 'commands', ['post_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_commands_post_id', table_name='commands')
    op.drop_table('commands')
    op.drop_table('post_state')
    op.drop_index('ix_readings_post_t', table_name='readings')
    op.drop_table('readings')
    op.drop_table('api_tokens')
    op.drop_table('users')
