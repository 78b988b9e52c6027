"""Warm-up: the ACTIVE versions are loaded and warm before the process says it is ready."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
from sqlalchemy import select

from infra.container import build_runtime
from infra.db.migrate import migrate
from infra.db.tables import model_versions
from infra.http.app import create_app
from infra.models.demo import register_demo_models
from infra.settings import Settings


async def test_a_fresh_process_loads_the_active_versions_before_it_is_ready(
    tmp_path: Path,
) -> None:
    # given a database with the three demo models ACTIVE, registered by another process
    settings = Settings(data_dir=tmp_path)
    first = build_runtime(settings)
    try:
        await migrate(first.engine)
        created = await register_demo_models(first.services.registry)
    finally:
        await first.close()
    assert len(created) == 3

    # when a new process starts
    runtime = build_runtime(settings)
    try:
        assert runtime.models.inference.versions() == []
        await runtime.start()
        transport = httpx.ASGITransport(app=create_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert runtime._warm_up is not None
            assert await runtime._warm_up is True  # the warm-up start() began: wait for it
            response = await client.get("/readyz")
        assert response.status_code == 200
        ready = response.json()

        # then it is ready once every ACTIVE version is loaded, on the provider it really got
        assert ready["checks"]["models"] is True
        assert sorted(runtime.models.inference.versions()) == sorted(v.id for v in created)
        async with runtime.engine.connect() as conn:
            providers = {
                row.id: row.execution_provider for row in await conn.execute(select(model_versions))
            }
        for version in created:
            assert providers[version.id] == runtime.models.inference.provider(version.id)
    finally:
        await runtime.close()


async def test_a_version_whose_file_is_gone_keeps_the_process_unready(tmp_path: Path) -> None:
    settings = replace(Settings(data_dir=tmp_path), inference_providers=("CPUExecutionProvider",))
    runtime = build_runtime(settings)
    try:
        await migrate(runtime.engine)
        created = await register_demo_models(runtime.services.registry)
    finally:
        await runtime.close()
    (tmp_path / "models" / created[0].sha256[:2] / f"{created[0].sha256}.onnx").unlink()

    runtime = build_runtime(settings)
    try:
        checks = await runtime.ready()
        assert checks["models"] is False and checks["database"] is True
        assert sorted(runtime.models.inference.versions()) == sorted(v.id for v in created[1:])

        # and `caregraph demo` (what the operator runs on a new machine) puts the file back,
        # after which the process turns ready
        assert runtime._warm_up is not None
        assert await runtime._warm_up is False  # the retry the failed check began, still failing
        assert await register_demo_models(runtime.services.registry) == []
        assert (await runtime.ready())["models"] is False  # sees the failure: tries again
        assert await runtime._warm_up is True
        assert (await runtime.ready())["models"] is True
        assert runtime.models is not None
        assert sorted(runtime.models.inference.versions()) == sorted(v.id for v in created)
    finally:
        await runtime.close()
