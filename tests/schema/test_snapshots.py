"""The committed SDL snapshots are what the code serves, and the check notices when not."""

from __future__ import annotations

import pytest

from schema import snapshots
from schema.snapshots import SDL_DIR, check_snapshots, current_sdl


def test_every_subgraph_has_an_up_to_date_snapshot() -> None:
    # given the subgraphs the code defines
    subgraphs = current_sdl()

    # when the snapshots are checked
    drift = check_snapshots()

    # then none is missing, stale or left over (fix: caregraph sdl --write, review the diff)
    assert drift == []
    assert subgraphs.keys() == {path.stem for path in SDL_DIR.glob("*.graphql")}


def test_the_check_catches_a_schema_change(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a code change that adds a field to the users subgraph
    served = current_sdl()
    changed = {
        **served,
        "users": served["users"].replace(
            "  email: String!\n", "  email: String!\n  nickname: String\n", 1
        ),
    }
    assert changed["users"] != served["users"]
    monkeypatch.setattr(snapshots, "current_sdl", lambda: changed)

    # when the snapshots are checked
    drift = check_snapshots()

    # then exactly that subgraph's snapshot is reported
    assert drift == [SDL_DIR / "users.graphql"]


def test_the_check_catches_a_missing_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a new subgraph whose snapshot was never written
    served = current_sdl()
    monkeypatch.setattr(
        snapshots, "current_sdl", lambda: {**served, "imaging": "type Query { a: Int }\n"}
    )

    # when the snapshots are checked, then the missing file is reported
    assert check_snapshots() == [SDL_DIR / "imaging.graphql"]


def test_the_check_catches_a_snapshot_of_a_removed_subgraph(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given the messaging subgraph removed from the code but not its snapshot
    remaining = {name: sdl for name, sdl in current_sdl().items() if name != "messaging"}
    monkeypatch.setattr(snapshots, "current_sdl", lambda: remaining)

    # when the snapshots are checked, then the leftover file is reported
    assert check_snapshots() == [SDL_DIR / "messaging.graphql"]
