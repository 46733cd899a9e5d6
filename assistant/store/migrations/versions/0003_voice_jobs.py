"""Jobs of another kind: a user's voice enrollment runs in a worker like an analysis.

``jobs.kind`` (``analysis`` for every existing job), ``jobs.user_id`` (whose voice), and
``jobs.call_id`` may be empty (a voice job belongs to no call).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 18:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="analysis", nullable=False)
        )
        batch_op.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
        batch_op.alter_column("call_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_index(batch_op.f("ix_jobs_user_id"), ["user_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_jobs_user_id_users", "users", ["user_id"], ["id"], ondelete="CASCADE"
        )


def downgrade() -> None:
    op.execute("DELETE FROM jobs WHERE call_id IS NULL")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_constraint("fk_jobs_user_id_users", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_jobs_user_id"))
        batch_op.alter_column("call_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("user_id")
        batch_op.drop_column("kind")
