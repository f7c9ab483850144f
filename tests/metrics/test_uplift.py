"""Qini curve / coefficient, uplift curve / AUUC and reward under a budget, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from rayrec.metrics.uplift import (
    allocate_under_budget,
    auuc,
    qini_coefficient,
    qini_curve,
    reward_under_budget,
    uplift_curve,
)

# Six units (uplift, T, Y); units 2 and 3 tie. Sorted: 0, 1, {2, 3}, 4, 5 -> points after
# n = 0, 1, 2, 4, 5, 6 units.
UPLIFT = np.array([0.9, 0.8, 0.7, 0.7, 0.2, 0.1])
TREATED = np.array([1, 0, 1, 0, 1, 0])
OUTCOME = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 1.0])
FRACTION = np.array([0, 1, 2, 4, 5, 6]) / 6
# n   N_T N_C Y_T Y_C   Qini Y_T - Y_C·N_T/N_C   uplift (Y_T/N_T - Y_C/N_C)·n
# 0   0   0   0   0     0                        0
# 1   1   0   1   0     1 - 0 (N_C = 0)          (1 - 0)·1 = 1
# 2   1   1   1   0     1 - 0·1 = 1              (1 - 0)·2 = 2
# 4   2   2   1   1     1 - 1·2/2 = 0            (1/2 - 1/2)·4 = 0
# 5   3   2   2   1     2 - 1·3/2 = 0.5          (2/3 - 1/2)·5 = 5/6
# 6   3   3   2   2     2 - 2·3/3 = 0            (2/3 - 2/3)·6 = 0
QINI = np.array([0.0, 1.0, 1.0, 0.0, 0.5, 0.0])
UPLIFT_GAIN = np.array([0.0, 1.0, 2.0, 0.0, 5 / 6, 0.0])


def test_qini_curve_hand_values() -> None:
    fraction, gain = qini_curve(UPLIFT, TREATED, OUTCOME)
    np.testing.assert_allclose(fraction, FRACTION)
    np.testing.assert_allclose(gain, QINI)


def test_uplift_curve_hand_values() -> None:
    fraction, gain = uplift_curve(UPLIFT, TREATED, OUTCOME)
    np.testing.assert_allclose(fraction, FRACTION)
    np.testing.assert_allclose(gain, UPLIFT_GAIN)


def test_order_inside_a_tie_does_not_matter() -> None:
    swap = np.array([0, 1, 3, 2, 4, 5])
    for curve in (qini_curve, uplift_curve):
        a = curve(UPLIFT, TREATED, OUTCOME)
        b = curve(UPLIFT[swap], TREATED[swap], OUTCOME[swap])
        np.testing.assert_allclose(a[1], b[1])


def test_qini_coefficient_hand_value() -> None:
    # trapezoids of the Qini gain over widths 1/6, 1/6, 2/6, 1/6, 1/6:
    # (0+1)/2·1/6 + (1+1)/2·1/6 + (1+0)/2·2/6 + (0+.5)/2·1/6 + (.5+0)/2·1/6 = 3/6
    # divided by N = 6 -> 1/12; random line to g(1) = 0 has area 0
    assert qini_coefficient(UPLIFT, TREATED, OUTCOME) == pytest.approx(1 / 12)
    # unit 5 (control) without outcome: g(6) = 2 - 1·3/3 = 1, other points unchanged;
    # area (0.5 + 1 + 1 + 0.25 + (0.5+1)/2)/6 / 6 = 3.5/36; random 1 / (2·6) = 3/36
    outcome = OUTCOME.copy()
    outcome[5] = 0.0
    assert qini_coefficient(UPLIFT, TREATED, outcome) == pytest.approx(0.5 / 36)


def test_qini_coefficient_is_zero_for_constant_scores() -> None:
    # one tie group: the curve is the straight line (0, 0) -> (1, g(1)), i.e. random
    assert qini_coefficient(np.zeros(6), TREATED, OUTCOME) == pytest.approx(0.0)


def test_auuc_hand_value() -> None:
    # (0+1)/2·1/6 + (1+2)/2·1/6 + (2+0)/2·2/6 + (0+5/6)/2·1/6 + (5/6+0)/2·1/6
    # = (0.5 + 1.5 + 2 + 5/12 + 5/12) / 6 = 29/36; divided by N = 6 -> 29/216
    assert auuc(UPLIFT, TREATED, OUTCOME) == pytest.approx(29 / 216)


def test_uplift_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="same length"):
        qini_curve(UPLIFT, TREATED[:5], OUTCOME)
    with pytest.raises(ValueError, match="at least one unit"):
        auuc(np.zeros(0), np.zeros(0), np.zeros(0))
    with pytest.raises(ValueError, match="NaN"):
        qini_coefficient(np.array([np.nan, 1.0]), np.array([1, 0]), np.array([1.0, 0.0]))


# ---------------------------------------------------------------- budget
# estimated reward r̂; units 0 and 3 tie (0 first); 5 is zero and 1 negative: never treated
SCORES = np.array([0.5, -0.1, 0.9, 0.5, 0.2, 0.0])
VALUE = np.array([1.0, 1.0, -0.4, 0.0, 1.0, 1.0])  # true reward of treating each unit


@pytest.mark.parametrize(
    ("budget", "treated", "reward"),
    [
        (0.0, [], 0.0),
        (1.0, [2], -0.4),
        (2.5, [2, 0], -0.4 + 1.0),  # a fractional budget takes whole units only
        (3.0, [2, 0, 3], -0.4 + 1.0 + 0.0),  # tie 0 / 3 taken in index order
        (10.0, [2, 0, 3, 4], -0.4 + 1.0 + 0.0 + 1.0),  # only the 4 positive scores
    ],
)
def test_reward_under_unit_costs(budget: float, treated: list[int], reward: float) -> None:
    mask = allocate_under_budget(SCORES, 1.0, budget)
    np.testing.assert_array_equal(np.flatnonzero(mask), sorted(treated))
    assert reward_under_budget(SCORES, 1.0, VALUE, budget) == pytest.approx(reward)


def test_paper_budget_is_a_fraction_of_units() -> None:
    # ε = 0.5 of N = 6 units -> budget 3 with unit costs: the top 3 positive scores
    eps = 0.5
    assert reward_under_budget(SCORES, 1.0, VALUE, eps * len(SCORES)) == pytest.approx(0.6)


def test_costs_stop_at_the_first_unit_that_does_not_fit() -> None:
    cost = np.array([1.0, 1.0, 2.0, 2.0, 1.0, 1.0])
    # order 2 (total 2), 0 (3), 3 (5 > 4: stop) -> unit 4 (cost 1) is not skipped in
    mask = allocate_under_budget(SCORES, cost, 4.0)
    np.testing.assert_array_equal(np.flatnonzero(mask), [0, 2])
    assert reward_under_budget(SCORES, cost, VALUE, 4.0) == pytest.approx(0.6)


def test_budget_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="cost: expected values >= 0"):
        allocate_under_budget(SCORES, -1.0, 3.0)
    with pytest.raises(ValueError, match="cost: expected a scalar or shape"):
        allocate_under_budget(SCORES, np.ones(3), 3.0)
    with pytest.raises(ValueError, match="budget: expected a number >= 0"):
        allocate_under_budget(SCORES, 1.0, -1.0)
    with pytest.raises(ValueError, match="value: expected shape"):
        reward_under_budget(SCORES, 1.0, VALUE[:3], 3.0)
