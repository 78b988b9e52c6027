"""SQL storage for the imaging subgraph: studies, the diagnosis queue, reviews."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, or_, select, tuple_, union, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.imaging.classification import Classification, ClassProbability
from domain.imaging.models import (
    ClaimedJob,
    Diagnosis,
    DiagnosisReview,
    DiagnosisStatus,
    ImageFacts,
    ImagingStudy,
    ReviewVerdict,
    SettledJob,
)
from domain.imaging.ports import StudyKey
from domain.modality import Modality
from infra.db.engine import autocommit
from infra.db.tables import diagnoses, diagnosis_reviews, imaging_studies

QUEUED = DiagnosisStatus.QUEUED.value
RUNNING = DiagnosisStatus.RUNNING.value
COMPLETED = DiagnosisStatus.COMPLETED.value
FAILED = DiagnosisStatus.FAILED.value
MAX_ERROR = 500


def _study(row: Any) -> ImagingStudy:
    return ImagingStudy(
        id=row.id,
        patient_id=row.patient_id,
        modality=Modality(row.modality),
        image=ImageFacts(
            sha256=row.sha256,
            content_type=row.content_type,
            width=row.width,
            height=row.height,
            byte_size=row.byte_size,
        ),
        uploaded_at=row.uploaded_at,
        assigned_doctor_id=row.assigned_doctor_id,
    )


def _diagnosis(row: Any) -> Diagnosis:
    return Diagnosis(
        id=row.id,
        study_id=row.study_id,
        status=DiagnosisStatus(row.status),
        version=row.version,
        created_at=row.created_at,
        label=row.label,
        confidence=row.confidence,
        probabilities=tuple(
            ClassProbability(str(label), float(p)) for label, p in (row.probabilities or [])
        ),
        error=row.error,
        completed_at=row.completed_at,
    )


def _review(row: Any) -> DiagnosisReview:
    return DiagnosisReview(
        reviewer_id=row.reviewer_id,
        verdict=ReviewVerdict(row.verdict),
        corrected_label=row.corrected_label,
        note=row.note,
        reviewed_at=row.reviewed_at,
    )


class SqlStudyRepository:
    """Studies and reviews, and the diagnosis rows as a durable work queue.

    The claim is one UPDATE of the row a sub-select picks: on PostgreSQL the sub-select takes
    ``FOR UPDATE SKIP LOCKED``, so replicas claiming at once take different rows; SQLite has one
    writer at a time, so the same conditional UPDATE is atomic there as it stands.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reads = autocommit(engine)

    # ---- studies

    async def create(self, study: ImagingStudy, diagnosis: Diagnosis) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                imaging_studies.insert().values(
                    id=study.id,
                    patient_id=study.patient_id,
                    modality=study.modality.value,
                    sha256=study.image.sha256,
                    content_type=study.image.content_type,
                    width=study.image.width,
                    height=study.image.height,
                    byte_size=study.image.byte_size,
                    assigned_doctor_id=study.assigned_doctor_id,
                    uploaded_at=study.uploaded_at,
                )
            )
            await conn.execute(
                diagnoses.insert().values(
                    id=diagnosis.id,
                    study_id=study.id,
                    status=diagnosis.status.value,
                    version=diagnosis.version,
                    probabilities=[],
                    attempts=0,
                    run_after=diagnosis.created_at,
                    created_at=diagnosis.created_at,
                    updated_at=diagnosis.created_at,
                )
            )

    async def get_many(self, study_ids: Sequence[str]) -> list[ImagingStudy]:
        if not study_ids:
            return []
        async with self._reads.connect() as conn:
            rows = await conn.execute(
                select(imaging_studies).where(imaging_studies.c.id.in_(study_ids))
            )
            return [_study(row) for row in rows]

    async def diagnoses_of(self, study_ids: Sequence[str]) -> dict[str, Diagnosis]:
        if not study_ids:
            return {}
        async with self._reads.connect() as conn:
            rows = await conn.execute(select(diagnoses).where(diagnoses.c.study_id.in_(study_ids)))
            return {row.study_id: _diagnosis(row) for row in rows}

    async def diagnoses(self, diagnosis_ids: Sequence[str]) -> list[Diagnosis]:
        if not diagnosis_ids:
            return []
        async with self._reads.connect() as conn:
            rows = await conn.execute(select(diagnoses).where(diagnoses.c.id.in_(diagnosis_ids)))
            return [_diagnosis(row) for row in rows]

    async def reviews(self, diagnosis_ids: Sequence[str]) -> dict[str, DiagnosisReview]:
        if not diagnosis_ids:
            return {}
        async with self._reads.connect() as conn:
            rows = await conn.execute(
                select(diagnosis_reviews).where(diagnosis_reviews.c.diagnosis_id.in_(diagnosis_ids))
            )
            return {row.diagnosis_id: _review(row) for row in rows}

    async def for_patient(
        self, patient_id: str, *, after: StudyKey | None, limit: int
    ) -> list[ImagingStudy]:
        key = tuple_(imaging_studies.c.uploaded_at, imaging_studies.c.id)
        query = select(imaging_studies).where(imaging_studies.c.patient_id == patient_id)
        if after is not None:
            query = query.where(key < tuple_(*after))
        query = query.order_by(
            imaging_studies.c.uploaded_at.desc(), imaging_studies.c.id.desc()
        ).limit(limit)
        async with self._reads.connect() as conn:
            return [_study(row) for row in await conn.execute(query)]

    async def review_queue(
        self, doctor_id: str, *, after: StudyKey | None, limit: int
    ) -> list[ImagingStudy]:
        key = tuple_(imaging_studies.c.uploaded_at, imaging_studies.c.id)
        reviewed = exists().where(diagnosis_reviews.c.diagnosis_id == diagnoses.c.id)
        query = (
            select(imaging_studies)
            .join(diagnoses, diagnoses.c.study_id == imaging_studies.c.id)
            .where(
                imaging_studies.c.assigned_doctor_id == doctor_id,
                diagnoses.c.status == COMPLETED,
                ~reviewed,
            )
        )
        if after is not None:
            query = query.where(key > tuple_(*after))
        query = query.order_by(imaging_studies.c.uploaded_at, imaging_studies.c.id).limit(limit)
        async with self._reads.connect() as conn:
            return [_study(row) for row in await conn.execute(query)]

    async def assign(self, study_id: str, doctor_id: str) -> ImagingStudy | None:
        reviewed = exists().where(
            diagnosis_reviews.c.diagnosis_id == diagnoses.c.id,
            diagnoses.c.study_id == imaging_studies.c.id,
        )
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    update(imaging_studies)
                    .where(imaging_studies.c.id == study_id, ~reviewed)
                    .values(assigned_doctor_id=doctor_id)
                    .returning(*imaging_studies.c)
                )
            ).first()
        return _study(row) if row else None

    async def add_review(self, diagnosis_id: str, review: DiagnosisReview) -> bool:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    diagnosis_reviews.insert().values(
                        diagnosis_id=diagnosis_id,
                        reviewer_id=review.reviewer_id,
                        verdict=review.verdict.value,
                        corrected_label=review.corrected_label,
                        note=review.note,
                        reviewed_at=review.reviewed_at,
                    )
                )
        except IntegrityError:
            return False
        return True

    async def uses_image(self, sha256: str) -> bool:
        async with self._reads.connect() as conn:
            found = await conn.execute(
                select(imaging_studies.c.id).where(imaging_studies.c.sha256 == sha256).limit(1)
            )
            return found.first() is not None

    async def assigned_partners_among(self, user_id: str, other_ids: Sequence[str]) -> set[str]:
        if not other_ids:
            return set()
        studies = imaging_studies.c
        query = union(
            select(studies.patient_id.label("partner")).where(
                studies.assigned_doctor_id == user_id, studies.patient_id.in_(other_ids)
            ),
            select(studies.assigned_doctor_id.label("partner")).where(
                studies.patient_id == user_id, studies.assigned_doctor_id.in_(other_ids)
            ),
        )
        async with self._reads.connect() as conn:
            return {row.partner for row in await conn.execute(query)}

    # ---- the queue

    async def claim(self, *, now: datetime, lease_until: datetime) -> ClaimedJob | None:
        due = or_(
            and_(diagnoses.c.status == QUEUED, diagnoses.c.run_after <= now),
            and_(diagnoses.c.status == RUNNING, diagnoses.c.lease_expires_at < now),
        )
        pick = (
            select(diagnoses.c.id)
            .where(due)
            .order_by(diagnoses.c.run_after, diagnoses.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        token = str(uuid.uuid4())
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    update(diagnoses)
                    .where(diagnoses.c.id == pick, due)
                    .values(
                        status=RUNNING,
                        version=diagnoses.c.version + 1,
                        attempts=diagnoses.c.attempts + 1,
                        lease_token=token,
                        lease_expires_at=lease_until,
                        updated_at=now,
                    )
                    .returning(*diagnoses.c)
                )
            ).first()
            if row is None:
                return None
            study = await self._study_in(conn, row.study_id)
        return ClaimedJob(
            diagnosis=_diagnosis(row), study=study, lease_token=token, attempts=row.attempts
        )

    async def extend_lease(self, diagnosis_id: str, token: str, until: datetime) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(diagnoses)
                .where(
                    diagnoses.c.id == diagnosis_id,
                    diagnoses.c.lease_token == token,
                    diagnoses.c.status == RUNNING,
                )
                .values(lease_expires_at=until)
            )
            return bool(result.rowcount)

    async def complete(
        self, job: ClaimedJob, classification: Classification, *, now: datetime
    ) -> SettledJob | None:
        return await self._settle(
            job,
            status=COMPLETED,
            label=classification.label,
            confidence=classification.confidence,
            probabilities=[[p.label, p.probability] for p in classification.probabilities],
            completed_at=now,
            updated_at=now,
        )

    async def fail(self, job: ClaimedJob, error: str, *, now: datetime) -> SettledJob | None:
        return await self._settle(
            job, status=FAILED, error=error[:MAX_ERROR], completed_at=now, updated_at=now
        )

    async def retry_later(
        self, job: ClaimedJob, *, run_after: datetime, now: datetime
    ) -> SettledJob | None:
        return await self._settle(job, status=QUEUED, run_after=run_after, updated_at=now)

    async def _settle(self, job: ClaimedJob, **values: Any) -> SettledJob | None:
        """Move a claimed job on, if its lease is still this worker's; read its study in the
        same transaction."""
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    update(diagnoses)
                    .where(
                        diagnoses.c.id == job.diagnosis.id,
                        diagnoses.c.lease_token == job.lease_token,
                        diagnoses.c.status == RUNNING,
                    )
                    .values(
                        version=diagnoses.c.version + 1,
                        lease_token=None,
                        lease_expires_at=None,
                        **values,
                    )
                    .returning(*diagnoses.c)
                )
            ).first()
            if row is None:
                return None
            return SettledJob(_diagnosis(row), await self._study_in(conn, row.study_id))

    @staticmethod
    async def _study_in(conn: AsyncConnection, study_id: str) -> ImagingStudy:
        row = (
            await conn.execute(select(imaging_studies).where(imaging_studies.c.id == study_id))
        ).one()
        return _study(row)
