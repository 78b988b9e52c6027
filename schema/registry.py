"""The registry subgraph: models, versions, A/B experiments, inference records, daily metrics."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import strawberry
from strawberry.file_uploads import Upload

from domain.errors import bad_input
from domain.registry import models
from domain.registry.models import ModelStatus
from resolvers.registry import mutations, queries
from schema.context import Info
from schema.modality import Modality
from schema.pagination import Connection
from schema.subgraph import SubgraphSpec

strawberry.enum(
    ModelStatus,
    description="TESTING: registered, no traffic. ACTIVE: serves its modality (one at a time). "
    "INACTIVE: demoted, can be promoted again. RETIRED: for good.",
)


@strawberry.type(description="How an image becomes the model's input tensor [N, 3, H, W].")
class ModelInputSpec:
    name: str
    height: int
    width: int
    channel_order: str
    mean: list[float]
    std: list[float]
    resize: str

    @classmethod
    def from_domain(cls, spec: models.InputSpec) -> ModelInputSpec:
        return cls(
            name=spec.name,
            height=spec.height,
            width=spec.width,
            channel_order=spec.channel_order,
            mean=list(spec.mean),
            std=list(spec.std),
            resize=spec.resize,
        )


@strawberry.input
class ModelInputSpecInput:
    height: int = 224
    width: int = 224
    channel_order: str = "RGB"
    mean: list[float] = strawberry.field(default_factory=lambda: [0.485, 0.456, 0.406])
    std: list[float] = strawberry.field(default_factory=lambda: [0.229, 0.224, 0.225])
    resize: str = "stretch"
    name: str = "input"

    def to_domain(self) -> models.InputSpec:
        if len(self.mean) != 3 or len(self.std) != 3:
            raise bad_input("Mean and std have three values each", field="inputSpec")
        return models.InputSpec(
            name=self.name,
            height=self.height,
            width=self.width,
            channel_order=self.channel_order,
            mean=(self.mean[0], self.mean[1], self.mean[2]),
            std=(self.std[0], self.std[1], self.std[2]),
            resize=self.resize,
        )


@strawberry.input
class RegisterModelInput:
    name: str
    modality: Modality
    labels: list[str]
    input_spec: ModelInputSpecInput | None = None


@strawberry.federation.type(keys=["id"])
class Model:
    id: strawberry.ID
    name: str
    modality: Modality
    labels: list[str]
    input_spec: ModelInputSpec
    created_at: datetime

    @classmethod
    def from_domain(cls, model: models.Model) -> Model:
        return cls(
            id=strawberry.ID(model.id),
            name=model.name,
            modality=model.modality,
            labels=list(model.labels),
            input_spec=ModelInputSpec.from_domain(model.input_spec),
            created_at=model.created_at,
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Model:
        return cls.from_domain(await queries.model_reference(info.context, id))

    @strawberry.field(description="Oldest first.")
    async def versions(self, info: Info) -> list[ModelVersion]:
        return [
            ModelVersion.from_domain(v)
            for v in await queries.versions_of_model(info.context, self.id)
        ]


@strawberry.type
class DailyModelMetric:
    date: date
    requests: int
    failures: int
    p50_latency_ms: float
    p95_latency_ms: float
    mean_confidence: float | None
    reviewed: int
    agreement_rate: float | None

    @classmethod
    def from_domain(cls, metric: models.DailyMetric) -> DailyModelMetric:
        return cls(
            date=metric.date,
            requests=metric.requests,
            failures=metric.failures,
            p50_latency_ms=metric.p50_latency_ms,
            p95_latency_ms=metric.p95_latency_ms,
            mean_confidence=metric.mean_confidence,
            reviewed=metric.reviewed,
            agreement_rate=metric.agreement_rate,
        )


@strawberry.federation.type(keys=["id"])
class ModelVersion:
    id: strawberry.ID
    version: str
    status: ModelStatus
    sha256: str = strawberry.field(description="SHA-256 of the ONNX file.")
    byte_size: int
    intended_use: str
    execution_provider: str | None = strawberry.field(
        description="The ONNX Runtime provider the version really runs on, once loaded."
    )
    created_at: datetime
    model_id: strawberry.Private[str]

    @classmethod
    def from_domain(cls, version: models.ModelVersion) -> ModelVersion:
        return cls(
            id=strawberry.ID(version.id),
            version=version.version,
            status=version.status,
            sha256=version.sha256,
            byte_size=version.byte_size,
            intended_use=version.intended_use,
            execution_provider=version.execution_provider,
            created_at=version.created_at,
            model_id=version.model_id,
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> ModelVersion:
        return cls.from_domain(await queries.model_version(info.context, id))

    @strawberry.field
    async def model(self, info: Info) -> Model:
        return Model.from_domain(await queries.model(info.context, self.model_id))

    @strawberry.field(
        description="Per UTC day from `from` to `to` (both included), the days with runs. "
        "Latency is queue plus compute time of completed runs. ADMIN and ANALYST."
    )
    async def metrics(
        self,
        info: Info,
        from_: Annotated[date, strawberry.argument(name="from")],
        to: date,
    ) -> list[DailyModelMetric]:
        found = await queries.metrics(info.context, version_id=self.id, start=from_, end=to)
        return [DailyModelMetric.from_domain(m) for m in found]


@strawberry.type
class Experiment:
    id: strawberry.ID
    modality: Modality
    candidate_percent: int = strawberry.field(
        description="Share of patients (sticky per patient) that the candidate serves."
    )
    active: bool
    started_at: datetime
    stopped_at: datetime | None
    control_id: strawberry.Private[str]
    candidate_id: strawberry.Private[str]

    @classmethod
    def from_domain(cls, experiment: models.Experiment) -> Experiment:
        return cls(
            id=strawberry.ID(experiment.id),
            modality=experiment.modality,
            candidate_percent=experiment.candidate_percent,
            active=experiment.active,
            started_at=experiment.started_at,
            stopped_at=experiment.stopped_at,
            control_id=experiment.control_id,
            candidate_id=experiment.candidate_id,
        )

    @strawberry.field
    async def control(self, info: Info) -> ModelVersion:
        return ModelVersion.from_domain(await queries.version(info.context, self.control_id))

    @strawberry.field
    async def candidate(self, info: Info) -> ModelVersion:
        return ModelVersion.from_domain(await queries.version(info.context, self.candidate_id))


@strawberry.type(description="One run of a model: no pixels and no patient, the input's hash.")
class InferenceRecord:
    id: strawberry.ID
    input_sha256: str
    queue_ms: float
    compute_ms: float
    confidence: float | None
    outcome: str = strawberry.field(description="COMPLETED or FAILED.")
    created_at: datetime
    cursor: str
    model_version_id: strawberry.Private[str]

    @classmethod
    def from_domain(cls, record: models.InferenceRecord) -> InferenceRecord:
        return cls(
            id=strawberry.ID(record.id),
            input_sha256=record.input_sha256,
            queue_ms=record.queue_ms,
            compute_ms=record.compute_ms,
            confidence=record.confidence,
            outcome=record.outcome.value,
            created_at=record.created_at,
            cursor=queries.record_cursor(record),
            model_version_id=record.model_version_id,
        )

    @strawberry.field
    async def model_version(self, info: Info) -> ModelVersion:
        return ModelVersion.from_domain(await queries.version(info.context, self.model_version_id))


@strawberry.federation.type(keys=["id"])
class Diagnosis:
    """The imaging subgraph's entity, as the registry sees it: which version produced it."""

    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Diagnosis:
        return cls(id=id)

    @strawberry.field(description="The model version that produced this finding.")
    async def model_version(self, info: Info) -> ModelVersion | None:
        found = await queries.version_of_diagnosis(info.context, self.id)
        return ModelVersion.from_domain(found) if found else None


