"""Percentiles and summaries. Standard library only."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


def percentile(ordered: list[float], p: float) -> float:
    """Nearest rank: the smallest sample with at least p% of the samples at or below it."""
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summary(seconds: Iterable[float]) -> dict[str, Any]:
    """count, p50, p95, p99, max and mean, in milliseconds."""
    ordered = sorted(seconds)
    if not ordered:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    out: dict[str, Any] = {"count": len(ordered)}
    for p in (50, 95, 99):
        out[f"p{p}"] = round(percentile(ordered, p) * 1000, 2)
    out["max"] = round(ordered[-1] * 1000, 2)
    out["mean"] = round(sum(ordered) / len(ordered) * 1000, 2)
    return out
