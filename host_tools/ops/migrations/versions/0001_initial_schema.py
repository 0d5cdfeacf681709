"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-12-01 21:56:05.662768
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alarms',
    sa.Column('post_id', sa.String(length=32), nullable=False),
    sa.Column('alarm', sa.String(length=40), nullable=False),
    sa.Column('raised', sa.Boolean(), nullable=False),
    sa.Column('since_t', sa.BigInteger(), nullable=False),
    sa.Column('handled', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('post_id', 'alarm')
    )
    op.create_table('counters',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('group_locks',
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('messages',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('post_id', sa.String(length=32), nullable=False),
    sa.Column('inc', sa.BigInteger(), nullable=False),
    sa.Column('dseq', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('alarm', sa.String(length=40), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=True),
    sa.Column('t', sa.BigInteger(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('received_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('post_id', 'inc', 'dseq', name='uq_messages_post_inc_dseq')
    )
    op.create_table('municipalities',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('orders',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('municipality', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=80), nullable=False),
    sa.Column('post_id', sa.String(length=32), nullable=True),
    sa.Column('cabinet', sa.String(length=64), nullable=True),
    sa.Column('fault_class', sa.String(length=24), nullable=False),
    sa.Column('category', sa.Text(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('contractor', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('open_slot', sa.String(length=120), nullable=True),
    sa.Column('repeat_of', sa.Integer(), nullable=True),
    sa.Column('escalated', sa.Boolean(), nullable=False),
    sa.Column('first_t', sa.BigInteger(), nullable=False),
    sa.Column('opened_at', sa.Float(), nullable=False),
    sa.Column('repaired_t', sa.BigInteger(), nullable=True),
    sa.Column('closed_t', sa.BigInteger(), nullable=True),
    sa.Column('remote_id', sa.Text(), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('open_slot')
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_orders_municipality'), ['municipality'], unique=False)

    op.create_table('post_history',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('post_id', sa.String(length=32), nullable=False),
    sa.Column('at', sa.Float(), nullable=False),
    sa.Column('field', sa.String(length=32), nullable=False),
    sa.Column('old', sa.Text(), nullable=True),
    sa.Column('new', sa.Text(), nullable=True),
    sa.Column('source', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('post_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_post_history_post_id'), ['post_id'], unique=False)

    op.create_table('audit',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.Float(), nullable=False),
    sa.Column('t', sa.BigInteger(), nullable=True),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('cause', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_order_id'), ['order_id'], unique=False)

    op.create_table('dispatch',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('contractor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('idem_key', sa.String(length=80), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_at', sa.Float(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('remote_id', sa.Text(), nullable=True),
    sa.Column('sent_at', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idem_key')
    )
    op.create_table('order_alarms',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('post_id', sa.String(length=32), nullable=False),
    sa.Column('alarm', sa.String(length=40), nullable=False),
    sa.Column('t', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('order_alarms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_alarms_order_id'), ['order_id'], unique=False)

    op.create_table('posts',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('municipality', sa.String(length=64), nullable=False),
    sa.Column('street', sa.Text(), nullable=True),
    sa.Column('light_point', sa.String(length=64), nullable=True),
    sa.Column('cabinet', sa.String(length=64), nullable=True),
    sa.Column('luminaire', sa.Text(), nullable=True),
    sa.Column('contractor', sa.String(length=64), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('lamp', sa.String(length=16), nullable=True),
    sa.Column('rated_w', sa.Float(), nullable=True),
    sa.Column('imported_at', sa.Float(), nullable=False),
    sa.Column('last_t', sa.BigInteger(), nullable=True),
    sa.Column('last_seen_at', sa.Float(), nullable=True),
    sa.Column('lwt', sa.String(length=16), nullable=True),
    sa.Column('lwt_at', sa.Float(), nullable=True),
    sa.Column('lamp_on_t', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['municipality'], ['municipalities.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    # ### end Alembic commands ###


def downgrade() -> None:
    op.drop_table('posts')
    with op.batch_alter_table('order_alarms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_alarms_order_id'))

    op.drop_table('order_alarms')
    op.drop_table('dispatch')
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_order_id'))

    op.drop_table('audit')
    with op.batch_alter_table('post_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_post_history_post_id'))

    op.drop_table('post_history')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_municipality'))

    op.drop_table('orders')
    op.drop_table('municipalities')
    op.drop_table('messages')
    op.drop_table('group_locks')
    op.drop_table('counters')
    op.drop_table('alarms')
    # ### end Alembic commands ###
