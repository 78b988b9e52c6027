"""imaging: studies, durable diagnoses (queue with leases), reviews

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import infra.db.tables

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "imaging_studies",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("modality", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("byte_size", sa.Integer(), nullable=False),
        sa.Column("assigned_doctor_id", sa.String(length=36), nullable=True),
        sa.Column("uploaded_at", infra.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imaging_studies")),
    )
    with op.batch_alter_table("imaging_studies", schema=None) as batch_op:
        batch_op.create_index(
            "ix_imaging_studies_patient_id_uploaded_at",
            ["patient_id", "uploaded_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_imaging_studies_assigned_doctor_id_uploaded_at",
            ["assigned_doctor_id", "uploaded_at", "id"],
            unique=False,
        )

    op.create_table(
        "diagnoses",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("study_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("probabilities", sa.JSON(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_token", sa.String(length=36), nullable=True),
        sa.Column("lease_expires_at", infra.db.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("run_after", infra.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_at", infra.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", infra.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", infra.db.tables.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["imaging_studies.id"],
            name=op.f("fk_diagnoses_study_id_imaging_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_diagnoses")),
        sa.UniqueConstraint("study_id", name=op.f("uq_diagnoses_study_id")),
    )
    with op.batch_alter_table("diagnoses", schema=None) as batch_op:
        batch_op.create_index(
            "ix_diagnoses_status_run_after", ["status", "run_after"], unique=False
        )

    op.create_table(
        "diagnosis_reviews",
        sa.Column("diagnosis_id", sa.String(length=36), nullable=False),
        sa.Column("reviewer_id", sa.String(length=36), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("corrected_label", sa.String(length=100), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("reviewed_at", infra.db.tables.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["diagnosis_id"],
            ["diagnoses.id"],
            name=op.f("fk_diagnosis_reviews_diagnosis_id_diagnoses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("diagnosis_id", name=op.f("pk_diagnosis_reviews")),
    )


def downgrade() -> None:
    op.drop_table("diagnosis_reviews")
    with op.batch_alter_table("diagnoses", schema=None) as batch_op:
        batch_op.drop_index("ix_diagnoses_status_run_after")
    op.drop_table("diagnoses")
    with op.batch_alter_table("imaging_studies", schema=None) as batch_op:
        batch_op.drop_index("ix_imaging_studies_assigned_doctor_id_uploaded_at")
        batch_op.drop_index("ix_imaging_studies_patient_id_uploaded_at")
    op.drop_table("imaging_studies")
