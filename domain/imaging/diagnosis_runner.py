"""Running one queued diagnosis: claim it under a lease, classify, store the outcome, tell.

Several runners (in one process or in many replicas) share the queue: the claim is atomic, the
lease is renewed while the model runs, and an outcome is stored only while the lease is still
the runner's. A job whose process died is claimed again when its lease runs out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from domain.clock import Clock, utc_now
from domain.errors import DomainError, ErrorCode
from domain.imaging.classification import Classifier
from domain.imaging.models import ClaimedJob, Diagnosis, ImagingStudy, SettledJob
from domain.imaging.ports import DiagnosisQueue, ImageStore
from domain.imaging.service import ImagingService

log = logging.getLogger(__name__)

SAFE_FAILURE = "The image could not be analysed"


@dataclass(frozen=True, slots=True)
class StoredImage:
    """A study's image in the store, read only if the classifier needs the bytes."""

    sha256: str
    store: ImageStore

    async def read(self) -> bytes:
        return await self.store.read(self.sha256)


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    lease: timedelta = timedelta(seconds=60)
    max_attempts: int = 5
    retry_delay: timedelta = timedelta(seconds=5)
    # Test-only: wait this long after claiming a job, so a test can stop the process mid-job.
    hold: timedelta = timedelta(0)


class DiagnosisRunner:
    def __init__(
        self,
        *,
        queue: DiagnosisQueue,
        images: ImageStore,
        classifier: Classifier,
        imaging: ImagingService,
        settings: RunnerSettings | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._queue = queue
        self._images = images
        self._classifier = classifier
        self._imaging = imaging
        self._settings = settings or RunnerSettings()
        self._clock = clock

    async def run_next(self) -> bool:
        """Claim and run one due job; False when there was none."""
        now = self._clock()
        job = await self._queue.claim(now=now, lease_until=now + self._settings.lease)
        if job is None:
            return False
        await self._publish(job.diagnosis, job.study)
        if job.attempts > self._settings.max_attempts:
            # Claimed that often and never finished: it takes its process down, or never fits.
            await self._finish(job, await self._queue.fail(job, SAFE_FAILURE, now=self._clock()))
            return True
        async with self._leased(job):
            outcome = await self._run(job)
        await self._finish(job, outcome)
        return True

    async def _run(self, job: ClaimedJob) -> SettledJob | None:
        hold = self._settings.hold.total_seconds()
        if hold > 0:
            await asyncio.sleep(hold)
        try:
            found = await self._classifier.classify(
                modality=job.study.modality,
                patient_id=job.study.patient_id,
                diagnosis_id=job.diagnosis.id,
                image=StoredImage(job.study.image.sha256, self._images),
                attempt=job.attempts,
            )
        except DomainError as error:
            now = self._clock()
            if error.code is ErrorCode.SERVICE_UNAVAILABLE:
                if job.attempts < self._settings.max_attempts:
                    log.warning("diagnosis %s waits: %s", job.diagnosis.id, error.message)
                    return await self._queue.retry_later(
                        job, run_after=now + self._settings.retry_delay, now=now
                    )
            return await self._queue.fail(job, error.message, now=now)
        except Exception:
            log.exception("diagnosis %s failed", job.diagnosis.id)
            return await self._queue.fail(job, SAFE_FAILURE, now=self._clock())
        return await self._queue.complete(job, found, now=self._clock())

    async def _finish(self, job: ClaimedJob, outcome: SettledJob | None) -> None:
        if outcome is None:
            log.warning("diagnosis %s: lease lost, another worker has it", job.diagnosis.id)
            return
        await self._publish(outcome.diagnosis, outcome.study)

    async def _publish(self, diagnosis: Diagnosis, study: ImagingStudy) -> None:
        await self._imaging.publish(diagnosis, study.audience)

    @asynccontextmanager
    async def _leased(self, job: ClaimedJob) -> AsyncIterator[None]:
        """Renew the lease every third of its length while the job runs."""
        interval = self._settings.lease.total_seconds() / 3

        async def renew() -> None:
            while True:
                await asyncio.sleep(interval)
                until = self._clock() + self._settings.lease
                if not await self._queue.extend_lease(job.diagnosis.id, job.lease_token, until):
                    return

        task = asyncio.create_task(renew())
        try:
            yield
        finally:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("renewing the lease of diagnosis %s failed", job.diagnosis.id)
