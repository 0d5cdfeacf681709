"""console sessions: a per-user session generation, so logout, a password change and disable
end the cookies issued before (existing rows start at 0; their old cookies carry none and
are refused, so everyone logs in once after the upgrade)

Revision ID: 0005_sessions
Revises: 0004_orders
"""
from alembic import op
import sqlalchemy as sa


revision = '0005_sessions'
down_revision = '0004_orders'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users') as b:
        b.add_column(sa.Column('session_gen', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('users') as b:
        b.drop_column('session_gen')
