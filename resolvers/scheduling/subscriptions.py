"""Live paths of the scheduling subgraph."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import TYPE_CHECKING

from domain.scheduling.models import Appointment

if TYPE_CHECKING:
    from schema.context import Context


async def appointment_updated(context: Context) -> AsyncGenerator[Appointment, None]:
    # ``aclosing``: when the client goes away, the broker subscription ends now, not whenever
    # the garbage collector finalizes the inner generator.
    async with aclosing(context.services.scheduling.stream(context.principal)) as stream:
        async for appointment in stream:
            yield appointment
