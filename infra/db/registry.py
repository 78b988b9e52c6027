"""SQL storage for the registry: models, versions, experiments, inference records."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import DomainError, ErrorCode
from domain.modality import Modality
from domain.registry.models import (
    Experiment,
    InferenceRecord,
    InputSpec,
    Model,
    ModelStatus,
    ModelVersion,
    Outcome,
    Routing,
)
from infra.db.engine import autocommit
from infra.db.tables import experiments, inference_records, model_versions, registry_models

records = inference_records
versions = model_versions


def _spec_values(spec: InputSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "height": spec.height,
        "width": spec.width,
        "channel_order": spec.channel_order,
        "mean": list(spec.mean),
        "std": list(spec.std),
        "resize": spec.resize,
    }


def _spec(value: dict[str, Any]) -> InputSpec:
    mean, std = value["mean"], value["std"]
    return InputSpec(
        name=value["name"],
        height=int(value["height"]),
        width=int(value["width"]),
        channel_order=value["channel_order"],
        mean=(float(mean[0]), float(mean[1]), float(mean[2])),
        std=(float(std[0]), float(std[1]), float(std[2])),
        resize=value["resize"],
    )


def _model(row: Any) -> Model:
    return Model(
        id=row.id,
        name=row.name,
        modality=Modality(row.modality),
        labels=tuple(row.labels),
        input_spec=_spec(row.input_spec),
        created_at=row.created_at,
    )


def _version(row: Any) -> ModelVersion:
    return ModelVersion(
        id=row.id,
        model_id=row.model_id,
        modality=Modality(row.modality),
        version=row.version,
        status=ModelStatus(row.status),
        sha256=row.sha256,
        byte_size=row.byte_size,
        intended_use=row.intended_use,
        execution_provider=row.execution_provider,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _experiment(row: Any) -> Experiment:
    return Experiment(
        id=row.id,
        modality=Modality(row.modality),
        control_id=row.control_id,
        candidate_id=row.candidate_id,
        candidate_percent=row.candidate_percent,
        active=bool(row.active),
        started_at=row.started_at,
        stopped_at=row.stopped_at,
    )


def _record(row: Any) -> InferenceRecord:
    return InferenceRecord(
        id=row.id,
        model_version_id=row.model_version_id,
        diagnosis_id=row.diagnosis_id,
        input_sha256=row.input_sha256,
        queue_ms=row.queue_ms,
        compute_ms=row.compute_ms,
        confidence=row.confidence,
        outcome=Outcome(row.outcome),
        created_at=row.created_at,
        agreed=row.agreed,
    )


class SqlRegistryRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reads = autocommit(engine)

    async def _all(self, query: Any) -> list[Any]:
        async with self._reads.connect() as conn:
            return list(await conn.execute(query))

    # ---- models

    async def add_model(self, model: Model) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    registry_models.insert().values(
                        id=model.id,
                        name=model.name,
                        modality=model.modality.value,
                        labels=list(model.labels),
                        input_spec=_spec_values(model.input_spec),
                        created_at=model.created_at,
                    )
                )
        except IntegrityError as error:
            raise DomainError(
                ErrorCode.CONFLICT, f"A model named {model.name} exists already", field="name"
            ) from error

    async def models(self, modality: Modality | None) -> list[Model]:
        query = select(registry_models).order_by(registry_models.c.name)
        if modality is not None:
            query = query.where(registry_models.c.modality == modality.value)
        return [_model(row) for row in await self._all(query)]

    async def models_by_id(self, model_ids: Sequence[str]) -> list[Model]:
        if not model_ids:
            return []
        query = select(registry_models).where(registry_models.c.id.in_(model_ids))
        return [_model(row) for row in await self._all(query)]

    async def model_by_name(self, name: str) -> Model | None:
        rows = await self._all(select(registry_models).where(registry_models.c.name == name))
        return _model(rows[0]) if rows else None

    # ---- versions

    async def add_version(self, version: ModelVersion) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    versions.insert().values(
                        id=version.id,
                        model_id=version.model_id,
                        modality=version.modality.value,
                        version=version.version,
                        status=version.status.value,
                        sha256=version.sha256,
                        byte_size=version.byte_size,
                        intended_use=version.intended_use,
                        execution_provider=version.execution_provider,
                        created_at=version.created_at,
                        updated_at=version.updated_at,
                    )
                )
        except IntegrityError as error:
            raise DomainError(
                ErrorCode.CONFLICT,
                f"The model has a version {version.version} already",
                field="version",
            ) from error

    async def versions_by_id(self, version_ids: Sequence[str]) -> list[ModelVersion]:
        if not version_ids:
            return []
        query = select(versions).where(versions.c.id.in_(version_ids))
        return [_version(row) for row in await self._all(query)]

    async def versions_of_models(self, model_ids: Sequence[str]) -> list[ModelVersion]:
        if not model_ids:
            return []
        query = (
            select(versions)
            .where(versions.c.model_id.in_(model_ids))
            .order_by(versions.c.created_at, versions.c.id)
        )
        return [_version(row) for row in await self._all(query)]

    async def active_version(self, modality: Modality) -> ModelVersion | None:
        query = select(versions).where(
            versions.c.modality == modality.value, versions.c.status == ModelStatus.ACTIVE.value
        )
        rows = await self._all(query)
        return _version(rows[0]) if rows else None

    async def routing(self, modality: Modality) -> Routing:
        # One statement: the ACTIVE version and the running experiment's arms, each arm row
        # carrying its experiment (at most one runs per modality).
        running = and_(
            experiments.c.modality == modality.value,
            experiments.c.active.is_(True),
            or_(
                experiments.c.control_id == versions.c.id,
                experiments.c.candidate_id == versions.c.id,
            ),
        )
        query = (
            select(
                versions,
                experiments.c.id.label("experiment_id"),
                experiments.c.control_id,
                experiments.c.candidate_id,
                experiments.c.candidate_percent,
                experiments.c.started_at.label("experiment_started_at"),
            )
            .select_from(versions.outerjoin(experiments, running))
            .where(
                versions.c.modality == modality.value,
                or_(versions.c.status == ModelStatus.ACTIVE.value, experiments.c.id.is_not(None)),
            )
        )
        rows = await self._all(query)
        experiment = next(
            (
                Experiment(
                    id=row.experiment_id,
                    modality=modality,
                    control_id=row.control_id,
                    candidate_id=row.candidate_id,
                    candidate_percent=row.candidate_percent,
                    active=True,
                    started_at=row.experiment_started_at,
                    stopped_at=None,
                )
                for row in rows
                if row.experiment_id is not None
            ),
            None,
        )
        return Routing(experiment, tuple(_version(row) for row in rows))

    async def versions_to_warm(self) -> list[ModelVersion]:
        in_experiment = exists().where(
            experiments.c.active.is_(True),
            or_(
                experiments.c.control_id == versions.c.id,
                experiments.c.candidate_id == versions.c.id,
            ),
        )
        query = (
            select(versions)
            .where(or_(versions.c.status == ModelStatus.ACTIVE.value, in_experiment))
            .order_by(versions.c.modality, versions.c.id)
        )
        return [_version(row) for row in await self._all(query)]

    async def set_status(self, version_id: str, status: ModelStatus, at: datetime) -> None:
        try:
            async with self._engine.begin() as conn:
                if status is ModelStatus.ACTIVE:
                    modality = await conn.scalar(
                        select(versions.c.modality).where(versions.c.id == version_id)
                    )
                    await conn.execute(
                        update(versions)
                        .where(
                            versions.c.modality == modality,
                            versions.c.status == ModelStatus.ACTIVE.value,
                            versions.c.id != version_id,
                        )
                        .values(status=ModelStatus.INACTIVE.value, updated_at=at)
                    )
                await conn.execute(
                    update(versions)
                    .where(versions.c.id == version_id)
                    .values(status=status.value, updated_at=at)
                )
        except IntegrityError as error:
            raise DomainError(
                ErrorCode.CONFLICT, "Another version was promoted at the same time; try again"
            ) from error

    async def set_execution_provider(self, version_id: str, provider: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(versions)
                .where(versions.c.id == version_id)
                .values(execution_provider=provider)
            )

    async def artifact_in_use(self, sha256: str) -> bool:
        rows = await self._all(select(versions.c.id).where(versions.c.sha256 == sha256).limit(1))
        return bool(rows)

    # ---- experiments

    async def add_experiment(self, experiment: Experiment) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    experiments.insert().values(
                        id=experiment.id,
                        modality=experiment.modality.value,
                        control_id=experiment.control_id,
                        candidate_id=experiment.candidate_id,
                        candidate_percent=experiment.candidate_percent,
                        active=experiment.active,
                        started_at=experiment.started_at,
                        stopped_at=experiment.stopped_at,
                    )
                )
        except IntegrityError as error:
            raise DomainError(
                ErrorCode.CONFLICT,
                f"An experiment is running for {experiment.modality.value}; stop it first",
            ) from error

    async def experiments(self, *, active_only: bool) -> list[Experiment]:
        query = select(experiments).order_by(experiments.c.started_at.desc(), experiments.c.id)
        if active_only:
            query = query.where(experiments.c.active.is_(True))
        return [_experiment(row) for row in await self._all(query)]

    async def experiment(self, experiment_id: str) -> Experiment | None:
        rows = await self._all(select(experiments).where(experiments.c.id == experiment_id))
        return _experiment(rows[0]) if rows else None

    async def active_experiment(self, modality: Modality) -> Experiment | None:
        query = select(experiments).where(
            experiments.c.modality == modality.value, experiments.c.active.is_(True)
        )
        rows = await self._all(query)
        return _experiment(rows[0]) if rows else None

    async def experiments_using(self, version_id: str) -> list[Experiment]:
        query = select(experiments).where(
            experiments.c.active.is_(True),
            or_(experiments.c.control_id == version_id, experiments.c.candidate_id == version_id),
        )
        return [_experiment(row) for row in await self._all(query)]

    async def stop_experiment(self, experiment_id: str, at: datetime) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(experiments)
                .where(experiments.c.id == experiment_id, experiments.c.active.is_(True))
                .values(active=False, stopped_at=at)
            )

    # ---- inference records

    async def add_record(self, record: InferenceRecord) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                records.insert().values(
                    id=record.id,
                    model_version_id=record.model_version_id,
                    diagnosis_id=record.diagnosis_id,
                    input_sha256=record.input_sha256,
                    queue_ms=record.queue_ms,
                    compute_ms=record.compute_ms,
                    confidence=record.confidence,
                    outcome=record.outcome.value,
                    agreed=record.agreed,
                    created_at=record.created_at,
                )
            )

    async def records(
        self,
        *,
        model_version_id: str | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[InferenceRecord]:
        query = select(records)
        if model_version_id is not None:
            query = query.where(records.c.model_version_id == model_version_id)
        if after is not None:
            query = query.where(tuple_(records.c.created_at, records.c.id) < tuple_(*after))
        query = query.order_by(records.c.created_at.desc(), records.c.id.desc()).limit(limit)
        return [_record(row) for row in await self._all(query)]

    async def records_between(
        self, model_version_id: str, start: datetime, end: datetime
    ) -> list[InferenceRecord]:
        query = select(records).where(
            records.c.model_version_id == model_version_id,
            records.c.created_at >= start,
            records.c.created_at < end,
        )
        return [_record(row) for row in await self._all(query)]

    async def record_review(self, diagnosis_id: str, agreed: bool) -> None:
        """The verdict lands on the diagnosis's last completed run (one per diagnosis counts)."""
        async with self._engine.begin() as conn:
            last = await conn.scalar(
                select(records.c.id)
                .where(
                    records.c.diagnosis_id == diagnosis_id,
                    records.c.outcome == Outcome.COMPLETED.value,
                )
                .order_by(records.c.created_at.desc(), records.c.id.desc())
                .limit(1)
            )
            if last is not None:
                await conn.execute(
                    update(records).where(records.c.id == last).values(agreed=agreed)
                )

    async def versions_of_diagnoses(self, diagnosis_ids: Sequence[str]) -> dict[str, str]:
        if not diagnosis_ids:
            return {}
        query = (
            select(records.c.diagnosis_id, records.c.model_version_id, records.c.outcome)
            .where(records.c.diagnosis_id.in_(diagnosis_ids))
            .order_by(records.c.created_at, records.c.id)
        )
        found: dict[str, str] = {}
        completed: set[str] = set()
        for row in await self._all(query):
            # The last completed run wins; without one, the last run.
            if row.outcome == Outcome.COMPLETED.value:
                found[row.diagnosis_id] = row.model_version_id
                completed.add(row.diagnosis_id)
            elif row.diagnosis_id not in completed:
                found[row.diagnosis_id] = row.model_version_id
        return found
