"""Batched, permission-checked imaging lookups for one request."""

from __future__ import annotations

from collections.abc import Sequence

from domain.imaging.models import Diagnosis, DiagnosisReview, ImagingStudy
from resolvers.loading import ContextLoader


class StudyByIdLoader(ContextLoader[str, ImagingStudy | None]):
    async def batch_load_fn(self, keys: Sequence[str]) -> list[ImagingStudy | None]:
        return await self.context.services.imaging.get_studies(self.context.principal, keys)


class DiagnosisByIdLoader(ContextLoader[str, Diagnosis | None]):
    async def batch_load_fn(self, keys: Sequence[str]) -> list[Diagnosis | None]:
        return await self.context.services.imaging.get_diagnoses(self.context.principal, keys)


class DiagnosisByStudyLoader(ContextLoader[str, Diagnosis | None]):
    async def batch_load_fn(self, keys: Sequence[str]) -> list[Diagnosis | None]:
        found = await self.context.services.imaging.diagnoses_of(self.context.principal, keys)
        return [found.get(key) for key in keys]


class ReviewByDiagnosisLoader(ContextLoader[str, DiagnosisReview | None]):
    async def batch_load_fn(self, keys: Sequence[str]) -> list[DiagnosisReview | None]:
        found = await self.context.services.imaging.reviews(self.context.principal, keys)
        return [found.get(key) for key in keys]
