"""The registry's model engine, over ``inference.engine.InferenceEngine``.

One engine per process: a loaded version keeps one ONNX Runtime session and one micro-batcher
on the providers from settings. Uploaded files are verified on a separate, throw-away CPU
session, so a refused file never touches the serving engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from domain.errors import DomainError, ErrorCode
from domain.imaging.classification import ImageSource
from domain.registry.models import EnginePrediction, LabelScore, Model, ModelVersion
from inference.batcher import BatchSettings
from inference.engine import InferenceEngine
from inference.images import ImageLimits, decode_image
from inference.providers import CPU, SessionSettings
from inference.recent_images import RecentImages
from inference.spec import InputSpec, ModelSpec
from infra.models.artifacts import LocalArtifactStore

_PROBE_SESSION = SessionSettings(providers=(CPU,), intra_op_threads=1)
_PROBE_BATCH = BatchSettings(max_batch_size=1, max_delay_ms=0.0, queue_size=1)


def model_spec(model: Model) -> ModelSpec:
    """The inference module's spec of a registered model (BAD_USER_INPUT if it makes none)."""
    spec = model.input_spec
    return ModelSpec(
        labels=model.labels,
        input=InputSpec(
            name=spec.name,
            height=spec.height,
            width=spec.width,
            channel_order="BGR" if spec.channel_order == "BGR" else "RGB",
            mean=spec.mean,
            std=spec.std,
            resize="center_crop" if spec.resize == "center_crop" else "stretch",
        ),
    )


class OnnxModelEngine:
    def __init__(
        self,
        *,
        artifacts: LocalArtifactStore,
        providers: Sequence[str],
        intra_op_threads: int = 0,
        batch: BatchSettings | None = None,
        image_limits: ImageLimits | None = None,
        recent_images: RecentImages | None = None,
    ) -> None:
        self._artifacts = artifacts
        self._recent = recent_images
        self._engine = InferenceEngine(
            session=SessionSettings(tuple(providers), intra_op_threads), batch=batch
        )
        self._limits = image_limits or ImageLimits()

    @property
    def inference(self) -> InferenceEngine:
        return self._engine

    async def verify(self, artifact: bytes, model: Model) -> None:
        """Parse, open on CPU, check the signature, run a blank batch, then forget it."""
        probe = InferenceEngine(session=_PROBE_SESSION, batch=_PROBE_BATCH)
        try:
            await probe.load("probe", artifact, model_spec(model))
        finally:
            await probe.close()

    async def load(self, version: ModelVersion, model: Model) -> str:
        path = self._artifacts.path(version.sha256)
        if not await asyncio.to_thread(path.is_file):
            raise DomainError(
                ErrorCode.SERVICE_UNAVAILABLE,
                f"The model file of version {version.version} is missing",
            )
        try:
            loaded = await self._engine.load(version.id, path, model_spec(model))
        except DomainError as error:
            # The file was checked when it was registered: failing now is the server's
            # problem (a provider, memory), not the caller's input.
            raise DomainError(
                ErrorCode.SERVICE_UNAVAILABLE,
                f"Model version {version.version} could not be loaded: {error.message}",
            ) from error
        return loaded.provider

    def is_loaded(self, version_id: str) -> bool:
        return self._engine.is_ready(version_id)

    async def unload(self, version_id: str) -> None:
        await self._engine.unload(version_id)

    async def classify(self, version_id: str, image: ImageSource) -> EnginePrediction:
        decoded = self._recent.take(image.sha256) if self._recent is not None else None
        if decoded is None:
            decoded = await asyncio.to_thread(decode_image, await image.read(), self._limits)
        prediction = await self._engine.classify(version_id, decoded)
        return EnginePrediction(
            label=prediction.label,
            confidence=prediction.confidence,
            probabilities=tuple(
                LabelScore(p.label, p.probability) for p in prediction.probabilities
            ),
            queue_ms=prediction.queue_ms,
            compute_ms=prediction.compute_ms,
        )

    async def close(self) -> None:
        await self._engine.close()
