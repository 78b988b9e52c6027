"""Committed SDL snapshots, one per subgraph, so every API change shows in review, and the
supergraph that a gateway composes from them (``supergraph.yaml`` → ``schema/supergraph.graphql``).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

from schema.executable import subgraph_schemas

SCHEMA_DIR = Path(__file__).resolve().parent
SDL_DIR = SCHEMA_DIR / "sdl"
REPO_ROOT = SCHEMA_DIR.parent
SUPERGRAPH_CONFIG = REPO_ROOT / "supergraph.yaml"
SUPERGRAPH_FILE = SCHEMA_DIR / "supergraph.graphql"
# Apollo's composition (@apollo/composition from package-lock.json), run by Node.js.
COMPOSE_SCRIPT = REPO_ROOT / "tests" / "federation" / "compose.mjs"
COMPOSE_TIMEOUT_SECONDS = 120


class SupergraphError(RuntimeError):
    """The supergraph cannot be composed: bad config, missing tooling, or composition errors."""


def current_sdl() -> dict[str, str]:
    """Each subgraph's federation SDL, as ``_service { sdl }`` serves it."""
    return {name: schema.as_str() + "\n" for name, schema in subgraph_schemas().items()}


def write_snapshots() -> list[Path]:
    SDL_DIR.mkdir(exist_ok=True)
    written = []
    for name, sdl in current_sdl().items():
        path = SDL_DIR / f"{name}.graphql"
        path.write_text(sdl)
        written.append(path)
    return written


def check_snapshots() -> list[Path]:
    """The snapshot files that differ from the code, are missing, or belong to no subgraph."""
    current = current_sdl()
    drift = []
    for name, sdl in current.items():
        path = SDL_DIR / f"{name}.graphql"
        if not path.exists() or path.read_text() != sdl:
            drift.append(path)
    orphans = sorted(p for p in SDL_DIR.glob("*.graphql") if p.stem not in current)
    return drift + orphans


# ---- the supergraph


def routing_urls(config: Path = SUPERGRAPH_CONFIG) -> dict[str, str]:
    """``subgraph → routing_url`` from Rover's supergraph config, after checking that it names
    every subgraph of the code, and each one's committed snapshot as its schema file."""
    try:
        document = yaml.safe_load(config.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise SupergraphError(f"{config}: {error}") from None
    entries = document.get("subgraphs") if isinstance(document, dict) else None
    if not isinstance(entries, dict):
        raise SupergraphError(f"{config}: no `subgraphs:` mapping")
    expected = set(current_sdl())
    if set(entries) != expected:
        raise SupergraphError(
            f"{config} lists {sorted(entries)}; the code defines {sorted(expected)}"
        )
    urls = {}
    for name, entry in entries.items():
        url = entry.get("routing_url") if isinstance(entry, dict) else None
        schema = entry.get("schema") if isinstance(entry, dict) else None
        file = schema.get("file") if isinstance(schema, dict) else None
        if not isinstance(url, str) or not url:
            raise SupergraphError(f"{config}: subgraph {name} has no routing_url")
        if not isinstance(file, str) or (config.parent / file).resolve() != (
            SDL_DIR / f"{name}.graphql"
        ):
            raise SupergraphError(
                f"{config}: subgraph {name} must read its schema from schema/sdl/{name}.graphql"
            )
        urls[name] = url
    return urls


def compose_supergraph(sdl: dict[str, str], urls: dict[str, str]) -> str:
    """The supergraph SDL that Apollo's composition builds from ``subgraph → SDL``."""
    node = shutil.which("node")
    if node is None or not (REPO_ROOT / "node_modules" / "@apollo" / "composition").is_dir():
        raise SupergraphError("composing the supergraph needs Node.js 20+ and `npm ci`")
    with tempfile.TemporaryDirectory(prefix="caregraph-sdl-") as tmp:
        args = []
        for name, text in sdl.items():
            path = Path(tmp) / f"{name}.graphql"
            path.write_text(text)
            args += ["--url", f"{name}={urls[name]}", f"{name}={path}"]
        try:
            composed = subprocess.run(
                [node, str(COMPOSE_SCRIPT), "--supergraph", *args],
                capture_output=True,
                text=True,
                timeout=COMPOSE_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise SupergraphError(
                f"composition took longer than {COMPOSE_TIMEOUT_SECONDS} s"
            ) from None
    if composed.returncode != 0:
        raise SupergraphError(f"the subgraphs do not compose:\n{composed.stderr.strip()}")
    return composed.stdout


def write_supergraph() -> Path:
    SUPERGRAPH_FILE.write_text(compose_supergraph(current_sdl(), routing_urls()))
    return SUPERGRAPH_FILE


def check_supergraph() -> list[Path]:
    """``[schema/supergraph.graphql]`` when it is missing or is not what the code composes to."""
    composed = compose_supergraph(current_sdl(), routing_urls())
    if SUPERGRAPH_FILE.exists() and SUPERGRAPH_FILE.read_text() == composed:
        return []
    return [SUPERGRAPH_FILE]
