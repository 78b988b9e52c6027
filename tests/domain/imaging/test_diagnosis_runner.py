"""The diagnosis runner's outcomes with a stand-in classifier, on the real queue: a busy model
puts the job back, a broken one fails it with a safe message, and retries are bounded."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from domain.errors import DomainError, ErrorCode
from domain.imaging.classification import Classification, ImageSource
from domain.imaging.diagnosis_runner import SAFE_FAILURE, DiagnosisRunner, RunnerSettings
from domain.imaging.models import DiagnosisStatus
from domain.modality import Modality
from infra.container import Runtime
from infra.db.imaging import SqlStudyRepository
from infra.storage.local import LocalImageStore
from tests.infra.worker.test_claims import queue_jobs

# Due in the past, claimed "then": no other test's job is due at these times.
THEN = datetime(2001, 1, 1, tzinfo=UTC) + timedelta(days=uuid.uuid4().int % 3000)


class Refusing:
    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    async def classify(
        self,
        *,
        modality: Modality,
        patient_id: str,
        diagnosis_id: str,
        image: ImageSource,
        attempt: int,
    ) -> Classification:
        self.calls += 1
        raise self.error


async def runner_for(
    runtime: Runtime, tmp_path: Path, classifier: Refusing, now: list[datetime], attempts: int
) -> DiagnosisRunner:
    images = LocalImageStore(tmp_path)
    await images.put("0" * 64, b"bytes", "image/png")
    repo = SqlStudyRepository(runtime.engine)
    return DiagnosisRunner(
        queue=repo,
        images=images,
        classifier=classifier,
        imaging=runtime.services.imaging,
        settings=RunnerSettings(max_attempts=attempts, retry_delay=timedelta(seconds=5)),
        clock=lambda: now[0],
    )


async def test_a_busy_model_puts_the_job_back_until_attempts_run_out(
    runtime: Runtime, tmp_path: Path
) -> None:
    # given a queued job and a model that is never available
    repo = SqlStudyRepository(runtime.engine)
    [job_id] = await queue_jobs(repo, 1, at=THEN)
    classifier = Refusing(DomainError(ErrorCode.SERVICE_UNAVAILABLE, "No model version is active"))
    now = [THEN]
    runner = await runner_for(runtime, tmp_path, classifier, now, attempts=2)

    # when it runs: the job goes back to the queue, not due for the retry delay
    assert await runner.run_next()
    [diagnosis] = await repo.diagnoses([job_id])
    assert diagnosis.status is DiagnosisStatus.QUEUED
    assert not await runner.run_next()

    # when the delay has passed, it runs once more and, out of attempts, fails
    now[0] = THEN + timedelta(seconds=6)
    assert await runner.run_next()
    [diagnosis] = await repo.diagnoses([job_id])
    assert diagnosis.status is DiagnosisStatus.FAILED
    assert diagnosis.error == "No model version is active"
    assert classifier.calls == 2


async def test_an_unexpected_error_fails_the_job_with_a_safe_message(
    runtime: Runtime, tmp_path: Path
) -> None:
    at = THEN + timedelta(days=1)
    repo = SqlStudyRepository(runtime.engine)
    [job_id] = await queue_jobs(repo, 1, at=at)
    classifier = Refusing(RuntimeError("onnxruntime: /secret/path/model.onnx exploded"))
    runner = await runner_for(runtime, tmp_path, classifier, [at], attempts=5)

    assert await runner.run_next()

    [diagnosis] = await repo.diagnoses([job_id])
    assert diagnosis.status is DiagnosisStatus.FAILED
    assert diagnosis.error == SAFE_FAILURE
