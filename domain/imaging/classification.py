"""The imaging subgraph's port to the model registry: classify a study's image.

Imaging does not know which model version runs or how: the registry picks the version for the
modality (the active one, or an A/B split sticky per patient), runs it, and keeps the
InferenceRecord. Imaging stores the finding on its Diagnosis.
"""

from __future__ import annotations

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


class Classifier(Protocol):
    async def classify(
        self,
        *,
        modality: Modality,
        patient_id: str,
        diagnosis_id: str,
        image: bytes,
        input_sha256: str,
    ) -> Classification:
        """Run the registry's choice of model on ``image``; record the inference.

        Raises DomainError: SERVICE_UNAVAILABLE when no version is active or the engine is
        overloaded (the caller retries later), BAD_USER_INPUT when the image cannot be read.
        """
        ...


class ReviewOutcomes(Protocol):
    async def record_review(self, *, diagnosis_id: str, agreed: bool) -> None:
        """Tell the registry a doctor reviewed this diagnosis (for agreement metrics)."""
        ...
