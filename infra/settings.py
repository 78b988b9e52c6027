"""Settings, read once from ``CAREGRAPH_*`` environment variables.

Every setting has an embedded default so that ``caregraph serve`` works on a fresh machine:
a SQLite file and an in-process broker under the data directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = REPO_ROOT / "var"
    database_url: str = ""
    redis_url: str = ""
    redis_prefix: str = "caregraph"
    jwt_private_key_file: Path | None = None
    jwt_issuer: str = "caregraph"
    access_token_minutes: int = 15
    refresh_token_days: int = 7
    supabase_jwt_secret: str = ""
    max_body_bytes: int = 1_000_000
    max_query_depth: int = 12
    max_query_tokens: int = 2_000
    max_aliases: int = 30
    node_modules: Path = REPO_ROOT / "node_modules"
    log_level: str = "INFO"
    subgraph: str = ""
    sign_in_max_failures: int = 5
    sign_in_window_seconds: int = 900
    livekit_url: str = ""
    livekit_public_url: str = ""
    livekit_api_key: str = ""
    livekit_api_secret: str = ""
    # registry and inference
    inference_providers: tuple[str, ...] = ("CUDAExecutionProvider", "CPUExecutionProvider")
    inference_threads: int = 0  # ONNX Runtime intra-op threads; 0: its default
    inference_max_batch: int = 16
    # 0: a batch is whatever queued while the previous one ran. On this CPU a wait for company
    # only adds latency (bench/inference.md); a GPU may want a few milliseconds.
    inference_max_delay_ms: float = 0.0
    inference_queue_size: int = 256
    max_model_bytes: int = 200 * 1024 * 1024
    # imaging
    max_upload_bytes: int = 20 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    image_url_seconds: int = 300
    supabase_url: str = ""
    supabase_key: str = ""
    supabase_bucket: str = ""
    diagnosis_workers: int = 2
    diagnosis_poll_seconds: float = 1.0
    diagnosis_lease_seconds: float = 60.0
    diagnosis_max_attempts: int = 5
    # Test-only: the diagnosis worker waits this long after claiming a job, so that a test can
    # stop the server in the middle of one. Never set it in production.
    test_diagnosis_hold_seconds: float = 0.0

    @property
    def effective_database_url(self) -> str:
        """The SQLAlchemy URL: the configured one, or the embedded SQLite file."""
        if self.database_url:
            return to_async_url(self.database_url)
        return f"sqlite+aiosqlite:///{self.data_dir / 'caregraph.db'}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def get(name: str, default: str = "") -> str:
            return env.get(f"CAREGRAPH_{name}", default).strip()

        defaults = cls()
        key_file = get("JWT_PRIVATE_KEY_FILE")
        return cls(
            host=get("HOST", defaults.host),
            port=int(get("PORT", str(defaults.port))),
            data_dir=Path(get("DATA_DIR", str(defaults.data_dir))).expanduser().resolve(),
            database_url=get("DATABASE_URL"),
            redis_url=get("REDIS_URL"),
            redis_prefix=get("REDIS_PREFIX", defaults.redis_prefix),
            jwt_private_key_file=Path(key_file) if key_file else None,
            jwt_issuer=get("JWT_ISSUER", defaults.jwt_issuer),
            access_token_minutes=int(
                get("ACCESS_TOKEN_MINUTES", str(defaults.access_token_minutes))
            ),
            refresh_token_days=int(get("REFRESH_TOKEN_DAYS", str(defaults.refresh_token_days))),
            supabase_jwt_secret=get("SUPABASE_JWT_SECRET"),
            max_body_bytes=int(get("MAX_BODY_BYTES", str(defaults.max_body_bytes))),
            max_query_depth=int(get("MAX_QUERY_DEPTH", str(defaults.max_query_depth))),
            max_query_tokens=int(get("MAX_QUERY_TOKENS", str(defaults.max_query_tokens))),
            max_aliases=int(get("MAX_ALIASES", str(defaults.max_aliases))),
            node_modules=Path(get("NODE_MODULES", str(defaults.node_modules))),
            log_level=get("LOG_LEVEL", defaults.log_level).upper(),
            subgraph=get("SUBGRAPH"),
            sign_in_max_failures=int(
                get("SIGN_IN_MAX_FAILURES", str(defaults.sign_in_max_failures))
            ),
            sign_in_window_seconds=int(
                get("SIGN_IN_WINDOW_SECONDS", str(defaults.sign_in_window_seconds))
            ),
            livekit_url=get("LIVEKIT_URL"),
            livekit_public_url=get("LIVEKIT_PUBLIC_URL"),
            livekit_api_key=get("LIVEKIT_API_KEY"),
            livekit_api_secret=get("LIVEKIT_API_SECRET"),
            inference_providers=tuple(
                p.strip()
                for p in get("INFERENCE_PROVIDERS", ",".join(defaults.inference_providers)).split(
                    ","
                )
                if p.strip()
            ),
            inference_threads=int(get("INFERENCE_THREADS", str(defaults.inference_threads))),
            inference_max_batch=int(get("INFERENCE_MAX_BATCH", str(defaults.inference_max_batch))),
            inference_max_delay_ms=float(
                get("INFERENCE_MAX_DELAY_MS", str(defaults.inference_max_delay_ms))
            ),
            inference_queue_size=int(
                get("INFERENCE_QUEUE_SIZE", str(defaults.inference_queue_size))
            ),
            max_model_bytes=int(get("MAX_MODEL_BYTES", str(defaults.max_model_bytes))),
            max_upload_bytes=int(get("MAX_UPLOAD_BYTES", str(defaults.max_upload_bytes))),
            max_image_pixels=int(get("MAX_IMAGE_PIXELS", str(defaults.max_image_pixels))),
            image_url_seconds=int(get("IMAGE_URL_SECONDS", str(defaults.image_url_seconds))),
            supabase_url=get("SUPABASE_URL"),
            supabase_key=get("SUPABASE_KEY"),
            supabase_bucket=get("SUPABASE_BUCKET"),
            diagnosis_workers=int(get("DIAGNOSIS_WORKERS", str(defaults.diagnosis_workers))),
            diagnosis_poll_seconds=float(
                get("DIAGNOSIS_POLL_SECONDS", str(defaults.diagnosis_poll_seconds))
            ),
            diagnosis_lease_seconds=float(
                get("DIAGNOSIS_LEASE_SECONDS", str(defaults.diagnosis_lease_seconds))
            ),
            diagnosis_max_attempts=int(
                get("DIAGNOSIS_MAX_ATTEMPTS", str(defaults.diagnosis_max_attempts))
            ),
            test_diagnosis_hold_seconds=float(get("TEST_DIAGNOSIS_HOLD_SECONDS", "0")),
        )


def to_async_url(url: str) -> str:
    """Accept the usual ``postgresql://`` spelling and pick the async driver for it."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url
