"""Tuning: studies and their trials (tuning_studies, tuning_trials).

Revision ID: 0003_tuning
Revises: 0002_pipelines
Create Date: 2026-11-23 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_tuning"
down_revision = "0002_pipelines"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tuning_studies",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("pipeline", sa.String(length=512), nullable=False),
        sa.Column("metric", sa.String(length=250), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("space", sa.Text(), nullable=False),
        sa.Column("sampler", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.Column("best_trial", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_tuning_studies")),
    )
    op.create_table(
        "tuning_trials",
        sa.Column("study", sa.String(length=255), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("tuning_run_id", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=True),
        sa.Column("started_at", sa.Float(precision=53), nullable=False),
        sa.Column("ended_at", sa.Float(precision=53), nullable=True),
        sa.PrimaryKeyConstraint("study", "number", name=op.f("pk_tuning_trials")),
    )


def downgrade() -> None:
    op.drop_table("tuning_trials")
    op.drop_table("tuning_studies")
