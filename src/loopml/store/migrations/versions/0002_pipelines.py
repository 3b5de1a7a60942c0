"""Pipelines: the step cache (cache_entries).

Revision ID: 0002_pipelines
Revises: 0001_initial
Create Date: 2026-11-23 15:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_pipelines"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cache_entries",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("step", sa.String(length=512), nullable=False),
        sa.Column("components", sa.Text(), nullable=False),
        sa.Column("outputs", sa.Text(), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_cache_entries")),
    )
    with op.batch_alter_table("cache_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cache_entries_step_created_at"), ["step", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("cache_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cache_entries_step_created_at"))
    op.drop_table("cache_entries")
