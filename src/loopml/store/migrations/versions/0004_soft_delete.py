"""Soft delete: experiments, runs and datasets get ``deleted_at``.

A deleted experiment, run or dataset keeps its rows (``restore`` brings it
back); ``loopml gc`` removes what deleted rows alone still reference.

Revision ID: 0004_soft_delete
Revises: 0003_tuning
Create Date: 2026-11-30 13:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_soft_delete"
down_revision = "0003_tuning"
branch_labels = None
depends_on = None

_TABLES = ("experiments", "runs", "datasets")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("deleted_at", sa.Float(precision=53), nullable=True))


def downgrade() -> None:
    for table in reversed(_TABLES):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("deleted_at")
