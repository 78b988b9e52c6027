"""The registry subgraph through GraphQL: uploads of model files, status, experiments,
inference records, metrics, and who may see and do what."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from bench.me_conversations import recording_statements
from domain.errors import DomainError, ErrorCode
from domain.imaging.classification import ImageBytes
from domain.modality import Modality
from domain.principal import Role
from domain.registry.models import InferenceRecord, Outcome
from inference.demo_models import SKIN
from infra.container import build_runtime
from infra.db.registry import SqlRegistryRepository
from infra.db.tables import inference_records, model_versions
from infra.http.app import create_app
from infra.http.requests import MULTIPART_OVERHEAD
from infra.models.artifacts import LocalArtifactStore
from schema.context import Context
from schema.executable import executable_schema
from tests.conftest import Api, Person, make_person
from tests.inference.models import linear_classifier

SKIN_LABELS = ["Benign nevus", "Melanoma", "Seborrheic keratosis"]

REGISTER_MODEL = """
mutation($input: RegisterModelInput!) {
  registerModel(input: $input) { id name modality labels inputSpec { height width channelOrder } }
}"""

REGISTER_VERSION = """
mutation($model: ID!, $version: String!, $file: Upload!, $use: String!) {
  registerModelVersion(modelId: $model, version: $version, file: $file, intendedUse: $use) {
    id version status sha256 byteSize intendedUse executionProvider model { id name }
  }
}"""

SET_STATUS = """
mutation($id: ID!, $status: ModelStatus!) {
  setModelVersionStatus(id: $id, status: $status) { id status executionProvider }
}"""

MODELS = """
query($modality: Modality) {
  models(modality: $modality) { id name versions { id version status } }
}"""

MODEL_VERSION = "query($id: ID!) { modelVersion(id: $id) { id version status } }"

START_EXPERIMENT = """
mutation($control: ID!, $candidate: ID!, $percent: Int!) {
  startExperiment(controlId: $control, candidateId: $candidate, candidatePercent: $percent) {
    id modality candidatePercent active control { id } candidate { id }
  }
}"""

STOP_EXPERIMENT = "mutation($id: ID!) { stopExperiment(id: $id) { id active stoppedAt } }"

EXPERIMENTS = "query { experiments(activeOnly: true) { id } }"

RECORDS = """
query($version: ID, $first: Int, $after: String) {
  inferenceRecords(modelVersionId: $version, first: $first, after: $after) {
    edges { cursor node {
      id inputSha256 queueMs computeMs confidence outcome createdAt modelVersion { id }
    } }
    pageInfo { hasNextPage endCursor }
  }
}"""

METRICS = """
query($id: ID!, $from: Date!, $to: Date!) {
  modelVersion(id: $id) {
    metrics(from: $from, to: $to) {
      date requests failures p50LatencyMs p95LatencyMs meanConfidence reviewed agreementRate
    }
  }
}"""

DIAGNOSIS_ENTITY = """
query($reps: [_Any!]!) {
  _entities(representations: $reps) { ... on Diagnosis { id modelVersion { id version } } }
}"""


# ---- helpers


async def upload(
    api: Api, token: str, variables: dict[str, Any], content: bytes, filename: str = "model.onnx"
) -> dict[str, Any]:
    """registerModelVersion as a GraphQL multipart request: operations, map, the file part."""
    operations = {"query": REGISTER_VERSION, "variables": {**variables, "file": None}}
    response = await api.client.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.file"]})},
        files={"0": (filename, content, "application/octet-stream")},
        headers={"Authorization": f"Bearer {token}"},
    )
    body: dict[str, Any] = response.json()
    return body


async def new_model(
    api: Api, admin: Person, modality: str = "SKIN", labels: list[str] | None = None
) -> str:
    data = await api.data(
        REGISTER_MODEL,
        {
            "input": {
                "name": f"test-model-{uuid.uuid4().hex[:8]}",
                "modality": modality,
                "labels": labels or SKIN_LABELS,
            }
        },
        token=admin.token,
    )
    model_id: str = data["registerModel"]["id"]
    return model_id


async def new_version(
    api: Api, admin: Person, model_id: str, version: str = "1.0.0", *, seed: int | None = None
) -> dict[str, Any]:
    content = linear_classifier(
        input_shape=("N", 3, 224, 224),
        classes=3,
        seed=seed if seed is not None else uuid.uuid4().int % 10_000,
    )
    body = await upload(
        api,
        admin.token,
        {"model": model_id, "version": version, "use": "Tests only, not for clinical use."},
        content,
    )
    assert "errors" not in body, body
    registered: dict[str, Any] = body["data"]["registerModelVersion"]
    return registered


async def status_of(api: Api, version_id: str) -> str:
    async with api.runtime.engine.connect() as conn:
        status = await conn.scalar(
            select(model_versions.c.status).where(model_versions.c.id == version_id)
        )
    return str(status)


@asynccontextmanager
async def active_restored(api: Api, admin: Person, modality: Modality) -> AsyncIterator[None]:
    """Tests promote versions of a shared database: put the modality's ACTIVE one back."""
    async with api.runtime.engine.connect() as conn:
        before = await conn.scalar(
            select(model_versions.c.id).where(
                model_versions.c.modality == modality.value, model_versions.c.status == "ACTIVE"
            )
        )
    try:
        yield
    finally:
        if before is not None:
            await api.data(SET_STATUS, {"id": before, "status": "ACTIVE"}, token=admin.token)
        else:
            async with api.runtime.engine.begin() as conn:
                await conn.execute(
                    update(model_versions)
                    .where(
                        model_versions.c.modality == modality.value,
                        model_versions.c.status == "ACTIVE",
                    )
                    .values(status="INACTIVE")
                )


