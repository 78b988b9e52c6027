"""The engine with real ONNX Runtime sessions on CPU and images decoded by Pillow."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import AsyncIterator

import numpy as np
import pytest
from PIL import Image

from domain.errors import DomainError, ErrorCode
from inference.batcher import BatchSettings
from inference.demo_models import HEAVY_CNN, SKIN
from inference.engine import InferenceEngine, softmax
from inference.images import decode_image
from inference.preprocess import preprocess as real_preprocess
from inference.providers import CPU, CUDA, SessionSettings
from inference.spec import InputSpec, ModelSpec

from .models import linear_classifier

SMALL_SPEC = ModelSpec(labels=("a", "b", "c"), input=InputSpec(height=8, width=8))


def photo(color: tuple[int, int, int] = (200, 120, 40)) -> Image.Image:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buffer, "JPEG")
    return decode_image(buffer.getvalue()).image


@pytest.fixture
async def engine() -> AsyncIterator[InferenceEngine]:
    engine = InferenceEngine(
        session=SessionSettings(providers=(CUDA, CPU), intra_op_threads=1),
        batch=BatchSettings(max_batch_size=8, max_delay_ms=2),
    )
    yield engine
    await engine.close()


async def test_a_loaded_demo_model_classifies_a_photo(engine: InferenceEngine) -> None:
    # given the SKIN demo model loaded with CUDA requested
    loaded = await engine.load("skin-1", SKIN.build(), SKIN.spec)
    # then it is ready, warmed up, and reports the provider it really got
    assert engine.is_ready("skin-1")
    assert engine.provider("skin-1") == loaded.session.get_providers()[0]
    assert loaded.output_kind == "probabilities"
    # when a photo is classified
    prediction = await engine.classify("skin-1", photo())
    # then every label has a probability, most probable first, summing to 1
    labels = [p.label for p in prediction.probabilities]
    assert sorted(labels) == sorted(SKIN.spec.labels)
    probabilities = [p.probability for p in prediction.probabilities]
    assert probabilities == sorted(probabilities, reverse=True)
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)
    assert prediction.label == labels[0]
    assert prediction.confidence == probabilities[0]
    assert prediction.queue_ms >= 0 and prediction.compute_ms > 0
    assert prediction.version_id == "skin-1"


async def test_cpu_is_reported_when_cuda_is_requested_without_a_gpu(
    engine: InferenceEngine,
) -> None:
    await engine.load("bone", linear_classifier(), SMALL_SPEC, providers=[CUDA, CPU])
    expected = engine.version("bone").session.get_providers()[0]
    assert engine.provider("bone") == expected
    if expected != CUDA:
        assert engine.provider("bone") == CPU


async def test_logits_are_turned_into_probabilities(engine: InferenceEngine) -> None:
    # given the same weights exported with and without a Softmax node
    await engine.load("probs", linear_classifier(softmax=True, seed=3), SMALL_SPEC)
    await engine.load("logits", linear_classifier(softmax=False, seed=3), SMALL_SPEC)
    assert engine.version("probs").output_kind == "probabilities"
    assert engine.version("logits").output_kind == "logits"
    # when both classify one image, then they agree
    image = photo((10, 200, 90))
    a, b = await asyncio.gather(engine.classify("probs", image), engine.classify("logits", image))
    assert [p.label for p in a.probabilities] == [p.label for p in b.probabilities]
    for x, y in zip(a.probabilities, b.probabilities, strict=True):
        assert x.probability == pytest.approx(y.probability, abs=1e-5)


async def test_the_heavy_cnn_outputs_logits_and_the_engine_copes(
    engine: InferenceEngine,
) -> None:
    await engine.load("heavy", HEAVY_CNN.build(), HEAVY_CNN.spec)
    assert engine.version("heavy").output_kind == "logits"
    prediction = await engine.classify("heavy", photo())
    assert sum(p.probability for p in prediction.probabilities) == pytest.approx(1.0, abs=1e-5)


async def test_concurrent_requests_are_batched(engine: InferenceEngine) -> None:
    await engine.load("skin", SKIN.build(), SKIN.spec, batch=BatchSettings(16, 60_000))
    rng = np.random.default_rng(0)
    samples = [rng.standard_normal((3, 224, 224), dtype=np.float32) for _ in range(16)]
    predictions = await asyncio.gather(*(engine.classify_tensor("skin", s) for s in samples))
    assert {p.batch_size for p in predictions} == {16}
    # and batching changes nothing in the answers
    alone = await engine.load("skin-alone", SKIN.build(), SKIN.spec, batch=BatchSettings(1, 0))
    assert alone.batch.max_batch_size == 1
    for sample_, batched in zip(samples[:3], predictions, strict=False):
        single = await engine.classify_tensor("skin-alone", sample_)
        assert single.label == batched.label
        assert single.confidence == pytest.approx(batched.confidence, abs=1e-5)


async def test_preprocessing_runs_off_the_event_loop(
    engine: InferenceEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a spy on the preprocess function the engine calls
    await engine.load("small", linear_classifier(), SMALL_SPEC)
    threads: list[int] = []

    def spy(image: Image.Image, spec: InputSpec) -> np.ndarray:
        threads.append(threading.get_ident())
        return real_preprocess(image, spec)

    monkeypatch.setattr("inference.engine.preprocess", spy)
    # when an image is classified, then preprocessing ran in another thread
    await engine.classify("small", photo())
    assert threads and threading.get_ident() not in threads


async def test_a_model_fixed_to_one_image_per_run_is_never_batched(
    engine: InferenceEngine,
) -> None:
    loaded = await engine.load("one", linear_classifier(input_shape=(1, 3, 8, 8)), SMALL_SPEC)
    assert loaded.batch.max_batch_size == 1
    predictions = await asyncio.gather(
        *(engine.classify("one", photo((i * 40, 0, 0))) for i in range(4))
    )
    assert {p.batch_size for p in predictions} == {1}


async def test_loading_a_model_twice_loads_it_once(engine: InferenceEngine) -> None:
    first, second = await asyncio.gather(
        engine.load("twice", linear_classifier(), SMALL_SPEC),
        engine.load("twice", linear_classifier(), SMALL_SPEC),
    )
    assert first is second


async def test_a_wrong_model_is_refused_at_load_and_not_registered(
    engine: InferenceEngine,
) -> None:
    with pytest.raises(DomainError) as refused:
        await engine.load("bad", linear_classifier(input_shape=("N", 3, 32, 32)), SMALL_SPEC)
    assert refused.value.code == ErrorCode.BAD_USER_INPUT
    assert not engine.is_ready("bad")
    with pytest.raises(DomainError) as refused:
        await engine.load("zip", b"PK\x03\x04 not a model", SMALL_SPEC)
    assert refused.value.code == ErrorCode.BAD_USER_INPUT
    assert engine.versions() == []


async def test_an_unloaded_version_is_unavailable(engine: InferenceEngine) -> None:
    await engine.load("gone", linear_classifier(), SMALL_SPEC)
    await engine.unload("gone")
    with pytest.raises(DomainError) as refused:
        await engine.classify("gone", photo())
    assert refused.value.code == ErrorCode.SERVICE_UNAVAILABLE
    with pytest.raises(DomainError) as refused:
        engine.provider("never-loaded")
    assert refused.value.code == ErrorCode.SERVICE_UNAVAILABLE


async def test_a_sample_of_the_wrong_shape_is_refused(engine: InferenceEngine) -> None:
    await engine.load("small", linear_classifier(), SMALL_SPEC)
    with pytest.raises(DomainError) as refused:
        await engine.classify_tensor("small", np.zeros((3, 4, 4), np.float32))
    assert refused.value.code == ErrorCode.BAD_USER_INPUT


def test_softmax_is_stable_for_large_logits() -> None:
    assert softmax(np.array([1000.0, 1000.0, -1000.0])) == pytest.approx([0.5, 0.5, 0.0])
