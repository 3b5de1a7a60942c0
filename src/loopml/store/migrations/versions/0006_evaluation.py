"""Evaluation and gates: stored evaluations, promotion requests through an environment's
gates (with approvals) and reproductions of a version's training run (evaluations,
promotions, reproductions).

Revision ID: 0006_evaluation
Revises: 0005_registry
Create Date: 2026-11-30 16:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_evaluation"
down_revision = "0005_registry"
branch_labels = None
depends_on = None

_DOUBLE = sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("model_uri", sa.String(length=1024), nullable=False),
        sa.Column("manifest_digest", sa.String(length=64), nullable=False),
        sa.Column("dataset", sa.String(length=1024), nullable=True),
        sa.Column("data_digest", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("task", sa.String(length=16), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("report_digest", sa.String(length=64), nullable=True),
        sa.Column("user", sa.String(length=255), nullable=True),
        sa.Column("created_at", _DOUBLE, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluations")),
    )
    op.create_index(
        op.f("ix_evaluations_name_version_id"), "evaluations", ["name", "version", "id"]
    )
    op.create_index(
        op.f("ix_evaluations_manifest_digest_data_digest"),
        "evaluations",
        ["manifest_digest", "data_digest"],
    )
    op.create_table(
        "promotions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("environment", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("champion_version", sa.Integer(), nullable=True),
        sa.Column("dataset", sa.String(length=1024), nullable=True),
        sa.Column("evaluation_id", sa.Integer(), nullable=True),
        sa.Column("champion_evaluation_id", sa.Integer(), nullable=True),
        sa.Column("checks", sa.Text(), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("user", sa.String(length=255), nullable=True),
        sa.Column("created_at", _DOUBLE, nullable=False),
        sa.Column("decided_by", sa.String(length=255), nullable=True),
        sa.Column("decided_at", _DOUBLE, nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("transition_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotions")),
    )
    op.create_index(
        op.f("ix_promotions_name_version_environment_id"),
        "promotions",
        ["name", "version", "environment", "id"],
    )
    op.create_index(op.f("ix_promotions_status"), "promotions", ["status"])
    op.create_table(
        "reproductions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("reproduced_run_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tolerance", _DOUBLE, nullable=False),
        sa.Column("comparison", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("user", sa.String(length=255), nullable=True),
        sa.Column("created_at", _DOUBLE, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reproductions")),
    )
    op.create_index(
        op.f("ix_reproductions_name_version_id"), "reproductions", ["name", "version", "id"]
    )


def downgrade() -> None:
    op.drop_table("reproductions")
    op.drop_table("promotions")
    op.drop_table("evaluations")
