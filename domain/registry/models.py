"""The registry's records: models, their versions, experiments, inference records, metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from domain.modality import Modality


class ModelStatus(StrEnum):
    TESTING = "TESTING"
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    RETIRED = "RETIRED"


class Outcome(StrEnum):
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class InputSpec:
    """How an image becomes the model's input tensor ``[N, 3, height, width]`` (NCHW float32):
    resized, scaled to [0, 1], then ``(x - mean) / std`` per channel, in ``channel_order``."""

    name: str = "input"
    height: int = 224
    width: int = 224
    channel_order: str = "RGB"
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    resize: str = "stretch"


@dataclass(frozen=True, slots=True)
class Model:
    id: str
    name: str
    modality: Modality
    labels: tuple[str, ...]
    input_spec: InputSpec
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ModelVersion:
    id: str
    model_id: str
    modality: Modality
    version: str
    status: ModelStatus
    sha256: str
    byte_size: int
    intended_use: str
    execution_provider: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Experiment:
    id: str
    modality: Modality
    control_id: str
    candidate_id: str
    candidate_percent: int
    active: bool
    started_at: datetime
    stopped_at: datetime | None


@dataclass(frozen=True, slots=True)
class Routing:
    """What may serve a modality right now, read in one go: its running experiment, if any,
    and the versions to pick from (the ACTIVE one and the experiment's two arms)."""

    experiment: Experiment | None
    versions: tuple[ModelVersion, ...]


@dataclass(frozen=True, slots=True)
class InferenceRecord:
    """One run of a model. No pixels, no patient: the input's SHA-256 only."""

    id: str
    model_version_id: str
    diagnosis_id: str | None
    input_sha256: str
    queue_ms: float
    compute_ms: float
    confidence: float | None
    outcome: Outcome
    created_at: datetime
    agreed: bool | None = None  # the reviewing doctor's verdict, once there is one


@dataclass(frozen=True, slots=True)
class InferenceRecordPage:
    records: list[InferenceRecord]
    has_next_page: bool


@dataclass(frozen=True, slots=True)
class DailyMetric:
    date: date
    requests: int
    failures: int
    p50_latency_ms: float
    p95_latency_ms: float
    mean_confidence: float | None
    reviewed: int
    agreement_rate: float | None


@dataclass(frozen=True, slots=True)
class LabelScore:
    label: str
    probability: float


@dataclass(frozen=True, slots=True)
class EnginePrediction:
    """What the model engine answers for one image."""

    label: str
    confidence: float
    probabilities: tuple[LabelScore, ...]  # every label, most probable first
    queue_ms: float
    compute_ms: float
