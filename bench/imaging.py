"""End-to-end benchmark of the imaging path against a running ``caregraph serve``.

(b) ``uploadStudy`` → COMPLETED latency at concurrency 1: one patient uploads a 1024x768 JPEG
    (the image of bench/inference.py), waits for the COMPLETED event of ``diagnosisUpdated``
    (WebSocket), then uploads the next. Reported beside the raw cost of one image measured in
    this process (decode + preprocess + ``session.run``, as bench/inference.py (a)), the upload's
    own HTTP time (multipart request to response: validation decode, storage, one transaction),
    and the storage write alone (the local store's ``put``, in this process).
    Goal: (COMPLETED - upload response) <= 1.25 x raw cost, i.e. end to end <= 1.25 x raw +
    the upload's own time.
(d) Studies per second at concurrency 32: 32 patients upload and wait in a loop for D seconds.

    .venv/bin/python bench/imaging.py                 # starts its own embedded server
    .venv/bin/python bench/imaging.py --url http://127.0.0.1:8000   # a server of yours, with
                                                      # the demo models (`caregraph demo`)

Figures of the last run are in bench/imaging.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import websockets
from PIL import Image
from websockets.typing import Subprotocol

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.inference import median_ms, raw_cost
from infra.storage.files import write_once
from infra.storage.local import LocalImageStore

BIN = Path(sys.executable).parent
PASSWORD = "bench password for imaging"
KEEPALIVE_SECONDS = 2.0
WAIT = 120.0

SIGN_UP = """
mutation($input: SignUpInput!) { signUp(input: $input) { accessToken user { id } } }"""
UPLOAD = """
mutation($file: Upload!, $modality: Modality!) {
  uploadStudy(file: $file, modality: $modality) { id diagnosis { id } }
}"""
FOLLOW = "subscription { diagnosisUpdated { id status } }"


def jpegs(count: int, width: int = 1024, height: int = 768) -> list[bytes]:
    """Distinct JPEGs (one block of pixels differs), so every upload is a new stored object."""
    rng = np.random.default_rng(7)
    gradient = np.linspace(0, 255, width, dtype=np.float32)[np.newaxis, :, np.newaxis]
    noise = rng.normal(0, 25, (height, width, 3)).astype(np.float32)
    base = np.clip(gradient + noise + [[[40, 10, 0]]], 0, 255).astype(np.uint8)
    found = []
    for n in range(count):
        pixels = base.copy()
        pixels[:8, :8] = n % 256
        pixels[8:16, :8] = n // 256
        buffer = io.BytesIO()
        Image.fromarray(pixels, "RGB").save(buffer, "JPEG", quality=90)
        found.append(buffer.getvalue())
    return found


@dataclass
class Patient:
    token: str
    http: httpx.AsyncClient
    finished: dict[str, float] = field(default_factory=dict)
    waiting: dict[str, asyncio.Future[float]] = field(default_factory=dict)

    def settle(self, diagnosis_id: str, at: float) -> None:
        self.finished[diagnosis_id] = at
        future = self.waiting.pop(diagnosis_id, None)
        if future is not None and not future.done():
            future.set_result(at)

    async def finished_at(self, diagnosis_id: str) -> float:
        if diagnosis_id in self.finished:
            return self.finished.pop(diagnosis_id)
        future = asyncio.get_running_loop().create_future()
        self.waiting[diagnosis_id] = future
        at = await asyncio.wait_for(future, WAIT)
        self.finished.pop(diagnosis_id, None)
        return at

    async def upload(self, data: bytes) -> tuple[float, float, float]:
        """(started, upload answered, COMPLETED received), perf_counter seconds."""
        operations = {"query": UPLOAD, "variables": {"file": None, "modality": "SKIN"}}
        started = time.perf_counter()
        response = await self.http.post(
            "/graphql",
            data={"operations": json.dumps(operations), "map": '{"0": ["variables.file"]}'},
            files={"0": ("scan.jpg", data, "image/jpeg")},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        answered = time.perf_counter()
        body = response.json()
        if "errors" in body:
            raise RuntimeError(body["errors"])
        done = await self.finished_at(body["data"]["uploadStudy"]["diagnosis"]["id"])
        return started, answered, done


@asynccontextmanager
async def patient(url: str) -> AsyncIterator[Patient]:
    # Idle connections are dropped before the server's 5 s keep-alive timeout would close them:
    # reusing one just as the server closes it fails the next upload with a ReadError.
    limits = httpx.Limits(keepalive_expiry=KEEPALIVE_SECONDS)
    async with httpx.AsyncClient(base_url=url, timeout=WAIT, limits=limits) as http:
        email = f"bench-{uuid.uuid4().hex[:10]}@example.org"
        body = (
            await http.post(
                "/graphql",
                json={
                    "query": SIGN_UP,
                    "variables": {
                        "input": {"email": email, "password": PASSWORD, "displayName": "Bench"}
                    },
                },
            )
        ).json()
        who = Patient(body["data"]["signUp"]["accessToken"], http)
        ws_url = url.replace("http://", "ws://") + "/graphql"
        async with websockets.connect(
            ws_url, subprotocols=[Subprotocol("graphql-transport-ws")], max_size=None
        ) as ws:
            await ws.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"authorization": f"Bearer {who.token}"}}
                )
            )
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(
                json.dumps({"id": "1", "type": "subscribe", "payload": {"query": FOLLOW}})
            )

            async def listen() -> None:
                async for raw in ws:
                    frame = json.loads(raw)
                    if frame.get("type") != "next":
                        continue
                    update = frame["payload"]["data"]["diagnosisUpdated"]
                    if update["status"] in ("COMPLETED", "FAILED"):
                        if update["status"] == "FAILED":
                            print("FAILED diagnosis", update, file=sys.stderr)
                        who.settle(update["id"], time.perf_counter())

            listener = asyncio.create_task(listen())
            # The subscription is live once the server has read the frame; give it a moment.
            await asyncio.sleep(0.2)
            try:
                yield who
            finally:
                listener.cancel()


def ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000.0


async def latency(url: str, images: list[bytes], count: int, warmup: int) -> dict[str, float]:
    async with patient(url) as who:
        for data in images[:warmup]:
            await who.upload(data)
        uploads, ends, after = [], [], []
        for data in images[warmup : warmup + count]:
            started, answered, done = await who.upload(data)
            uploads.append(answered - started)
            ends.append(done - started)
            after.append(done - answered)
    return {
        "n": float(count),
        "upload_p50_ms": ms(uploads, 0.5),
        "end_to_end_p50_ms": ms(ends, 0.5),
        "end_to_end_p90_ms": ms(ends, 0.9),
        "after_upload_p50_ms": ms(after, 0.5),
    }


async def throughput(
    url: str, images: list[bytes], clients: int, seconds: float
) -> dict[str, float]:
    ends: list[float] = []
    deadline = 0.0

    async def client(n: int, who: Patient) -> int:
        done = 0
        k = n
        while time.perf_counter() < deadline:
            started, _, finished = await who.upload(images[k % len(images)])
            k += clients
            if finished <= deadline:
                done += 1
                ends.append(finished - started)
        return done

    async with _patients(url, clients) as people:
        started = time.perf_counter()
        deadline = started + seconds
        counts = await asyncio.gather(*(client(n, who) for n, who in enumerate(people)))
    elapsed = seconds
    return {
        "clients": float(clients),
        "completed": float(sum(counts)),
        "studies_per_s": sum(counts) / elapsed,
        "end_to_end_p50_ms": ms(ends, 0.5),
        "end_to_end_p90_ms": ms(ends, 0.9),
    }


@asynccontextmanager
async def _patients(url: str, count: int) -> AsyncIterator[list[Patient]]:
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(patient(url)) for _ in range(count)]


def storage_put_ms(data: bytes, repeat: int) -> float:
    with tempfile.TemporaryDirectory() as root:
        store = LocalImageStore(Path(root))

        def put() -> None:
            unique = data + secrets.token_bytes(8)
            # The store's own blocking write (``put`` runs it in a thread).
            write_once(store.path(hashlib.sha256(unique).hexdigest()), unique)

        return median_ms(put, repeat)


@contextmanager
def own_server(workers: int) -> Iterator[str]:
    with tempfile.TemporaryDirectory() as data_dir:
        port = 18_000 + secrets.randbelow(2_000)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAREGRAPH_")}
        env.update(
            CAREGRAPH_DATA_DIR=data_dir,
            CAREGRAPH_PORT=str(port),
            CAREGRAPH_LOG_LEVEL="WARNING",
            CAREGRAPH_DIAGNOSIS_WORKERS=str(workers),
        )
        for command in ("migrate", "demo"):
            subprocess.run(
                [str(BIN / "caregraph"), command], env=env, check=True, capture_output=True
            )
        log = open(Path(data_dir) / "server.log", "wb")
        process = subprocess.Popen(
            [str(BIN / "caregraph"), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            else:
                raise RuntimeError((Path(data_dir) / "server.log").read_text())
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)
            log.close()


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()} — {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}"


async def run(url: str, args: argparse.Namespace) -> None:
    images = jpegs(args.count + args.warmup + 64)
    # The raw cost is measured just before and just after (b), and averaged: this machine's
    # speed drifts by a third from minute to minute, and (b) is judged against it.
    raw_around = [raw_cost(threads=1, repeat=30)]
    b = await latency(url, images, args.count, args.warmup)
    raw_around.append(raw_cost(threads=1, repeat=30))
    raw = {key: statistics.mean(r[key] for r in raw_around) for key in raw_around[0]}
    d = await throughput(url, images, args.clients, args.duration)
    put = storage_put_ms(images[0], 30)
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S %Z')} on {machine()}")
    print(f"server: {url}")
    print(
        f"raw cost (in this process): decode {raw['decode_ms']:.2f} + preprocess "
        f"{raw['preprocess_ms']:.2f} + run {raw['run_ms']:.2f}; in a row {raw['total_ms']:.2f} ms"
        f" (CPU provider: {bool(raw['provider_is_cpu'])}; before (b) "
        f"{raw_around[0]['total_ms']:.2f}, after {raw_around[1]['total_ms']:.2f})"
    )
    print(f"storage put alone (local store, fsync): {put:.2f} ms; JPEG {len(images[0])} bytes")
    print(
        f"(b) c=1, n={int(b['n'])}: upload answered p50 {b['upload_p50_ms']:.1f} ms; "
        f"end to end p50 {b['end_to_end_p50_ms']:.1f} ms, p90 {b['end_to_end_p90_ms']:.1f} ms; "
        f"COMPLETED after the upload's answer p50 {b['after_upload_p50_ms']:.1f} ms"
    )
    goal = 1.25 * raw["total_ms"] + b["upload_p50_ms"]
    ratio = b["after_upload_p50_ms"] / raw["total_ms"]
    print(
        f"    goal: end to end <= 1.25 x raw + upload = {goal:.1f} ms -> "
        f"{'met' if b['end_to_end_p50_ms'] <= goal else 'NOT met'} "
        f"(after-upload / raw = {ratio:.2f}x)"
    )
    print(
        f"(d) c={int(d['clients'])}, {args.duration:.0f} s: {d['studies_per_s']:.1f} studies/s "
        f"({int(d['completed'])} completed); end to end p50 {d['end_to_end_p50_ms']:.0f} ms, "
        f"p90 {d['end_to_end_p90_ms']:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="a running server with the demo models; else start one")
    parser.add_argument("--count", type=int, default=50, help="(b) measured uploads")
    parser.add_argument("--warmup", type=int, default=5, help="(b) uploads before measuring")
    parser.add_argument("--clients", type=int, default=32, help="(d) concurrency")
    parser.add_argument("--duration", type=float, default=15.0, help="(d) seconds")
    parser.add_argument(
        "--workers",
        type=int,
        default=4,
        help="CAREGRAPH_DIAGNOSIS_WORKERS of the server this script starts",
    )
    args = parser.parse_args()
    if args.url:
        asyncio.run(run(args.url, args))
        return
    with own_server(args.workers) as url:
        asyncio.run(run(url, args))


if __name__ == "__main__":
    main()
