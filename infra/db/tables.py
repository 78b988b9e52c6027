"""The tables, grouped by the subgraph that owns them.

No foreign key crosses a subgraph boundary: each group can move to its own database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every engine (SQLite keeps no zone, PostgreSQL does)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# ---- users

users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", String(255)),
    Column("display_name", String(100), nullable=False),
    Column("role", String(16), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("specialty", String(100)),
    Column("bio", Text),
    Column("external_subject", String(255), unique=True),
    Column("created_at", UtcDateTime, nullable=False),
)
Index("ix_users_role_display_name", users.c.role, users.c.display_name, users.c.id)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("family_id", String(36), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
)
Index("ix_refresh_tokens_user_id", refresh_tokens.c.user_id)

# ---- messaging

conversations = Table(
    "conversations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("subject", String(200)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_activity_at", UtcDateTime, nullable=False),
    Column("last_seq", Integer, nullable=False, default=0),
)

conversation_participants = Table(
    "conversation_participants",
    metadata,
    Column(
        "conversation_id",
        String(36),
        ForeignKey("conversations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("user_id", String(36), primary_key=True),
    Column("last_read_seq", Integer, nullable=False, default=0),
)
Index("ix_conversation_participants_user_id", conversation_participants.c.user_id)

messages = Table(
    "messages",
    metadata,
    Column("id", String(36), primary_key=True),
    Column(
        "conversation_id",
        String(36),
        ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("seq", Integer, nullable=False),
    Column("sender_id", String(36), nullable=False),
    Column("body", Text, nullable=False),
    Column("study_id", String(36)),
    Column("sent_at", UtcDateTime, nullable=False),
    UniqueConstraint("conversation_id", "seq"),
)

# ---- scheduling

availability_windows = Table(
    "availability_windows",
    metadata,
    Column("doctor_id", String(36), primary_key=True),
    Column("weekday", Integer, primary_key=True),
    Column("start_minute", Integer, primary_key=True),
    Column("end_minute", Integer, nullable=False),
    Column("timezone", String(64), nullable=False),
)

appointments = Table(
    "appointments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("patient_id", String(36), nullable=False),
    Column("doctor_id", String(36), nullable=False),
    Column("starts_at", UtcDateTime, nullable=False),
    Column("ends_at", UtcDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", String(500)),
    Column("cancel_reason", String(500)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
Index("ix_appointments_doctor_id_starts_at", appointments.c.doctor_id, appointments.c.starts_at)
Index("ix_appointments_patient_id_starts_at", appointments.c.patient_id, appointments.c.starts_at)

# One row per 5-minute block of a BOOKED appointment, for each participant: the primary key
# is what makes a double booking impossible, on SQLite and PostgreSQL alike.
appointment_blocks = Table(
    "appointment_blocks",
    metadata,
    Column("user_id", String(36), primary_key=True),
    Column("block_start", UtcDateTime, primary_key=True),
    Column(
        "appointment_id",
        String(36),
        ForeignKey("appointments.id", ondelete="CASCADE"),
        nullable=False,
    ),
)
Index("ix_appointment_blocks_appointment_id", appointment_blocks.c.appointment_id)

# ---- registry

registry_models = Table(
    "registry_models",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("modality", String(16), nullable=False),
    Column("labels", JSON, nullable=False),
    Column("input_spec", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# ``modality`` repeats the model's (it never changes) so that the database itself keeps one
# ACTIVE version per modality: a partial unique index, on SQLite and PostgreSQL alike.
model_versions = Table(
    "model_versions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("model_id", String(36), ForeignKey("registry_models.id"), nullable=False),
    Column("modality", String(16), nullable=False),
    Column("version", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("byte_size", Integer, nullable=False),
    Column("intended_use", Text, nullable=False),
    Column("execution_provider", String(64)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("model_id", "version"),
)
Index(
    "ix_model_versions_one_active_per_modality",
    model_versions.c.modality,
    unique=True,
    sqlite_where=model_versions.c.status == "ACTIVE",
    postgresql_where=model_versions.c.status == "ACTIVE",
)
Index("ix_model_versions_sha256", model_versions.c.sha256)

experiments = Table(
    "experiments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("modality", String(16), nullable=False),
    Column("control_id", String(36), ForeignKey("model_versions.id"), nullable=False),
    Column("candidate_id", String(36), ForeignKey("model_versions.id"), nullable=False),
    Column("candidate_percent", Integer, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("stopped_at", UtcDateTime),
)
Index(
    "ix_experiments_one_active_per_modality",
    experiments.c.modality,
    unique=True,
    sqlite_where=experiments.c.active.is_(True),
    postgresql_where=experiments.c.active.is_(True),
)

# No pixels and no patient: the input's SHA-256, the diagnosis it served (a bare id, no key
# across subgraphs) and the doctor's verdict once reviewed (``agreed``), for the metrics.
inference_records = Table(
    "inference_records",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("model_version_id", String(36), ForeignKey("model_versions.id"), nullable=False),
    Column("diagnosis_id", String(36)),
    Column("input_sha256", String(64), nullable=False),
    Column("queue_ms", Float, nullable=False),
    Column("compute_ms", Float, nullable=False),
    Column("confidence", Float),
    Column("outcome", String(16), nullable=False),
    Column("agreed", Boolean),
    Column("created_at", UtcDateTime, nullable=False),
)
Index(
    "ix_inference_records_model_version_id_created_at",
    inference_records.c.model_version_id,
    inference_records.c.created_at,
    inference_records.c.id,
)
Index(
    "ix_inference_records_created_at", inference_records.c.created_at, inference_records.c.id
)
Index("ix_inference_records_diagnosis_id", inference_records.c.diagnosis_id)

# ---- imaging

imaging_studies = Table(
    "imaging_studies",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("patient_id", String(36), nullable=False),
    Column("modality", String(16), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content_type", String(32), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("byte_size", Integer, nullable=False),
    Column("assigned_doctor_id", String(36)),
    Column("uploaded_at", UtcDateTime, nullable=False),
)
Index(
    "ix_imaging_studies_patient_id_uploaded_at",
    imaging_studies.c.patient_id,
    imaging_studies.c.uploaded_at,
    imaging_studies.c.id,
)
Index(
    "ix_imaging_studies_assigned_doctor_id_uploaded_at",
    imaging_studies.c.assigned_doctor_id,
    imaging_studies.c.uploaded_at,
    imaging_studies.c.id,
)

# One diagnosis per study. ``version`` counts its status changes (events carry it, so a
# subscriber drops a change it has seen); ``lease_token``/``lease_expires_at`` say which worker
# runs it until when, so a job whose process died is claimed again once the lease runs out.
diagnoses = Table(
    "diagnoses",
    metadata,
    Column("id", String(36), primary_key=True),
    Column(
        "study_id",
        String(36),
        ForeignKey("imaging_studies.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column("status", String(16), nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("label", String(100)),
    Column("confidence", Float),
    Column("probabilities", JSON, nullable=False, default=list),
    Column("error", String(500)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_token", String(36)),
    Column("lease_expires_at", UtcDateTime),
    Column("run_after", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("completed_at", UtcDateTime),
)
Index("ix_diagnoses_status_run_after", diagnoses.c.status, diagnoses.c.run_after)

diagnosis_reviews = Table(
    "diagnosis_reviews",
    metadata,
    Column(
        "diagnosis_id",
        String(36),
        ForeignKey("diagnoses.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("reviewer_id", String(36), nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("corrected_label", String(100)),
    Column("note", Text),
    Column("reviewed_at", UtcDateTime, nullable=False),
)

# ---- audit (written by every subgraph, read by operators)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor_id", String(36)),
    Column("action", String(64), nullable=False),
    Column("record_type", String(32), nullable=False),
    Column("record_id", String(64), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("detail", JSON, nullable=False, default=dict),
)
Index("ix_audit_events_record", audit_events.c.record_type, audit_events.c.record_id)
