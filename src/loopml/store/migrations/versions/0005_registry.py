"""Model registry: registered models, their versions, tags, aliases and the history of
environment moves (registered_models, model_versions, model_version_tags,
model_aliases, model_transitions).

Revision ID: 0005_registry
Revises: 0004_soft_delete
Create Date: 2026-11-30 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_registry"
down_revision = "0004_soft_delete"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("last_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.Column("updated_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_registered_models")),
    )
    op.create_table(
        "model_versions",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=1024), nullable=False),
        sa.Column("manifest_digest", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.Column("deleted_at", sa.Float(precision=53), nullable=True),
        sa.ForeignKeyConstraint(
            ["name"],
            ["registered_models.name"],
            name=op.f("fk_model_versions_name_registered_models"),
        ),
        sa.PrimaryKeyConstraint("name", "version", name=op.f("pk_model_versions")),
    )
    op.create_index(
        op.f("ix_model_versions_name_manifest_digest"),
        "model_versions",
        ["name", "manifest_digest"],
        unique=True,
        sqlite_where=sa.text("deleted_at IS NULL"),
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(op.f("ix_model_versions_run_id"), "model_versions", ["run_id"])
    op.create_table(
        "model_version_tags",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", "version", "key", name=op.f("pk_model_version_tags")),
        sqlite_with_rowid=False,
    )
    op.create_index(op.f("ix_model_version_tags_key_value"), "model_version_tags", ["key", "value"])
    op.create_table(
        "model_aliases",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("alias", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("name", "alias", name=op.f("pk_model_aliases")),
        sqlite_with_rowid=False,
    )
    op.create_index(op.f("ix_model_aliases_name_version"), "model_aliases", ["name", "version"])
    op.create_table(
        "model_transitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("environment", sa.String(length=64), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=False),
        sa.Column("user", sa.String(length=255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_transitions")),
    )
    op.create_index(
        op.f("ix_model_transitions_name_environment_id"),
        "model_transitions",
        ["name", "environment", "id"],
    )


def downgrade() -> None:
    op.drop_table("model_transitions")
    op.drop_table("model_aliases")
    op.drop_table("model_version_tags")
    op.drop_table("model_versions")
    op.drop_table("registered_models")
