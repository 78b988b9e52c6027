"""Daily figures for one model version, computed from its inference records."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date

from domain.registry.models import DailyMetric, InferenceRecord, Outcome


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def daily_metrics(records: Iterable[InferenceRecord]) -> list[DailyMetric]:
    """One row per UTC day that has records, oldest first.

    Latency is queue plus compute time, over completed runs; confidence likewise. A run counts
    as reviewed once a doctor gave a verdict on its diagnosis; the agreement rate is the share
    of reviewed runs the doctor agreed with.
    """
    by_day: dict[date, list[InferenceRecord]] = defaultdict(list)
    for record in records:
        by_day[record.created_at.astimezone(UTC).date()].append(record)
    return [_day(day, by_day[day]) for day in sorted(by_day)]


def _day(day: date, records: list[InferenceRecord]) -> DailyMetric:
    completed = [r for r in records if r.outcome is Outcome.COMPLETED]
    latencies = [r.queue_ms + r.compute_ms for r in completed]
    confidences = [r.confidence for r in completed if r.confidence is not None]
    verdicts = [r.agreed for r in completed if r.agreed is not None]
    return DailyMetric(
        date=day,
        requests=len(records),
        failures=len(records) - len(completed),
        p50_latency_ms=percentile(latencies, 0.50),
        p95_latency_ms=percentile(latencies, 0.95),
        mean_confidence=sum(confidences) / len(confidences) if confidences else None,
        reviewed=len(verdicts),
        agreement_rate=sum(verdicts) / len(verdicts) if verdicts else None,
    )
