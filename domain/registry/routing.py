"""A/B routing: which arm of an experiment serves a patient, the same one every time."""

from __future__ import annotations

import hashlib

BUCKETS = 100


def bucket(experiment_id: str, patient_id: str) -> int:
    """A stable number in [0, 100) from the experiment and the patient: a patient keeps their
    arm for the whole experiment, and a new experiment shuffles patients afresh."""
    digest = hashlib.sha256(f"{experiment_id}\x00{patient_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def takes_candidate(experiment_id: str, patient_id: str, candidate_percent: int) -> bool:
    return bucket(experiment_id, patient_id) < candidate_percent
