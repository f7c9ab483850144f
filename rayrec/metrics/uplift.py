"""Uplift metrics (Qini curve and coefficient, AUUC) and reward under a budget.

Conventions: N units; ``uplift`` (N,) predicted effect of treating each unit (higher
= treat first); ``treatment`` (N,) nonzero = treated group; ``outcome`` (N,) the
observed response (binary or real).

The CF-MTL specification (``shared/specs/cf_mtl.md``; Li et al., KDD 2023) reports
only the *reward under a budget* and is silent on Qini and AUUC, so those follow
the standard definitions (Radcliffe 2007; Radcliffe & Surry 2011), stated below.

**Curves.** Units are sorted by ``uplift``, highest first; a curve point is taken
after each group of tied scores (so the order inside a tie does not matter) and at
0. For the top n units, with N_T(n), N_C(n) treated / control units among them and
Y_T(n), Y_C(n) their summed outcomes:

- Qini (Radcliffe): ``g(n) = Y_T(n) − Y_C(n) · N_T(n) / N_C(n)``, the second term 0
  while N_C(n) = 0 — the incremental outcome among the targeted treated units;
- uplift curve: ``f(n) = (Y_T(n) / N_T(n) − Y_C(n) / N_C(n)) · n``, each rate 0 while
  its group is empty — the incremental outcome if the n targeted units were all
  treated.

**Areas** are taken over the fraction targeted x = n / N ∈ [0, 1] with the
trapezoid rule, on gains divided by N (incremental outcome per unit of the
population), so they do not grow with N.
"""

from __future__ import annotations

import numpy as np


