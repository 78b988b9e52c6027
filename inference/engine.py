"""The inference engine: loaded model versions, each with one session and one micro-batcher.

A version is loaded once (session created, signature checked against its ModelSpec, one dummy
batch run) before it counts as ready. ``classify`` preprocesses in a worker thread, never on the
event loop, then waits for its row of a batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from domain.errors import DomainError, ErrorCode
from inference.batcher import BatchResult, BatchSettings, MicroBatcher, Scores, Tensor
from inference.images import DecodedImage
from inference.preprocess import blank_batch, preprocess
from inference.providers import OpenedSession, SessionSettings, open_session
from inference.spec import ModelSpec, Signature, check_signature, parse_onnx

log = logging.getLogger(__name__)

OutputKind = Literal["probabilities", "logits"]


class VersionNotLoaded(DomainError):
    def __init__(self, version_id: str) -> None:
        super().__init__(ErrorCode.SERVICE_UNAVAILABLE, f"Model version {version_id} is not loaded")


@dataclass(frozen=True, slots=True)
class LabelProbability:
    label: str
    probability: float


@dataclass(frozen=True, slots=True)
class Prediction:
    version_id: str
    label: str
    confidence: float
    probabilities: tuple[LabelProbability, ...]  # every label, most probable first
    queue_ms: float
    compute_ms: float
    batch_size: int


@dataclass(frozen=True, slots=True)
class LoadedVersion:
    version_id: str
    spec: ModelSpec
    signature: Signature
    provider: str
    output_kind: OutputKind
    batch: BatchSettings
    load_ms: float
    batcher: MicroBatcher = field(repr=False)
    session: Any = field(repr=False)


class InferenceEngine:
    def __init__(
        self,
        *,
        session: SessionSettings | None = None,
        batch: BatchSettings | None = None,
        preprocess_executor: Executor | None = None,
    ) -> None:
        self._session_settings = session or SessionSettings()
        self._batch_settings = batch or BatchSettings()
        self._preprocess_executor = preprocess_executor  # None: the loop's default executor
        self._versions: dict[str, LoadedVersion] = {}
        self._loading: dict[str, asyncio.Task[LoadedVersion]] = {}

    async def load(
        self,
        version_id: str,
        model: bytes | Path,
        spec: ModelSpec,
        *,
        providers: Sequence[str] | None = None,
        batch: BatchSettings | None = None,
    ) -> LoadedVersion:
        """Load, check and warm up a version once; concurrent loads of one id share the work."""
        if version_id in self._versions:
            return self._versions[version_id]
        pending = self._loading.get(version_id)
        if pending is None:
            settings = self._session_settings
            if providers is not None:
                settings = SessionSettings(
                    tuple(providers), settings.intra_op_threads, settings.inter_op_threads
                )
            pending = asyncio.ensure_future(
                self._load(version_id, model, spec, settings, batch or self._batch_settings)
            )
            self._loading[version_id] = pending
        try:
            return await asyncio.shield(pending)
        finally:
            if pending.done():
                self._loading.pop(version_id, None)

    async def _load(
        self,
        version_id: str,
        model: bytes | Path,
        spec: ModelSpec,
        settings: SessionSettings,
        batch: BatchSettings,
    ) -> LoadedVersion:
        started = time.perf_counter()
        opened, signature, kind = await asyncio.to_thread(_open_and_warm, model, spec, settings)
        if signature.fixed_batch == 1 and batch.max_batch_size > 1:
            batch = BatchSettings(1, batch.max_delay_ms, batch.queue_size)
        session = opened.session
        input_name, output_name = signature.input_name, signature.output_name

        def run_batch(tensor: Tensor) -> Scores:
            output: Scores = session.run([output_name], {input_name: tensor})[0]
            return output

        loaded = LoadedVersion(
            version_id=version_id,
            spec=spec,
            signature=signature,
            provider=opened.provider,
            output_kind=kind,
            batch=batch,
            load_ms=(time.perf_counter() - started) * 1000.0,
            batcher=MicroBatcher(run_batch, batch, name=version_id),
            session=session,
        )
        self._versions[version_id] = loaded
        log.info(
            "model version %s ready on %s in %.0f ms (%s)",
            version_id,
            loaded.provider,
            loaded.load_ms,
            kind,
        )
        return loaded

    def is_ready(self, version_id: str) -> bool:
        return version_id in self._versions

    def versions(self) -> list[str]:
        return sorted(self._versions)

    def version(self, version_id: str) -> LoadedVersion:
        loaded = self._versions.get(version_id)
        if loaded is None:
            raise VersionNotLoaded(version_id)
        return loaded

    def provider(self, version_id: str) -> str:
        """The execution provider the version's session really runs on."""
        return self.version(version_id).provider

    async def classify(self, version_id: str, image: DecodedImage | Image.Image) -> Prediction:
        loaded = self.version(version_id)
        picture = image.image if isinstance(image, DecodedImage) else image
        loop = asyncio.get_running_loop()
        sample = await loop.run_in_executor(
            self._preprocess_executor, preprocess, picture, loaded.spec.input
        )
        return await self._predict(loaded, sample)

    async def classify_tensor(self, version_id: str, sample: Tensor) -> Prediction:
        """Classify one preprocessed ``[3, H, W]`` float32 sample."""
        loaded = self.version(version_id)
        spec = loaded.spec.input
        expected = (3, spec.height, spec.width)
        if sample.shape != expected or sample.dtype != np.float32:
            raise DomainError(
                ErrorCode.BAD_USER_INPUT,
                f"Expected a float32 sample of shape {expected}, got {sample.dtype} {sample.shape}",
            )
        return await self._predict(loaded, sample)

    async def _predict(self, loaded: LoadedVersion, sample: Tensor) -> Prediction:
        result = await loaded.batcher.infer(sample)
        return _prediction(loaded, result)

    async def unload(self, version_id: str) -> None:
        """Forget a version; requests still waiting for it fail with SERVICE_UNAVAILABLE."""
        loaded = self._versions.pop(version_id, None)
        if loaded is not None:
            await loaded.batcher.close()

    async def close(self) -> None:
        for version_id in list(self._versions):
            await self.unload(version_id)


