"""Batched, permission-checked scheduling lookups for one request."""

from __future__ import annotations

from collections.abc import Sequence

from domain.scheduling.models import Appointment, AvailabilityWindow
from resolvers.loading import ContextLoader


class AppointmentByIdLoader(ContextLoader[str, Appointment | None]):
    async def batch_load_fn(self, keys: Sequence[str]) -> list[Appointment | None]:
        return await self.context.services.scheduling.get_appointments(self.context.principal, keys)


class AvailabilityByUserLoader(ContextLoader[str, list[AvailabilityWindow]]):
    async def batch_load_fn(self, keys: Sequence[str]) -> list[list[AvailabilityWindow]]:
        found = await self.context.services.scheduling.availability(self.context.principal, keys)
        return [found.get(key, []) for key in keys]
