"""Write paths of the imaging subgraph."""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.errors import DomainError, ErrorCode
from domain.imaging.models import Diagnosis, ImagingStudy, ReviewVerdict
from domain.modality import Modality

if TYPE_CHECKING:
    from starlette.datastructures import UploadFile

    from schema.context import Context


async def upload_study(context: Context, *, file: UploadFile, modality: Modality) -> ImagingStudy:
    limit = context.services.imaging.max_upload_bytes
    try:
        # One byte past the limit is enough to know it is too large.
        data = await file.read(limit + 1)
    finally:
        # The multipart parser spooled it to a temporary file that nobody else closes.
        await file.close()
    if len(data) > limit:
        raise DomainError(
            ErrorCode.PAYLOAD_TOO_LARGE, f"The file is larger than {limit} bytes", field="file"
        )
    return await context.services.imaging.upload_study(
        context.principal, data=data, modality=modality
    )


async def assign_study(context: Context, *, study_id: str, doctor_id: str) -> ImagingStudy:
    return await context.services.imaging.assign_study(
        context.principal, study_id=study_id, doctor_id=doctor_id
    )


async def review_diagnosis(
    context: Context,
    *,
    diagnosis_id: str,
    verdict: ReviewVerdict,
    corrected_label: str | None,
    note: str | None,
) -> Diagnosis:
    return await context.services.imaging.review_diagnosis(
        context.principal,
        diagnosis_id=diagnosis_id,
        verdict=verdict,
        corrected_label=corrected_label,
        note=note,
    )
