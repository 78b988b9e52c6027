"""The composition root: settings in, a running set of adapters and domain services out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.clock import Clock, utc_now
from domain.imaging.diagnosis_runner import DiagnosisRunner, RunnerSettings
from domain.imaging.ports import ImageStore
from domain.imaging.service import ImagingService
from domain.messaging.service import MessagingService
from domain.principal import Principal, Role
from domain.registry.service import RegistryService
from domain.scheduling.service import SchedulingService
from domain.services import Services
from domain.users.ports import AttemptLimiter
from domain.users.service import UserService
from inference.batcher import BatchSettings
from inference.images import ImageLimits
from inference.recent_images import RecentImages
from infra.attempts import MemoryAttemptLimiter, RedisAttemptLimiter
from infra.auth.passwords import Argon2PasswordHasher
from infra.auth.tokens import JwtCodec, load_or_create_secret
from infra.broker.memory import MemoryBroker
from infra.broker.redis import RedisBroker
from infra.db.audit import SqlAuditLog
from infra.db.engine import create_engine
from infra.db.imaging import SqlStudyRepository
from infra.db.messaging import SqlConversationRepository
from infra.db.migrate import migrations_head
from infra.db.registry import SqlRegistryRepository
from infra.db.scheduling import SqlAppointmentRepository, SqlAvailabilityRepository
from infra.db.users import SqlRefreshTokenRepository, SqlUserRepository
from infra.models.artifacts import LocalArtifactStore
from infra.models.engine import OnnxModelEngine
from infra.settings import Settings
from infra.storage.inspection import PillowImageInspector
from infra.storage.local import LocalImageStore
from infra.storage.signing import HmacImageUrlSigner
from infra.storage.supabase import SupabaseImageStore
from infra.video.livekit import video_rooms
from infra.worker.diagnoses import DiagnosisWorker

log = logging.getLogger(__name__)

Broker = MemoryBroker | RedisBroker


class CareRelations:
    """The users subgraph asks here whom a viewer is in care with; the subgraphs that create
    care relations answer. Bound after construction: users and messaging need each other."""

    def __init__(self) -> None:
        self.messaging: MessagingService | None = None
        self.scheduling: SchedulingService | None = None
        self.imaging: ImagingService | None = None

    async def related_among(self, viewer_id: str, user_ids: Sequence[str]) -> set[str]:
        assert self.messaging is not None, "bind the subgraph services first"
        related = await self.messaging.contacts_among(viewer_id, user_ids)
        rest = [uid for uid in user_ids if uid not in related]
        if self.scheduling is not None and rest:
            related |= await self.scheduling.care_partners_among(viewer_id, rest)
            rest = [uid for uid in rest if uid not in related]
        if self.imaging is not None and rest:
            related |= await self.imaging.care_partners_among(viewer_id, rest)
        return related


class SharedStudies:
    """Messaging asks imaging whether a study may be shared. Bound after construction."""

    def __init__(self) -> None:
        self.imaging: ImagingService | None = None

    async def patient_of_visible_study(self, viewer: Principal, study_id: str) -> str | None:
        assert self.imaging is not None, "bind the imaging service first"
        [study] = await self.imaging.get_studies(viewer, [study_id])
        return study.patient_id if study is not None else None


class ActiveUserDirectory:
    def __init__(self, users: SqlUserRepository) -> None:
        self._users = users

    async def active_roles(self, user_ids: Sequence[str]) -> dict[str, Role]:
        return await self._users.active_roles(user_ids)

    async def display_names(self, user_ids: Sequence[str]) -> dict[str, str]:
        return {user.id: user.display_name for user in await self._users.get_many(user_ids)}


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    broker: Broker
    services: Services
    models: OnnxModelEngine | None = None
    diagnosis_worker: DiagnosisWorker | None = None
    images: ImageStore | None = None
    _warm_up: asyncio.Task[bool] | None = field(default=None, init=False, repr=False)

    async def start(self) -> None:
        """Begin the background work of a serving process: loading and warming the ACTIVE
        model versions (and both arms of running experiments); the diagnosis worker."""
        if self.runs_models:
            self._start_warm_up()
        if self.diagnosis_worker is not None:
            await self.diagnosis_worker.start()

    async def ready(self) -> dict[str, bool]:
        checks = {"database": False, "broker": await self.broker.ping()}
        try:
            async with self.engine.connect() as conn:
                # Answering is not enough: a database the migrations have not reached yet
                # (a replica started before the migrate job) would fail every request.
                revision = await conn.scalar(text("SELECT version_num FROM alembic_version"))
            checks["database"] = revision == migrations_head()
        except Exception:  # readiness reports the failure; the log has it from the driver
            checks["database"] = False
        if self.runs_models:
            checks["models"] = await self._models_warm()
        return checks

    @property
    def runs_models(self) -> bool:
        """The composed graph, the registry and imaging run models; the other subgraphs never
        do, so they neither load nor wait for them."""
        return self.models is not None and self.settings.subgraph in ("", "registry", "imaging")

    def _start_warm_up(self) -> asyncio.Task[bool]:
        self._warm_up = asyncio.ensure_future(self.services.registry.warm_up())
        return self._warm_up

    async def _models_warm(self) -> bool:
        """True once the warm-up loaded every version it had to. A runtime never started (a
        test's, an in-process client's) warms up on its first readiness check; a warm-up that
        failed (the database was down, say) is tried again in the background."""
        task = self._warm_up
        if task is None:
            task = self._start_warm_up()
            with contextlib.suppress(Exception):
                await asyncio.shield(task)
        if not task.done():
            return False
        if task.cancelled() or task.exception() is not None or not task.result():
            if task.exception() is not None:
                log.warning("model warm-up failed: %s", task.exception())
            self._start_warm_up()
            return False
        return True

    async def close(self) -> None:
        if self.diagnosis_worker is not None:
            await self.diagnosis_worker.stop()
        if isinstance(self.images, SupabaseImageStore):
            await self.images.close()
        if self._warm_up is not None and not self._warm_up.done():
            self._warm_up.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._warm_up
        if self.models is not None:
            await self.models.close()
        await self.broker.close()
        await self.engine.dispose()


def sign_in_attempts(settings: Settings, broker: Broker) -> AttemptLimiter:
    """Failed sign-ins per account: in Redis when there is one, so replicas count together."""
    most, window = settings.sign_in_max_failures, settings.sign_in_window_seconds
    if isinstance(broker, RedisBroker):
        return RedisAttemptLimiter(
            broker.client, prefix=settings.redis_prefix, max_failures=most, window_seconds=window
        )
    return MemoryAttemptLimiter(max_failures=most, window_seconds=window)


def build_runtime(settings: Settings, *, scheduling_clock: Clock = utc_now) -> Runtime:
    """``scheduling_clock`` lets a test move scheduling's "now" (to an appointment's start)
    while sign-in tokens keep the real time."""
    engine = create_engine(settings.effective_database_url)
    broker: Broker = (
        RedisBroker(settings.redis_url, prefix=settings.redis_prefix)
        if settings.redis_url
        else MemoryBroker()
    )
    audit = SqlAuditLog(engine)
    users_repo = SqlUserRepository(engine)
    private_key = (
        settings.jwt_private_key_file.read_bytes() if settings.jwt_private_key_file else None
    )
    codec = JwtCodec(
        issuer=settings.jwt_issuer,
        ttl=timedelta(minutes=settings.access_token_minutes),
        secret=None if private_key else load_or_create_secret(settings.data_dir),
        private_key_pem=private_key,
        supabase_secret=settings.supabase_jwt_secret,
    )
    relations = CareRelations()
    users = UserService(
        users=users_repo,
        refresh_tokens=SqlRefreshTokenRepository(engine),
        hasher=Argon2PasswordHasher(),
        tokens=codec,
        audit=audit,
        care_relations=relations,
        attempts=sign_in_attempts(settings, broker),
        refresh_token_ttl=timedelta(days=settings.refresh_token_days),
    )
    shared_studies = SharedStudies()
    messaging = MessagingService(
        conversations=SqlConversationRepository(engine),
        directory=ActiveUserDirectory(users_repo),
        bus=broker,
        audit=audit,
        studies=shared_studies,
    )
    scheduling = SchedulingService(
        appointments=SqlAppointmentRepository(engine),
        availability=SqlAvailabilityRepository(engine),
        directory=ActiveUserDirectory(users_repo),
        bus=broker,
        video=video_rooms(settings),
        audit=audit,
        clock=scheduling_clock,
    )
    relations.messaging = messaging
    relations.scheduling = scheduling
    artifacts = LocalArtifactStore(settings.data_dir / "models")
    runs_diagnoses = settings.diagnosis_workers > 0 and settings.subgraph in ("", "imaging")
    # Uploads and the diagnosis worker share a process: the worker takes the upload's decode.
    recent_images = RecentImages() if runs_diagnoses else None
    models = OnnxModelEngine(
        artifacts=artifacts,
        providers=settings.inference_providers,
        intra_op_threads=settings.inference_threads,
        batch=BatchSettings(
            max_batch_size=settings.inference_max_batch,
            max_delay_ms=settings.inference_max_delay_ms,
            queue_size=settings.inference_queue_size,
        ),
        image_limits=ImageLimits(
            max_bytes=settings.max_upload_bytes, max_pixels=settings.max_image_pixels
        ),
        recent_images=recent_images,
    )
    registry = RegistryService(
        repository=SqlRegistryRepository(engine),
        artifacts=artifacts,
        engine=models,
        audit=audit,
        max_artifact_bytes=settings.max_model_bytes,
    )
    images = image_store(settings)
    studies = SqlStudyRepository(engine)
    imaging = ImagingService(
        studies=studies,
        images=images,
        inspector=PillowImageInspector(
            ImageLimits(max_bytes=settings.max_upload_bytes, max_pixels=settings.max_image_pixels),
            recent_images=recent_images,
        ),
        urls=HmacImageUrlSigner(
            private_key or load_or_create_secret(settings.data_dir),
            ttl_seconds=settings.image_url_seconds,
        ),
        directory=ActiveUserDirectory(users_repo),
        relations=relations,
        reviews=registry,
        bus=broker,
        audit=audit,
        max_upload_bytes=settings.max_upload_bytes,
    )
    relations.imaging = imaging
    shared_studies.imaging = imaging
    worker = None
    if runs_diagnoses:
        runner = DiagnosisRunner(
            queue=studies,
            images=images,
            classifier=registry,
            imaging=imaging,
            settings=RunnerSettings(
                lease=timedelta(seconds=settings.diagnosis_lease_seconds),
                max_attempts=settings.diagnosis_max_attempts,
                hold=timedelta(seconds=settings.test_diagnosis_hold_seconds),
            ),
        )
        worker = DiagnosisWorker(
            runner,
            concurrency=settings.diagnosis_workers,
            poll_seconds=settings.diagnosis_poll_seconds,
        )
        imaging.queued_listeners.append(worker.wake)
    return Runtime(
        settings,
        engine,
        broker,
        Services(
            users=users,
            messaging=messaging,
            scheduling=scheduling,
            registry=registry,
            imaging=imaging,
        ),
        models,
        diagnosis_worker=worker,
        images=images,
    )


def image_store(settings: Settings) -> ImageStore:
    """Supabase Storage when its URL, key and bucket are set; else a local directory."""
    if settings.supabase_url and settings.supabase_key and settings.supabase_bucket:
        return SupabaseImageStore(
            settings.supabase_url, settings.supabase_key, settings.supabase_bucket
        )
    return LocalImageStore(settings.data_dir / "images")
