"""Read paths of the imaging subgraph."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from domain.errors import bad_input, not_found
from domain.imaging.models import Diagnosis, DiagnosisReview, ImagingStudy, StudyPage
from domain.imaging.ports import StudyKey
from resolvers.imaging.loaders import (
    DiagnosisByIdLoader,
    DiagnosisByStudyLoader,
    ReviewByDiagnosisLoader,
    StudyByIdLoader,
)
from resolvers.pagination import decode_cursor, encode_cursor, page_size

if TYPE_CHECKING:
    from schema.context import Context

CURSOR = "study"


def study_cursor(study: ImagingStudy) -> str:
    return encode_cursor(CURSOR, study.uploaded_at.isoformat(), study.id)


def study_key(cursor: str | None) -> StudyKey | None:
    if cursor is None:
        return None
    parts = decode_cursor(cursor, CURSOR)
    try:
        at, study_id = parts
        return datetime.fromisoformat(str(at)), str(study_id)
    except ValueError:
        raise bad_input("Invalid cursor", field="after") from None


async def study(context: Context, study_id: str) -> ImagingStudy:
    found = await context.loader(StudyByIdLoader).load(study_id)
    if found is None:
        raise not_found("Study")
    return found


async def maybe_study(context: Context, study_id: str) -> ImagingStudy | None:
    return await context.loader(StudyByIdLoader).load(study_id)


async def diagnosis(context: Context, diagnosis_id: str) -> Diagnosis:
    found = await context.loader(DiagnosisByIdLoader).load(diagnosis_id)
    if found is None:
        raise not_found("Diagnosis")
    return found


async def diagnosis_of(context: Context, study_id: str) -> Diagnosis | None:
    return await context.loader(DiagnosisByStudyLoader).load(study_id)


async def review_of(context: Context, diagnosis_id: str) -> DiagnosisReview | None:
    return await context.loader(ReviewByDiagnosisLoader).load(diagnosis_id)


async def studies_of(
    context: Context, *, patient_id: str, first: int | None, after: str | None
) -> StudyPage:
    return await context.services.imaging.studies_of(
        context.principal, patient_id=patient_id, first=page_size(first), after=study_key(after)
    )


async def review_queue(context: Context, *, first: int | None, after: str | None) -> StudyPage:
    return await context.services.imaging.review_queue(
        context.principal, first=page_size(first), after=study_key(after)
    )


def image_url(context: Context, found: ImagingStudy) -> str:
    """Absolute when the request says where the server is (HTTP or WebSocket), else a path."""
    path = context.services.imaging.image_path(context.principal, found)
    request = context.request
    if request is None:
        return path
    base = str(request.base_url).rstrip("/")
    if base.startswith("ws"):
        base = "http" + base[2:]
    return base + path
