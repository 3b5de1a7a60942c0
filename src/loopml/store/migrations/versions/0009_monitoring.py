"""Monitoring: monitors over a deployment's prediction log (monitors), the result of each
window they computed (monitor_windows), and the alerts their rules raised (alerts).

Revision ID: 0009_monitoring
Revises: 0008_rollouts
Create Date: 2026-12-01 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_monitoring"
down_revision = "0008_rollouts"
branch_labels = None
depends_on = None

_DOUBLE = sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("deployment", sa.String(length=255), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("created_at", _DOUBLE, nullable=False),
        sa.Column("updated_at", _DOUBLE, nullable=False),
        sa.Column("cursor_at", _DOUBLE, nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_monitors")),
    )
    op.create_table(
        "monitor_windows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("monitor", sa.String(length=255), nullable=False),
        sa.Column("window_start", _DOUBLE, nullable=False),
        sa.Column("window_end", _DOUBLE, nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=1024), nullable=True),
        sa.Column("metrics", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("feedback_mark", sa.String(length=255), nullable=True),
        sa.Column("created_at", _DOUBLE, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_windows")),
        sa.UniqueConstraint(
            "monitor", "window_start", name=op.f("uq_monitor_windows_monitor_window_start")
        ),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("monitor", sa.String(length=255), nullable=False),
        sa.Column("rule", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("value", _DOUBLE, nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("first_window", sa.Integer(), nullable=True),
        sa.Column("last_window", sa.Integer(), nullable=True),
        sa.Column("opened_at", _DOUBLE, nullable=False),
        sa.Column("updated_at", _DOUBLE, nullable=False),
        sa.Column("resolved_at", _DOUBLE, nullable=True),
        sa.Column("notified_at", _DOUBLE, nullable=True),
        sa.Column("deliveries", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index(op.f("ix_alerts_monitor_rule_status"), "alerts", ["monitor", "rule", "status"])


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_table("monitor_windows")
    op.drop_table("monitors")
