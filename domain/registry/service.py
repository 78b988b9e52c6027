"""The model registry's rules: versions and their status, experiments, inference records.

It is also the imaging subgraph's Classifier (it picks the version, runs it through the model
engine and records the run) and its ReviewOutcomes (doctors' verdicts, for the metrics).
ADMIN manages models; ADMIN and ANALYST read the registry; nothing here names a patient.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

from domain.audit import AuditLog, audit_events
from domain.clock import Clock, utc_now
from domain.errors import DomainError, ErrorCode, bad_input, not_found, unauthenticated
from domain.imaging.classification import Classification, ClassProbability, ImageSource
from domain.modality import Modality
from domain.principal import Principal, Role, require, require_role
from domain.registry import routing
from domain.registry.metrics import daily_metrics
from domain.registry.models import (
    DailyMetric,
    EnginePrediction,
    Experiment,
    InferenceRecord,
    InferenceRecordPage,
    InputSpec,
    Model,
    ModelStatus,
    ModelVersion,
    Outcome,
)
from domain.registry.ports import ArtifactStore, ModelEngine, RegistryRepository
from domain.registry.semver import check_semver

log = logging.getLogger(__name__)

READERS = (Role.ADMIN, Role.ANALYST)
MAX_NAME = 100
MAX_LABEL = 100
MAX_LABELS = 1000
MAX_INTENDED_USE = 2000
MAX_SIDE = 4096
MAX_METRIC_DAYS = 366
DEFAULT_MAX_ARTIFACT_BYTES = 200 * 1024 * 1024


class RegistryService:
    def __init__(
        self,
        *,
        repository: RegistryRepository,
        artifacts: ArtifactStore,
        engine: ModelEngine,
        audit: AuditLog,
        clock: Clock = utc_now,
        max_artifact_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES,
    ) -> None:
        self._repo = repository
        self._artifacts = artifacts
        self._engine = engine
        self._audit = audit
        self._clock = clock
        self._max_artifact_bytes = max_artifact_bytes
        self._models: dict[str, Model] = {}  # a model never changes once registered
        self._registering = asyncio.Lock()  # an artifact is not deleted under a registration

    # ---- models and versions (ADMIN)

    async def register_model(
        self,
        viewer: Principal | None,
        *,
        name: str,
        modality: Modality,
        labels: Sequence[str],
        input_spec: InputSpec | None = None,
    ) -> Model:
        who = require_role(viewer, Role.ADMIN)
        name = name.strip()
        if not 1 <= len(name) <= MAX_NAME:
            raise bad_input(f"A model name has 1 to {MAX_NAME} characters", field="name")
        model = Model(
            id=str(uuid.uuid4()),
            name=name,
            modality=modality,
            labels=_check_labels(labels),
            input_spec=_check_input_spec(input_spec or InputSpec()),
            created_at=self._clock(),
        )
        await self._repo.add_model(model)
        await self._log(who, "model.register", "Model", model.id, name=name)
        return model

    async def register_version(
        self,
        viewer: Principal | None,
        *,
        model_id: str,
        version: str,
        artifact: bytes,
        intended_use: str,
    ) -> ModelVersion:
        """Check the artifact against the model (it must load and fit), store it, and add the
        version as TESTING. A refused artifact leaves nothing behind: no row, no file."""
        who = require_role(viewer, Role.ADMIN)
        model = await self._model(model_id)
        version, intended_use = self._check_version_input(version, intended_use, artifact)
        await self._refuse_taken(model, version)
        await self._engine.verify(artifact, model)
        return await self._add_version(who, model, version, artifact, intended_use)

    async def import_version(
        self,
        viewer: Principal | None,
        *,
        model_name: str,
        modality: Modality | None,
        labels: Sequence[str] | None,
        version: str,
        artifact: bytes,
        intended_use: str,
        activate: bool,
    ) -> tuple[Model, ModelVersion]:
        """The shell's import: like ``register_version``, for a model named here. A model not
        registered yet is created from ``modality`` and ``labels``, once the file fits it."""
        who = require_role(viewer, Role.ADMIN)
        version, intended_use = self._check_version_input(version, intended_use, artifact)
        model = await self._repo.model_by_name(model_name.strip())
        if model is None:
            if modality is None or not labels:
                raise bad_input(
                    f"No model is named {model_name!r}: give its modality and labels to create it",
                    field="model",
                )
            model = Model(
                id=str(uuid.uuid4()),
                name=model_name.strip(),
                modality=modality,
                labels=_check_labels(labels),
                input_spec=InputSpec(),
                created_at=self._clock(),
            )
            await self._engine.verify(artifact, model)
            await self._repo.add_model(model)
            await self._log(who, "model.register", "Model", model.id, name=model.name)
        else:
            await self._refuse_taken(model, version)
            await self._engine.verify(artifact, model)
        created = await self._add_version(who, model, version, artifact, intended_use)
        if activate:
            created = await self.set_status(who, version_id=created.id, status=ModelStatus.ACTIVE)
        return model, created

    def _check_version_input(
        self, version: str, intended_use: str, artifact: bytes
    ) -> tuple[str, str]:
        version = check_semver(version)
        intended_use = intended_use.strip()
        if not 1 <= len(intended_use) <= MAX_INTENDED_USE:
            raise bad_input(
                f"The intended use has 1 to {MAX_INTENDED_USE} characters", field="intendedUse"
            )
        if len(artifact) > self._max_artifact_bytes:
            raise DomainError(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"The model file is larger than {self._max_artifact_bytes} bytes",
                field="file",
            )
        return version, intended_use

    async def _refuse_taken(self, model: Model, version: str) -> None:
        if any(v.version == version for v in await self._repo.versions_of_models([model.id])):
            raise DomainError(
                ErrorCode.CONFLICT,
                f"{model.name} has a version {version} already",
                field="version",
            )

    async def _add_version(
        self, who: Principal, model: Model, version: str, artifact: bytes, intended_use: str
    ) -> ModelVersion:
        now = self._clock()
        async with self._registering:
            sha256 = await self._artifacts.put(artifact)
            created = ModelVersion(
                id=str(uuid.uuid4()),
                model_id=model.id,
                modality=model.modality,
                version=version,
                status=ModelStatus.TESTING,
                sha256=sha256,
                byte_size=len(artifact),
                intended_use=intended_use,
                execution_provider=None,
                created_at=now,
                updated_at=now,
            )
            try:
                await self._repo.add_version(created)
            except BaseException:
                if not await self._repo.artifact_in_use(sha256):
                    await self._artifacts.delete(sha256)
                raise
        await self._log(who, "model_version.register", "ModelVersion", created.id, sha256=sha256)
        return created

    async def has_artifact(self, viewer: Principal | None, version_id: str) -> bool:
        """Whether this machine holds the version's file."""
        require_role(viewer, Role.ADMIN)
        return await self._artifacts.exists((await self._version(version_id)).sha256)

    async def restore_artifact(
        self, viewer: Principal | None, *, version_id: str, artifact: bytes
    ) -> ModelVersion:
        """Put back a version's file (a new machine on the same database, a lost disk) from a
        byte-identical copy: the SHA-256 must be the one registered."""
        who = require_role(viewer, Role.ADMIN)
        version = await self._version(version_id)
        if hashlib.sha256(artifact).hexdigest() != version.sha256:
            raise bad_input("The file is not this version's: its SHA-256 differs", field="file")
        await self._artifacts.put(artifact)
        await self._log(who, "model_version.restore", "ModelVersion", version.id)
        return version

    async def set_status(
        self, viewer: Principal | None, *, version_id: str, status: ModelStatus
    ) -> ModelVersion:
        """Promote, demote, retire. Promoting loads and warms the version first, then makes it
        the modality's only ACTIVE one (the previous one becomes INACTIVE) in one transaction:
        the next diagnosis runs it, no restart needed."""
        who = require_role(viewer, Role.ADMIN)
        version = await self._version(version_id)
        if version.status is status:
            return version
        if version.status is ModelStatus.RETIRED:
            raise DomainError(ErrorCode.CONFLICT, "A retired version stays retired")
        if status is ModelStatus.RETIRED and await self._repo.experiments_using(version.id):
            raise DomainError(
                ErrorCode.CONFLICT, "The version serves a running experiment; stop it first"
            )
        if status is ModelStatus.ACTIVE:
            version = await self._ensure_loaded(version)
        await self._repo.set_status(version.id, status, self._clock())
        if status is ModelStatus.RETIRED:
            await self._engine.unload(version.id)
        await self._log(
            who, "model_version.status", "ModelVersion", version.id, status=status.value
        )
        return await self._version(version.id)

    # ---- experiments (ADMIN)

    async def start_experiment(
        self,
        viewer: Principal | None,
        *,
        control_id: str,
        candidate_id: str,
        candidate_percent: int,
    ) -> Experiment:
        who = require_role(viewer, Role.ADMIN)
        if not 1 <= candidate_percent <= 99:
            raise bad_input("The candidate's share is 1 to 99 percent", field="candidatePercent")
        if control_id == candidate_id:
            raise bad_input("Control and candidate must differ", field="candidateId")
        control = await self._version(control_id)
        candidate = await self._version(candidate_id)
        if control.modality is not candidate.modality:
            raise bad_input(
                "Control and candidate must read the same modality", field="candidateId"
            )
        if ModelStatus.RETIRED in (control.status, candidate.status):
            raise DomainError(ErrorCode.CONFLICT, "A retired version takes no traffic")
        if await self._repo.active_experiment(control.modality) is not None:
            raise _experiment_running(control.modality)
        await self._ensure_loaded(control)
        await self._ensure_loaded(candidate)
        experiment = Experiment(
            id=str(uuid.uuid4()),
            modality=control.modality,
            control_id=control.id,
            candidate_id=candidate.id,
            candidate_percent=candidate_percent,
            active=True,
            started_at=self._clock(),
            stopped_at=None,
        )
        await self._repo.add_experiment(experiment)
        await self._log(who, "experiment.start", "Experiment", experiment.id)
        return experiment

    async def stop_experiment(self, viewer: Principal | None, *, experiment_id: str) -> Experiment:
        who = require_role(viewer, Role.ADMIN)
        experiment = await self._repo.experiment(experiment_id)
        if experiment is None:
            raise not_found("Experiment")
        if not experiment.active:
            return experiment
        now = self._clock()
        await self._repo.stop_experiment(experiment.id, now)
        await self._log(who, "experiment.stop", "Experiment", experiment.id)
        return replace(experiment, active=False, stopped_at=now)

    # ---- reading (ADMIN, ANALYST)

    async def models(self, viewer: Principal | None, *, modality: Modality | None) -> list[Model]:
        require_role(viewer, *READERS)
        return await self._repo.models(modality)

    async def model(self, viewer: Principal | None, model_id: str) -> Model:
        require_role(viewer, *READERS)
        return await self._model(model_id)

    async def model_named(self, viewer: Principal | None, name: str) -> Model | None:
        require_role(viewer, *READERS)
        return await self._repo.model_by_name(name.strip())

    async def has_active_version(self, viewer: Principal | None, modality: Modality) -> bool:
        require_role(viewer, *READERS)
        return await self._repo.active_version(modality) is not None

    async def model_version(self, viewer: Principal | None, version_id: str) -> ModelVersion:
        require_role(viewer, *READERS)
        return await self._version(version_id)

    async def experiments(self, viewer: Principal | None, *, active_only: bool) -> list[Experiment]:
        require_role(viewer, *READERS)
        return await self._repo.experiments(active_only=active_only)

    async def inference_records(
        self,
        viewer: Principal | None,
        *,
        model_version_id: str | None,
        first: int,
        after: tuple[datetime, str] | None,
    ) -> InferenceRecordPage:
        require_role(viewer, *READERS)
        rows = await self._repo.records(
            model_version_id=model_version_id, after=after, limit=first + 1
        )
        return InferenceRecordPage(records=rows[:first], has_next_page=len(rows) > first)

    async def metrics(
        self, viewer: Principal | None, *, version_id: str, start: date, end: date
    ) -> list[DailyMetric]:
        """Per UTC day from ``start`` to ``end`` (both included), the days that had runs."""
        require_role(viewer, *READERS)
        if end < start:
            raise bad_input("`to` comes before `from`", field="to")
        if (end - start).days >= MAX_METRIC_DAYS:
            raise bad_input(f"Ask for at most {MAX_METRIC_DAYS} days at a time", field="to")
        version = await self._version(version_id)
        records = await self._repo.records_between(
            version.id,
            datetime.combine(start, time.min, UTC),
            datetime.combine(end + timedelta(days=1), time.min, UTC),
        )
        return daily_metrics(records)

    # ---- reading what a visible record points at (any signed-in caller)

    async def get_models(self, viewer: Principal | None, model_ids: Sequence[str]) -> list[Model]:
        require(viewer)
        return await self._repo.models_by_id(model_ids)

    async def get_versions(
        self, viewer: Principal | None, version_ids: Sequence[str]
    ) -> list[ModelVersion]:
        require(viewer)
        return await self._repo.versions_by_id(version_ids)

    async def versions_of_models(
        self, viewer: Principal | None, model_ids: Sequence[str]
    ) -> list[ModelVersion]:
        require(viewer)
        return await self._repo.versions_of_models(model_ids)

    async def versions_of_diagnoses(
        self, viewer: Principal | None, diagnosis_ids: Sequence[str]
    ) -> dict[str, str]:
        """Which version produced each diagnosis. Model versions are no personal data; the
        imaging subgraph decides who sees the diagnosis itself."""
        if viewer is None:
            raise unauthenticated()
        return await self._repo.versions_of_diagnoses(diagnosis_ids)

    # ---- Classifier and ReviewOutcomes (called by the imaging subgraph, no viewer)

    async def classify(
        self,
        *,
        modality: Modality,
        patient_id: str,
        diagnosis_id: str,
        image: ImageSource,
        attempt: int,
    ) -> Classification:
        if attempt > 1:
            recorded = (await self._repo.versions_of_diagnoses([diagnosis_id])).get(diagnosis_id)
            if recorded is not None:
                # Reclaimed after its process died between recording this run and saving the
                # finding: the same version gives the same answer, and the one record stays one.
                [version] = await self._repo.versions_by_id([recorded])
                await self._ensure_loaded(version)
                return _classification(version.id, await self._engine.classify(version.id, image))
        version = await self._choose(modality, patient_id)
        try:
            await self._ensure_loaded(version)
            prediction = await self._engine.classify(version.id, image)
        except Exception:
            await self._record_failure(version.id, diagnosis_id, image.sha256)
            raise
        await self._repo.add_record(
            InferenceRecord(
                id=str(uuid.uuid4()),
                model_version_id=version.id,
                diagnosis_id=diagnosis_id,
                input_sha256=image.sha256,
                queue_ms=prediction.queue_ms,
                compute_ms=prediction.compute_ms,
                confidence=prediction.confidence,
                outcome=Outcome.COMPLETED,
                created_at=self._clock(),
            )
        )
        return _classification(version.id, prediction)

    async def record_review(self, *, diagnosis_id: str, agreed: bool) -> None:
        await self._repo.record_review(diagnosis_id, agreed)

    # ---- warm-up

    async def warm_up(self) -> bool:
        """Load every ACTIVE version and both arms of every running experiment; True when all
        of them are loaded and warm. A version that fails is logged and stays unloaded."""
        ok = True
        for version in await self._repo.versions_to_warm():
            try:
                await self._ensure_loaded(version)
            except Exception:
                log.exception("model version %s (%s) did not load", version.id, version.version)
                ok = False
        return ok

    # ---- internals

    async def _choose(self, modality: Modality, patient_id: str) -> ModelVersion:
        serving = await self._repo.routing(modality)
        by_id = {version.id: version for version in serving.versions}
        experiment = serving.experiment
        if experiment is not None:
            arm = (
                experiment.candidate_id
                if routing.takes_candidate(experiment.id, patient_id, experiment.candidate_percent)
                else experiment.control_id
            )
            if arm in by_id:
                return by_id[arm]
        active = next((v for v in serving.versions if v.status is ModelStatus.ACTIVE), None)
        if active is None:
            raise DomainError(
                ErrorCode.SERVICE_UNAVAILABLE, f"No model version is active for {modality.value}"
            )
        return active

    async def _ensure_loaded(self, version: ModelVersion) -> ModelVersion:
        if self._engine.is_loaded(version.id):
            return version
        provider = await self._engine.load(version, await self._model(version.model_id))
        if provider != version.execution_provider:
            await self._repo.set_execution_provider(version.id, provider)
            version = replace(version, execution_provider=provider)
        return version

    async def _record_failure(self, version_id: str, diagnosis_id: str, input_sha256: str) -> None:
        try:
            await self._repo.add_record(
                InferenceRecord(
                    id=str(uuid.uuid4()),
                    model_version_id=version_id,
                    diagnosis_id=diagnosis_id,
                    input_sha256=input_sha256,
                    queue_ms=0.0,
                    compute_ms=0.0,
                    confidence=None,
                    outcome=Outcome.FAILED,
                    created_at=self._clock(),
                )
            )
        except Exception:  # the run's own error is the one the caller must see
            log.exception("could not record the failed run of version %s", version_id)

    async def _model(self, model_id: str) -> Model:
        model = self._models.get(model_id)
        if model is None:
            found = await self._repo.models_by_id([model_id])
            if not found:
                raise not_found("Model")
            model = self._models[model_id] = found[0]
        return model

    async def _version(self, version_id: str) -> ModelVersion:
        found = await self._repo.versions_by_id([version_id])
        if not found:
            raise not_found("Model version")
        return found[0]

    async def _log(
        self, who: Principal, action: str, record_type: str, record_id: str, **detail: str
    ) -> None:
        await self._audit.record(
            *audit_events(who, action, record_type, [record_id], at=self._clock(), detail=detail)
        )


