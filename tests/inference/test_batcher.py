"""The micro-batcher with a fake session whose run() records every batch it is given.

No timing is asserted: batches are made deterministic by submitting synchronously, by
a max delay long enough that only size can close a batch, or by holding run() on a gate.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

import numpy as np
import pytest

from domain.errors import DomainError, ErrorCode
from inference.batcher import (
    BatchSettings,
    InferenceFailed,
    MicroBatcher,
    Overloaded,
    ShuttingDown,
)

LONG_DELAY_MS = 60_000.0


@dataclass
class FakeSession:
    """Row i of the output is [i-th sample's marker, batch size]."""

    fail_with: Exception | None = None
    sizes: list[int] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    started: threading.Event = field(default_factory=threading.Event)
    running: int = 0
    most_at_once: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.gate.set()

    def run(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        self.started.set()
        try:
            self.gate.wait(timeout=30)
            self.sizes.append(len(batch))
            if self.fail_with is not None:
                raise self.fail_with
            markers = batch[:, 0, 0, 0]
            return np.stack([markers, np.full(len(batch), len(batch), np.float32)], axis=1)
        finally:
            with self._lock:
                self.running -= 1


def sample(marker: float) -> np.ndarray:
    return np.full((3, 2, 2), marker, dtype=np.float32)


async def test_batches_close_when_full() -> None:
    # given a batcher of max 4 whose delay would never run out in this test
    fake = FakeSession()
    batcher = MicroBatcher(fake.run, BatchSettings(max_batch_size=4, max_delay_ms=LONG_DELAY_MS))
    # when 8 jobs arrive together
    results = await asyncio.gather(*(batcher.infer(sample(i)) for i in range(8)))
    # then two full batches ran, and each job got its own row
    assert fake.sizes == [4, 4]
    assert [float(r.scores[0]) for r in results] == [float(i) for i in range(8)]
    assert all(r.batch_size == 4 and r.queue_ms >= 0 and r.compute_ms >= 0 for r in results)
    await batcher.close()


async def test_a_partial_batch_leaves_at_its_deadline() -> None:
    # given a batcher of max 64 with a short delay
    fake = FakeSession()
    batcher = MicroBatcher(fake.run, BatchSettings(max_batch_size=64, max_delay_ms=20))
    # when 3 jobs arrive together, then a lone one later
    first = await asyncio.gather(*(batcher.infer(sample(i)) for i in range(3)))
    later = await batcher.infer(sample(9))
    # then the deadline, not the size, closed both batches
    assert fake.sizes == [3, 1]
    assert [r.batch_size for r in first] == [3, 3, 3]
    assert later.batch_size == 1 and float(later.scores[0]) == 9.0
    await batcher.close()


async def test_jobs_arriving_during_a_run_form_the_next_batch() -> None:
    # given a run held on a gate with one job in it
    fake = FakeSession()
    fake.gate.clear()
    batcher = MicroBatcher(fake.run, BatchSettings(max_batch_size=8, max_delay_ms=0))
    head = batcher.submit(sample(0))
    await asyncio.to_thread(fake.started.wait, 30)
    # when five more arrive while it runs, and the gate opens
    rest = [batcher.submit(sample(i)) for i in range(1, 6)]
    fake.gate.set()
    await asyncio.gather(head, *rest)
    # then they went together, after the first
    assert fake.sizes == [1, 5]
    await batcher.close()


async def test_one_batch_is_in_flight_at_a_time() -> None:
    fake = FakeSession()
    batcher = MicroBatcher(fake.run, BatchSettings(max_batch_size=3, max_delay_ms=1))
    await asyncio.gather(*(batcher.infer(sample(i)) for i in range(20)))
    assert fake.most_at_once == 1
    assert sum(fake.sizes) == 20 and max(fake.sizes) <= 3
    await batcher.close()


async def test_a_full_queue_answers_service_unavailable_at_once() -> None:
    # given a queue of 2 behind a run held on a gate
    fake = FakeSession()
    fake.gate.clear()
    batcher = MicroBatcher(fake.run, BatchSettings(max_batch_size=1, max_delay_ms=0, queue_size=2))
    running = batcher.submit(sample(0))
    await asyncio.to_thread(fake.started.wait, 30)
    queued = [batcher.submit(sample(1)), batcher.submit(sample(2))]
    # when one more arrives, then it is refused without waiting
    with pytest.raises(Overloaded) as refused:
        batcher.submit(sample(3))
    assert refused.value.code == ErrorCode.SERVICE_UNAVAILABLE
    # and the others still complete once the model is free
    fake.gate.set()
    assert [float(r.scores[0]) for r in await asyncio.gather(running, *queued)] == [0, 1, 2]
    await batcher.close()


async def test_an_error_in_run_reaches_every_job_of_that_batch() -> None:
    # given a model that fails
    boom = RuntimeError("CUDA error: an illegal memory access was encountered")
    fake = FakeSession(fail_with=boom)
    batcher = MicroBatcher(fake.run, BatchSettings(max_batch_size=4, max_delay_ms=LONG_DELAY_MS))
    # when a full batch runs
    outcomes = await asyncio.gather(
        *(batcher.infer(sample(i)) for i in range(4)), return_exceptions=True
    )
    # then each job gets the failure as an exception, caused by the model's error
    assert fake.sizes == [4]
    assert all(isinstance(o, InferenceFailed) for o in outcomes)
    assert all(isinstance(o, BaseException) and o.__cause__ is boom for o in outcomes)
    # and the batcher goes on serving the next batch
    fake.fail_with = None
    again = await asyncio.gather(*(batcher.infer(sample(i)) for i in range(4, 8)))
    assert [float(r.scores[0]) for r in again] == [4.0, 5.0, 6.0, 7.0]
    await batcher.close()


async def test_a_wrong_output_shape_is_an_error_not_a_wrong_answer() -> None:
    batcher = MicroBatcher(
        lambda batch: np.zeros((1, 2), np.float32), BatchSettings(2, LONG_DELAY_MS)
    )
    outcomes = await asyncio.gather(
        batcher.infer(sample(0)), batcher.infer(sample(1)), return_exceptions=True
    )
    assert all(isinstance(o, InferenceFailed) for o in outcomes)
    await batcher.close()


async def test_close_fails_pending_jobs_and_refuses_new_ones() -> None:
    # given one job running on a held gate and two waiting
    fake = FakeSession()
    fake.gate.clear()
    batcher = MicroBatcher(fake.run, BatchSettings(max_batch_size=1, max_delay_ms=0))
    jobs = [batcher.submit(sample(i)) for i in range(3)]
    await asyncio.to_thread(fake.started.wait, 30)
    # when the batcher closes
    await batcher.close()
    fake.gate.set()
    # then every job fails with SERVICE_UNAVAILABLE, and so does a new one
    outcomes = await asyncio.gather(*jobs, return_exceptions=True)
    assert all(isinstance(o, ShuttingDown) for o in outcomes)
    with pytest.raises(DomainError) as refused:
        batcher.submit(sample(4))
    assert refused.value.code == ErrorCode.SERVICE_UNAVAILABLE
