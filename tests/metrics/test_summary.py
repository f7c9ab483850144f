"""mean_std: mean and sample std over runs."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from rayrec.metrics.summary import mean_std


def test_mean_std_hand_values() -> None:
    # mean 2.5; squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5, over n - 1 = 3
    mean, std = mean_std([1.0, 2.0, 3.0, 4.0])
    assert mean == pytest.approx(2.5)
    assert std == pytest.approx(math.sqrt(5 / 3))


def test_mean_std_single_value_and_inputs() -> None:
    assert mean_std([3.5]) == (3.5, 0.0)
    values = np.array([0.1, 0.7, 0.2])
    assert mean_std(values) == (statistics.fmean(values), statistics.stdev(values))
    assert mean_std(v for v in [1, 3]) == (2.0, math.sqrt(2.0))


def test_mean_std_empty_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        mean_std([])


def test_mean_std_of_an_undefined_metric_is_nan() -> None:
    """Purchase figures on click-only data are NaN in every run: the row is NaN, not an
    error (statistics.stdev raises on NaN)."""
    mean, std = mean_std([float("nan"), float("nan"), float("nan")])
    assert math.isnan(mean) and math.isnan(std)
    mean, std = mean_std([0.1, float("nan")])
    assert math.isnan(mean) and math.isnan(std)
