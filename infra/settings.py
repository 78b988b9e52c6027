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
    livekit_url: str = ""
    livekit_public_url: str = ""
    livekit_api_key: str = ""
    livekit_api_secret: str = ""

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
            livekit_url=get("LIVEKIT_URL"),
            livekit_public_url=get("LIVEKIT_PUBLIC_URL"),
            livekit_api_key=get("LIVEKIT_API_KEY"),
            livekit_api_secret=get("LIVEKIT_API_SECRET"),
        )


def to_async_url(url: str) -> str:
    """Accept the usual ``postgresql://`` spelling and pick the async driver for it."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url