@strawberry.type(name="Query")
class RegistryQuery:
    @strawberry.field(description="ADMIN and ANALYST.")
    async def models(self, info: Info, modality: Modality | None = None) -> list[Model]:
        return [Model.from_domain(m) for m in await queries.models(info.context, modality=modality)]

    @strawberry.field(description="ADMIN and ANALYST.")
    async def model_version(self, info: Info, id: strawberry.ID) -> ModelVersion | None:
        return ModelVersion.from_domain(await queries.model_version(info.context, id))

    @strawberry.field(description="ADMIN and ANALYST. Most recent first.")
    async def experiments(self, info: Info, active_only: bool = False) -> list[Experiment]:
        found = await queries.experiments(info.context, active_only=active_only)
        return [Experiment.from_domain(e) for e in found]

    @strawberry.field(description="ADMIN and ANALYST. Newest first.")
    async def inference_records(
        self,
        info: Info,
        model_version_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[InferenceRecord]:
        page = await queries.inference_records(
            info.context, model_version_id=model_version_id, first=first, after=after
        )
        nodes = [InferenceRecord.from_domain(r) for r in page.records]
        return Connection.of(
            nodes,
            [node.cursor for node in nodes],
            has_next_page=page.has_next_page,
            has_previous_page=after is not None,
        )


@strawberry.type(name="Mutation")
class RegistryMutation:
    @strawberry.mutation(description="ADMIN. A classifier for a modality, with its labels.")
    async def register_model(self, info: Info, input: RegisterModelInput) -> Model:
        return Model.from_domain(
            await mutations.register_model(
                info.context,
                name=input.name,
                modality=input.modality,
                labels=input.labels,
                input_spec=input.input_spec.to_domain() if input.input_spec else None,
            )
        )

    @strawberry.mutation(
        description="ADMIN. An .onnx file (GraphQL multipart request) that must load and fit "
        "the model's input and labels; registered as TESTING."
    )
    async def register_model_version(
        self,
        info: Info,
        model_id: strawberry.ID,
        version: str,
        file: Upload,
        intended_use: str,
    ) -> ModelVersion:
        return ModelVersion.from_domain(
            await mutations.register_model_version(
                info.context,
                model_id=model_id,
                version=version,
                file=file,
                intended_use=intended_use,
            )
        )

    @strawberry.mutation(
        description="ADMIN. Promoting to ACTIVE demotes the modality's ACTIVE version to "
        "INACTIVE; the next diagnosis uses the new one."
    )
    async def set_model_version_status(
        self, info: Info, id: strawberry.ID, status: ModelStatus
    ) -> ModelVersion:
        return ModelVersion.from_domain(
            await mutations.set_model_version_status(info.context, version_id=id, status=status)
        )

    @strawberry.mutation(description="ADMIN. One running experiment per modality.")
    async def start_experiment(
        self,
        info: Info,
        control_id: strawberry.ID,
        candidate_id: strawberry.ID,
        candidate_percent: int,
    ) -> Experiment:
        return Experiment.from_domain(
            await mutations.start_experiment(
                info.context,
                control_id=control_id,
                candidate_id=candidate_id,
                candidate_percent=candidate_percent,
            )
        )

    @strawberry.mutation(description="ADMIN.")
    async def stop_experiment(self, info: Info, id: strawberry.ID) -> Experiment:
        return Experiment.from_domain(
            await mutations.stop_experiment(info.context, experiment_id=id)
        )


SUBGRAPH = SubgraphSpec(
    name="registry",
    query=RegistryQuery,
    mutation=RegistryMutation,
    types=(Model, ModelVersion, Diagnosis),
)
