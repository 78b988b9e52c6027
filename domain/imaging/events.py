"""The wire form of a diagnosis event: JSON, self-contained, one topic per audience member."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from domain.imaging.classification import ClassProbability
from domain.imaging.models import Diagnosis, DiagnosisStatus


@dataclass(frozen=True, slots=True)
class DiagnosisEvent:
    diagnosis: Diagnosis
    audience: tuple[str, ...]


def topic(user_id: str) -> str:
    return f"diagnoses:{user_id}"


def encode(diagnosis: Diagnosis, audience: tuple[str, ...]) -> bytes:
    return json.dumps(
        {
            "id": diagnosis.id,
            "study_id": diagnosis.study_id,
            "status": diagnosis.status.value,
            "version": diagnosis.version,
            "created_at": diagnosis.created_at.isoformat(),
            "label": diagnosis.label,
            "confidence": diagnosis.confidence,
            "probabilities": [[p.label, p.probability] for p in diagnosis.probabilities],
            "error": diagnosis.error,
            "completed_at": diagnosis.completed_at.isoformat() if diagnosis.completed_at else None,
            "audience": list(audience),
        },
        separators=(",", ":"),
    ).encode()


def decode(payload: bytes) -> DiagnosisEvent:
    data = json.loads(payload)
    completed_at = data.get("completed_at")
    diagnosis = Diagnosis(
        id=data["id"],
        study_id=data["study_id"],
        status=DiagnosisStatus(data["status"]),
        version=int(data["version"]),
        created_at=datetime.fromisoformat(data["created_at"]),
        label=data.get("label"),
        confidence=data.get("confidence"),
        probabilities=tuple(
            ClassProbability(str(label), float(p)) for label, p in data.get("probabilities", [])
        ),
        error=data.get("error"),
        completed_at=datetime.fromisoformat(completed_at) if completed_at else None,
    )
    return DiagnosisEvent(diagnosis, tuple(data.get("audience", ())))
