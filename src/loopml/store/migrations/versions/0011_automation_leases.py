"""Automation: a claimed trigger event holds a lease (``lease_until``), renewed while its
retrain runs; an event whose lease expired (or whose owner is gone) is taken over by a
later ``loopml automate``, which counts the ``attempts`` and records whom it took the
event from (``taken_from``).

Revision ID: 0011_automation_leases
Revises: 0010_automation
Create Date: 2026-12-18 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_automation_leases"
down_revision = "0010_automation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trigger_events") as batch:
        batch.add_column(sa.Column("lease_until", sa.Float(precision=53), nullable=True))
        batch.add_column(
            sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("1"))
        )
        batch.add_column(sa.Column("taken_from", sa.String(length=1024), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trigger_events") as batch:
        batch.drop_column("taken_from")
        batch.drop_column("attempts")
        batch.drop_column("lease_until")
