"""The in-process diagnosis worker: a few tasks that take queued diagnoses and run them.

Started by ``Runtime.start()`` (the app's lifespan), stopped by ``Runtime.close()``. Each task
loops: run the next due job, or wait until an upload in this process wakes it or the poll
interval passes (uploads to other replicas, retries that come due, leases that run out).
"""

from __future__ import annotations

import asyncio
import logging

from domain.imaging.diagnosis_runner import DiagnosisRunner

log = logging.getLogger(__name__)


class DiagnosisWorker:
    def __init__(
        self, runner: DiagnosisRunner, *, concurrency: int = 4, poll_seconds: float = 1.0
    ) -> None:
        self._runner = runner
        self._concurrency = concurrency
        self._poll = poll_seconds
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    def wake(self) -> None:
        """A job was queued here: look now rather than at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        if self._tasks:
            return
        self._stopping = False
        self._tasks = [
            asyncio.create_task(self._loop(), name=f"diagnosis-worker-{n}")
            for n in range(self._concurrency)
        ]

    async def stop(self, *, grace_seconds: float = 10.0) -> None:
        """Stop taking jobs and let those in flight finish for up to ``grace_seconds``; a job
        still running then is cancelled, and its lease runs out for another worker (or this one
        after a restart) to claim it again."""
        self._stopping = True
        self._wake.set()
        tasks, self._tasks = self._tasks, []
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _loop(self) -> None:
        while not self._stopping:
            # Cleared before looking, so a wake-up during the look is not lost.
            self._wake.clear()
            try:
                if await self._runner.run_next():
                    continue
            except Exception:
                # The database or broker is away: the job stays queued or leased; try later.
                log.exception("diagnosis worker: a run failed")
            if self._stopping:
                return
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
            except TimeoutError:
                pass