def _experiment_running(modality: Modality) -> DomainError:
    return DomainError(
        ErrorCode.CONFLICT, f"An experiment is running for {modality.value}; stop it first"
    )


def _check_labels(labels: Sequence[str]) -> tuple[str, ...]:
    cleaned = tuple(label.strip() for label in labels)
    if not 2 <= len(cleaned) <= MAX_LABELS:
        raise bad_input(f"A classifier has 2 to {MAX_LABELS} labels", field="labels")
    if any(not 1 <= len(label) <= MAX_LABEL for label in cleaned):
        raise bad_input(f"A label has 1 to {MAX_LABEL} characters", field="labels")
    if len(set(cleaned)) != len(cleaned):
        raise bad_input("Labels must be unique", field="labels")
    return cleaned


def _check_input_spec(spec: InputSpec) -> InputSpec:
    if not spec.name.strip():
        raise bad_input("The input name is empty", field="inputSpec.name")
    if not (1 <= spec.height <= MAX_SIDE and 1 <= spec.width <= MAX_SIDE):
        raise bad_input(f"Input sides are 1 to {MAX_SIDE} pixels", field="inputSpec")
    if spec.channel_order not in ("RGB", "BGR"):
        raise bad_input("Channel order is RGB or BGR", field="inputSpec.channelOrder")
    if spec.resize not in ("stretch", "center_crop"):
        raise bad_input("Resize is stretch or center_crop", field="inputSpec.resize")
    if len(spec.mean) != 3 or not all(math.isfinite(m) for m in spec.mean):
        raise bad_input("Mean has three finite values", field="inputSpec.mean")
    if len(spec.std) != 3 or not all(math.isfinite(s) and s > 0 for s in spec.std):
        raise bad_input("Std has three finite, positive values", field="inputSpec.std")
    return spec


def _classification(version_id: str, prediction: EnginePrediction) -> Classification:
    return Classification(
        model_version_id=version_id,
        label=prediction.label,
        confidence=prediction.confidence,
        probabilities=tuple(
            ClassProbability(p.label, p.probability) for p in prediction.probabilities
        ),
    )
