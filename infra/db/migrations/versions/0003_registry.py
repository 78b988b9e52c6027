"""registry: models, versions (one ACTIVE per modality), experiments, inference records

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import infra.db.tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UtcDateTime = infra.db.tables.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "registry_models",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("modality", sa.String(length=16), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("input_spec", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_models")),
        sa.UniqueConstraint("name", name=op.f("uq_registry_models_name")),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("model_id", sa.String(length=36), nullable=False),
        sa.Column("modality", sa.String(length=16), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("byte_size", sa.Integer(), nullable=False),
        sa.Column("intended_use", sa.Text(), nullable=False),
        sa.Column("execution_provider", sa.String(length=64), nullable=True),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registry_models.id"],
            name=op.f("fk_model_versions_model_id_registry_models"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_versions")),
        sa.UniqueConstraint("model_id", "version", name=op.f("uq_model_versions_model_id_version")),
    )
    op.create_index(
        "ix_model_versions_one_active_per_modality",
        "model_versions",
        ["modality"],
        unique=True,
        sqlite_where=sa.text("status = 'ACTIVE'"),
        postgresql_where=sa.text("status = 'ACTIVE'"),
    )
    op.create_index("ix_model_versions_sha256", "model_versions", ["sha256"])
    op.create_table(
        "experiments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("modality", sa.String(length=16), nullable=False),
        sa.Column("control_id", sa.String(length=36), nullable=False),
        sa.Column("candidate_id", sa.String(length=36), nullable=False),
        sa.Column("candidate_percent", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("started_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["control_id"],
            ["model_versions.id"],
            name=op.f("fk_experiments_control_id_model_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["model_versions.id"],
            name=op.f("fk_experiments_candidate_id_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
    )
    op.create_index(
        "ix_experiments_one_active_per_modality",
        "experiments",
        ["modality"],
        unique=True,
        sqlite_where=sa.text("active IS 1"),
        postgresql_where=sa.text("active IS true"),
    )
    op.create_table(
        "inference_records",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("model_version_id", sa.String(length=36), nullable=False),
        sa.Column("diagnosis_id", sa.String(length=36), nullable=True),
        sa.Column("input_sha256", sa.String(length=64), nullable=False),
        sa.Column("queue_ms", sa.Float(), nullable=False),
        sa.Column("compute_ms", sa.Float(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("agreed", sa.Boolean(), nullable=True),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name=op.f("fk_inference_records_model_version_id_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inference_records")),
    )
    op.create_index(
        "ix_inference_records_model_version_id_created_at",
        "inference_records",
        ["model_version_id", "created_at", "id"],
    )
    op.create_index("ix_inference_records_created_at", "inference_records", ["created_at", "id"])
    op.create_index("ix_inference_records_diagnosis_id", "inference_records", ["diagnosis_id"])


def downgrade() -> None:
    op.drop_index("ix_inference_records_diagnosis_id", table_name="inference_records")
    op.drop_index("ix_inference_records_created_at", table_name="inference_records")
    op.drop_index(
        "ix_inference_records_model_version_id_created_at", table_name="inference_records"
    )
    op.drop_table("inference_records")
    op.drop_index("ix_experiments_one_active_per_modality", table_name="experiments")
    op.drop_table("experiments")
    op.drop_index("ix_model_versions_sha256", table_name="model_versions")
    op.drop_index("ix_model_versions_one_active_per_modality", table_name="model_versions")
    op.drop_table("model_versions")
    op.drop_table("registry_models")
