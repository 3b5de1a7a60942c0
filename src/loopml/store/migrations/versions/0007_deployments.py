"""Deployments: named endpoints serving one model version, and the history of their
changes numbered by generation (deployments, deployment_history).

Revision ID: 0007_deployments
Revises: 0006_evaluation
Create Date: 2026-11-30 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_deployments"
down_revision = "0006_evaluation"
branch_labels = None
depends_on = None

_DOUBLE = sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("model_name", sa.String(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("model_uri", sa.String(length=1024), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("created_at", _DOUBLE, nullable=False),
        sa.Column("updated_at", _DOUBLE, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_deployments")),
    )
    op.create_index(
        op.f("ix_deployments_model_name_version"), "deployments", ["model_name", "version"]
    )
    op.create_table(
        "deployment_history",
        sa.Column("generation", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("model_name", sa.String(length=255), nullable=True),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=True),
        sa.Column("model_uri", sa.String(length=1024), nullable=True),
        sa.Column("user", sa.String(length=255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", _DOUBLE, nullable=False),
        sa.PrimaryKeyConstraint("generation", name=op.f("pk_deployment_history")),
    )
    op.create_index(
        op.f("ix_deployment_history_name_generation"),
        "deployment_history",
        ["name", "generation"],
    )


def downgrade() -> None:
    op.drop_table("deployment_history")
    op.drop_table("deployments")
