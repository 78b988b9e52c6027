"""What the registry needs from outside: its tables, an artifact store and a model engine."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from domain.imaging.classification import ImageSource
from domain.modality import Modality
from domain.registry.models import (
    EnginePrediction,
    Experiment,
    InferenceRecord,
    Model,
    ModelStatus,
    ModelVersion,
    Routing,
)


class RegistryRepository(Protocol):
    async def add_model(self, model: Model) -> None:
        """Raises DomainError CONFLICT when the name is taken."""
        ...

    async def models(self, modality: Modality | None) -> list[Model]: ...
    async def models_by_id(self, model_ids: Sequence[str]) -> list[Model]: ...
    async def model_by_name(self, name: str) -> Model | None: ...
    async def add_version(self, version: ModelVersion) -> None:
        """Raises DomainError CONFLICT when the model has this version already."""
        ...

    async def versions_by_id(self, version_ids: Sequence[str]) -> list[ModelVersion]: ...
    async def versions_of_models(self, model_ids: Sequence[str]) -> list[ModelVersion]: ...
    async def active_version(self, modality: Modality) -> ModelVersion | None: ...
    async def routing(self, modality: Modality) -> Routing:
        """The running experiment and the versions that may serve ``modality``, in one read."""
        ...

    async def versions_to_warm(self) -> list[ModelVersion]:
        """ACTIVE versions and both arms of every running experiment."""
        ...

    async def set_status(self, version_id: str, status: ModelStatus, at: datetime) -> None:
        """Set one version's status; promoting to ACTIVE demotes the modality's ACTIVE version
        to INACTIVE in the same transaction. CONFLICT when a concurrent promotion won."""
        ...

    async def set_execution_provider(self, version_id: str, provider: str) -> None: ...
    async def artifact_in_use(self, sha256: str) -> bool: ...
    async def add_experiment(self, experiment: Experiment) -> None:
        """Raises DomainError CONFLICT when the modality runs an experiment already."""
        ...

    async def experiments(self, *, active_only: bool) -> list[Experiment]: ...
    async def experiment(self, experiment_id: str) -> Experiment | None: ...
    async def active_experiment(self, modality: Modality) -> Experiment | None: ...
    async def experiments_using(self, version_id: str) -> list[Experiment]:
        """The running experiments that route traffic to this version."""
        ...

    async def stop_experiment(self, experiment_id: str, at: datetime) -> None: ...
    async def add_record(self, record: InferenceRecord) -> None: ...
    async def records(
        self,
        *,
        model_version_id: str | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[InferenceRecord]:
        """Newest first; ``after`` is the (created_at, id) of the last record already seen."""
        ...

    async def records_between(
        self, model_version_id: str, start: datetime, end: datetime
    ) -> list[InferenceRecord]:
        """Records with ``start <= created_at < end``."""
        ...

    async def record_review(self, diagnosis_id: str, agreed: bool) -> None: ...
    async def versions_of_diagnoses(self, diagnosis_ids: Sequence[str]) -> dict[str, str]:
        """diagnosis id → id of the version that produced it (the last completed run)."""
        ...


class ArtifactStore(Protocol):
    """Model files, content-addressed by SHA-256: a file is written once and never changes."""

    async def put(self, data: bytes) -> str:
        """Store ``data`` (atomically) and return its SHA-256."""
        ...

    async def delete(self, sha256: str) -> None: ...
    async def exists(self, sha256: str) -> bool: ...


class ModelEngine(Protocol):
    """Runs model versions: the adapter over the inference module."""

    async def verify(self, artifact: bytes, model: Model) -> None:
        """BAD_USER_INPUT unless ``artifact`` loads and its input and output fit ``model``."""
        ...

    async def load(self, version: ModelVersion, model: Model) -> str:
        """Load and warm the version (once); return the execution provider it really got."""
        ...

    def is_loaded(self, version_id: str) -> bool: ...
    async def unload(self, version_id: str) -> None: ...
    async def classify(self, version_id: str, image: ImageSource) -> EnginePrediction:
        """Decode ``image`` (or take the copy decoded at upload) and run the loaded version on
        it (BAD_USER_INPUT: unreadable image; SERVICE_UNAVAILABLE: not loaded or overloaded)."""
        ...
