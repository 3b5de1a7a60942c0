"""Automation: how the rollout an event started ended. ``rollout_status`` is the
rollout's status as ``loopml automate`` last saw it; ``settled_at`` when it stopped
watching it (promoted for good, rolled back or aborted: the event is then
ROLLED_BACK and its alert raised).

Revision ID: 0012_automation_rollouts
Revises: 0011_automation_leases
Create Date: 2026-12-18 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_automation_rollouts"
down_revision = "0011_automation_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trigger_events") as batch:
        batch.add_column(sa.Column("rollout_status", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("settled_at", sa.Float(precision=53), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trigger_events") as batch:
        batch.drop_column("settled_at")
        batch.drop_column("rollout_status")