def _open_and_warm(
    model: bytes | Path, spec: ModelSpec, settings: SessionSettings
) -> tuple[OpenedSession, Signature, OutputKind]:
    parse_onnx(model)
    opened = open_session(model, settings)
    signature = check_signature(opened.session, spec)
    rows = 1 if signature.fixed_batch == 1 else 2
    warm = blank_batch(spec.input, rows)
    if rows == 2:  # a second, non-constant row: a logits model will not sum to 1 on both
        warm[1] = np.random.default_rng(0).standard_normal(warm[1].shape, dtype=np.float32)
    try:
        scores = opened.session.run([signature.output_name], {signature.input_name: warm})[0]
    except Exception as exc:
        raise DomainError(
            ErrorCode.BAD_USER_INPUT, "The model fails on a blank image", field="file"
        ) from exc
    scores = np.asarray(scores)
    if scores.shape != (rows, len(spec.labels)):
        raise DomainError(
            ErrorCode.BAD_USER_INPUT,
            f"The model returned shape {scores.shape} for a batch of {rows}",
            field="file",
        )
    if not np.all(np.isfinite(scores)):
        raise DomainError(
            ErrorCode.BAD_USER_INPUT, "The model returns non-finite scores", field="file"
        )
    return opened, signature, output_kind(scores)


def output_kind(scores: NDArray[np.floating]) -> OutputKind:
    """Probabilities when every row is in [0, 1] and sums to 1, logits otherwise."""
    in_range = bool(np.all(scores >= 0.0) and np.all(scores <= 1.0))
    sums_to_one = bool(np.allclose(scores.sum(axis=1), 1.0, atol=1e-3))
    return "probabilities" if in_range and sums_to_one else "logits"


def softmax(scores: NDArray[np.floating]) -> NDArray[np.float64]:
    shifted = scores.astype(np.float64) - np.max(scores)
    exp = np.exp(shifted)
    result: NDArray[np.float64] = exp / exp.sum()
    return result


def _prediction(loaded: LoadedVersion, result: BatchResult) -> Prediction:
    row = result.scores
    probs = softmax(row) if loaded.output_kind == "logits" else row.astype(np.float64)
    ranked = sorted(
        (
            LabelProbability(label, float(p))
            for label, p in zip(loaded.spec.labels, probs, strict=True)
        ),
        key=lambda lp: lp.probability,
        reverse=True,
    )
    return Prediction(
        version_id=loaded.version_id,
        label=ranked[0].label,
        confidence=ranked[0].probability,
        probabilities=tuple(ranked),
        queue_ms=result.queue_ms,
        compute_ms=result.compute_ms,
        batch_size=result.batch_size,
    )
