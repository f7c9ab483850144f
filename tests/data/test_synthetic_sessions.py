"""The synthetic click/purchase session generator: determinism, the hidden structure
event by event, the exact next-event distribution, and the packaged spec that serves it
(``envs/synthetic_sessions.yaml``) with the oracle far above most-popular."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rayrec.data import dataset_names, load_dataset
from rayrec.data.schema import CLICK, ITEM, PURCHASE, SESSION
from rayrec.data.sessions import PART_TEST, PART_TRAIN, PART_VALID
from rayrec.data.synthetic_sessions import (
    CHAIN,
    DISTRACTOR,
    EVENT_KIND,
    NAME,
    REVISIT,
    SessionGeneratorConfig,
    _chain_state,
    generate_sessions,
)
from rayrec.environments import env_config_for
from rayrec.environments.sessions import session_data_for
from rayrec.errors import InputError
from rayrec.evaluation.next_item import evaluate_item_scores
from rayrec.metrics.next_item import KS, NextItemSums, next_item_metrics

SMALL = SessionGeneratorConfig(n_items=40, n_popular=5, n_sessions=400, seed=3)


def sessions_of(log_df: pd.DataFrame) -> list[pd.DataFrame]:
    return [group for _, group in log_df.groupby(SESSION, sort=True)]


def test_same_seed_same_log_different_seed_different_log() -> None:
    a, b = generate_sessions(SMALL), generate_sessions(SMALL)
    pd.testing.assert_frame_equal(a.log.interactions, b.log.interactions)
    np.testing.assert_array_equal(a.truth.successors, b.truth.successors)
    c = generate_sessions(SessionGeneratorConfig(n_items=40, n_popular=5, n_sessions=400, seed=4))
    assert not a.log.interactions[ITEM].equals(c.log.interactions[ITEM])


def test_every_event_follows_the_hidden_process() -> None:
    data = generate_sessions(SMALL)
    truth, log = data.truth, data.log
    # the generator's item ids are the log's (every item occurs)
    assert log.n_items == SMALL.n_items
    np.testing.assert_array_equal(log.items["raw_item_id"].to_numpy(), np.arange(1, 41))
    popular = set(truth.popular.tolist())
    assert len(popular) == SMALL.n_popular and not popular & set(truth.chain_items.tolist())
    df = log.interactions
    assert ((df[CLICK] + df[PURCHASE]) == 1).all(), "each event is a click or a purchase"
    for group in sessions_of(df):
        items, kinds = group[ITEM].to_numpy(), group[EVENT_KIND].to_numpy()
        assert len(items) <= SMALL.max_length
        if len(items) < SMALL.min_length:  # ended early: the chain is stuck
            assert not truth.next_distribution(items).any()
        assert kinds[0] == CHAIN and items[0] not in popular  # a session starts on the chain
        for t in range(1, len(items)):
            current, visited = _chain_state(items[:t], truth.successors)
            if kinds[t] == CHAIN:  # a successor of the current chain item, never seen before
                assert items[t] in truth.successors[current] and items[t] not in visited
            elif kinds[t] == DISTRACTOR:
                assert items[t] in popular
            else:
                assert kinds[t] == REVISIT and items[t] in visited and items[t] != current
    buy = df[PURCHASE].to_numpy() > 0
    kind = df[EVENT_KIND].to_numpy()
    assert not buy[kind == DISTRACTOR].any()
    # the rates the config states (a few thousand events: ±3 standard errors)
    rate = {k: buy[kind == k].mean() for k in (CHAIN, REVISIT)}
    assert abs(rate[REVISIT] - SMALL.p_buy_revisit) < 0.07, rate
    assert abs(rate[CHAIN] - SMALL.p_buy_chain) < 0.01, rate
    later = np.r_[False, df[SESSION].to_numpy()[1:] == df[SESSION].to_numpy()[:-1]]
    assert abs((kind[later] == DISTRACTOR).mean() - SMALL.p_distract) < 0.03


def test_next_distribution_is_exact_on_every_logged_event() -> None:
    data = generate_sessions(SMALL)
    truth = data.truth
    df = data.log.interactions
    log_likelihood, n_events = 0.0, 0
    for group in sessions_of(df):
        items = group[ITEM].to_numpy()
        for t in range(len(items)):
            p = truth.next_distribution(items[:t])  # (N + 1,)
            assert p[0] == 0.0 and p.sum() == pytest.approx(1.0)
            assert p[items[t]] > 0, "a logged event the process cannot produce"
            log_likelihood += float(np.log(p[items[t]]))
            n_events += 1
    # the first event is uniform over the chain items
    first = truth.next_distribution(np.zeros(0, dtype=np.int64))
    np.testing.assert_allclose(first[truth.chain_items], 1.0 / len(truth.chain_items))
    # far more predictable than uniform over the items
    assert log_likelihood / n_events > np.log(1.0 / SMALL.n_items) + 1.5


def test_config_is_checked() -> None:
    with pytest.raises(InputError, match="'n_popular' by at least 3"):
        SessionGeneratorConfig(n_items=10, n_popular=8)
    with pytest.raises(InputError, match="'successor_probs'"):
        SessionGeneratorConfig(successor_probs=(0.7, 0.7))
    with pytest.raises(InputError, match="'p_distract' \\+ 'p_revisit' must be < 1"):
        SessionGeneratorConfig(p_distract=0.6, p_revisit=0.5)
    with pytest.raises(InputError, match="increase 'n_sessions'"):
        generate_sessions(SessionGeneratorConfig(n_items=300, n_sessions=5))


def test_the_packaged_spec_serves_the_generator_without_a_data_folder() -> None:
    assert NAME in dataset_names()
    pd.testing.assert_frame_equal(
        load_dataset(NAME).interactions, generate_sessions().log.interactions
    )
    env_config = env_config_for("synthetic_sessions")
    assert env_config["kind"] == "logged_sessions"
    assert env_config["dataset"] == {"name": NAME, "path": None}
    data = session_data_for(env_config)
    config = SessionGeneratorConfig()
    # SQN's filters keep every session and item: the ids are the generator's
    assert data.n_items == config.n_items and data.n_sessions == config.n_sessions
    np.testing.assert_array_equal(data.log_items, np.arange(1, config.n_items + 1))
    parts = data.description["parts"]
    assert [parts[p]["sessions"] for p in (PART_TRAIN, PART_VALID, PART_TEST)] == [1600, 200, 200]
    assert parts[PART_TEST]["purchases"] > 100 and data.description["purchase_reward_fires"]


def test_the_oracle_beats_most_popular_by_far_on_the_test_part() -> None:
    """The structure the learning tests rely on (tests/algorithms/test_session_learning.py):
    the exact next-event distribution ranks the target in the top 10 for ~83% of the
    click targets and ~98% of the purchase targets; most-popular (the train part's
    counts) for ~28% and ~12%."""
    data = session_data_for(env_config_for("synthetic_sessions"))
    truth = generate_sessions().truth
    rows = data.rows(PART_TEST)
    starts = data.session_start[data.session_of(rows)]
    scores = np.stack(
        [truth.next_distribution(data.items[s:r]) for s, r in zip(starts, rows, strict=True)]
    )
    sums = NextItemSums.zeros(KS)
    sums.add(next_item_metrics(scores, data.items[rows], data.is_buy[rows]))
    oracle = sums.metrics()
    popular = evaluate_item_scores(
        data.popularity().astype(np.float64), data.items[rows], data.is_buy[rows]
    ).metrics
    assert oracle["click_hr@10"] > 0.8 and oracle["purchase_hr@10"] > 0.95, oracle
    assert popular["click_hr@10"] < 0.35 and popular["purchase_hr@10"] < 0.2, popular
