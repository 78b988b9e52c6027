"""A/B routing: sticky per patient, a share near the percentage, reshuffled per experiment."""

from __future__ import annotations

from domain.registry.routing import bucket, takes_candidate


def test_a_patient_keeps_their_arm() -> None:
    assert all(
        takes_candidate("exp-1", f"p{n}", 40) == takes_candidate("exp-1", f"p{n}", 40)
        for n in range(1000)
    )


def test_the_candidate_share_is_near_the_percentage() -> None:
    patients = [f"patient-{n}" for n in range(20_000)]
    for percent in (1, 10, 50, 90):
        share = sum(takes_candidate("exp-7", p, percent) for p in patients) / len(patients)
        assert abs(share - percent / 100) < 0.015, (percent, share)


def test_raising_the_percentage_only_adds_patients_to_the_candidate() -> None:
    patients = [f"p{n}" for n in range(2000)]
    at_10 = {p for p in patients if takes_candidate("exp", p, 10)}
    at_30 = {p for p in patients if takes_candidate("exp", p, 30)}
    assert at_10 <= at_30


def test_another_experiment_draws_afresh() -> None:
    patients = [f"p{n}" for n in range(2000)]
    same = sum(bucket("exp-a", p) == bucket("exp-b", p) for p in patients)
    assert same < 100  # about 1 in 100 by chance
