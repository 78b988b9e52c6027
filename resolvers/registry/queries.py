"""Read paths of the registry subgraph."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from domain.errors import bad_input, not_found
from domain.modality import Modality
from domain.registry.models import (
    DailyMetric,
    Experiment,
    InferenceRecord,
    InferenceRecordPage,
    Model,
    ModelVersion,
)
from resolvers.pagination import decode_cursor, encode_cursor, page_size
from resolvers.registry.loaders import (
    ModelByIdLoader,
    ModelVersionByIdLoader,
    ModelVersionIdByDiagnosisLoader,
    VersionsByModelLoader,
)

if TYPE_CHECKING:
    from schema.context import Context


async def models(context: Context, *, modality: Modality | None) -> list[Model]:
    return await context.services.registry.models(context.principal, modality=modality)


async def model_reference(context: Context, model_id: str) -> Model:
    return await context.services.registry.model(context.principal, model_id)


async def model_version(context: Context, version_id: str) -> ModelVersion:
    return await context.services.registry.model_version(context.principal, version_id)


async def experiments(context: Context, *, active_only: bool) -> list[Experiment]:
    return await context.services.registry.experiments(context.principal, active_only=active_only)


def record_cursor(record: InferenceRecord) -> str:
    return encode_cursor("rec", record.created_at.isoformat(), record.id)


async def inference_records(
    context: Context, *, model_version_id: str | None, first: int | None, after: str | None
) -> InferenceRecordPage:
    key = None
    if after is not None:
        at, record_id = decode_cursor(after, "rec")
        try:
            key = (datetime.fromisoformat(str(at)), str(record_id))
        except ValueError:
            raise bad_input("Invalid cursor", field="after") from None
    return await context.services.registry.inference_records(
        context.principal, model_version_id=model_version_id, first=page_size(first), after=key
    )


async def metrics(
    context: Context, *, version_id: str, start: date, end: date
) -> list[DailyMetric]:
    return await context.services.registry.metrics(
        context.principal, version_id=version_id, start=start, end=end
    )


async def model(context: Context, model_id: str) -> Model:
    found = await context.loader(ModelByIdLoader).load(model_id)
    if found is None:
        raise not_found("Model")
    return found


async def version(context: Context, version_id: str) -> ModelVersion:
    found = await context.loader(ModelVersionByIdLoader).load(version_id)
    if found is None:
        raise not_found("Model version")
    return found


async def versions_of_model(context: Context, model_id: str) -> list[ModelVersion]:
    return await context.loader(VersionsByModelLoader).load(model_id)


async def version_of_diagnosis(context: Context, diagnosis_id: str) -> ModelVersion | None:
    version_id = await context.loader(ModelVersionIdByDiagnosisLoader).load(diagnosis_id)
    if version_id is None:
        return None
    return await context.loader(ModelVersionByIdLoader).load(version_id)
