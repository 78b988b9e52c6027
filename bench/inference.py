"""Benchmark of the inference module, in-process, CPU or GPU as ONNX Runtime gives.

(a) Raw cost of one image: decode (Pillow, EXIF, RGB) + preprocess + ``session.run`` on a batch
    of one, for the SKIN demo model, each part timed separately (medians).
(c) The engine alone (micro-batcher + session) on preprocessed tensors: C concurrent callers
    each classify in a loop for D seconds, batching on (max batch size B, max delay T) versus
    max batch size 1, for the demo model and for the heavy CNN (>= 1 GFLOP per image).
    Throughput (images/s) and p50/p99 latency per call.

    .venv/bin/python bench/inference.py                   # all of it, ~1.5 min on 2 cores
    .venv/bin/python bench/inference.py --duration 1 --concurrency 1 32 --models demo
    .venv/bin/python bench/inference.py --threads 0       # ONNX Runtime's default threads
    .venv/bin/python bench/inference.py --models demo --concurrency 1 32 --delay-ms 0 --rounds 3

With ``--rounds N`` each (off, on) pair is measured N times, alternating, and the table shows
the median images/s with the range, and the median of the N gains.

Figures of the last run are in bench/inference.md.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inference.batcher import BatchSettings
from inference.demo_models import (
    HEAVY_CNN,
    SKIN,
    DemoModel,
    build_model,
)
from inference.engine import InferenceEngine
from inference.flops import count_flops
from inference.images import decode_image
from inference.preprocess import preprocess
from inference.providers import SessionSettings, open_session


@dataclass(frozen=True)
class Point:
    model: str
    mode: str
    concurrency: int
    images: int
    seconds: float
    p50_ms: float
    p99_ms: float
    mean_batch: float

    @property
    def throughput(self) -> float:
        return self.images / self.seconds


def sample_jpeg(width: int = 1024, height: int = 768) -> bytes:
    rng = np.random.default_rng(7)
    gradient = np.linspace(0, 255, width, dtype=np.float32)[np.newaxis, :, np.newaxis]
    noise = rng.normal(0, 25, (height, width, 3)).astype(np.float32)
    pixels = np.clip(gradient + noise + [[[40, 10, 0]]], 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def median_ms(action: Callable[[], object], repeat: int) -> float:
    action()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(times)


def raw_cost(threads: int, repeat: int) -> dict[str, float]:
    data = sample_jpeg()
    spec = SKIN.spec.input
    opened = open_session(SKIN.build(), SessionSettings(intra_op_threads=threads))
    decoded = decode_image(data)
    sample = preprocess(decoded.image, spec)[np.newaxis]

    def run() -> object:
        return opened.session.run(None, {spec.name: sample})

    def whole() -> object:
        image = decode_image(data).image
        return opened.session.run(None, {spec.name: preprocess(image, spec)[np.newaxis]})

    return {
        "jpeg_bytes": float(len(data)),
        "decode_ms": median_ms(lambda: decode_image(data), repeat),
        "preprocess_ms": median_ms(lambda: preprocess(decoded.image, spec), repeat),
        "run_ms": median_ms(run, repeat),
        "total_ms": median_ms(whole, repeat),
        "provider_is_cpu": float(opened.provider == "CPUExecutionProvider"),
    }


async def engine_point(
    demo: DemoModel,
    mode: str,
    batch: BatchSettings,
    threads: int,
    concurrency: int,
    duration: float,
) -> Point:
    engine = InferenceEngine(session=SessionSettings(intra_op_threads=threads), batch=batch)
    await engine.load(demo.name, demo.build(), demo.spec)
    spec = demo.spec.input
    rng = np.random.default_rng(1)
    samples = [
        rng.standard_normal((3, spec.height, spec.width), dtype=np.float32) for _ in range(8)
    ]
    latencies: list[float] = []
    batch_sizes: list[int] = []
    stop_at = 0.0

    async def caller(index: int) -> None:
        n = index
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            prediction = await engine.classify_tensor(demo.name, samples[n % len(samples)])
            latencies.append((time.perf_counter() - started) * 1000.0)
            batch_sizes.append(prediction.batch_size)
            n += 1

    # warm the batcher path with the same concurrency, then measure
    stop_at = time.perf_counter() + min(0.5, duration / 4)
    await asyncio.gather(*(caller(i) for i in range(concurrency)))
    latencies.clear()
    batch_sizes.clear()
    started = time.perf_counter()
    stop_at = started + duration
    await asyncio.gather(*(caller(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    await engine.close()
    ordered = sorted(latencies)
    return Point(
        model=demo.name,
        mode=mode,
        concurrency=concurrency,
        images=len(latencies),
        seconds=elapsed,
        p50_ms=ordered[len(ordered) // 2],
        p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        mean_batch=statistics.fmean(batch_sizes),
    )


def row(points: list[Point], gain: float, spread: bool) -> str:
    """One table row: the median point's figures (all of them when there is one round)."""
    ordered = sorted(points, key=lambda point: point.throughput)
    middle = ordered[len(ordered) // 2]
    throughput = statistics.median(point.throughput for point in points)
    span = f" {ordered[0].throughput:.0f}-{ordered[-1].throughput:.0f} |" if spread else ""
    return (
        f"| {middle.model} | {middle.concurrency} | {middle.mode} | {throughput:.0f} |{span} "
        f"{middle.p50_ms:.2f} | {middle.p99_ms:.2f} | {middle.mean_batch:.1f} | {gain:.2f}x |"
    )


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        memory = f"{mem_kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, StopIteration):
        memory = "? RAM"
    date = subprocess.run(["date"], capture_output=True, text=True, check=False).stdout.strip()
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{date}; nproc {os.cpu_count()}; {cpu}; {memory}; Python {platform.python_version()}; "
        f"load average {load}"
    )


