"""Live paths of the imaging subgraph."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import TYPE_CHECKING

from domain.imaging.models import Diagnosis

if TYPE_CHECKING:
    from schema.context import Context


async def diagnosis_updated(
    context: Context, *, study_id: str | None
) -> AsyncGenerator[Diagnosis, None]:
    # ``aclosing``: when the client goes away, the broker subscription ends now.
    stream = context.services.imaging.stream(context.principal, study_id=study_id)
    async with aclosing(stream) as updates:
        async for diagnosis in updates:
            yield diagnosis
