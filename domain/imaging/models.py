"""Imaging studies, their diagnoses, and the doctors' reviews of them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.imaging.classification import ClassProbability
from domain.modality import Modality


class DiagnosisStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"

    @property
    def final(self) -> bool:
        return self in (DiagnosisStatus.COMPLETED, DiagnosisStatus.FAILED)


class ReviewVerdict(StrEnum):
    AGREE = "AGREE"
    DISAGREE = "DISAGREE"


@dataclass(frozen=True, slots=True)
class ImageFacts:
    """What the upload's validation learned about the image; the bytes stay in storage."""

    sha256: str
    content_type: str
    width: int
    height: int
    byte_size: int


@dataclass(frozen=True, slots=True)
class ImagingStudy:
    id: str
    patient_id: str
    modality: Modality
    image: ImageFacts
    uploaded_at: datetime
    assigned_doctor_id: str | None = None

    @property
    def audience(self) -> tuple[str, ...]:
        """Who hears about its diagnosis: the patient, and the assigned doctor if any."""
        if self.assigned_doctor_id is None:
            return (self.patient_id,)
        return (self.patient_id, self.assigned_doctor_id)


@dataclass(frozen=True, slots=True)
class DiagnosisReview:
    reviewer_id: str
    verdict: ReviewVerdict
    corrected_label: str | None
    note: str | None
    reviewed_at: datetime


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """``version`` grows by one on every status change: events carry it, so a stream can drop
    a change it has already delivered."""

    id: str
    study_id: str
    status: DiagnosisStatus
    version: int
    created_at: datetime
    label: str | None = None
    confidence: float | None = None
    probabilities: tuple[ClassProbability, ...] = ()
    error: str | None = None
    completed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A diagnosis a worker holds under a lease until it completes, fails or lets go."""

    diagnosis: Diagnosis
    study: ImagingStudy
    lease_token: str
    attempts: int


@dataclass(frozen=True, slots=True)
class SettledJob:
    """A claimed job moved on, with its study as it stands now: the study may have been
    assigned to a doctor while the model ran, and the event goes to whoever sees it now."""

    diagnosis: Diagnosis
    study: ImagingStudy


@dataclass(frozen=True, slots=True)
class StudyPage:
    studies: list[ImagingStudy]
    has_next_page: bool


@dataclass(frozen=True, slots=True)
class SignedImage:
    """A verified request for a study's image: who asked, for which study."""

    study_id: str
    viewer_id: str
