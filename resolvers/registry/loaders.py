"""Batched registry lookups for one request."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from domain.registry.models import Model, ModelVersion
from resolvers.loading import ContextLoader


class ModelByIdLoader(ContextLoader[str, Model | None]):
    async def batch_load_fn(self, keys: Sequence[str]) -> list[Model | None]:
        found = {
            m.id: m
            for m in await self.context.services.registry.get_models(self.context.principal, keys)
        }
        return [found.get(key) for key in keys]


class ModelVersionByIdLoader(ContextLoader[str, ModelVersion | None]):
    async def batch_load_fn(self, keys: Sequence[str]) -> list[ModelVersion | None]:
        registry = self.context.services.registry
        found = {v.id: v for v in await registry.get_versions(self.context.principal, keys)}
        return [found.get(key) for key in keys]


class VersionsByModelLoader(ContextLoader[str, list[ModelVersion]]):
    async def batch_load_fn(self, keys: Sequence[str]) -> list[list[ModelVersion]]:
        registry = self.context.services.registry
        grouped: dict[str, list[ModelVersion]] = defaultdict(list)
        for version in await registry.versions_of_models(self.context.principal, keys):
            grouped[version.model_id].append(version)
        return [grouped.get(key, []) for key in keys]


class ModelVersionIdByDiagnosisLoader(ContextLoader[str, str | None]):
    async def batch_load_fn(self, keys: Sequence[str]) -> list[str | None]:
        registry = self.context.services.registry
        found = await registry.versions_of_diagnoses(self.context.principal, keys)
        return [found.get(key) for key in keys]
