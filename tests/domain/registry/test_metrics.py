"""Daily metrics from inference records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from domain.registry.metrics import daily_metrics, percentile
from domain.registry.models import InferenceRecord, Outcome


def run(
    at: datetime,
    latency: float,
    *,
    outcome: Outcome = Outcome.COMPLETED,
    confidence: float | None = 0.5,
    agreed: bool | None = None,
) -> InferenceRecord:
    return InferenceRecord(
        id=str(at),
        model_version_id="v",
        diagnosis_id=None,
        input_sha256="0" * 64,
        queue_ms=latency / 2,
        compute_ms=latency / 2,
        confidence=confidence,
        outcome=outcome,
        created_at=at,
        agreed=agreed,
    )


def test_percentiles_interpolate_between_ranks() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.5) == pytest.approx(50.5)
    assert percentile(values, 0.95) == pytest.approx(95.05)
    assert percentile([3.0], 0.95) == 3.0
    assert percentile([], 0.5) == 0.0


def test_days_are_utc_days_and_failures_do_not_count_in_latency() -> None:
    # 23:30 at UTC-5 is 04:30 the next day in UTC
    late = datetime(2026, 5, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    start = datetime(2026, 5, 2, 1, tzinfo=UTC)
    records = [
        run(late, 10.0, agreed=True),
        run(start, 30.0, confidence=0.9, agreed=False),
        run(start, 0.0, outcome=Outcome.FAILED, confidence=None),
        run(datetime(2026, 5, 4, tzinfo=UTC), 5.0),
    ]
    first, second = daily_metrics(records)
    assert first.date.isoformat() == "2026-05-02"
    assert (first.requests, first.failures) == (3, 1)
    assert first.p50_latency_ms == pytest.approx(20.0)
    assert first.mean_confidence == pytest.approx(0.7)
    assert (first.reviewed, first.agreement_rate) == (2, 0.5)
    assert second.date.isoformat() == "2026-05-04" and second.agreement_rate is None


def test_a_day_of_failures_only_has_no_confidence() -> None:
    (day,) = daily_metrics([run(datetime(2026, 1, 1, tzinfo=UTC), 0, outcome=Outcome.FAILED)])
    assert (day.requests, day.failures, day.p95_latency_ms, day.mean_confidence) == (
        1,
        1,
        0.0,
        None,
    )
