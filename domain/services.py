"""The domain services of every subgraph, built once per process by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from domain.imaging.service import ImagingService
from domain.messaging.service import MessagingService
from domain.registry.service import RegistryService
from domain.scheduling.service import SchedulingService
from domain.users.service import UserService


@dataclass(frozen=True, slots=True)
class Services:
    users: UserService
    messaging: MessagingService
    scheduling: SchedulingService
    imaging: ImagingService
    registry: RegistryService
