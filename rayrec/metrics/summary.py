"""Summaries over repeated runs (e.g. seeds) for result tables."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1) of ``values``.

    Computed with :func:`statistics.fmean` and :func:`statistics.stdev` (correctly
    rounded, the numbers the result tables have always printed); the std of a
    single value is 0.0; both are NaN when a value is NaN (a metric that is not
    defined, e.g. purchase figures on click-only data).

    Raises:
        ValueError: ``values`` is empty.
    """
    data = [float(v) for v in values]
    if not data:
        raise ValueError("values: expected at least one value, got none")
    if any(math.isnan(v) for v in data):  # a metric some run does not define (click-only data)
        return math.nan, math.nan
    mean = statistics.fmean(data)
    std = statistics.stdev(data) if len(data) > 1 else 0.0
    return mean, std
