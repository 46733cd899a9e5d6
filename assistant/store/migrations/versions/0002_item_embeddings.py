"""Items keep the sentence embedding of their text, for insights.

Existing items get theirs lazily: the worker fills in missing embeddings in batches between jobs
(``assistant.store.insights.embed_missing``), and an insights request embeds a bounded number of
the ones it needs that are still missing. The migration itself loads no model.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 18:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("embedding", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_column("embedding")
