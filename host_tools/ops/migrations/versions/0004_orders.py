"""inbound contractor status updates (one row per applied update: idempotency)

Revision ID: 0004_orders
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0004_orders'
down_revision = '0003_console'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inbound',
    sa.Column('source', sa.String(length=130), nullable=False),
    sa.Column('event_id', sa.String(length=128), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('at', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ),
    sa.PrimaryKeyConstraint('source', 'event_id')
    )


def downgrade() -> None:
    op.drop_table('inbound')
