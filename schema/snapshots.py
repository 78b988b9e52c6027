"""Committed SDL snapshots, one per subgraph, so every API change shows in review."""

from __future__ import annotations

from pathlib import Path

from schema.executable import subgraph_schemas

SDL_DIR = Path(__file__).resolve().parent / "sdl"


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
