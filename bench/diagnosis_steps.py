"""Where one diagnosis's time goes, step by step, in-process (no HTTP, no WebSocket).

Builds the embedded profile in a temporary directory (SQLite, in-process broker, local image
store, the demo models), then for each of ``-n`` distinct 1024x768 JPEGs: ``upload_study``
through the imaging service, then one ``DiagnosisRunner.run_next()``. Every step is timed by a
wrapper around the adapter or service method that does it; medians skip the first 5 runs.

    .venv/bin/python bench/diagnosis_steps.py           # -n 30, about 10 s

The steps, in the order a job meets them: ``claim`` (conditional UPDATE + the study),
``routing`` (the registry's choice of version), ``image read`` (only when the upload's decode is
not at hand), ``engine`` (decode if needed, preprocess, micro-batcher, ``session.run``),
``record`` (the InferenceRecord), ``complete`` (UPDATE + the study), ``publish`` (each event).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.imaging import jpegs
from domain.imaging.diagnosis_runner import DiagnosisRunner
from domain.modality import Modality
from domain.principal import Principal, Role
from infra.container import build_runtime
from infra.db.migrate import migrate
from infra.models.demo import register_demo_models
from infra.settings import Settings

SKIPPED = 5


def timed(times: dict[str, list[float]], label: str, target: Any, name: str) -> None:
    """Replace ``target.name`` (an async method) by a wrapper that notes its milliseconds."""
    method: Callable[..., Awaitable[Any]] = getattr(target, name)

    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await method(*args, **kwargs)
        finally:
            times[label].append((time.perf_counter() - started) * 1000.0)

    setattr(target, name, wrapper)


async def measure(count: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as data_dir:
        # One worker slot, so the upload keeps its decode for the worker, as `serve` does;
        # the worker itself is not started: this script calls run_next() itself.
        settings = Settings.from_env(
            {"CAREGRAPH_DATA_DIR": data_dir, "CAREGRAPH_DIAGNOSIS_WORKERS": "1"}
        )
        runtime = build_runtime(settings)
        try:
            await migrate(runtime.engine)
            await register_demo_models(runtime.services.registry)
            await runtime.broker.start()
            assert await runtime.services.registry.warm_up()
            user = await runtime.services.users.create_user(
                email="steps@example.org",
                password="a long bench password",
                display_name="Bench",
                role=Role.PATIENT,
                request_id="bench",
            )
            patient = Principal(user_id=user.id, role=Role.PATIENT, request_id="bench")
            imaging, registry = runtime.services.imaging, runtime.services.registry
            # The adapters the services hold, reached into on purpose: they are what is timed.
            queue = imaging._studies
            assert runtime.images is not None
            runner = DiagnosisRunner(
                queue=queue, images=runtime.images, classifier=registry, imaging=imaging
            )
            steps = (
                ("upload_study", imaging, "upload_study"),
                ("run_next (all)", runner, "run_next"),
                ("· claim", queue, "claim"),
                ("· routing", registry._repo, "routing"),
                ("· image read", runtime.images, "read"),
                ("· engine", registry._engine, "classify"),
                ("· record", registry._repo, "add_record"),
                ("· complete", queue, "complete"),
                ("· publish", imaging, "publish"),
            )
            # In the order of the steps, whichever is called first.
            times: dict[str, list[float]] = {label: [] for label, _, _ in steps}
            for label, target, name in steps:
                timed(times, label, target, name)
            for data in jpegs(count):
                await imaging.upload_study(patient, data=data, modality=Modality.SKIN)
                assert await runner.run_next()
            return times
        finally:
            await runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=30, help="uploads (first 5 not counted)")
    args = parser.parse_args()
    if args.n <= SKIPPED:
        parser.error(f"-n must be more than {SKIPPED}")
    times = asyncio.run(measure(args.n))
    runs = args.n - SKIPPED
    print(f"{'step':<18} {'calls/run':>9} {'median ms':>10} {'ms per run':>11}")
    for label, values in times.items():
        if not values:
            print(f"{label:<18} {0:>9}  (not called)")
            continue
        calls = len(values) // args.n
        counted = values[SKIPPED * calls :]
        print(
            f"{label:<18} {calls:>9} {statistics.median(counted):>10.2f}"
            f" {sum(counted) / runs:>11.2f}"
        )


if __name__ == "__main__":
    main()
