"""The imaging subgraph through GraphQL: upload (multipart), the durable diagnosis run by the
real registry and inference engine with the demo models, review, access, and bad input."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from domain.imaging.diagnosis_runner import StoredImage
from domain.modality import Modality
from domain.principal import Role
from infra.container import Runtime
from infra.db.tables import diagnoses, diagnosis_reviews, imaging_studies
from infra.models.demo import register_demo_models
from tests.conftest import Api, Person, make_person
from tests.schema.imaging_support import (
    jpeg,
    png,
    png_header_only,
    post_upload,
    stored_files,
    wait_for_final,
    zip_file,
)

STUDY = """
query($id: ID!) {
  study(id: $id) {
    id modality contentType sha256 width height uploadedAt imageUrl
    patient { id displayName } assignedDoctor { id displayName }
    diagnosis {
      id status label confidence error createdAt completedAt
      probabilities { label probability }
      review { verdict correctedLabel note reviewer { id } }
      study { id }
    }
  }
}"""

ASSIGN = """
mutation($study: ID!, $doctor: ID!) {
  assignStudy(studyId: $study, doctorId: $doctor) { id assignedDoctor { id } }
}"""

REVIEW = """
mutation($id: ID!, $verdict: ReviewVerdict!, $label: String, $note: String) {
  reviewDiagnosis(diagnosisId: $id, verdict: $verdict, correctedLabel: $label, note: $note) {
    id review { verdict correctedLabel note reviewer { id } }
  }
}"""

QUEUE = """
query($first: Int, $after: String) {
  reviewQueue(first: $first, after: $after) {
    edges { cursor node { id diagnosis { status } } }
    pageInfo { hasNextPage endCursor }
  }
}"""

MY_STUDIES = """
query($first: Int, $after: String) {
  me { studies(first: $first, after: $after) {
    edges { node { id } } pageInfo { hasNextPage endCursor }
  } }
}"""

USER_STUDIES = """
query($id: ID!) { user(id: $id) { studies { edges { node { id } } } } }"""


@pytest.fixture(scope="module", autouse=True)
async def diagnosing(runtime: Runtime) -> AsyncIterator[None]:
    """The demo models registered, and the runtime's diagnosis worker running (the ``runtime``
    fixture starts the broker only, as a lifespan-less in-process app does)."""
    await register_demo_models(runtime.services.registry)
    worker = runtime.diagnosis_worker
    assert worker is not None
    started_here = not worker.running
    await worker.start()
    try:
        yield
    finally:
        if started_here:
            await worker.stop()


def image_root(api: Api) -> Path:
    return api.runtime.settings.data_dir / "images"


async def upload(api: Api, who: Person, data: bytes, **kwargs: Any) -> dict[str, Any]:
    response = await post_upload(api.client, who.token, data, **kwargs)
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    study: dict[str, Any] = body["data"]["uploadStudy"]
    return study


async def upload_error(api: Api, who: Person, data: bytes, **kwargs: Any) -> tuple[int, str]:
    response = await post_upload(api.client, who.token, data, **kwargs)
    body = response.json()
    assert body.get("errors"), body
    return response.status_code, body["errors"][0]["extensions"]["code"]


async def completed(api: Api, who: Person, **kwargs: Any) -> dict[str, Any]:
    """A study uploaded by ``who`` whose diagnosis has COMPLETED."""
    study = await upload(api, who, png(), **kwargs)
    final = await wait_for_final(api.client, who.token, study["id"])
    assert final["status"] == "COMPLETED", final
    return study


async def rows_for(api: Api, patient_id: str) -> tuple[int, int]:
    async with api.runtime.engine.connect() as conn:
        studies = (
            await conn.execute(
                select(func.count())
                .select_from(imaging_studies)
                .where(imaging_studies.c.patient_id == patient_id)
            )
        ).scalar_one()
        queued = (
            await conn.execute(
                select(func.count())
                .select_from(diagnoses.join(imaging_studies))
                .where(imaging_studies.c.patient_id == patient_id)
            )
        ).scalar_one()
    return int(studies), int(queued)


# ---- upload and diagnosis


async def test_upload_queues_a_diagnosis_that_completes_with_every_class(api: Api) -> None:
    # given a patient and a PNG
    patient = await make_person(api)
    image = png(80, 60)

    # when they upload it as a skin photo
    study = await upload(api, patient, image, modality="SKIN")

    # then the study is stored with the facts of the image, and its diagnosis is queued
    assert study["modality"] == "SKIN"
    assert study["contentType"] == "image/png"
    assert study["sha256"] == hashlib.sha256(image).hexdigest()
    assert (study["width"], study["height"]) == (80, 60)
    assert study["patient"] == {"id": patient.id}
    assert study["assignedDoctor"] is None
    assert study["diagnosis"]["status"] in ("QUEUED", "RUNNING", "COMPLETED")
    # and the bytes lie in the store under their SHA-256
    sha = study["sha256"]
    assert (image_root(api) / sha[:2] / sha[2:4] / sha).read_bytes() == image

    # when the worker has run it
    await wait_for_final(api.client, patient.token, study["id"])
    found = (await api.data(STUDY, {"id": study["id"]}, token=patient.token))["study"]

    # then label, confidence and every class probability are stored, most probable first
    diagnosis = found["diagnosis"]
    assert diagnosis["status"] == "COMPLETED"
    assert diagnosis["error"] is None and diagnosis["completedAt"]
    probabilities = diagnosis["probabilities"]
    assert len(probabilities) >= 2
    assert diagnosis["label"] == probabilities[0]["label"]
    assert diagnosis["confidence"] == pytest.approx(probabilities[0]["probability"])
    assert sum(p["probability"] for p in probabilities) == pytest.approx(1.0, abs=1e-4)
    assert [p["probability"] for p in probabilities] == sorted(
        (p["probability"] for p in probabilities), reverse=True
    )
    assert diagnosis["study"] == {"id": study["id"]}


async def test_the_worker_classifies_the_uploads_own_decode(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the diagnosis worker in this process, and an image store that notes every read
    store = api.runtime.images
    read = store.read
    reads: list[str] = []

    async def noting(key: str) -> bytes:
        reads.append(key)
        return await read(key)

    monkeypatch.setattr(store, "read", noting)
    patient = await make_person(api)
    image = png(90, 70, (10, 160, 90))

    # when a patient uploads it and the worker runs it
    study = await upload(api, patient, image, modality="SKIN")
    final = await wait_for_final(api.client, patient.token, study["id"])
    assert final["status"] == "COMPLETED"

    # then the stored bytes were never read back: the worker took the upload's decode
    assert study["sha256"] not in reads
    # and the finding is the one a fresh decode of the stored bytes gives
    found = (await api.data(STUDY, {"id": study["id"]}, token=patient.token))["study"]
    fresh = await api.runtime.services.registry.classify(
        modality=Modality.SKIN,
        patient_id=patient.id,
        diagnosis_id=str(uuid.uuid4()),
        image=StoredImage(study["sha256"], store),
        attempt=1,
    )
    assert study["sha256"] in reads
    assert [(p["label"], p["probability"]) for p in found["diagnosis"]["probabilities"]] == [
        (p.label, pytest.approx(p.probability)) for p in fresh.probabilities
    ]


async def test_every_modality_is_read_by_its_own_model(api: Api) -> None:
    patient = await make_person(api)
    labels = {}
    for modality in ("SKIN", "CHEST_XRAY", "BONE_XRAY"):
        study = await upload(
            api, patient, jpeg(), modality=modality, filename="x.jpg", content_type="image/jpeg"
        )
        final = await wait_for_final(api.client, patient.token, study["id"])
        assert final["status"] == "COMPLETED"
        found = (await api.data(STUDY, {"id": study["id"]}, token=patient.token))["study"]
        labels[modality] = {p["label"] for p in found["diagnosis"]["probabilities"]}
    assert labels["CHEST_XRAY"] != labels["BONE_XRAY"]


async def test_exif_orientation_is_applied_to_the_stored_size(api: Api) -> None:
    # given a 64x48 JPEG whose EXIF says "rotate 90°" (orientation 6)
    patient = await make_person(api)
    study = await upload(
        api, patient, jpeg(64, 48, orientation=6), filename="r.jpg", content_type="image/jpeg"
    )
    # then the study has the upright size
    assert (study["width"], study["height"]) == (48, 64)


# ---- bad input: each gets its code, and nothing half-written stays behind


@pytest.mark.parametrize(
    ("data", "filename", "declared", "status", "code"),
    [
        pytest.param(
            jpeg(400, 300)[:600],
            "cut.jpg",
            "image/jpeg",
            200,
            "BAD_USER_INPUT",
            id="truncated-jpeg",
        ),
        pytest.param(
            png(400, 300)[:-40], "cut.png", "image/png", 200, "BAD_USER_INPUT", id="truncated-png"
        ),
        pytest.param(
            zip_file(),
            "scan.png",
            "image/png",
            200,
            "UNSUPPORTED_MEDIA_TYPE",
            id="zip-declared-png",
        ),
        pytest.param(b"", "empty.png", "image/png", 200, "BAD_USER_INPUT", id="zero-bytes"),
        pytest.param(
            png_header_only(30_000, 30_000),
            "huge.png",
            "image/png",
            200,
            "BAD_USER_INPUT",
            id="30000x30000",
        ),
        pytest.param(
            b"GIF89a" + b"\0" * 64, "a.gif", "image/gif", 200, "UNSUPPORTED_MEDIA_TYPE", id="gif"
        ),
    ],
)
async def test_bad_files_are_refused_and_leave_nothing_behind(
    api: Api, data: bytes, filename: str, declared: str, status: int, code: str
) -> None:
    # given a patient, and what the store holds now
    patient = await make_person(api)
    before = stored_files(image_root(api))

    # when they upload a file that is not an acceptable image
    got = await upload_error(api, patient, data, filename=filename, content_type=declared)

    # then it is refused with its code
    assert got == (status, code)
    # and no study, no diagnosis, no stored file (not even a draft) remains
    assert await rows_for(api, patient.id) == (0, 0)
    assert stored_files(image_root(api)) == before


async def test_a_png_named_jpg_is_accepted_and_stored_as_png(api: Api) -> None:
    patient = await make_person(api)
    study = await upload(api, patient, png(), filename="photo.jpg", content_type="image/jpeg")
    assert study["contentType"] == "image/png"


async def test_a_file_just_over_the_limit_is_payload_too_large(api: Api) -> None:
    # given a file one byte over the upload limit (within the multipart allowance on the body)
    patient = await make_person(api)
    limit = api.runtime.services.imaging.max_upload_bytes
    before = stored_files(image_root(api))
    data = png() + b"\0" * (limit + 1 - len(png()))

    got = await upload_error(api, patient, data)

    assert got == (200, "PAYLOAD_TOO_LARGE")
    assert await rows_for(api, patient.id) == (0, 0)
    assert stored_files(image_root(api)) == before


async def test_a_25_mb_upload_is_refused_by_the_body_limit(api: Api) -> None:
    # given a 25 MB body, over the upload limit and its multipart allowance
    patient = await make_person(api)
    data = png() + b"\0" * (25 * 1024 * 1024)

    response = await post_upload(api.client, patient.token, data)

    # then the HTTP layer refuses it before the GraphQL layer sees it
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert await rows_for(api, patient.id) == (0, 0)


async def test_only_a_signed_in_patient_uploads(api: Api) -> None:
    doctor = await make_person(api, Role.DOCTOR)
    assert (await upload_error(api, doctor, png()))[1] == "FORBIDDEN"
    response = await post_upload(api.client, None, png())
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# ---- access


async def test_another_patients_study_reads_as_not_found(api: Api) -> None:
    # given a study of one patient
    owner = await make_person(api)
    other = await make_person(api)
    doctor = await make_person(api, Role.DOCTOR)
    analyst = await make_person(api, Role.ANALYST)
    admin = await make_person(api, Role.ADMIN)
    study = await upload(api, owner, png())

    # then another patient, an unrelated doctor, an analyst and an admin do not find it
    for who in (other, doctor, analyst, admin):
        assert await api.error_code(STUDY, {"id": study["id"]}, token=who.token) == "NOT_FOUND"
    # and another patient can neither assign it nor list it
    code = await api.error_code(
        ASSIGN, {"study": study["id"], "doctor": doctor.id}, token=other.token
    )
    assert code == "NOT_FOUND"
    assert await api.error_code(USER_STUDIES, {"id": owner.id}, token=doctor.token) == "NOT_FOUND"


async def test_assignment_opens_the_study_to_that_doctor_and_lists_it_for_review(
    api: Api,
) -> None:
    # given a completed study and a doctor
    patient = await make_person(api)
    doctor = await make_person(api, Role.DOCTOR, specialty="Dermatology")
    study = await completed(api, patient)
    assert await api.error_code(STUDY, {"id": study["id"]}, token=doctor.token) == "NOT_FOUND"

    # when the patient assigns it to the doctor
    assigned = await api.data(
        ASSIGN, {"study": study["id"], "doctor": doctor.id}, token=patient.token
    )
    assert assigned["assignStudy"]["assignedDoctor"] == {"id": doctor.id}

    # then the doctor sees it, the patient's user record, and finds it in the review queue
    found = (await api.data(STUDY, {"id": study["id"]}, token=doctor.token))["study"]
    assert found["patient"]["id"] == patient.id and found["patient"]["displayName"]
    queue = (await api.data(QUEUE, token=doctor.token))["reviewQueue"]
    assert [e["node"]["id"] for e in queue["edges"]] == [study["id"]]


async def test_only_doctors_are_assigned_and_only_owner_or_admin_assigns(api: Api) -> None:
    patient = await make_person(api)
    other = await make_person(api)
    admin = await make_person(api, Role.ADMIN)
    doctor = await make_person(api, Role.DOCTOR)
    study = await upload(api, patient, png())

    code = await api.error_code(
        ASSIGN, {"study": study["id"], "doctor": other.id}, token=patient.token
    )
    assert code == "BAD_USER_INPUT"
    code = await api.error_code(
        ASSIGN, {"study": study["id"], "doctor": doctor.id}, token=doctor.token
    )
    assert code == "NOT_FOUND"
    by_admin = await api.data(
        ASSIGN, {"study": study["id"], "doctor": doctor.id}, token=admin.token
    )
    assert by_admin["assignStudy"]["assignedDoctor"] == {"id": doctor.id}


# ---- review


async def test_the_assigned_doctor_reviews_and_the_patient_sees_the_review(api: Api) -> None:
    # given a completed study assigned to a doctor
    patient = await make_person(api)
    doctor = await make_person(api, Role.DOCTOR)
    study = await completed(api, patient)
    await api.data(ASSIGN, {"study": study["id"], "doctor": doctor.id}, token=patient.token)
    diagnosis = (await api.data(STUDY, {"id": study["id"]}, token=doctor.token))["study"][
        "diagnosis"
    ]
    other_label = diagnosis["probabilities"][1]["label"]

    # when the doctor disagrees, naming another of the model's labels
    reviewed = await api.data(
        REVIEW,
        {
            "id": diagnosis["id"],
            "verdict": "DISAGREE",
            "label": other_label,
            "note": "Looks benign",
        },
        token=doctor.token,
    )

    # then the review is stored, the patient sees it, and the queue is empty
    expected = {
        "verdict": "DISAGREE",
        "correctedLabel": other_label,
        "note": "Looks benign",
        "reviewer": {"id": doctor.id},
    }
    assert reviewed["reviewDiagnosis"]["review"] == expected
    seen = (await api.data(STUDY, {"id": study["id"]}, token=patient.token))["study"]
    assert seen["diagnosis"]["review"] == expected
    assert (await api.data(QUEUE, token=doctor.token))["reviewQueue"]["edges"] == []
    async with api.runtime.engine.connect() as conn:
        row = (
            await conn.execute(
                select(diagnosis_reviews).where(diagnosis_reviews.c.diagnosis_id == diagnosis["id"])
            )
        ).one()
    assert (row.verdict, row.corrected_label, row.reviewer_id) == (
        "DISAGREE",
        other_label,
        doctor.id,
    )

    # and a second review is a conflict
    again = await api.error_code(
        REVIEW, {"id": diagnosis["id"], "verdict": "AGREE"}, token=doctor.token
    )
    assert again == "CONFLICT"


async def test_nobody_but_the_assigned_doctor_reviews(api: Api) -> None:
    patient = await make_person(api)
    doctor = await make_person(api, Role.DOCTOR)
    other_doctor = await make_person(api, Role.DOCTOR)
    study = await completed(api, patient)
    diagnosis_id = (await api.data(STUDY, {"id": study["id"]}, token=patient.token))["study"][
        "diagnosis"
    ]["id"]
    await api.data(ASSIGN, {"study": study["id"], "doctor": doctor.id}, token=patient.token)

    for who in (patient, other_doctor):
        code = await api.error_code(
            REVIEW, {"id": diagnosis_id, "verdict": "AGREE"}, token=who.token
        )
        assert code in ("FORBIDDEN", "NOT_FOUND")
    assert await rows_reviewed(api, diagnosis_id) == 0


async def test_disagree_needs_one_of_the_models_labels(api: Api) -> None:
    patient = await make_person(api)
    doctor = await make_person(api, Role.DOCTOR)
    study = await completed(api, patient)
    await api.data(ASSIGN, {"study": study["id"], "doctor": doctor.id}, token=patient.token)
    diagnosis_id = (await api.data(STUDY, {"id": study["id"]}, token=doctor.token))["study"][
        "diagnosis"
    ]["id"]

    for label in (None, "Not a label of this model"):
        code = await api.error_code(
            REVIEW, {"id": diagnosis_id, "verdict": "DISAGREE", "label": label}, token=doctor.token
        )
        assert code == "BAD_USER_INPUT"
    assert await rows_reviewed(api, diagnosis_id) == 0

    # and agreeing works, and the review is hidden from a doctor in care who did not write it
    agreed = await api.data(REVIEW, {"id": diagnosis_id, "verdict": "AGREE"}, token=doctor.token)
    assert agreed["reviewDiagnosis"]["review"]["verdict"] == "AGREE"


async def rows_reviewed(api: Api, diagnosis_id: str) -> int:
    async with api.runtime.engine.connect() as conn:
        count = (
            await conn.execute(
                select(func.count())
                .select_from(diagnosis_reviews)
                .where(diagnosis_reviews.c.diagnosis_id == diagnosis_id)
            )
        ).scalar_one()
    return int(count)


# ---- lists


async def test_my_studies_page_newest_first(api: Api) -> None:
    patient = await make_person(api)
    ids = [(await upload(api, patient, png(10 + n, 10)))["id"] for n in range(5)]
    seen: list[str] = []
    after = None
    while True:
        page = (await api.data(MY_STUDIES, {"first": 2, "after": after}, token=patient.token))[
            "me"
        ]["studies"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == list(reversed(ids))
    for study_id in ids:
        await wait_for_final(api.client, patient.token, study_id)


# ---- signed image URLs


async def test_image_url_serves_the_viewer_it_was_signed_for_only(api: Api) -> None:
    # given a study and its image URL, signed for the patient
    patient = await make_person(api)
    other = await make_person(api)
    image = png(33, 21)
    study = await upload(api, patient, image)
    url = study["imageUrl"]
    assert "signature=" in url and "expires=" in url

    # then the patient's token fetches the bytes
    response = await api.client.get(url, headers={"Authorization": f"Bearer {patient.token}"})
    assert response.status_code == 200
    assert response.content == image
    assert response.headers["content-type"] == "image/png"
    # and without a token, or with another person's token, it does not
    assert (await api.client.get(url)).status_code == 401
    response = await api.client.get(url, headers={"Authorization": f"Bearer {other.token}"})
    assert response.status_code == 403
    # and a tampered signature or a past expiry does not work either
    tampered = url.replace("signature=", "signature=0")
    response = await api.client.get(tampered, headers={"Authorization": f"Bearer {patient.token}"})
    assert response.status_code == 403
    expired = url.split("?")[0] + "?expires=1&signature=" + url.split("signature=")[1]
    response = await api.client.get(expired, headers={"Authorization": f"Bearer {patient.token}"})
    assert response.status_code == 403


async def test_a_doctors_image_url_stops_working_when_access_ends(api: Api) -> None:
    # given a study assigned to a doctor, and the URL made for that doctor
    patient = await make_person(api)
    doctor = await make_person(api, Role.DOCTOR)
    other_doctor = await make_person(api, Role.DOCTOR)
    study = await upload(api, patient, png())
    await api.data(ASSIGN, {"study": study["id"], "doctor": doctor.id}, token=patient.token)
    url = (await api.data(STUDY, {"id": study["id"]}, token=doctor.token))["study"]["imageUrl"]
    headers = {"Authorization": f"Bearer {doctor.token}"}
    assert (await api.client.get(url, headers=headers)).status_code == 200

    # when the study is assigned to another doctor
    await api.data(ASSIGN, {"study": study["id"], "doctor": other_doctor.id}, token=patient.token)

    # then the first doctor's URL, still within its lifetime, no longer serves the image
    assert (await api.client.get(url, headers=headers)).status_code == 404
