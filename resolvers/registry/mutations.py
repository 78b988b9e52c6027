"""Write paths of the registry subgraph (ADMIN only; the domain decides)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from domain.errors import bad_input
from domain.modality import Modality
from domain.registry.models import Experiment, InputSpec, Model, ModelStatus, ModelVersion

if TYPE_CHECKING:
    from schema.context import Context


async def register_model(
    context: Context,
    *,
    name: str,
    modality: Modality,
    labels: Sequence[str],
    input_spec: InputSpec | None,
) -> Model:
    return await context.services.registry.register_model(
        context.principal, name=name, modality=modality, labels=labels, input_spec=input_spec
    )


async def read_upload(file: Any) -> bytes:
    """The bytes of a multipart upload (a Starlette ``UploadFile``)."""
    read = getattr(file, "read", None)
    if read is None:
        raise bad_input("Send the model file as a multipart upload", field="file")
    try:
        data = await read()
    finally:
        # The spooled temporary file behind it is not closed by anyone else.
        await file.close()
    if not isinstance(data, bytes):
        raise bad_input("Send the model file as a multipart upload", field="file")
    return data


async def register_model_version(
    context: Context, *, model_id: str, version: str, file: Any, intended_use: str
) -> ModelVersion:
    return await context.services.registry.register_version(
        context.principal,
        model_id=model_id,
        version=version,
        artifact=await read_upload(file),
        intended_use=intended_use,
    )


async def set_model_version_status(
    context: Context, *, version_id: str, status: ModelStatus
) -> ModelVersion:
    return await context.services.registry.set_status(
        context.principal, version_id=version_id, status=status
    )


async def start_experiment(
    context: Context, *, control_id: str, candidate_id: str, candidate_percent: int
) -> Experiment:
    return await context.services.registry.start_experiment(
        context.principal,
        control_id=control_id,
        candidate_id=candidate_id,
        candidate_percent=candidate_percent,
    )


async def stop_experiment(context: Context, *, experiment_id: str) -> Experiment:
    return await context.services.registry.stop_experiment(
        context.principal, experiment_id=experiment_id
    )
