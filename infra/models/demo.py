"""The demo classifiers of ``inference.demo_models``, registered as each modality's ACTIVE
version 1.0.0 by ``caregraph demo`` (and so by ``make run``). Untrained: their intended use
says so."""

from __future__ import annotations

import asyncio

from domain.modality import Modality
from domain.principal import Principal, Role
from domain.registry.models import InputSpec, ModelStatus, ModelVersion
from domain.registry.service import RegistryService
from inference.demo_models import DEMO_MODELS, DemoModel

DEMO_VERSION = "1.0.0"
OPERATOR = Principal(user_id="", role=Role.ADMIN, request_id="demo")


def _input_spec(demo: DemoModel) -> InputSpec:
    spec = demo.spec.input
    return InputSpec(
        name=spec.name,
        height=spec.height,
        width=spec.width,
        channel_order=spec.channel_order,
        mean=spec.mean,
        std=spec.std,
        resize=spec.resize,
    )


async def register_demo_models(registry: RegistryService) -> list[ModelVersion]:
    """Register what is missing; return the versions created. A second run does nothing
    (except putting back a demo file this machine lacks).

    A modality that has an ACTIVE version already (an operator's own model) keeps it.
    """
    created = []
    for demo in DEMO_MODELS:
        modality = Modality(demo.modality)
        model = await registry.model_named(OPERATOR, demo.name)
        if model is None:
            model = await registry.register_model(
                OPERATOR,
                name=demo.name,
                modality=modality,
                labels=demo.spec.labels,
                input_spec=_input_spec(demo),
            )
        known = [
            v
            for v in await registry.versions_of_models(OPERATOR, [model.id])
            if v.version == DEMO_VERSION
        ]
        if known:
            # Registered from another machine on the same database: the file is deterministic,
            # so this one can put its copy back.
            if not await registry.has_artifact(OPERATOR, known[0].id):
                await registry.restore_artifact(
                    OPERATOR, version_id=known[0].id, artifact=await asyncio.to_thread(demo.build)
                )
            continue
        version = await registry.register_version(
            OPERATOR,
            model_id=model.id,
            version=DEMO_VERSION,
            artifact=await asyncio.to_thread(demo.build),
            intended_use=demo.intended_use,
        )
        if not await registry.has_active_version(OPERATOR, modality):
            version = await registry.set_status(
                OPERATOR, version_id=version.id, status=ModelStatus.ACTIVE
            )
        created.append(version)
    return created
