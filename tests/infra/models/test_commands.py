"""``caregraph models import`` and ``caregraph demo``'s models, as an operator runs them."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from infra.db.tables import model_versions, registry_models
from infra.models.demo import DEMO_VERSION
from tests.inference.models import linear_classifier
from tests.infra.test_cli import app_on, caregraph, migrated

BONE = ["--modality", "BONE_XRAY", "--labels", "Normal,Fracture"]


async def rows(data_dir: Path) -> list[tuple[str, str, str, str]]:
    async with app_on(data_dir) as api:
        async with api.runtime.engine.connect() as conn:
            found = await conn.execute(
                select(
                    registry_models.c.name,
                    model_versions.c.version,
                    model_versions.c.status,
                    model_versions.c.intended_use,
                ).join(registry_models, registry_models.c.id == model_versions.c.model_id)
            )
            return sorted((r.name, r.version, r.status, r.intended_use) for r in found)


def artifacts(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "models").rglob("*.onnx")) if (data_dir / "models").exists() else []


async def test_import_registers_and_activates_a_model_file(tmp_path: Path) -> None:
    # given a fresh database and an ONNX file for a new bone model
    data_dir = migrated(tmp_path / "data")
    model_file = tmp_path / "bone.onnx"
    model_file.write_bytes(linear_classifier(input_shape=("N", 3, 224, 224), classes=2))

    # when the operator imports it, activating it
    result = caregraph(
        data_dir,
        "models",
        "import",
        str(model_file),
        "--model",
        "bone-v1",
        *BONE,
        "--version",
        "1.0.0",
        "--intended-use",
        "Research only",
        "--activate",
    )

    # then the model and its ACTIVE version exist, and the file is stored by its hash
    assert result.returncode == 0, result.stderr
    assert "registered bone-v1 1.0.0" in result.stdout and "ACTIVE" in result.stdout
    assert await rows(data_dir) == [("bone-v1", "1.0.0", "ACTIVE", "Research only")]
    assert len(artifacts(data_dir)) == 1

    # and a second version of the same model needs no modality nor labels
    model_file.write_bytes(linear_classifier(input_shape=("N", 3, 224, 224), classes=2, seed=3))
    again = caregraph(
        data_dir,
        "models",
        "import",
        str(model_file),
        "--model",
        "bone-v1",
        "--version",
        "1.1.0",
        "--intended-use",
        "Research only",
    )
    assert again.returncode == 0, again.stderr
    assert [r[1:3] for r in await rows(data_dir)] == [("1.0.0", "ACTIVE"), ("1.1.0", "TESTING")]


async def test_import_refuses_a_file_that_does_not_fit_and_stores_nothing(tmp_path: Path) -> None:
    data_dir = migrated(tmp_path / "data")
    wrong = tmp_path / "three-classes.onnx"
    wrong.write_bytes(linear_classifier(input_shape=("N", 3, 224, 224), classes=3))
    not_onnx = tmp_path / "notes.onnx"
    not_onnx.write_text("hello")

    results = [
        caregraph(
            data_dir,
            "models",
            "import",
            str(path),
            "--model",
            "bone",
            *BONE,
            "--version",
            "1.0.0",
            "--intended-use",
            "x",
        )
        for path in (wrong, not_onnx)
    ]
    missing = caregraph(
        data_dir,
        "models",
        "import",
        str(tmp_path / "none.onnx"),
        "--model",
        "bone",
        *BONE,
        "--version",
        "1.0.0",
        "--intended-use",
        "x",
    )
    unknown = caregraph(
        data_dir,
        "models",
        "import",
        str(wrong),
        "--model",
        "nobody",
        "--version",
        "1.0.0",
        "--intended-use",
        "x",
    )

    assert [r.returncode for r in (*results, missing, unknown)] == [1, 1, 1, 1]
    assert "output shape" in results[0].stderr
    assert "not an ONNX model" in results[1].stderr
    assert "cannot read" in missing.stderr
    assert "give its modality and labels" in unknown.stderr
    assert all("Traceback" not in r.stderr for r in (*results, missing, unknown))
    assert await rows(data_dir) == []
    assert artifacts(data_dir) == []


async def test_demo_registers_the_three_demo_models_once(tmp_path: Path) -> None:
    data_dir = migrated(tmp_path)

    first = caregraph(data_dir, "demo")
    second = caregraph(data_dir, "demo")

    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.count(f"{DEMO_VERSION}: ACTIVE") == 3
    assert "Demo model" not in second.stdout
    found = await rows(data_dir)
    assert [(name, version, status) for name, version, status, _ in found] == [
        ("bone-xray-demo", DEMO_VERSION, "ACTIVE"),
        ("chest-xray-demo", DEMO_VERSION, "ACTIVE"),
        ("skin-lesion-demo", DEMO_VERSION, "ACTIVE"),
    ]
    assert all("Untrained demo weights, not for clinical use" in use for *_, use in found)
    assert len(artifacts(data_dir)) == 3
