"""Micro-batcher: one per model session, in the manner of BentoML's dispatcher.

A request becomes a job with a future. It joins the *forming* batch while that holds fewer
than ``max_batch_size`` jobs, and otherwise waits behind it; together they are the bounded
queue, and a full queue is refused at once with SERVICE_UNAVAILABLE.

The forming batch is assembled while it grows: from its second job on, each sample is copied
into its row of a preallocated buffer on the event loop, while the previous batch runs, so a
batch is ready to run the moment it is sealed. A lone job runs as a view of its own sample,
with no copy.

One worker thread per session runs the batches, so exactly one is in flight. When it is free it
seals the forming batch as soon as that is full or its first job's deadline (enqueue time plus
``max_delay_ms``) has passed; a batch is never cut short because a run is in flight, it just
goes on forming. The worker hands the results to the event loop in one callback per batch and
seals the next batch at once, without waiting for the loop. Results arrive with
``set_result``, failures with ``set_exception``; callers that gave up are left out.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from domain.errors import DomainError, ErrorCode

Tensor = NDArray[np.float32]
Scores = NDArray[np.floating]
RunBatch = Callable[[Tensor], Scores]

log = logging.getLogger(__name__)


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
    queue_size: int = 256  # jobs waiting for the model, the forming batch included

    def __post_init__(self) -> None:
        if self.max_batch_size < 1 or self.queue_size < 1 or self.max_delay_ms < 0:
            raise ValueError("batch size and queue size must be >= 1, delay >= 0")


@dataclass(frozen=True, slots=True)
class BatchResult:
    scores: Scores  # this job's row of the model output
    queue_ms: float  # from submit until its batch started running
    compute_ms: float  # the whole batch's run
    batch_size: int


@dataclass(slots=True, eq=False)
class _Job:
    sample: Tensor
    future: asyncio.Future[BatchResult]
    enqueued: float  # time.perf_counter()
    gave_up: bool = False  # the caller cancelled; set on the loop, read by the worker


@dataclass(slots=True)
class _Sealed:
    jobs: list[_Job]
    batch: Tensor
    started: float


class MicroBatcher:
    def __init__(
        self, run_batch: RunBatch, settings: BatchSettings, *, name: str = "model"
    ) -> None:
        self._run_batch = run_batch
        self.settings = settings
        self.name = name
        # Guards everything below; the worker holds it only to seal a batch.
        self._cond = threading.Condition(threading.Lock())
        self._forming: list[_Job] = []
        self._rows = 0  # leading rows of the forming buffer that hold their job's sample
        self._buffer: Tensor | None = None  # rows of the forming batch
        self._spare: Tensor | None = None  # rows of the batch in flight, reused by the next
        self._waiting: deque[_Job] = deque()  # behind a full forming batch
        self._in_flight: list[_Job] = []
        self._sample_type: tuple[tuple[int, ...], np.dtype[np.float32]] | None = None
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def queued(self) -> int:
        return len(self._forming) + len(self._waiting)

    def submit(self, sample: Tensor) -> asyncio.Future[BatchResult]:
        """Enqueue one ``[3, H, W]`` sample; raises Overloaded at once when the queue is full."""
        if self._closed:
            raise ShuttingDown()
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._start(loop)
        job = _Job(sample, loop.create_future(), time.perf_counter())
        if not self._fits(sample):
            failure = InferenceFailed()
            failure.__cause__ = ValueError(
                f"sample {sample.dtype} {sample.shape} differs from {self._sample_type}"
            )
            job.future.set_exception(failure)
            return job.future
        limit = self.settings.max_batch_size
        with self._cond:
            forming = self._forming
            if len(forming) + len(self._waiting) >= self.settings.queue_size:
                raise Overloaded()
            if len(forming) < limit:
                forming.append(job)
                if len(forming) > 1:
                    self._fill_rows()
                if len(forming) == 1 or len(forming) == limit:
                    self._cond.notify()
            else:
                self._waiting.append(job)
        job.future.add_done_callback(functools.partial(_note_cancelled, job))
        return job.future

    async def infer(self, sample: Tensor) -> BatchResult:
        return await self.submit(sample)

    async def close(self) -> None:
        """Stop taking work; every job not yet answered fails with ShuttingDown."""
        with self._cond:
            self._closed = True
            pending = [*self._in_flight, *self._forming, *self._waiting]
            self._in_flight, self._forming = [], []
            self._waiting.clear()
            self._cond.notify_all()
        _fail(pending, ShuttingDown)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is not None:
            raise RuntimeError(f"batcher {self.name} already serves another event loop")
        self._loop = loop
        threading.Thread(target=self._work, name=f"infer-{self.name}", daemon=True).start()

    def _fits(self, sample: Tensor) -> bool:
        """Every sample of a batcher has the first one's shape and dtype: rows of one buffer."""
        if self._sample_type is None:
            self._sample_type = (sample.shape, sample.dtype)
        return (sample.shape, sample.dtype) == self._sample_type

    def _fill_rows(self) -> None:
        """Copy the forming batch's samples not yet in the buffer (lock held)."""
        forming = self._forming
        if self._rows >= len(forming):
            return
        if self._buffer is None:
            assert self._sample_type is not None
            shape, dtype = self._sample_type
            self._buffer = np.empty((self.settings.max_batch_size, *shape), dtype)
            self._spare = np.empty_like(self._buffer)
        for row in range(self._rows, len(forming)):
            self._buffer[row] = forming[row].sample
        self._rows = len(forming)

    def _fill_rows_locked(self) -> None:
        with self._cond:
            self._fill_rows()

    # --- the worker thread ------------------------------------------------------------

    def _work(self) -> None:
        try:
            sealed = self._seal(wait=True)
            while sealed is not None:
                outcome = self._execute(sealed)
                compute_ms = (time.perf_counter() - sealed.started) * 1000.0
                # Seal the next batch before the loop hears of this one: its callers will
                # come back at once, and belong in the batch after it.
                following = self._seal(wait=False)
                if not self._post(self._deliver, sealed, outcome, compute_ms):
                    return
                sealed = following or self._seal(wait=True)
        except Exception:  # a bug here must not leave callers waiting forever
            log.exception("batcher %s stopped", self.name)
            with self._cond:
                self._closed = True
                pending = [*self._in_flight, *self._forming, *self._waiting]
            self._post(_fail, pending, InferenceFailed)

    def _post(self, callback: Callable[..., None], *args: object) -> bool:
        """Run ``callback`` on the event loop; False when that loop is closed."""
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # nobody is waiting any more
            return False
        return True

    def _seal(self, *, wait: bool) -> _Sealed | None:
        """Take the forming batch once it may leave (waiting for that, or not); None once
        closed, or when it may not leave yet and ``wait`` is False."""
        limit = self.settings.max_batch_size
        delay = self.settings.max_delay_ms / 1000.0
        with self._cond:
            while not self._closed:
                forming = self._forming
                left = forming[0].enqueued + delay - time.perf_counter() if forming else 0.0
                if forming and (len(forming) >= limit or left <= 0):
                    sealed = self._take(time.perf_counter())
                    if sealed is not None:
                        return sealed
                    continue  # every caller of it gave up
                if not wait:
                    return None
                self._cond.wait(left if forming else None)
            return None

    def _take(self, started: float) -> _Sealed | None:
        """Turn the forming batch into a tensor and start the next one (lock held)."""
        forming = self._forming
        jobs = [job for job in forming if not job.gave_up]
        batch: Tensor | None = None
        if len(jobs) == 1:
            batch = jobs[0].sample[np.newaxis]
        elif len(jobs) < len(forming):  # callers gave up: pack the others (rare)
            batch = np.stack([job.sample for job in jobs]) if jobs else None
        elif jobs:
            self._fill_rows()
            assert self._buffer is not None
            batch = self._buffer[: len(jobs)]
            self._buffer, self._spare = self._spare, self._buffer  # untouched while it runs
        self._forming, self._rows = [], 0
        while self._waiting and len(self._forming) < self.settings.max_batch_size:
            job = self._waiting.popleft()
            if not job.gave_up:
                self._forming.append(job)
        if len(self._forming) > 1:  # copy their rows on the loop while this batch runs
            self._post(self._fill_rows_locked)
        if batch is None:
            return None
        self._in_flight = jobs
        return _Sealed(jobs, batch, started)

    def _execute(self, sealed: _Sealed) -> Scores | Exception:
        try:
            scores = self._run_batch(sealed.batch)
            if scores.ndim != 2 or scores.shape[0] != len(sealed.jobs):
                raise ValueError(
                    f"the model returned shape {scores.shape} for a batch of {len(sealed.jobs)}"
                )
        except Exception as exc:  # the model's failure goes to every job of the batch
            return exc
        return scores

    # --- back on the event loop -------------------------------------------------------

    @staticmethod
    def _deliver(sealed: _Sealed, outcome: Scores | Exception, compute_ms: float) -> None:
        if isinstance(outcome, Exception):
            for job in sealed.jobs:
                if not job.future.done():
                    failure = InferenceFailed()
                    failure.__cause__ = outcome
                    job.future.set_exception(failure)
            return
        size = len(sealed.jobs)
        for index, job in enumerate(sealed.jobs):
            if not job.future.done():
                job.future.set_result(
                    BatchResult(
                        scores=outcome[index],
                        queue_ms=(sealed.started - job.enqueued) * 1000.0,
                        compute_ms=compute_ms,
                        batch_size=size,
                    )
                )


def _note_cancelled(job: _Job, future: asyncio.Future[BatchResult]) -> None:
    if future.cancelled():
        job.gave_up = True


def _fail(jobs: list[_Job], error: Callable[[], DomainError]) -> None:
    for job in jobs:
        if not job.future.done():
            job.future.set_exception(error())