def png(color: tuple[int, int, int] = (180, 90, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(buffer, "PNG")
    return buffer.getvalue()


def artifact_files(api: Api) -> set[str]:
    store = LocalArtifactStore(api.runtime.settings.data_dir / "models")
    return {path.name for path in store.files()}


async def version_rows(api: Api, model_id: str) -> int:
    async with api.runtime.engine.connect() as conn:
        count = await conn.scalar(
            select(func.count())
            .select_from(model_versions)
            .where(model_versions.c.model_id == model_id)
        )
    return int(count or 0)


@pytest.fixture
async def admin(api: Api) -> Person:
    return await make_person(api, Role.ADMIN)


# ---- registering versions


async def test_admin_registers_a_version_from_an_onnx_upload(api: Api, admin: Person) -> None:
    # given a model for skin images
    model_id = await new_model(api, admin)
    content = linear_classifier(input_shape=("N", 3, 224, 224), classes=3, seed=4242)

    # when the admin uploads an ONNX file for it
    body = await upload(
        api, admin.token, {"model": model_id, "version": "1.2.0-rc.1", "use": "Research"}, content
    )

    # then it is a TESTING version whose hash is the file's, kept content-addressed on disk
    assert "errors" not in body, body
    version = body["data"]["registerModelVersion"]
    sha256 = hashlib.sha256(content).hexdigest()
    assert version["status"] == "TESTING"
    assert version["sha256"] == sha256
    assert version["byteSize"] == len(content)
    assert version["version"] == "1.2.0-rc.1"
    assert version["model"]["id"] == model_id
    assert version["executionProvider"] is None  # not loaded yet
    stored = api.runtime.settings.data_dir / "models" / sha256[:2] / f"{sha256}.onnx"
    assert stored.read_bytes() == content

    # and the same version number again is a CONFLICT
    again = await upload(
        api, admin.token, {"model": model_id, "version": "1.2.0-rc.1", "use": "Research"}, content
    )
    assert again["errors"][0]["extensions"]["code"] == "CONFLICT"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model.onnx", b"not really")
    return buffer.getvalue()


BAD_FILES = {
    "not ONNX (a zip)": _zip(),
    "empty": b"",
    "wrong input shape": linear_classifier(input_shape=("N", 3, 128, 128), classes=3),
    "wrong channel count": linear_classifier(input_shape=("N", 1, 224, 224), classes=3),
    "wrong number of outputs": linear_classifier(input_shape=("N", 3, 224, 224), classes=2),
    "truncated ONNX": linear_classifier(input_shape=("N", 3, 224, 224), classes=3)[:300],
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
async def test_bad_model_files_are_refused_and_nothing_is_stored(
    api: Api, admin: Person, case: str
) -> None:
    # given a model and the artifact directory as it is
    model_id = await new_model(api, admin)
    files_before = artifact_files(api)

    # when the admin uploads a file that is no fitting model
    body = await upload(
        api, admin.token, {"model": model_id, "version": "1.0.0", "use": "x"}, BAD_FILES[case]
    )

    # then BAD_USER_INPUT, and no row and no file were left behind
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    assert body["errors"][0]["extensions"]["field"] == "file"
    assert await version_rows(api, model_id) == 0
    assert artifact_files(api) == files_before


async def test_version_input_is_checked_before_the_file(api: Api, admin: Person) -> None:
    model_id = await new_model(api, admin)
    good = linear_classifier(input_shape=("N", 3, 224, 224), classes=3)
    variables = {"model": model_id, "version": "v1", "use": "x"}
    bad_version = await upload(api, admin.token, variables, good)
    assert bad_version["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "version"}
    no_use = await upload(api, admin.token, {**variables, "version": "1.0.0", "use": " "}, good)
    assert no_use["errors"][0]["extensions"]["field"] == "intendedUse"
    unknown = await upload(api, admin.token, {**variables, "model": str(uuid.uuid4())}, good)
    assert unknown["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert await version_rows(api, model_id) == 0


# ---- status: one ACTIVE per modality


async def test_promoting_demotes_the_previous_active_and_the_next_diagnosis_uses_it(
    api: Api, admin: Person
) -> None:
    async with active_restored(api, admin, Modality.BONE_XRAY):
        # given two versions of a bone model
        model_id = await new_model(api, admin, "BONE_XRAY", ["Normal", "Fracture"])
        first = await upload_bone(api, admin, model_id, "1.0.0")
        second = await upload_bone(api, admin, model_id, "2.0.0")

        # when the first is promoted, then the second
        promoted = await api.data(
            SET_STATUS, {"id": first["id"], "status": "ACTIVE"}, token=admin.token
        )
        assert promoted["setModelVersionStatus"]["status"] == "ACTIVE"
        # (loaded and warm before it went live: the provider it really got is reported)
        assert promoted["setModelVersionStatus"]["executionProvider"].endswith("ExecutionProvider")
        assert await classified_by(api, Modality.BONE_XRAY) == first["id"]
        await api.data(SET_STATUS, {"id": second["id"], "status": "ACTIVE"}, token=admin.token)

        # then the first is INACTIVE and the next diagnosis runs the second, no restart
        assert await status_of(api, first["id"]) == "INACTIVE"
        assert await status_of(api, second["id"]) == "ACTIVE"
        assert await classified_by(api, Modality.BONE_XRAY) == second["id"]

        # and rolling back is one more promotion
        await api.data(SET_STATUS, {"id": first["id"], "status": "ACTIVE"}, token=admin.token)
        assert await status_of(api, second["id"]) == "INACTIVE"
        assert await classified_by(api, Modality.BONE_XRAY) == first["id"]

        # and a retired version stays retired
        await api.data(SET_STATUS, {"id": second["id"], "status": "RETIRED"}, token=admin.token)
        code = await api.error_code(
            SET_STATUS, {"id": second["id"], "status": "ACTIVE"}, token=admin.token
        )
        assert code == "CONFLICT"


async def test_the_database_refuses_two_active_versions_of_a_modality(
    api: Api, admin: Person
) -> None:
    async with active_restored(api, admin, Modality.BONE_XRAY):
        model_id = await new_model(api, admin, "BONE_XRAY", ["Normal", "Fracture"])
        first = await upload_bone(api, admin, model_id, "1.0.0")
        second = await upload_bone(api, admin, model_id, "1.1.0")
        await api.data(SET_STATUS, {"id": first["id"], "status": "ACTIVE"}, token=admin.token)

        # when something writes a second ACTIVE row behind the service's back
        with pytest.raises(IntegrityError):
            async with api.runtime.engine.begin() as conn:
                await conn.execute(
                    update(model_versions)
                    .where(model_versions.c.id == second["id"])
                    .values(status="ACTIVE")
                )

        # then the database kept one
        assert await status_of(api, second["id"]) == "TESTING"
        async with api.runtime.engine.connect() as conn:
            active = await conn.scalar(
                select(func.count())
                .select_from(model_versions)
                .where(
                    model_versions.c.modality == "BONE_XRAY", model_versions.c.status == "ACTIVE"
                )
            )
        assert active == 1


async def test_an_admin_may_send_a_model_file_larger_than_an_image(api: Api, admin: Person) -> None:
    # given a server whose body and image limits are below the size of a model file (the skin
    # demo model's, ~130 KB)
    settings = replace(api.runtime.settings, max_body_bytes=32 * 1024, max_upload_bytes=16 * 1024)
    runtime = build_runtime(settings)
    content = SKIN.build()
    assert len(content) > settings.max_upload_bytes + MULTIPART_OVERHEAD > settings.max_body_bytes
    try:
        transport = httpx.ASGITransport(app=create_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            server = Api(client, runtime)
            model_id = await new_model(server, admin)
            variables = {"model": model_id, "version": "1.0.0", "use": "Tests only"}

            # when a patient sends that many bytes, they are refused at the door
            patient = await make_person(server)
            refused = await upload(server, patient.token, variables, content)
            assert refused["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"

            # when an admin registers the model file, it is read, checked and stored
            body = await upload(server, admin.token, variables, content)
            assert "errors" not in body, body
            registered = body["data"]["registerModelVersion"]
            assert registered["sha256"] == hashlib.sha256(content).hexdigest()
    finally:
        await runtime.close()


async def upload_bone(api: Api, admin: Person, model_id: str, version: str) -> dict[str, Any]:
    content = linear_classifier(
        input_shape=("N", 3, 224, 224), classes=2, seed=uuid.uuid4().int % 10_000
    )
    body = await upload(
        api, admin.token, {"model": model_id, "version": version, "use": "Tests only"}, content
    )
    assert "errors" not in body, body
    registered: dict[str, Any] = body["data"]["registerModelVersion"]
    return registered


async def classified_by(api: Api, modality: Modality, patient_id: str | None = None) -> str:
    """Run the registry's Classifier (what the imaging worker calls) and say which version ran."""
    result = await api.runtime.services.registry.classify(
        modality=modality,
        patient_id=patient_id or str(uuid.uuid4()),
        diagnosis_id=str(uuid.uuid4()),
        image=ImageBytes.of(png()),
        attempt=1,
    )
    return result.model_version_id


# ---- experiments


async def test_an_experiment_splits_patients_stickily_near_the_percentage(
    api: Api, admin: Person
) -> None:
    async with active_restored(api, admin, Modality.SKIN):
        # given an ACTIVE control and a candidate for skin
        model_id = await new_model(api, admin)
        control = await new_version(api, admin, model_id, "1.0.0")
        candidate = await new_version(api, admin, model_id, "1.1.0")
        await api.data(SET_STATUS, {"id": control["id"], "status": "ACTIVE"}, token=admin.token)

        # when an experiment sends 30% of patients to the candidate
        started = await api.data(
            START_EXPERIMENT,
            {"control": control["id"], "candidate": candidate["id"], "percent": 30},
            token=admin.token,
        )
        experiment = started["startExperiment"]
        try:
            assert experiment["active"] is True and experiment["modality"] == "SKIN"
            assert experiment["candidate"] == {"id": candidate["id"]}
            # a second experiment for the same modality is refused
            code = await api.error_code(
                START_EXPERIMENT,
                {"control": control["id"], "candidate": candidate["id"], "percent": 5},
                token=admin.token,
            )
            assert code == "CONFLICT"
            patients = [f"patient-{n}" for n in range(200)]
            first_pass = {p: await classified_by(api, Modality.SKIN, p) for p in patients}
            second_pass = {p: await classified_by(api, Modality.SKIN, p) for p in patients}
        finally:
            stopped = await api.data(STOP_EXPERIMENT, {"id": experiment["id"]}, token=admin.token)

        # then every patient got the same arm both times, and about 30% got the candidate
        assert first_pass == second_pass
        assert set(first_pass.values()) == {control["id"], candidate["id"]}
        share = sum(v == candidate["id"] for v in first_pass.values()) / len(patients)
        assert 0.18 <= share <= 0.42, share
        # and once stopped, everyone gets the ACTIVE version again
        assert stopped["stopExperiment"]["active"] is False
        assert stopped["stopExperiment"]["stoppedAt"] is not None
        assert {await classified_by(api, Modality.SKIN, p) for p in patients[:20]} == {
            control["id"]
        }
        active = await api.data(EXPERIMENTS, token=admin.token)
        assert experiment["id"] not in {e["id"] for e in active["experiments"]}


async def test_experiment_arms_must_fit(api: Api, admin: Person) -> None:
    skin = await new_version(api, admin, await new_model(api, admin), "1.0.0")
    bone_model = await new_model(api, admin, "BONE_XRAY", ["Normal", "Fracture"])
    bone = await upload_bone(api, admin, bone_model, "1.0.0")
    for percent in (0, 100, -5):
        code = await api.error_code(
            START_EXPERIMENT,
            {"control": skin["id"], "candidate": bone["id"], "percent": percent},
            token=admin.token,
        )
        assert code == "BAD_USER_INPUT"
    mixed = await api.post(
        START_EXPERIMENT,
        {"control": skin["id"], "candidate": bone["id"], "percent": 10},
        token=admin.token,
    )
    assert mixed["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "candidateId"}


# ---- inference records and metrics


async def test_every_inference_writes_a_record_without_pixels(api: Api, admin: Person) -> None:
    async with active_restored(api, admin, Modality.SKIN):
        # given an ACTIVE skin version
        version = await new_version(api, admin, await new_model(api, admin), "1.0.0")
        await api.data(SET_STATUS, {"id": version["id"], "status": "ACTIVE"}, token=admin.token)
        analyst = await make_person(api, Role.ANALYST)

        # when one image is classified and one unreadable file fails
        image = png((10, 200, 30))
        diagnosis_id = str(uuid.uuid4())
        result = await api.runtime.services.registry.classify(
            modality=Modality.SKIN,
            patient_id="patient-x",
            diagnosis_id=diagnosis_id,
            image=ImageBytes.of(image),
            attempt=1,
        )
        with pytest.raises(DomainError) as refused:
            await api.runtime.services.registry.classify(
                modality=Modality.SKIN,
                patient_id="patient-x",
                diagnosis_id=str(uuid.uuid4()),
                image=ImageBytes(b"\x89PNG\r\n\x1a\n truncated", "0" * 64),
                attempt=1,
            )
        assert refused.value.code is ErrorCode.BAD_USER_INPUT

        # then the analyst reads two records, newest first: the failure, then the success
        data = await api.data(RECORDS, {"version": version["id"]}, token=analyst.token)
        nodes = [e["node"] for e in data["inferenceRecords"]["edges"]]
        assert [n["outcome"] for n in nodes] == ["FAILED", "COMPLETED"]
        completed = nodes[1]
        assert completed["inputSha256"] == hashlib.sha256(image).hexdigest()
        assert completed["confidence"] == pytest.approx(result.confidence)
        assert completed["queueMs"] >= 0 and completed["computeMs"] > 0
        assert completed["modelVersion"] == {"id": version["id"]}
        assert nodes[0]["confidence"] is None

        # and the stored row holds the input's hash, not its pixels nor the patient
        async with api.runtime.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(inference_records).where(
                        inference_records.c.diagnosis_id == diagnosis_id
                    )
                )
            ).one()
        assert "patient" not in " ".join(inference_records.c.keys())
        assert len(row.input_sha256) == 64 and row.model_version_id == version["id"]

        # and the diagnosis names the version that produced it (the registry's Diagnosis part)
        entity = await registry_subgraph_entities(api, analyst, diagnosis_id)
        assert entity == {
            "id": diagnosis_id,
            "modelVersion": {"id": version["id"], "version": "1.0.0"},
        }


async def test_a_reclaimed_job_gets_the_same_answer_and_no_second_record(
    api: Api, admin: Person
) -> None:
    async with active_restored(api, admin, Modality.SKIN):
        # given a diagnosis whose run was recorded, by a process that died before saving it
        first = await new_version(api, admin, await new_model(api, admin), "1.0.0")
        await api.data(SET_STATUS, {"id": first["id"], "status": "ACTIVE"}, token=admin.token)
        image = png((200, 10, 30))
        diagnosis_id = str(uuid.uuid4())
        job = {
            "modality": Modality.SKIN,
            "patient_id": "patient-y",
            "diagnosis_id": diagnosis_id,
            "image": ImageBytes.of(image),
        }
        before = await api.runtime.services.registry.classify(**job, attempt=1)
        # and meanwhile another version became ACTIVE
        second = await new_version(api, admin, await new_model(api, admin), "2.0.0")
        await api.data(SET_STATUS, {"id": second["id"], "status": "ACTIVE"}, token=admin.token)

        # when the reclaimed job runs again (its second claim)
        again = await api.runtime.services.registry.classify(**job, attempt=2)

        # then it answers with the recorded version, the same finding, and one record stays
        assert again == before and again.model_version_id == first["id"]
        async with api.runtime.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(inference_records.c.id).where(
                        inference_records.c.diagnosis_id == diagnosis_id
                    )
                )
            ).all()
        assert len(rows) == 1


async def test_a_first_attempt_costs_one_routing_read_and_one_record(
    api: Api, admin: Person
) -> None:
    async with active_restored(api, admin, Modality.SKIN):
        # given an ACTIVE skin version, loaded by a first classification
        version = await new_version(api, admin, await new_model(api, admin), "1.0.0")
        await api.data(SET_STATUS, {"id": version["id"], "status": "ACTIVE"}, token=admin.token)
        assert await classified_by(api, Modality.SKIN) == version["id"]

        # when a job is classified on its first attempt
        with recording_statements(api.runtime.engine) as statements:
            assert await classified_by(api, Modality.SKIN) == version["id"]

        # then the registry read which version serves, once, and wrote the one record: no
        # look for an earlier run (a first attempt has none)
        assert len(statements) == 2, statements
        routing, record = (" ".join(s.split()).upper() for s in statements)
        assert routing.startswith("SELECT") and "EXPERIMENTS" in routing
        assert record.startswith("INSERT INTO INFERENCE_RECORDS")


async def registry_subgraph_entities(api: Api, who: Person, diagnosis_id: str) -> Any:
    """What a gateway asks the registry subgraph about an imaging Diagnosis."""
    principal = await api.runtime.services.users.authenticate(who.token, request_id="t")
    schema = executable_schema(subgraph="registry")
    result = await schema.execute(
        DIAGNOSIS_ENTITY,
        variable_values={"reps": [{"__typename": "Diagnosis", "id": diagnosis_id}]},
        context_value=Context(services=api.runtime.services, request_id="t", principal=principal),
    )
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data["_entities"][0]


async def test_inference_records_page_newest_first(api: Api, admin: Person) -> None:
    version = await new_version(api, admin, await new_model(api, admin), "1.0.0")
    repo = SqlRegistryRepository(api.runtime.engine)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(5):
        await repo.add_record(record(version["id"], start + timedelta(minutes=n), 1.0, 1.0))
    seen: list[str] = []
    after = None
    while True:
        page = (
            await api.data(
                RECORDS, {"version": version["id"], "first": 2, "after": after}, token=admin.token
            )
        )["inferenceRecords"]
        seen += [e["node"]["createdAt"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)
    code = await api.error_code(RECORDS, {"after": "garbage"}, token=admin.token)
    assert code == "BAD_USER_INPUT"


def record(
    version_id: str,
    at: datetime,
    queue_ms: float,
    compute_ms: float,
    *,
    confidence: float | None = 0.5,
    outcome: Outcome = Outcome.COMPLETED,
    diagnosis_id: str | None = None,
) -> InferenceRecord:
    return InferenceRecord(
        id=str(uuid.uuid4()),
        model_version_id=version_id,
        diagnosis_id=diagnosis_id or str(uuid.uuid4()),
        input_sha256="a" * 64,
        queue_ms=queue_ms,
        compute_ms=compute_ms,
        confidence=confidence if outcome is Outcome.COMPLETED else None,
        outcome=outcome,
        created_at=at,
    )


async def test_metrics_are_computed_from_the_records(api: Api, admin: Person) -> None:
    # given a version with known runs on two days
    version = await new_version(api, admin, await new_model(api, admin), "1.0.0")
    repo = SqlRegistryRepository(api.runtime.engine)
    day_one = datetime(2026, 3, 10, tzinfo=UTC)
    # day one: 20 completed runs of latency 1..20 ms (queue n-0.5, compute 0.5), confidence
    # 0.1..1.0 twice over; 2 failures; 4 reviewed, 3 of them agreed with
    diagnoses = []
    for n in range(1, 21):
        diagnosis_id = str(uuid.uuid4())
        diagnoses.append(diagnosis_id)
        await repo.add_record(
            record(
                version["id"],
                day_one + timedelta(minutes=n),
                n - 0.5,
                0.5,
                confidence=(n % 10 or 10) / 10,
                diagnosis_id=diagnosis_id,
            )
        )
    for n in range(2):
        await repo.add_record(
            record(
                version["id"], day_one + timedelta(hours=5, minutes=n), 0, 0, outcome=Outcome.FAILED
            )
        )
    for diagnosis_id, agreed in zip(diagnoses[:4], (True, True, False, True), strict=True):
        await api.runtime.services.registry.record_review(diagnosis_id=diagnosis_id, agreed=agreed)
    # day two (late at night, UTC): one run of 7 ms; and a run outside the range
    await repo.add_record(
        record(version["id"], datetime(2026, 3, 11, 23, 59, tzinfo=UTC), 3.0, 4.0, confidence=0.9)
    )
    await repo.add_record(record(version["id"], datetime(2026, 3, 12, tzinfo=UTC), 100.0, 0.0))
    analyst = await make_person(api, Role.ANALYST)

    # when an analyst asks for the 9th to the 11th
    data = await api.data(
        METRICS,
        {"id": version["id"], "from": "2026-03-09", "to": "2026-03-11"},
        token=analyst.token,
    )

    # then one row per day with runs, with the figures of those runs
    rows = data["modelVersion"]["metrics"]
    assert [r["date"] for r in rows] == ["2026-03-10", "2026-03-11"]
    one, two = rows
    assert one["requests"] == 22 and one["failures"] == 2
    assert one["p50LatencyMs"] == pytest.approx(10.5)  # linear between ranks: (10 + 11) / 2
    assert one["p95LatencyMs"] == pytest.approx(19.05)  # 19 + 0.05 * (20 - 19)
    assert one["meanConfidence"] == pytest.approx(0.55)
    assert one["reviewed"] == 4 and one["agreementRate"] == pytest.approx(0.75)
    assert two == {
        "date": "2026-03-11",
        "requests": 1,
        "failures": 0,
        "p50LatencyMs": 7.0,
        "p95LatencyMs": 7.0,
        "meanConfidence": 0.9,
        "reviewed": 0,
        "agreementRate": None,
    }
    # and a range the wrong way round is refused
    backwards = await api.post(
        METRICS,
        {"id": version["id"], "from": "2026-03-11", "to": "2026-03-09"},
        token=analyst.token,
    )
    assert backwards["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


# ---- access


async def test_analyst_reads_the_registry_but_patients_and_doctors_cannot(
    api: Api, admin: Person
) -> None:
    # given a model with a version, an analyst, a patient and a doctor
    version = await new_version(api, admin, await new_model(api, admin), "1.0.0")
    analyst = await make_person(api, Role.ANALYST)
    patient = await make_person(api)
    doctor = await make_person(api, Role.DOCTOR)
    today = date.today().isoformat()
    reads = [
        (MODELS, {}),
        (MODEL_VERSION, {"id": version["id"]}),
        (EXPERIMENTS, {}),
        (RECORDS, {}),
        (METRICS, {"id": version["id"], "from": today, "to": today}),
    ]

    # then the analyst (and the admin) read it all
    for query, variables in reads:
        for reader in (analyst, admin):
            await api.data(query, variables, token=reader.token)
    listed = await api.data(MODELS, {"modality": "SKIN"}, token=analyst.token)
    assert version["id"] in {v["id"] for m in listed["models"] for v in m["versions"]}

    # and patients and doctors are FORBIDDEN, anonymous callers UNAUTHENTICATED
    for query, variables in reads:
        for outsider in (patient, doctor):
            assert await api.error_code(query, variables, token=outsider.token) == "FORBIDDEN"
        assert await api.error_code(query, variables) == "UNAUTHENTICATED"


async def test_only_admins_change_the_registry(api: Api, admin: Person) -> None:
    model_id = await new_model(api, admin)
    version = await new_version(api, admin, model_id, "1.0.0")
    other = await new_version(api, admin, model_id, "1.0.1")
    good = linear_classifier(input_shape=("N", 3, 224, 224), classes=3, seed=77)
    files_before = artifact_files(api)
    for role in (Role.PATIENT, Role.DOCTOR, Role.ANALYST):
        who = await make_person(api, role)
        body = await upload(
            api, who.token, {"model": model_id, "version": "9.0.0", "use": "x"}, good
        )
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        attempts = [
            (REGISTER_MODEL, {"input": {"name": "x", "modality": "SKIN", "labels": ["a", "b"]}}),
            (SET_STATUS, {"id": version["id"], "status": "ACTIVE"}),
            (START_EXPERIMENT, {"control": version["id"], "candidate": other["id"], "percent": 5}),
            (STOP_EXPERIMENT, {"id": str(uuid.uuid4())}),
        ]
        for mutation, variables in attempts:
            assert await api.error_code(mutation, variables, token=who.token) == "FORBIDDEN"
    assert await status_of(api, version["id"]) == "TESTING"
    assert await version_rows(api, model_id) == 2
    assert artifact_files(api) == files_before


async def test_model_names_and_labels_are_checked(api: Api, admin: Person) -> None:
    name = f"dup-{uuid.uuid4().hex[:6]}"
    variables = {"input": {"name": name, "modality": "SKIN", "labels": ["a", "b"]}}
    created = await api.data(REGISTER_MODEL, variables, token=admin.token)
    assert created["registerModel"]["inputSpec"] == {
        "height": 224,
        "width": 224,
        "channelOrder": "RGB",
    }
    assert await api.error_code(REGISTER_MODEL, variables, token=admin.token) == "CONFLICT"
    for labels in (["only one"], ["a", "a"], ["a", " "]):
        bad = {"input": {"name": f"m-{uuid.uuid4().hex[:6]}", "modality": "SKIN", "labels": labels}}
        assert await api.error_code(REGISTER_MODEL, bad, token=admin.token) == "BAD_USER_INPUT"
