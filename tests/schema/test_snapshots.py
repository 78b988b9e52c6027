"""The committed SDL snapshots and the supergraph composed from them are what the code
serves, and the checks notice when not."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from schema import snapshots
from schema.snapshots import (
    SDL_DIR,
    SUPERGRAPH_CONFIG,
    SUPERGRAPH_FILE,
    SupergraphError,
    check_snapshots,
    check_supergraph,
    current_sdl,
    routing_urls,
)


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


# ---- the supergraph (supergraph.yaml → schema/supergraph.graphql, by @apollo/composition)


def test_the_committed_supergraph_is_what_the_code_composes_to() -> None:
    # given the subgraphs the code defines and the routing URLs of supergraph.yaml
    # when the supergraph is checked, then it is up to date
    assert check_supergraph() == []
    # and it routes each subgraph where supergraph.yaml says
    supergraph = SUPERGRAPH_FILE.read_text()
    for name, url in routing_urls().items():
        assert f'@join__graph(name: "{name}", url: "{url}")' in supergraph


def test_the_supergraph_check_catches_a_schema_change(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a code change that adds a field to the users subgraph
    served = current_sdl()
    changed = {
        **served,
        "users": served["users"].replace(
            "  email: String!\n", "  email: String!\n  nickname: String\n", 1
        ),
    }
    monkeypatch.setattr(snapshots, "current_sdl", lambda: changed)

    # when the supergraph is checked, then it is reported out of date
    assert check_supergraph() == [SUPERGRAPH_FILE]


def test_the_supergraph_check_catches_subgraphs_that_do_not_compose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a code change that makes two subgraphs disagree on a shared enum
    served = current_sdl()
    assert "enum Modality" in served["imaging"]
    broken = {
        **served,
        "imaging": served["imaging"].replace("enum Modality {\n", "enum Modality {\n  MRI\n", 1),
    }
    monkeypatch.setattr(snapshots, "current_sdl", lambda: broken)

    # when the supergraph is checked, then composition's error is the answer
    with pytest.raises(SupergraphError, match="do not compose"):
        check_supergraph()


def test_supergraph_yaml_must_name_every_subgraph(tmp_path: Path) -> None:
    # given a config that forgot the imaging subgraph
    config = yaml.safe_load(SUPERGRAPH_CONFIG.read_text())
    del config["subgraphs"]["imaging"]
    forgetful = SUPERGRAPH_CONFIG.parent / f".supergraph-{tmp_path.name}.yaml"
    forgetful.write_text(yaml.safe_dump(config))
    try:
        # when its routing URLs are read, then the missing subgraph is named
        with pytest.raises(SupergraphError, match="imaging"):
            routing_urls(forgetful)
    finally:
        forgetful.unlink()
