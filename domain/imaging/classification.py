"""The imaging subgraph's port to the model registry: classify a study's image.

Imaging does not know which model version runs or how: the registry picks the version for the
modality (the active one, or an A/B split sticky per patient), runs it, and keeps the
InferenceRecord. Imaging stores the finding on its Diagnosis.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from domain.modality import Modality


@dataclass(frozen=True, slots=True)
class ClassProbability:
    label: str
    probability: float


@dataclass(frozen=True, slots=True)
class Classification:
    model_version_id: str
    label: str
    confidence: float
    probabilities: tuple[ClassProbability, ...]  # highest first, every label of the model


class ImageSource(Protocol):
    """A study's stored image: its content hash, and its bytes when they are needed.

    The bytes are read only if the engine has no decoded copy at hand (see
    ``inference.recent_images``): reading them can be a download.
    """

    @property
    def sha256(self) -> str: ...

    async def read(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class ImageBytes:
    """An ImageSource over bytes already in memory."""

    data: bytes
    sha256: str

    @classmethod
    def of(cls, data: bytes) -> ImageBytes:
        return cls(data, hashlib.sha256(data).hexdigest())

    async def read(self) -> bytes:
        return self.data


class Classifier(Protocol):
    async def classify(
        self,
        *,
        modality: Modality,
        patient_id: str,
        diagnosis_id: str,
        image: ImageSource,
        attempt: int,
    ) -> Classification:
        """Run the registry's choice of model on ``image``; record the inference.

        ``attempt`` counts the job's claims, 1 for the first. A later attempt may follow a run
        that was recorded by a process that died before storing its finding: that run's version
        answers again, and no second record is written.

        Raises DomainError: SERVICE_UNAVAILABLE when no version is active or the engine is
        overloaded (the caller retries later), BAD_USER_INPUT when the image cannot be read.
        """
        ...


class ReviewOutcomes(Protocol):
    async def record_review(self, *, diagnosis_id: str, agreed: bool) -> None:
        """Tell the registry a doctor reviewed this diagnosis (for agreement metrics)."""
        ...
