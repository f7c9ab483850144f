"""The synthetic generator: determinism, ground-truth consistency, log invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rayrec.data.schema import CLICK, POSITION, SLATE
from rayrec.data.synthetic import SyntheticConfig, generate
from rayrec.errors import InputError

SMALL = SyntheticConfig(n_users=200, n_items=100, seed=7)


def test_same_seed_same_log_different_seed_different_log() -> None:
    a, b = generate(SMALL), generate(SMALL)
    pd.testing.assert_frame_equal(a.log.interactions, b.log.interactions)
    np.testing.assert_array_equal(a.truth.user_factors, b.truth.user_factors)
    c = generate(SyntheticConfig(n_users=200, n_items=100, seed=8))
    assert not a.log.interactions[CLICK].equals(c.log.interactions[CLICK])


def test_ids_match_ground_truth_and_slates_are_distinct() -> None:
    data = generate(SMALL)
    log = data.log
    assert log.n_users == 200 and log.n_items == 100
    assert (log.items["raw_item_id"].to_numpy() == np.arange(1, 101)).all()
    per_slate = log.interactions.groupby(SLATE)["item"]
    assert (per_slate.nunique() == SMALL.slate_size).all()
    assert (log.interactions.groupby(SLATE)[POSITION].max() == SMALL.slate_size - 1).all()


def test_clicks_follow_the_true_probabilities() -> None:
    data = generate(SyntheticConfig(n_users=400, n_items=100, seed=1))
    df = data.log.interactions
    p = data.truth.click_prob(df["user"].to_numpy(), df["item"].to_numpy()[:, None])[:, 0]
    clicks = df[CLICK].to_numpy()
    # calibration: the mean click rate per probability decile tracks the probability
    bins = np.quantile(p, np.linspace(0, 1, 11))
    idx = np.clip(np.searchsorted(bins, p, side="right") - 1, 0, 9)
    for b in range(10):
        sel = idx == b
        assert abs(clicks[sel].mean() - p[sel].mean()) < 0.05
    # ratings exist only for clicks and purchases imply clicks
    assert df.loc[df[CLICK] == 0, "rating"].isna().all()
    assert (df["purchase"] <= df[CLICK]).all()


def test_oracle_beats_random_by_a_wide_margin() -> None:
    data = generate(SMALL)
    users = np.arange(1, 201)
    oracle = data.truth.click_prob(users, data.truth.oracle_slate(users, 5)).mean()
    rand = data.truth.click_prob(users, np.random.default_rng(0).integers(1, 101, (200, 5))).mean()
    assert oracle > rand + 0.3
    # the oracle slate is sorted best-first and has no duplicates
    slate = data.truth.oracle_slate(users, 5)
    assert all(len(set(row)) == 5 for row in slate.tolist())
    probs = data.truth.click_prob(users, slate)
    assert (np.diff(probs, axis=1) <= 1e-12).all()


@pytest.mark.parametrize(
    ("field", "value"), [("n_users", 0), ("slate_size", 500), ("logging_greedy", 2.0), ("days", 0)]
)
def test_bad_config_is_rejected(field: str, value: float) -> None:
    with pytest.raises(InputError, match=field):
        SyntheticConfig(**{field: value})  # type: ignore[arg-type]
