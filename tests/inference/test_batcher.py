"""The micro-batcher with a fake session whose run() records every batch it is given.

No timing is asserted: batches are made deterministic by submitting synchronously, by
a max delay long enough that only size can close a batch, or by holding run() on a gate (all
runs) or on permits (one run per permit).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

import numpy as np
import pytest

from domain.errors import DomainError, ErrorCode
from inference.batcher import (
    BatchResult,
    BatchSettings,
    InferenceFailed,
    MicroBatcher,
    Overloaded,
    ShuttingDown,
)

LONG_DELAY_MS = 60_000.0


@dataclass
class FakeSession:
    """Row i of the output is [i-th sample's marker, batch size].

    The markers are read after the gate opens, so a batch overwritten while it runs shows.
    """

    fail_with: Exception | None = None
    fail_on_marker: float | None = None  # fail only the batches holding this marker
    sizes: list[int] = field(default_factory=list)
    batches: list[list[float]] = field(default_factory=list)  # the markers of each run
    inputs: list[np.ndarray] = field(default_factory=list)  # what run() was given
    gate: threading.Event = field(default_factory=threading.Event)
    permits: threading.Semaphore | None = None  # when set, each run takes one
    started: threading.Event = field(default_factory=threading.Event)
    begun: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    running: int = 0
    most_at_once: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.gate.set()

    def run(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        self.inputs.append(batch)
        self.started.set()
        self.begun.release()
        try:
            if self.permits is not None and not self.permits.acquire(timeout=30):
                raise TimeoutError("the test never let this run go")
            self.gate.wait(timeout=30)
            self.sizes.append(len(batch))
            markers = batch[:, 0, 0, 0]
            self.batches.append([float(m) for m in markers])
            if self.fail_with is not None:
                raise self.fail_with
            if self.fail_on_marker is not None and self.fail_on_marker in markers:
                raise RuntimeError("this batch fails")
            return np.stack([markers, np.full(len(batch), len(batch), np.float32)], axis=1)
        finally:
            with self._lock:
                self.running -= 1


def sample(marker: float) -> np.ndarray:
    return np.full((3, 2, 2), marker, dtype=np.float32)


async def run_begins(fake: FakeSession) -> None:
    """Wait until the next run has started (it then holds on its permit)."""
    assert await asyncio.to_thread(fake.begun.acquire, True, 30)


def markers(results: list[BatchResult]) -> list[float]:
    return [float(r.scores[0]) for r in results]


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


async def test_a_lone_job_runs_on_its_own_sample_without_a_copy() -> None:
    fake = FakeSession()
    batcher = MicroBatcher(fake.run, BatchSettings(max_batch_size=16, max_delay_ms=0))
    alone = sample(5)
    result = await batcher.infer(alone)
    assert result.batch_size == 1 and float(result.scores[0]) == 5.0
    assert np.shares_memory(fake.inputs[0], alone)
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


async def test_batches_formed_during_runs_stay_capped_and_keep_their_own_rows() -> None:
    # given a batcher of max 3 whose first run (job 0 alone) is held
    permits = threading.Semaphore(0)
    fake = FakeSession(permits=permits)
    batcher = MicroBatcher(fake.run, BatchSettings(max_batch_size=3, max_delay_ms=0))
    head = batcher.submit(sample(0))
    await run_begins(fake)
    # when ten more arrive while it runs, and the runs are let go one by one
    rest = [batcher.submit(sample(i)) for i in range(1, 11)]
    for _ in range(4):
        permits.release()
        await run_begins(fake)
    permits.release()
    results = await asyncio.gather(head, *rest)
    # then every batch held at most 3, in arrival order, each row its own sample's
    assert fake.batches == [[0.0], [1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0], [10.0]]
    assert markers(results) == [float(i) for i in range(11)]
    assert [r.batch_size for r in results] == [1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 1]
    assert fake.most_at_once == 1
    await batcher.close()


async def test_a_failing_batch_fails_only_its_own_jobs() -> None:
    # given a model that fails on any batch holding job 0, held while job 0 runs alone
    fake = FakeSession(fail_on_marker=0.0)
    fake.gate.clear()
    batcher = MicroBatcher(fake.run, BatchSettings(max_batch_size=4, max_delay_ms=0))
    head = batcher.submit(sample(0))
    await asyncio.to_thread(fake.started.wait, 30)
    # when three more arrive during that run
    rest = [batcher.submit(sample(i)) for i in range(1, 4)]
    fake.gate.set()
    outcomes = await asyncio.gather(head, *rest, return_exceptions=True)
    # then job 0 fails with the model's error and the next batch is answered
    assert isinstance(outcomes[0], InferenceFailed)
    assert isinstance(outcomes[0].__cause__, RuntimeError)
    assert [float(o.scores[0]) for o in outcomes[1:] if isinstance(o, BatchResult)] == [1, 2, 3]
    assert fake.sizes == [1, 3]
    await batcher.close()


async def test_callers_that_gave_up_are_left_out_of_their_batch() -> None:
    # given a batcher of max 2 with job 0 running and held, 1-2 forming, 3-4 waiting
    permits = threading.Semaphore(0)
    fake = FakeSession(permits=permits)
    batcher = MicroBatcher(fake.run, BatchSettings(max_batch_size=2, max_delay_ms=0))
    head = batcher.submit(sample(0))
    await run_begins(fake)
    jobs = [batcher.submit(sample(i)) for i in range(1, 5)]
    # when the callers of 2 (forming) and 3 (waiting) give up
    jobs[1].cancel()
    jobs[2].cancel()
    await asyncio.sleep(0)  # the batcher hears of it through the futures' callbacks
    for _ in range(3):
        permits.release()
    results = await asyncio.gather(head, jobs[0], jobs[3])
    # then the model never saw them, and the others got their own rows
    assert fake.batches == [[0.0], [1.0], [4.0]]
    assert markers(results) == [0.0, 1.0, 4.0]
    assert jobs[1].cancelled() and jobs[2].cancelled()
    await batcher.close()


async def test_the_queue_bound_counts_the_forming_batch() -> None:
    # given a queue of 3 and batches of 2 behind a held run
    fake = FakeSession()
    fake.gate.clear()
    batcher = MicroBatcher(fake.run, BatchSettings(max_batch_size=2, max_delay_ms=0, queue_size=3))
    running = batcher.submit(sample(0))
    await asyncio.to_thread(fake.started.wait, 30)
    # when three wait (two forming, one behind them), a fourth is refused
    waiting = [batcher.submit(sample(i)) for i in range(1, 4)]
    assert batcher.queued == 3
    with pytest.raises(Overloaded):
        batcher.submit(sample(4))
    # and the others are answered once the model is free
    fake.gate.set()
    assert markers(await asyncio.gather(running, *waiting)) == [0, 1, 2, 3]
    assert fake.sizes == [1, 2, 1]
    await batcher.close()


async def test_a_sample_of_another_shape_fails_alone() -> None:
    # given a batcher whose first sample fixed the shape of its rows
    fake = FakeSession()
    batcher = MicroBatcher(fake.run, BatchSettings(max_batch_size=3, max_delay_ms=LONG_DELAY_MS))
    first = batcher.submit(sample(0))
    # when a sample of another shape arrives between two good ones
    odd = batcher.submit(np.zeros((3, 3, 3), np.float32))
    last = batcher.submit(sample(2))
    # then it fails at once, and the good ones still batch without it
    with pytest.raises(InferenceFailed) as failed:
        await odd
    assert isinstance(failed.value.__cause__, ValueError)
    third = batcher.submit(sample(3))
    assert markers(await asyncio.gather(first, last, third)) == [0, 2, 3]
    assert fake.sizes == [3]
    await batcher.close()
