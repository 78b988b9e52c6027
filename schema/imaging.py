"""The imaging subgraph: studies, their diagnoses, doctors' reviews, live diagnosis events."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from datetime import datetime
from typing import TYPE_CHECKING, cast

import strawberry
from strawberry.file_uploads import Upload

from domain.imaging import models
from domain.imaging.models import DiagnosisStatus, ReviewVerdict
from resolvers.imaging import mutations, queries, subscriptions
from schema.context import Info
from schema.modality import Modality
from schema.pagination import Connection
from schema.subgraph import SubgraphSpec

if TYPE_CHECKING:
    from starlette.datastructures import UploadFile

strawberry.enum(DiagnosisStatus, description="Where a diagnosis stands.")
strawberry.enum(ReviewVerdict, description="A doctor's verdict on the model's finding.")


def study_connection(page: models.StudyPage, *, after: str | None) -> Connection[ImagingStudy]:
    return Connection.of(
        [ImagingStudy.from_domain(s) for s in page.studies],
        [queries.study_cursor(s) for s in page.studies],
        has_next_page=page.has_next_page,
        has_previous_page=after is not None,
    )


@strawberry.federation.type(keys=["id"])
class User:
    """The users' entity, as imaging sees it: an id to hang studies on."""

    id: strawberry.ID

    @strawberry.field(
        description="A patient's studies, newest first: for the patient and their doctors."
    )
    async def studies(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[ImagingStudy]:
        page = await queries.studies_of(info.context, patient_id=self.id, first=first, after=after)
        return study_connection(page, after=after)

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> User:
        return cls(id=id)


@strawberry.type
class ClassProbability:
    label: str
    probability: float


@strawberry.type
class DiagnosisReview:
    verdict: ReviewVerdict
    corrected_label: str | None
    note: str | None
    reviewed_at: datetime
    reviewer_id: strawberry.Private[str]

    @classmethod
    def from_domain(cls, review: models.DiagnosisReview) -> DiagnosisReview:
        return cls(
            verdict=review.verdict,
            corrected_label=review.corrected_label,
            note=review.note,
            reviewed_at=review.reviewed_at,
            reviewer_id=review.reviewer_id,
        )

    @strawberry.field
    def reviewer(self) -> User:
        return User(id=strawberry.ID(self.reviewer_id))


@strawberry.federation.type(keys=["id"])
class ImagingStudy:
    id: strawberry.ID
    modality: Modality
    content_type: str
    sha256: str
    width: int
    height: int
    uploaded_at: datetime
    study: strawberry.Private[models.ImagingStudy]

    @classmethod
    def from_domain(cls, study: models.ImagingStudy) -> ImagingStudy:
        return cls(
            id=strawberry.ID(study.id),
            modality=study.modality,
            content_type=study.image.content_type,
            sha256=study.image.sha256,
            width=study.image.width,
            height=study.image.height,
            uploaded_at=study.uploaded_at,
            study=study,
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> ImagingStudy:
        return cls.from_domain(await queries.study(info.context, id))

    @strawberry.field
    def patient(self) -> User:
        return User(id=strawberry.ID(self.study.patient_id))

    @strawberry.field
    def assigned_doctor(self) -> User | None:
        doctor_id = self.study.assigned_doctor_id
        return User(id=strawberry.ID(doctor_id)) if doctor_id else None

    @strawberry.field(
        description="Short-lived, signed for the caller alone: fetch it with the caller's "
        "`Authorization: Bearer` header. It stops working when it expires or when the caller "
        "may no longer see the study."
    )
    def image_url(self, info: Info) -> str:
        return queries.image_url(info.context, self.study)

    @strawberry.field
    async def diagnosis(self, info: Info) -> Diagnosis | None:
        found = await queries.diagnosis_of(info.context, self.id)
        return Diagnosis.from_domain(found) if found else None


@strawberry.federation.type(keys=["id"])
class Diagnosis:
    id: strawberry.ID
    status: DiagnosisStatus
    label: str | None
    confidence: float | None
    probabilities: list[ClassProbability] = strawberry.field(
        description="Every label of the model, most probable first; empty until COMPLETED."
    )
    error: str | None
    created_at: datetime
    completed_at: datetime | None
    study_id: strawberry.Private[str]

    @classmethod
    def from_domain(cls, diagnosis: models.Diagnosis) -> Diagnosis:
        return cls(
            id=strawberry.ID(diagnosis.id),
            status=diagnosis.status,
            label=diagnosis.label,
            confidence=diagnosis.confidence,
            probabilities=[
                ClassProbability(label=p.label, probability=p.probability)
                for p in diagnosis.probabilities
            ],
            error=diagnosis.error,
            created_at=diagnosis.created_at,
            completed_at=diagnosis.completed_at,
            study_id=diagnosis.study_id,
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Diagnosis:
        return cls.from_domain(await queries.diagnosis(info.context, id))

    @strawberry.field
    async def study(self, info: Info) -> ImagingStudy:
        return ImagingStudy.from_domain(await queries.study(info.context, self.study_id))

    @strawberry.field(description="Shown to the study's patient and to the reviewer alone.")
    async def review(self, info: Info) -> DiagnosisReview | None:
        found = await queries.review_of(info.context, self.id)
        return DiagnosisReview.from_domain(found) if found else None


@strawberry.type(name="Query")
class ImagingQuery:
    @strawberry.field
    async def study(self, info: Info, id: strawberry.ID) -> ImagingStudy | None:
        return ImagingStudy.from_domain(await queries.study(info.context, id))

    @strawberry.field(
        description="The calling doctor's assigned studies with a completed diagnosis not yet "
        "reviewed, oldest first."
    )
    async def review_queue(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[ImagingStudy]:
        page = await queries.review_queue(info.context, first=first, after=after)
        return study_connection(page, after=after)


@strawberry.type(name="Mutation")
class ImagingMutation:
    @strawberry.mutation(
        description="A JPEG or PNG (GraphQL multipart request). Stores the study and queues its "
        "diagnosis; follow it with `diagnosisUpdated`."
    )
    async def upload_study(self, info: Info, file: Upload, modality: Modality) -> ImagingStudy:
        return ImagingStudy.from_domain(
            await mutations.upload_study(
                info.context, file=cast("UploadFile", file), modality=modality
            )
        )

    @strawberry.mutation(description="The patient who owns the study, or an admin.")
    async def assign_study(
        self, info: Info, study_id: strawberry.ID, doctor_id: strawberry.ID
    ) -> ImagingStudy:
        return ImagingStudy.from_domain(
            await mutations.assign_study(info.context, study_id=study_id, doctor_id=doctor_id)
        )

    @strawberry.mutation(
        description="The assigned doctor only. DISAGREE names one of the model's labels."
    )
    async def review_diagnosis(
        self,
        info: Info,
        diagnosis_id: strawberry.ID,
        verdict: ReviewVerdict,
        corrected_label: str | None = None,
        note: str | None = None,
    ) -> Diagnosis:
        return Diagnosis.from_domain(
            await mutations.review_diagnosis(
                info.context,
                diagnosis_id=diagnosis_id,
                verdict=verdict,
                corrected_label=corrected_label,
                note=note,
            )
        )


@strawberry.type(name="Subscription")
class ImagingSubscription:
    @strawberry.subscription(
        description="QUEUED → RUNNING → COMPLETED or FAILED, to the patient and the assigned "
        "doctor. With a study: its current state first. Without: every study the caller hears of."
    )
    async def diagnosis_updated(
        self, info: Info, study_id: strawberry.ID | None = None
    ) -> AsyncGenerator[Diagnosis, None]:
        stream = subscriptions.diagnosis_updated(info.context, study_id=study_id)
        async with aclosing(stream) as updates:
            async for diagnosis in updates:
                yield Diagnosis.from_domain(diagnosis)


SUBGRAPH = SubgraphSpec(
    name="imaging",
    query=ImagingQuery,
    mutation=ImagingMutation,
    subscription=ImagingSubscription,
    types=(User, ImagingStudy, Diagnosis),
)
