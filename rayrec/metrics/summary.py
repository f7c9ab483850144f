"""Summaries over repeated runs (e.g. seeds) for result tables."""

from __future__ import annotations

import statistics
from collections.abc import Iterable


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1) of ``values``.

    Computed with :func:`statistics.fmean` and :func:`statistics.stdev` (correctly
    rounded, the numbers the result tables have always printed); the std of a
    single value is 0.0.

    Raises:
        ValueError: ``values`` is empty.
    """
    data = [float(v) for v in values]
    if not data:
        raise ValueError("values: expected at least one value, got none")
    mean = statistics.fmean(data)
    std = statistics.stdev(data) if len(data) > 1 else 0.0
    return mean, std