async def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per point")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--models", nargs="+", default=["demo", "heavy"])
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (0: ORT default)")
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--delay-ms", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=50, help="repetitions for (a)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure each (off, on) pair this many times"
    )
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.ERROR)  # not the CUDA -> CPU warning once per load
    print(f"machine: {machine()}")
    print(
        f"settings: intra-op threads {args.threads or 'ORT default'}, batching on = max batch "
        f"{args.max_batch}, max delay {args.delay_ms} ms; off = max batch 1"
    )
    for demo in (SKIN, HEAVY_CNN):
        print(f"{demo.name}: {count_flops(build_model(demo)) / 1e9:.3f} GFLOP per image")

    raw = raw_cost(args.threads, args.repeat)
    print(
        f"\n(a) raw cost of one image, {SKIN.name} "
        f"({'CPU' if raw['provider_is_cpu'] else 'GPU'}; 1024x768 JPEG, "
        f"{raw['jpeg_bytes'] / 1024:.0f} KiB), medians:\n"
        f"    decode {raw['decode_ms']:.2f} ms + preprocess {raw['preprocess_ms']:.2f} ms + "
        f"session.run {raw['run_ms']:.2f} ms; all three in a row {raw['total_ms']:.2f} ms"
    )

    models = {"demo": SKIN, "heavy": HEAVY_CNN}
    on = BatchSettings(max_batch_size=args.max_batch, max_delay_ms=args.delay_ms, queue_size=1024)
    off = BatchSettings(max_batch_size=1, max_delay_ms=0.0, queue_size=1024)
    print("\n(c) engine alone, preprocessed tensors")
    spread = args.rounds > 1
    header = "| model | concurrency | batching | images/s | p50 ms | p99 ms | mean batch | gain |"
    print(header.replace("images/s |", "images/s | range |") if spread else header)
    print("|---|---:|---|---:|---:|---:|---:|---:|" + ("---:|" if spread else ""))
    for key in args.models:
        demo = models[key]
        for concurrency in args.concurrency:
            rounds: list[tuple[Point, Point]] = []
            point_args = (args.threads, concurrency, args.duration)
            for _ in range(args.rounds):
                plain = await engine_point(demo, "off", off, *point_args)
                batched = await engine_point(demo, "on", on, *point_args)
                rounds.append((plain, batched))
            gain = statistics.median(b.throughput / p.throughput for p, b in rounds)
            for index in (0, 1):
                points = [pair[index] for pair in rounds]
                print(row(points, gain if index else 1.0, spread), flush=True)
    print(f"\nload average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    asyncio.run(main())
