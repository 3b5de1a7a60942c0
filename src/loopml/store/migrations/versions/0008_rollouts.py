"""Rollouts: a candidate version moved onto a deployment by a strategy (blue_green,
canary, shadow, ab), with the analyses of its steps (rollouts, rollout_analyses); a
deployment names its latest rollout, and its history the rollout and the candidate's
weight of each change.

Revision ID: 0008_rollouts
Revises: 0007_deployments
Create Date: 2026-11-30 23:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_rollouts"
down_revision = "0007_deployments"
branch_labels = None
depends_on = None

_DOUBLE = sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "rollouts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deployment", sa.String(length=255), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("environment", sa.String(length=255), nullable=True),
        sa.Column("primary_model", sa.String(length=255), nullable=False),
        sa.Column("primary_version", sa.Integer(), nullable=False),
        sa.Column("candidate_model", sa.String(length=255), nullable=False),
        sa.Column("candidate_version", sa.Integer(), nullable=False),
        sa.Column("candidate_uri", sa.String(length=1024), nullable=False),
        sa.Column("steps", sa.Text(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("interval_seconds", _DOUBLE, nullable=False),
        sa.Column("split", sa.Integer(), nullable=False),
        sa.Column("sticky", sa.String(length=255), nullable=True),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("user", sa.String(length=255), nullable=True),
        sa.Column("created_at", _DOUBLE, nullable=False),
        sa.Column("updated_at", _DOUBLE, nullable=False),
        sa.Column("step_started_at", _DOUBLE, nullable=True),
        sa.Column("finished_at", _DOUBLE, nullable=True),
        sa.Column("finish_reason", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=255), nullable=True),
        sa.Column("lease_expires", _DOUBLE, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollouts")),
    )
    op.create_index(op.f("ix_rollouts_deployment_id"), "rollouts", ["deployment", "id"])
    op.create_index(op.f("ix_rollouts_status"), "rollouts", ["status"])
    op.create_table(
        "rollout_analyses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rollout_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("checks", sa.Text(), nullable=False),
        sa.Column("primary_count", sa.Integer(), nullable=False),
        sa.Column("candidate_count", sa.Integer(), nullable=False),
        sa.Column("created_at", _DOUBLE, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout_analyses")),
    )
    op.create_index(
        op.f("ix_rollout_analyses_rollout_id_id"), "rollout_analyses", ["rollout_id", "id"]
    )
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("rollout_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("deployment_history") as batch:
        batch.add_column(sa.Column("rollout_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("weight", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployment_history") as batch:
        batch.drop_column("weight")
        batch.drop_column("rollout_id")
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("rollout_id")
    op.drop_table("rollout_analyses")
    op.drop_table("rollouts")
