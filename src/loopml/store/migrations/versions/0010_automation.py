"""Automation: the triggers ``loopml automate`` watches (triggers) and the events they
fired on, each claimed by one process, with what it caused (trigger_events).

Revision ID: 0010_automation
Revises: 0009_monitoring
Create Date: 2026-12-15 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_automation"
down_revision = "0009_monitoring"
branch_labels = None
depends_on = None

_DOUBLE = sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "triggers",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("spec", sa.String(length=1024), nullable=False),
        sa.Column("baseline", _DOUBLE, nullable=False),
        sa.Column("created_at", _DOUBLE, nullable=False),
        sa.Column("updated_at", _DOUBLE, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_triggers")),
    )
    op.create_table(
        "trigger_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("trigger_name", sa.String(length=255), nullable=False),
        sa.Column("event_key", sa.String(length=1024), nullable=False),
        sa.Column("cause", sa.String(length=1024), nullable=True),
        sa.Column("dataset", sa.String(length=1024), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=True),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("model_version", sa.String(length=1024), nullable=True),
        sa.Column("rollout_id", sa.Integer(), nullable=True),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", _DOUBLE, nullable=False),
        sa.Column("updated_at", _DOUBLE, nullable=False),
        sa.Column("finished_at", _DOUBLE, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trigger_events")),
        sa.UniqueConstraint(
            "trigger_name",
            "event_key",
            name=op.f("uq_trigger_events_trigger_name_event_key"),
        ),
    )
    op.create_index(
        op.f("ix_trigger_events_trigger_name_id"), "trigger_events", ["trigger_name", "id"]
    )


def downgrade() -> None:
    op.drop_table("trigger_events")
    op.drop_table("triggers")
