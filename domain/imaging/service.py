"""The imaging subgraph's rules: who uploads, who sees a study, who reviews, who hears of it."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncGenerator, Callable, Sequence

from domain.audit import AuditLog, audit_events
from domain.clock import Clock, utc_now
from domain.errors import DomainError, ErrorCode, bad_input, forbidden, not_found
from domain.imaging import events
from domain.imaging.classification import ReviewOutcomes
from domain.imaging.models import (
    Diagnosis,
    DiagnosisReview,
    DiagnosisStatus,
    ImagingStudy,
    ReviewVerdict,
    StudyPage,
)
from domain.imaging.ports import (
    CareRelations,
    EventBus,
    ImageInspector,
    ImageStore,
    ImageUrlSigner,
    StudyKey,
    StudyRepository,
    UserDirectory,
)
from domain.modality import Modality
from domain.principal import Principal, Role, require, require_role

log = logging.getLogger(__name__)

MAX_NOTE = 2_000
DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class ImagingService:
    """Studies, diagnoses and reviews. A patient sees their own studies; a doctor sees a
    patient's studies through a care relation (appointment, conversation, an assigned study);
    nobody else does, and a study the viewer may not see reads as NOT_FOUND."""

    def __init__(
        self,
        *,
        studies: StudyRepository,
        images: ImageStore,
        inspector: ImageInspector,
        urls: ImageUrlSigner,
        directory: UserDirectory,
        relations: CareRelations,
        reviews: ReviewOutcomes,
        bus: EventBus,
        audit: AuditLog,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        clock: Clock = utc_now,
    ) -> None:
        self._studies = studies
        self._images = images
        self._inspector = inspector
        self._urls = urls
        self._directory = directory
        self._relations = relations
        self._reviews = reviews
        self._bus = bus
        self._audit = audit
        self._clock = clock
        self.max_upload_bytes = max_upload_bytes
        # Called after a diagnosis is queued: the in-process worker takes it at once instead
        # of at its next poll.
        self.queued_listeners: list[Callable[[], None]] = []

    # ---- writing

    async def upload_study(
        self, viewer: Principal | None, *, data: bytes, modality: Modality
    ) -> ImagingStudy:
        """Validate and store the image, then the study and its QUEUED diagnosis together."""
        who = require_role(viewer, Role.PATIENT)
        if len(data) > self.max_upload_bytes:
            raise DomainError(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"The file is larger than {self.max_upload_bytes} bytes",
                field="file",
            )
        facts = await self._inspector.inspect(data)
        now = self._clock()
        study = ImagingStudy(
            id=str(uuid.uuid4()),
            patient_id=who.user_id,
            modality=modality,
            image=facts,
            uploaded_at=now,
        )
        diagnosis = Diagnosis(
            id=str(uuid.uuid4()),
            study_id=study.id,
            status=DiagnosisStatus.QUEUED,
            version=1,
            created_at=now,
        )
        await self._images.put(facts.sha256, data, facts.content_type)
        try:
            await self._studies.create(study, diagnosis)
        except BaseException:
            await self._forget_image(facts.sha256)
            raise
        await self.publish(diagnosis, study.audience)
        # The worker starts now; the audit entry is written while it claims the job.
        for listener in self.queued_listeners:
            listener()
        await self._log(who, "study.upload", study.id)
        return study

    async def assign_study(
        self, viewer: Principal | None, *, study_id: str, doctor_id: str
    ) -> ImagingStudy:
        """The patient who owns the study, or an admin, hands it to a doctor for review."""
        who = require(viewer)
        found = await self._studies.get_many([study_id])
        study = found[0] if found else None
        if study is None or (who.role is not Role.ADMIN and study.patient_id != who.user_id):
            raise not_found("Study")
        roles = await self._directory.active_roles([doctor_id])
        if doctor_id not in roles:
            raise not_found("User")
        if roles[doctor_id] is not Role.DOCTOR:
            raise bad_input("Studies are assigned to doctors", field="doctorId")
        assigned = await self._studies.assign(study_id, doctor_id)
        if assigned is None:
            raise DomainError(ErrorCode.CONFLICT, "The diagnosis was reviewed already")
        await self._log(who, "study.assign", study_id, detail={"doctor_id": doctor_id})
        return assigned

    async def review_diagnosis(
        self,
        viewer: Principal | None,
        *,
        diagnosis_id: str,
        verdict: ReviewVerdict,
        corrected_label: str | None,
        note: str | None,
    ) -> Diagnosis:
        """The assigned doctor agrees or disagrees (naming the right label) with the model."""
        who = require(viewer)
        diagnosis = await self.get_diagnosis(who, diagnosis_id)
        [study] = await self._studies.get_many([diagnosis.study_id])
        if study.assigned_doctor_id != who.user_id:
            raise forbidden("Only the doctor the study is assigned to reviews it")
        if diagnosis.status is not DiagnosisStatus.COMPLETED:
            raise DomainError(ErrorCode.CONFLICT, "Only a completed diagnosis can be reviewed")
        corrected_label = (corrected_label or "").strip() or None
        labels = [p.label for p in diagnosis.probabilities]
        if verdict is ReviewVerdict.AGREE and corrected_label is not None:
            raise bad_input("A correctedLabel goes with DISAGREE only", field="correctedLabel")
        if verdict is ReviewVerdict.DISAGREE:
            if corrected_label is None:
                raise bad_input("DISAGREE needs a correctedLabel", field="correctedLabel")
            if corrected_label not in labels:
                raise bad_input(
                    f"correctedLabel is one of: {', '.join(labels)}", field="correctedLabel"
                )
            if corrected_label == diagnosis.label:
                raise bad_input("correctedLabel is the model's own label", field="correctedLabel")
        note = (note or "").strip() or None
        if note is not None and len(note) > MAX_NOTE:
            raise bad_input(f"note has at most {MAX_NOTE} characters", field="note")
        review = DiagnosisReview(
            reviewer_id=who.user_id,
            verdict=verdict,
            corrected_label=corrected_label,
            note=note,
            reviewed_at=self._clock(),
        )
        if not await self._studies.add_review(diagnosis_id, review):
            raise DomainError(ErrorCode.CONFLICT, "This diagnosis was reviewed already")
        await self._log(
            who,
            "diagnosis.review",
            diagnosis_id,
            record_type="Diagnosis",
            detail={"verdict": verdict.value},
        )
        try:
            await self._reviews.record_review(
                diagnosis_id=diagnosis_id, agreed=verdict is ReviewVerdict.AGREE
            )
        except Exception:
            # The review is committed; the registry's agreement metric misses one review.
            log.exception("could not report the review of diagnosis %s", diagnosis_id)
        return diagnosis

    # ---- reading

    async def get_studies(
        self, viewer: Principal | None, study_ids: Sequence[str]
    ) -> list[ImagingStudy | None]:
        """Studies in the order asked; None where absent or not the viewer's to see."""
        who = require(viewer)
        found = await self._visible(
            who, await self._studies.get_many(list(dict.fromkeys(study_ids)))
        )
        if found:
            await self._log(who, "study.read", *found)
        return [found.get(sid) for sid in study_ids]

    async def get_study(self, viewer: Principal | None, study_id: str) -> ImagingStudy:
        [found] = await self.get_studies(viewer, [study_id])
        if found is None:
            raise not_found("Study")
        return found

    async def diagnoses_of(
        self, viewer: Principal | None, study_ids: Sequence[str]
    ) -> dict[str, Diagnosis]:
        """Diagnoses by study id, for the studies the viewer may see."""
        visible = [s for s in await self.get_studies(viewer, study_ids) if s is not None]
        return await self._studies.diagnoses_of([s.id for s in visible])

    async def get_diagnoses(
        self, viewer: Principal | None, diagnosis_ids: Sequence[str]
    ) -> list[Diagnosis | None]:
        who = require(viewer)
        found = await self._studies.diagnoses(list(dict.fromkeys(diagnosis_ids)))
        studies = await self._visible(
            who, await self._studies.get_many([d.study_id for d in found])
        )
        visible = {d.id: d for d in found if d.study_id in studies}
        if visible:
            await self._log(who, "diagnosis.read", *visible, record_type="Diagnosis")
        return [visible.get(did) for did in diagnosis_ids]

    async def get_diagnosis(self, viewer: Principal | None, diagnosis_id: str) -> Diagnosis:
        [found] = await self.get_diagnoses(viewer, [diagnosis_id])
        if found is None:
            raise not_found("Diagnosis")
        return found

    async def reviews(
        self, viewer: Principal | None, diagnosis_ids: Sequence[str]
    ) -> dict[str, DiagnosisReview]:
        """Reviews by diagnosis id, shown to the study's patient and to the reviewer alone."""
        who = require(viewer)
        found = await self._studies.reviews(diagnosis_ids)
        if not found:
            return {}
        diagnoses = await self._studies.diagnoses(list(found))
        studies = {s.id: s for s in await self._studies.get_many([d.study_id for d in diagnoses])}
        shown = {}
        for diagnosis in diagnoses:
            review = found[diagnosis.id]
            study = studies.get(diagnosis.study_id)
            if study is not None and who.user_id in (study.patient_id, review.reviewer_id):
                shown[diagnosis.id] = review
        return shown

    async def studies_of(
        self, viewer: Principal | None, *, patient_id: str, first: int, after: StudyKey | None
    ) -> StudyPage:
        """A patient's studies, newest first: for the patient, and for doctors in their care."""
        who = require(viewer)
        if not await self._sees_patient(who, patient_id):
            return StudyPage(studies=[], has_next_page=False)
        rows = await self._studies.for_patient(patient_id, after=after, limit=first + 1)
        await self._log(who, "study.list", patient_id, record_type="User")
        return StudyPage(studies=rows[:first], has_next_page=len(rows) > first)

    async def review_queue(
        self, viewer: Principal | None, *, first: int, after: StudyKey | None
    ) -> StudyPage:
        """The calling doctor's assigned studies with a completed, unreviewed diagnosis."""
        who = require_role(viewer, Role.DOCTOR)
        rows = await self._studies.review_queue(who.user_id, after=after, limit=first + 1)
        await self._log(who, "study.review_queue", who.user_id, record_type="User")
        return StudyPage(studies=rows[:first], has_next_page=len(rows) > first)

    def image_path(self, viewer: Principal | None, study: ImagingStudy) -> str:
        """A signed, short-lived path to the study's image, good for this viewer only."""
        who = require(viewer)
        return self._urls.sign(study.id, who.user_id)

    async def open_image(
        self, viewer: Principal | None, *, study_id: str, expires: str, signature: str
    ) -> tuple[bytes, str]:
        """The image bytes and content type, for the viewer the URL was signed for, while it
        is valid and while they may still see the study."""
        who = require(viewer)
        if not self._urls.verify(study_id, who.user_id, expires, signature):
            raise forbidden("This image link has expired or belongs to someone else")
        study = await self.get_study(who, study_id)
        data = await self._images.read(study.image.sha256)
        await self._log(who, "study.image", study_id)
        return data, study.image.content_type

    async def stream(
        self, viewer: Principal | None, *, study_id: str | None
    ) -> AsyncGenerator[Diagnosis, None]:
        """Diagnosis changes, to the study's patient and assigned doctor. With a study: its
        current state first, then each change once. Without: every change the caller hears."""
        who = require(viewer)
        if study_id is not None:
            study = await self.get_study(who, study_id)
            if who.user_id not in study.audience:
                raise forbidden("Only the patient and the assigned doctor follow this study")
        await self._log(who, "diagnosis.subscribe", study_id or who.user_id)
        seen: dict[str, int] = {}

        def fresh(diagnosis: Diagnosis) -> bool:
            if diagnosis.version <= seen.get(diagnosis.id, 0):
                return False
            seen[diagnosis.id] = diagnosis.version
            return True

        async with self._bus.subscribe(events.topic(who.user_id)) as feed:
            if study_id is not None:
                current = (await self._studies.diagnoses_of([study_id])).get(study_id)
                if current is not None and fresh(current):
                    yield current
            async for payload in feed:
                if payload is None:
                    # Events were dropped: a followed study is re-read; the catch-all stream
                    # has no cursor, and its client re-reads the studies it shows.
                    if study_id is not None:
                        current = (await self._studies.diagnoses_of([study_id])).get(study_id)
                        if current is not None and fresh(current):
                            yield current
                    continue
                event = events.decode(payload)
                if who.user_id not in event.audience:
                    continue
                if study_id is not None and event.diagnosis.study_id != study_id:
                    continue
                if fresh(event.diagnosis):
                    yield event.diagnosis

    async def care_partners_among(self, user_id: str, other_ids: Sequence[str]) -> set[str]:
        """Care relation through an assigned study (the users subgraph asks this)."""
        return await self._studies.assigned_partners_among(user_id, other_ids)

    # ---- events

    async def publish(self, diagnosis: Diagnosis, audience: tuple[str, ...]) -> None:
        payload = events.encode(diagnosis, audience)
        for user_id in audience:
            try:
                await self._bus.publish(events.topic(user_id), payload)
            except Exception:
                # The state is committed; a subscriber re-reads it when it follows the study.
                log.exception("could not publish diagnosis %s", diagnosis.id)

    # ---- rules

    async def _visible(
        self, who: Principal, studies: Sequence[ImagingStudy]
    ) -> dict[str, ImagingStudy]:
        if who.role is Role.PATIENT:
            return {s.id: s for s in studies if s.patient_id == who.user_id}
        if who.role is not Role.DOCTOR:
            return {}
        shown = {s.id: s for s in studies if s.assigned_doctor_id == who.user_id}
        rest = [s for s in studies if s.id not in shown]
        if rest:
            related = await self._relations.related_among(
                who.user_id, list({s.patient_id for s in rest})
            )
            shown.update({s.id: s for s in rest if s.patient_id in related})
        return shown

    async def _sees_patient(self, who: Principal, patient_id: str) -> bool:
        if who.user_id == patient_id:
            return who.role is Role.PATIENT
        if who.role is not Role.DOCTOR:
            return False
        return patient_id in await self._relations.related_among(who.user_id, [patient_id])

    async def _forget_image(self, key: str) -> None:
        """Undo a stored upload whose rows were not written, unless another study uses it."""
        try:
            if not await self._studies.uses_image(key):
                await self._images.delete(key)
        except Exception:
            log.exception("could not remove the orphaned image %s", key)

    async def _log(
        self,
        who: Principal,
        action: str,
        *record_ids: str,
        record_type: str = "ImagingStudy",
        detail: dict[str, str] | None = None,
    ) -> None:
        await self._audit.record(
            *audit_events(who, action, record_type, record_ids, at=self._clock(), detail=detail)
        )
