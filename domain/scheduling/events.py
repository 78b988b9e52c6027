"""The wire form of an appointment event: JSON, self-contained, one topic per participant."""

from __future__ import annotations

import json
from datetime import datetime

from domain.scheduling.models import Appointment, AppointmentStatus


def topic(user_id: str) -> str:
    return f"appointments:{user_id}"


def encode(appointment: Appointment) -> bytes:
    return json.dumps(
        {
            "id": appointment.id,
            "patient_id": appointment.patient_id,
            "doctor_id": appointment.doctor_id,
            "starts_at": appointment.starts_at.isoformat(),
            "ends_at": appointment.ends_at.isoformat(),
            "status": appointment.status.value,
            "reason": appointment.reason,
            "created_at": appointment.created_at.isoformat(),
            "updated_at": appointment.updated_at.isoformat(),
            "cancel_reason": appointment.cancel_reason,
        },
        separators=(",", ":"),
    ).encode()


def decode(payload: bytes) -> Appointment:
    data = json.loads(payload)
    return Appointment(
        id=data["id"],
        patient_id=data["patient_id"],
        doctor_id=data["doctor_id"],
        starts_at=datetime.fromisoformat(data["starts_at"]),
        ends_at=datetime.fromisoformat(data["ends_at"]),
        status=AppointmentStatus(data["status"]),
        reason=data.get("reason"),
        created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
        cancel_reason=data.get("cancel_reason"),
    )
