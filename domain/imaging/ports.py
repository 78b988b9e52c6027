"""What imaging needs from outside: its tables, image bytes, image checks, people, events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from domain.imaging.classification import Classification
from domain.imaging.models import (
    ClaimedJob,
    Diagnosis,
    DiagnosisReview,
    ImageFacts,
    ImagingStudy,
    SettledJob,
)
from domain.principal import Role

StudyKey = tuple[datetime, str]  # (uploaded_at, id): the order of a page of studies


class StudyRepository(Protocol):
    async def create(self, study: ImagingStudy, diagnosis: Diagnosis) -> None:
        """Store the study and its QUEUED diagnosis in one transaction."""
        ...

    async def get_many(self, study_ids: Sequence[str]) -> list[ImagingStudy]: ...
    async def diagnoses_of(self, study_ids: Sequence[str]) -> dict[str, Diagnosis]:
        """Diagnoses by study id."""
        ...

    async def diagnoses(self, diagnosis_ids: Sequence[str]) -> list[Diagnosis]: ...
    async def reviews(self, diagnosis_ids: Sequence[str]) -> dict[str, DiagnosisReview]: ...
    async def for_patient(
        self, patient_id: str, *, after: StudyKey | None, limit: int
    ) -> list[ImagingStudy]:
        """Newest first."""
        ...

    async def review_queue(
        self, doctor_id: str, *, after: StudyKey | None, limit: int
    ) -> list[ImagingStudy]:
        """Studies assigned to the doctor whose diagnosis is COMPLETED and not reviewed;
        oldest first."""
        ...

    async def assign(self, study_id: str, doctor_id: str) -> ImagingStudy | None:
        """Assign unless the diagnosis was reviewed already (then None)."""
        ...

    async def add_review(self, diagnosis_id: str, review: DiagnosisReview) -> bool:
        """False when the diagnosis has a review already."""
        ...

    async def uses_image(self, sha256: str) -> bool:
        """Whether any study's image has this SHA-256."""
        ...

    async def assigned_partners_among(self, user_id: str, other_ids: Sequence[str]) -> set[str]:
        """Patients whose study is assigned to ``user_id``, and doctors assigned a study of
        ``user_id``, among ``other_ids``."""
        ...


class DiagnosisQueue(Protocol):
    """The durable work queue: diagnosis rows, claimed under leases."""

    async def claim(self, *, now: datetime, lease_until: datetime) -> ClaimedJob | None:
        """Take one QUEUED diagnosis that is due, or a RUNNING one whose lease ran out."""
        ...

    async def extend_lease(self, diagnosis_id: str, token: str, until: datetime) -> bool: ...
    async def complete(
        self, job: ClaimedJob, classification: Classification, *, now: datetime
    ) -> SettledJob | None:
        """COMPLETED with the finding; None when the lease was lost to another worker."""
        ...

    async def fail(self, job: ClaimedJob, error: str, *, now: datetime) -> SettledJob | None: ...
    async def retry_later(
        self, job: ClaimedJob, *, run_after: datetime, now: datetime
    ) -> SettledJob | None:
        """Back to QUEUED, due at ``run_after``."""
        ...


class ImageStore(Protocol):
    """Image bytes, content-addressed: the key is the SHA-256 of the bytes."""

    async def put(self, key: str, data: bytes, content_type: str) -> None: ...
    async def read(self, key: str) -> bytes: ...
    async def delete(self, key: str) -> None: ...


class ImageInspector(Protocol):
    async def inspect(self, data: bytes) -> ImageFacts:
        """Sniff, bound and decode the image (off the event loop); DomainError when it is not
        an acceptable JPEG or PNG."""
        ...


class ImageUrlSigner(Protocol):
    def sign(self, study_id: str, viewer_id: str) -> str:
        """A short-lived path to the study's image, good for ``viewer_id`` alone."""
        ...

    def verify(self, study_id: str, viewer_id: str, expires: str, signature: str) -> bool: ...


class UserDirectory(Protocol):
    async def active_roles(self, user_ids: Sequence[str]) -> dict[str, Role]: ...


class CareRelations(Protocol):
    async def related_among(self, viewer_id: str, user_ids: Sequence[str]) -> set[str]: ...


class LiveFeed(Protocol):
    def __aiter__(self) -> AsyncIterator[bytes | None]: ...


class EventBus(Protocol):
    async def publish(self, topic: str, payload: bytes) -> None: ...
    def subscribe(self, topic: str) -> AbstractAsyncContextManager[LiveFeed]: ...
