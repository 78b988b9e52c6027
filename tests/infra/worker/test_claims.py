"""The diagnosis queue on both engines: concurrent claims never share a job (PostgreSQL's
``FOR UPDATE SKIP LOCKED``, SQLite's single writer), an expired lease is claimed again, and a
worker that lost its lease cannot store an outcome."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from domain.imaging.classification import Classification, ClassProbability
from domain.imaging.models import (
    ClaimedJob,
    Diagnosis,
    DiagnosisStatus,
    ImageFacts,
    ImagingStudy,
)
from domain.modality import Modality
from infra.container import Runtime
from infra.db.imaging import SqlStudyRepository

# The jobs of these tests are due in the year 2000: claims made "then" see no other test's jobs.
THEN = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(days=uuid.uuid4().int % 3000)
# Leases that never run out, so no later claim (or the real worker) takes these jobs again.
FOREVER = datetime(2999, 1, 1, tzinfo=UTC)
RESULT = Classification(
    model_version_id="v",
    label="a",
    confidence=0.75,
    probabilities=(ClassProbability("a", 0.75), ClassProbability("b", 0.25)),
)


async def queue_jobs(repo: SqlStudyRepository, count: int, *, at: datetime) -> list[str]:
    ids = []
    for _ in range(count):
        study = ImagingStudy(
            id=str(uuid.uuid4()),
            patient_id=str(uuid.uuid4()),
            modality=Modality.SKIN,
            image=ImageFacts("0" * 64, "image/png", 1, 1, 1),
            uploaded_at=at,
        )
        diagnosis = Diagnosis(
            id=str(uuid.uuid4()),
            study_id=study.id,
            status=DiagnosisStatus.QUEUED,
            version=1,
            created_at=at,
        )
        await repo.create(study, diagnosis)
        ids.append(diagnosis.id)
    return ids


async def test_concurrent_claims_take_each_job_once(runtime: Runtime) -> None:
    # given 24 due jobs and 6 workers, each with its own repository
    at = THEN
    repos = [SqlStudyRepository(runtime.engine) for _ in range(6)]
    queued = await queue_jobs(repos[0], 24, at=at)
    now = at + timedelta(seconds=1)

    async def drain(repo: SqlStudyRepository) -> list[ClaimedJob]:
        taken = []
        while (job := await repo.claim(now=now, lease_until=FOREVER)) is not None:
            taken.append(job)
        return taken

    # when they all claim at once until nothing is due
    claimed = [job for jobs in await asyncio.gather(*(drain(r) for r in repos)) for job in jobs]

    # then every job was claimed by exactly one of them, RUNNING, first attempt
    assert sorted(job.diagnosis.id for job in claimed) == sorted(queued)
    assert {job.diagnosis.status for job in claimed} == {DiagnosisStatus.RUNNING}
    assert {job.attempts for job in claimed} == {1}
    assert {job.diagnosis.version for job in claimed} == {2}


async def test_an_expired_lease_is_claimed_again_and_the_old_holder_is_shut_out(
    runtime: Runtime,
) -> None:
    # given a job claimed with a lease of one minute
    at = THEN + timedelta(days=1)
    repo = SqlStudyRepository(runtime.engine)
    [job_id] = await queue_jobs(repo, 1, at=at)
    first = await repo.claim(now=at, lease_until=at + timedelta(minutes=1))
    assert first is not None and first.diagnosis.id == job_id

    # then nobody else takes it while the lease holds
    assert (
        await repo.claim(now=at + timedelta(seconds=30), lease_until=at + timedelta(hours=1))
        is None
    )

    # when the lease runs out (its holder died), another worker claims it
    later = at + timedelta(minutes=2)
    second = await repo.claim(now=later, lease_until=later + timedelta(minutes=1))
    assert second is not None and second.diagnosis.id == job_id and second.attempts == 2

    # then the first holder can neither renew nor settle it; the second completes it once
    assert not await repo.extend_lease(job_id, first.lease_token, later + timedelta(hours=1))
    assert await repo.complete(first, RESULT, now=later) is None
    settled = await repo.complete(second, RESULT, now=later)
    assert settled is not None and settled.study.id == second.study.id
    done = settled.diagnosis
    assert done.status is DiagnosisStatus.COMPLETED
    assert done.label == "a" and done.probabilities == RESULT.probabilities
    assert await repo.complete(second, RESULT, now=later) is None


async def test_retry_later_puts_the_job_back_in_the_queue_when_due(runtime: Runtime) -> None:
    at = THEN + timedelta(days=2)
    repo = SqlStudyRepository(runtime.engine)
    [job_id] = await queue_jobs(repo, 1, at=at)
    job = await repo.claim(now=at, lease_until=at + timedelta(minutes=1))
    assert job is not None

    queued = await repo.retry_later(job, run_after=at + timedelta(seconds=10), now=at)
    assert queued is not None and queued.diagnosis.status is DiagnosisStatus.QUEUED

    assert (
        await repo.claim(now=at + timedelta(seconds=5), lease_until=at + timedelta(hours=1)) is None
    )
    again = await repo.claim(now=at + timedelta(seconds=11), lease_until=at + timedelta(hours=1))
    assert again is not None and again.diagnosis.id == job_id and again.attempts == 2
    failed = await repo.fail(again, "x" * 600, now=at + timedelta(seconds=12))
    assert failed is not None and failed.diagnosis.status is DiagnosisStatus.FAILED
    assert failed.diagnosis.error is not None and len(failed.diagnosis.error) == 500


async def test_a_settled_job_carries_its_study_as_it_stands_when_settled(
    runtime: Runtime,
) -> None:
    # given a claimed job
    at = THEN + timedelta(days=3)
    repo = SqlStudyRepository(runtime.engine)
    await queue_jobs(repo, 1, at=at)
    job = await repo.claim(now=at, lease_until=FOREVER)
    assert job is not None and job.study.assigned_doctor_id is None

    # when its study is assigned to a doctor while the model runs, then the job completes
    doctor_id = str(uuid.uuid4())
    assert await repo.assign(job.study.id, doctor_id) is not None
    settled = await repo.complete(job, RESULT, now=at)

    # then the outcome names the doctor: the COMPLETED event reaches them too
    assert settled is not None
    assert settled.study.assigned_doctor_id == doctor_id
    assert settled.study.audience == (job.study.patient_id, doctor_id)
