"""Micro-batcher: one per model session, in the manner of BentoML's dispatcher.

A request becomes a job with a future in a bounded queue. One consumer task takes the first
job, then collects more until the batch is full or the first job's deadline (its enqueue time
plus ``max_delay_ms``) has passed, and runs the batch in a dedicated thread. It awaits that run
before forming the next batch, so one batch is in flight per session. Results arrive with
``set_result``, failures with ``set_exception``; a full queue is refused at once with
SERVICE_UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from domain.errors import DomainError, ErrorCode

Tensor = NDArray[np.float32]
Scores = NDArray[np.floating]
RunBatch = Callable[[Tensor], Scores]


class Overloaded(DomainError):
    def __init__(self, message: str = "The model is busy; try again shortly") -> None:
        super().__init__(ErrorCode.SERVICE_UNAVAILABLE, message)


class ShuttingDown(DomainError):
    def __init__(self) -> None:
        super().__init__(ErrorCode.SERVICE_UNAVAILABLE, "The model is being unloaded")


class InferenceFailed(DomainError):
    """The model failed on the batch this job was in; ``__cause__`` holds the error."""

    def __init__(self) -> None:
        super().__init__(ErrorCode.INTERNAL_SERVER_ERROR, "The model failed on this image")


@dataclass(frozen=True, slots=True)
class BatchSettings:
    max_batch_size: int = 16
    max_delay_ms: float = 2.0
    queue_size: int = 256

    def __post_init__(self) -> None:
        if self.max_batch_size < 1 or self.queue_size < 1 or self.max_delay_ms < 0:
            raise ValueError("batch size and queue size must be >= 1, delay >= 0")


@dataclass(frozen=True, slots=True)
class BatchResult:
    scores: Scores  # this job's row of the model output
    queue_ms: float  # from submit until its batch started running
    compute_ms: float  # the whole batch's run
    batch_size: int


@dataclass(slots=True)
class _Job:
    sample: Tensor
    future: asyncio.Future[BatchResult]
    enqueued: float  # time.perf_counter()


class MicroBatcher:
    def __init__(
        self, run_batch: RunBatch, settings: BatchSettings, *, name: str = "model"
    ) -> None:
        self._run_batch = run_batch
        self.settings = settings
        self.name = name
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=settings.queue_size)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"infer-{name}")
        self._consumer: asyncio.Task[None] | None = None
        self._forming: list[_Job] = []
        self._closed = False

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def submit(self, sample: Tensor) -> asyncio.Future[BatchResult]:
        """Enqueue one ``[3, H, W]`` sample; raises Overloaded at once when the queue is full."""
        if self._closed:
            raise ShuttingDown()
        loop = asyncio.get_running_loop()
        job = _Job(sample, loop.create_future(), time.perf_counter())
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            raise Overloaded() from None
        if self._consumer is None:
            self._consumer = loop.create_task(self._consume(), name=f"batcher-{self.name}")
        return job.future

    async def infer(self, sample: Tensor) -> BatchResult:
        return await self.submit(sample)

    async def close(self) -> None:
        """Stop taking work; every job not yet answered fails with ShuttingDown."""
        self._closed = True
        if self._consumer is not None:
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consumer
        self._fail_all(self._forming)
        self._forming = []
        while not self._queue.empty():
            self._fail_all([self._queue.get_nowait()])
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _consume(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self._queue.get()
            self._forming = batch = [first]
            deadline = loop.time() + self._remaining_delay(first)
            await self._fill(batch, deadline)
            await self._run(loop, batch)
            self._forming = []

    def _remaining_delay(self, first: _Job) -> float:
        waited = time.perf_counter() - first.enqueued
        return max(0.0, self.settings.max_delay_ms / 1000.0 - waited)

    async def _fill(self, batch: list[_Job], deadline: float) -> None:
        limit = self.settings.max_batch_size
        while len(batch) < limit:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            try:
                async with asyncio.timeout_at(deadline):
                    batch.append(await self._queue.get())
            except TimeoutError:
                return

    async def _run(self, loop: asyncio.AbstractEventLoop, batch: list[_Job]) -> None:
        live = [job for job in batch if not job.future.done()]  # a caller may have given up
        if not live:
            return
        started = time.perf_counter()
        try:
            scores = await loop.run_in_executor(
                self._executor, _stack_and_run, self._run_batch, [j.sample for j in live]
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the model's failure goes to every job of the batch
            for job in live:
                if not job.future.done():
                    failure = InferenceFailed()
                    failure.__cause__ = exc
                    job.future.set_exception(failure)
            return
        compute_ms = (time.perf_counter() - started) * 1000.0
        for index, job in enumerate(live):
            if not job.future.done():
                job.future.set_result(
                    BatchResult(
                        scores=scores[index],
                        queue_ms=(started - job.enqueued) * 1000.0,
                        compute_ms=compute_ms,
                        batch_size=len(live),
                    )
                )

    @staticmethod
    def _fail_all(jobs: list[_Job]) -> None:
        for job in jobs:
            if not job.future.done():
                job.future.set_exception(ShuttingDown())


def _stack_and_run(run_batch: RunBatch, samples: list[Tensor]) -> Scores:
    batch = np.stack(samples) if len(samples) > 1 else samples[0][np.newaxis]
    scores = run_batch(batch)
    if scores.ndim != 2 or scores.shape[0] != len(samples):
        raise ValueError(f"the model returned shape {scores.shape} for a batch of {len(samples)}")
    return scores