def _check_units(
    uplift: np.ndarray, treatment: np.ndarray, outcome: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    uplift = np.asarray(uplift, dtype=np.float64)
    treatment = np.asarray(treatment).astype(bool)
    outcome = np.asarray(outcome, dtype=np.float64)
    if uplift.ndim != 1 or treatment.shape != uplift.shape or outcome.shape != uplift.shape:
        raise ValueError(
            "uplift, treatment, outcome: expected three 1-D arrays of the same length, got "
            f"shapes {uplift.shape}, {treatment.shape}, {outcome.shape}"
        )
    if len(uplift) == 0:
        raise ValueError("uplift, treatment, outcome: expected at least one unit, got none")
    if np.isnan(uplift).any():
        raise ValueError("uplift: expected no NaN, got NaN")
    return uplift, treatment, outcome


def _cumulative(
    uplift: np.ndarray, treatment: np.ndarray, outcome: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """At each curve point (0 and the end of each tie group): n, N_T, N_C, Y_T, Y_C."""
    order = np.argsort(-uplift, kind="stable")  # (N,)
    t = treatment[order]  # (N,)
    y = outcome[order]  # (N,)
    s = uplift[order]  # (N,)
    ends = np.r_[np.flatnonzero(s[1:] != s[:-1]), len(s) - 1]  # (P,) last index per group
    n_t = np.cumsum(t)[ends]  # (P,)
    y_t = np.cumsum(y * t)[ends]  # (P,)
    y_c = np.cumsum(y * ~t)[ends]  # (P,)
    n = ends + 1  # (P,)
    zero = np.zeros(1)
    return (
        np.r_[0, n],
        np.r_[0, n_t],
        np.r_[0, n - n_t],
        np.r_[zero, y_t],
        np.r_[zero, y_c],
    )


def qini_curve(
    uplift: np.ndarray, treatment: np.ndarray, outcome: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Radcliffe's Qini curve (see the module docstring).

    Returns:
        ``(fraction, gain)``, both (P + 1,): the fraction of units targeted (0, then
        after each of the P groups of tied scores, ending at 1) and the incremental
        gain ``g(n) = Y_T(n) − Y_C(n) · N_T(n) / N_C(n)`` in outcome units (not
        divided by N).
    """
    uplift, treatment, outcome = _check_units(uplift, treatment, outcome)
    n, n_t, n_c, y_t, y_c = _cumulative(uplift, treatment, outcome)
    ratio = np.divide(n_t, n_c, out=np.zeros(len(n)), where=n_c > 0)
    return n / len(uplift), y_t - y_c * ratio


def uplift_curve(
    uplift: np.ndarray, treatment: np.ndarray, outcome: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The uplift (cumulative gain) curve (see the module docstring).

    Returns:
        ``(fraction, gain)``, both (P + 1,): the fraction targeted and
        ``f(n) = (Y_T(n) / N_T(n) − Y_C(n) / N_C(n)) · n`` in outcome units.
    """
    uplift, treatment, outcome = _check_units(uplift, treatment, outcome)
    n, n_t, n_c, y_t, y_c = _cumulative(uplift, treatment, outcome)
    rate_t = np.divide(y_t, n_t, out=np.zeros(len(n)), where=n_t > 0)
    rate_c = np.divide(y_c, n_c, out=np.zeros(len(n)), where=n_c > 0)
    return n / len(uplift), (rate_t - rate_c) * n


def _area(x: np.ndarray, y: np.ndarray) -> float:
    """Trapezoid rule ``Σ (x_{i+1} − x_i)(y_i + y_{i+1}) / 2``."""
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))


def qini_coefficient(uplift: np.ndarray, treatment: np.ndarray, outcome: np.ndarray) -> float:
    """Radcliffe's Qini coefficient q: the area between the Qini curve and random targeting.

    ``q = ∫_0^1 g(x) / N dx − g(1) / (2 N)``: the trapezoid area under the Qini curve
    (gain per unit of the population) minus the area under the straight line from
    (0, 0) to (1, g(1)/N) that random targeting gives. 0 for a random ranking,
    positive when high predicted uplift finds the units that respond to treatment.
    Not normalised by the optimal curve's area (Radcliffe's "little q").
    """
    fraction, gain = qini_curve(uplift, treatment, outcome)
    n = len(np.asarray(uplift))
    return _area(fraction, gain / n) - float(gain[-1]) / (2.0 * n)


def auuc(uplift: np.ndarray, treatment: np.ndarray, outcome: np.ndarray) -> float:
    """Area under the uplift curve: ``∫_0^1 f(x) / N dx`` by the trapezoid rule.

    ``f`` is :func:`uplift_curve`'s gain; divided by N it is the incremental outcome
    per unit of the population. Random targeting scores ``f(1) / (2 N)`` (half the
    overall treatment effect); the value here is not random-subtracted.
    """
    fraction, gain = uplift_curve(uplift, treatment, outcome)
    return _area(fraction, gain / len(np.asarray(uplift)))


def allocate_under_budget(
    scores: np.ndarray, cost: np.ndarray | float, budget: float
) -> np.ndarray:
    """(N,) bool: which units get treated, greedily by score until the budget is spent.

    The CF-MTL policy (spec "Policy under a budget"; the authors' notebook): units
    with a **positive** estimated reward ``scores`` are taken in decreasing score
    (ties by index, lower first) — by score, not by score / cost — as long as the
    running total of ``cost`` stays within ``budget``; the first unit that would
    exceed it stops the allocation (no later, cheaper unit is skipped in). The
    paper's budget is a fraction ε of all units: pass ``cost=1`` and
    ``budget=ε · N`` (the top ``min(⌊ε N⌋, #positive)`` units; integer costs keep
    the running total exact).

    Args:
        scores: (N,) estimated per-unit reward r̂.
        cost: (N,) or scalar ≥ 0, the budget each unit consumes if treated.
        budget: total budget ≥ 0, in the units of ``cost``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"scores: expected a 1-D array, got shape {scores.shape}")
    costs = np.asarray(cost, dtype=np.float64)
    if costs.ndim != 0 and costs.shape != scores.shape:
        raise ValueError(
            f"cost: expected a scalar or shape {scores.shape} (as scores), got {costs.shape}"
        )
    costs = np.broadcast_to(costs, scores.shape)
    if np.isnan(scores).any():
        raise ValueError("scores: expected no NaN, got NaN")
    if (costs < 0).any() or np.isnan(costs).any():
        raise ValueError("cost: expected values >= 0, got a negative or NaN cost")
    if not budget >= 0:
        raise ValueError(f"budget: expected a number >= 0, got {budget!r}")
    order = np.argsort(-scores, kind="stable")  # (N,)
    order = order[scores[order] > 0]  # (P,) positive estimated reward only
    taken = order[np.cumsum(costs[order]) <= budget]  # prefix: costs are >= 0
    treated = np.zeros(scores.shape, dtype=bool)
    treated[taken] = True
    return treated


def reward_under_budget(
    scores: np.ndarray, cost: np.ndarray | float, value: np.ndarray, budget: float
) -> float:
    """Total true reward of the units :func:`allocate_under_budget` treats.

    ``Σ_{i treated} value_i``: with ``value`` the true per-unit reward if treated
    (CF-MTL: 1 for a coupon buyer, −c for an always buyer, ...), this is the
    paper's "Reward" (Table 4).

    Args:
        scores: (N,) estimated per-unit reward r̂ (the allocation order).
        cost: (N,) or scalar ≥ 0, budget consumed per treated unit.
        value: (N,) true reward of treating each unit.
        budget: total budget ≥ 0 in the units of ``cost``.
    """
    value = np.asarray(value, dtype=np.float64)
    if value.shape != np.shape(scores):
        raise ValueError(f"value: expected shape {np.shape(scores)} (as scores), got {value.shape}")
    return float(value[allocate_under_budget(scores, cost, budget)].sum())
