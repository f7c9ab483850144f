"""Top-N baselines: most-popular, ItemCF and UserCF by hand, ItemCF against implicit's own
``recommend``, the evaluation's exclusions, determinism and the refusals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rayrec.baselines.topn import (
    TOPN_BASELINES,
    evaluate_scorer,
    evaluate_topn_baselines,
    fit_scorer,
    user_neighbours,
)
from rayrec.data.schema import build_log
from rayrec.data.topn import TopNData, build_topn_data
from rayrec.errors import InputError
from rayrec.metrics.ranking import ranking_metrics, top_k

#: per user, (item, rating) in time order; the last record of each is the test part
#: (4 records -> 3 train, 3 records -> 2 train under the 80 % split)
HAND = {
    1: [(1, 5), (2, 4), (3, 3), (4, 5)],
    2: [(1, 4), (2, 2), (5, 2)],
    3: [(2, 5), (4, 3), (1, 4)],
    4: [(3, 4), (4, 4), (5, 5), (2, 3)],
}
R2, R6 = math.sqrt(2.0), math.sqrt(6.0)


def topn_of(sequences: dict[int, list[tuple[int, int]]]) -> TopNData:
    """The TopNData of per-user (item, rating) sequences (raw ids = dense ids here)."""
    rows = [
        (user, item, rating, 1000 * user + t)
        for user, seq in sequences.items()
        for t, (item, rating) in enumerate(seq)
    ]
    frame = pd.DataFrame(rows, columns=["u", "i", "r", "t"])
    log = build_log(
        "tiny",
        frame,
        raw_user="u",
        raw_item="i",
        timestamp="t",
        feedback={"rating": "r"},
    )
    assert log.items["raw_item_id"].tolist() == list(range(1, log.n_items + 1))
    return build_topn_data(log)


def random_topn(seed: int = 0, n_users: int = 60, n_items: int = 40) -> TopNData:
    """Users with 12-30 distinct random items each, random ratings."""
    rng = np.random.default_rng(seed)
    sequences = {}
    for user in range(1, n_users + 1):
        items = rng.choice(np.arange(1, n_items + 1), size=int(rng.integers(12, 31)), replace=False)
        sequences[user] = [(int(i), int(rng.integers(1, 6))) for i in items]
    return topn_of(sequences)


@pytest.fixture(scope="module")
def hand() -> TopNData:
    data = topn_of(HAND)
    assert [data.user_train_items(k).tolist() for k in range(4)] == [
        [1, 2, 3],
        [1, 2],
        [2, 4],
        [3, 4, 5],
    ]
    return data


# ---------------------------------------------------------------------- scores by hand
def test_most_popular_is_train_popularity(hand: TopNData) -> None:
    scores = fit_scorer("most_popular", hand)(np.array([0, 3]))
    # train ratings per item: 1: 2, 2: 3, 3: 2, 4: 2, 5: 1
    expected = [-np.inf, 2.0, 3.0, 2.0, 2.0, 1.0]
    assert scores.dtype == np.float32 and scores.shape == (2, 6)
    assert scores.tolist() == [expected, expected]
    # order: 2, then 1, 3, 4 (a tie, lower id first), then 5; padding last
    assert top_k(scores[:1], 6)[0].tolist() == [2, 1, 3, 4, 5, 0]


# item columns of the train matrix: 1 {u1, u2}, 2 {u1, u2, u3}, 3 {u1, u4}, 4 {u3, u4}, 5 {u4}
ITEM_COSINE = np.array(
    [
        [1.0, 2 / R6, 0.5, 0.0, 0.0],
        [2 / R6, 1.0, 1 / R6, 1 / R6, 0.0],
        [0.5, 1 / R6, 1.0, 0.5, 1 / R2],
        [0.0, 1 / R6, 0.5, 1.0, 1 / R2],
        [0.0, 0.0, 1 / R2, 1 / R2, 1.0],
    ]
)


def test_itemcf_sums_the_cosines_of_the_users_train_items(hand: TopNData) -> None:
    scores = fit_scorer("itemcf", hand, k=4)(np.arange(4))  # every other item a neighbour
    assert scores.dtype == np.float32 and np.all(scores[:, 0] == -np.inf)
    train = [[1, 2, 3], [1, 2], [2, 4], [3, 4, 5]]
    for k, items in enumerate(train):
        expected = ITEM_COSINE[np.array(items) - 1].sum(axis=0)  # Σ_i∈train(u) sim(i, ·)
        np.testing.assert_allclose(scores[k, 1:], expected, rtol=1e-6)
    # user 2 (train 1, 2): item 3 = 1/2 + 1/√6, item 4 = 1/√6, item 5 = 0
    np.testing.assert_allclose(scores[1, 3:], [0.5 + 1 / R6, 1 / R6, 0.0], rtol=1e-6)


def test_itemcf_keeps_k_neighbours_per_item(hand: TopNData) -> None:
    scores = fit_scorer("itemcf", hand, k=1)(np.array([1]))
    # user 2's items 1 and 2 keep only each other (cosine 2/√6): items 3-5 score 0
    np.testing.assert_allclose(scores[0, 1:], [1 + 2 / R6, 2 / R6 + 1, 0, 0, 0], rtol=1e-6)


# user rows: u1 {1,2,3}, u2 {1,2}, u3 {2,4}, u4 {3,4,5}
USER_COSINE = np.array(
    [
        [1.0, 2 / R6, 1 / R6, 1 / 3],
        [2 / R6, 1.0, 0.5, 0.0],
        [1 / R6, 0.5, 1.0, 1 / R6],
        [1 / 3, 0.0, 1 / R6, 1.0],
    ]
)
TRAIN = np.array([[1, 1, 1, 0, 0], [1, 1, 0, 0, 0], [0, 1, 0, 1, 0], [0, 0, 1, 1, 1]], dtype=float)


def test_usercf_weights_the_k_nearest_other_users_rows(hand: TopNData) -> None:
    scores = fit_scorer("usercf", hand, k=2)(np.arange(4))
    assert scores.dtype == np.float32 and np.all(scores[:, 0] == -np.inf)
    # the two nearest other users: u1 -> u2, u3; u2 -> u1, u3; u3 -> u2, then u1 / u4 tie
    # (1/√6 each: the lower index, u1); u4 -> u3, u1
    neighbours = [[1, 2], [0, 2], [1, 0], [2, 0]]
    for k, near in enumerate(neighbours):
        expected = USER_COSINE[k, near] @ TRAIN[near]  # Σ_v sim(u, v) r_v·
        np.testing.assert_allclose(scores[k, 1:], expected, rtol=1e-6)
    # u1: item 2 = 2/√6 + 1/√6, item 3 = 0 (u4, who has it, is not among the two)
    np.testing.assert_allclose(scores[0, 2:4], [3 / R6, 0.0], rtol=1e-6)


def test_user_neighbours_never_include_the_user_and_clip_k(hand: TopNData) -> None:
    near = user_neighbours(hand.train_matrix(), k=10, batch=3).toarray()  # k > U - 1
    assert np.all(np.diag(near) == 0)
    off = ~np.eye(4, dtype=bool)
    np.testing.assert_allclose(near[off], USER_COSINE[off], rtol=1e-12)  # u2-u4 0: dropped


@pytest.mark.filterwarnings("ignore:Method expects CSR input")
def test_itemcf_top10_equals_implicits_recommend() -> None:
    from implicit.nearest_neighbours import CosineRecommender

    data = random_topn(seed=3)
    user_items = data.train_matrix()
    model = CosineRecommender(K=21, num_threads=1)  # k = 20 other items + the item itself
    model.fit(user_items, show_progress=False)
    scorer = fit_scorer("itemcf", data)  # default k = 20
    users = np.arange(0, data.n_users, 7)
    scores = scorer(users)  # (b, I + 1)
    seen = np.zeros(scores.shape, dtype=bool)
    for r, k in enumerate(users):
        seen[r, data.user_train_items(int(k))] = True
    seen[:, 0] = True
    ours = top_k(scores, 10, exclude=seen)
    for r, k in enumerate(users):
        ids, theirs = model.recommend(
            int(k), user_items[int(k)], N=10, filter_already_liked_items=True
        )
        assert ids.tolist() == ours[r].tolist()
        np.testing.assert_allclose(scores[r, ids], theirs, rtol=1e-5)


# ---------------------------------------------------------------------- evaluation
def test_evaluation_excludes_train_items_and_matches_by_hand(hand: TopNData) -> None:
    row = evaluate_topn_baselines(hand, ["most_popular"], ks=(1, 3))["most_popular"]
    # rankings after removing train items: u1 4, 5 | u2 3, 4, 5 | u3 1, 3, 5 | u4 2, 1
    # test items: u1 4, u2 5, u3 1, u4 2 -> hits at rank 1, 3, 1, 1
    assert row["precision@1"] == row["hr@1"] == row["recall@1"] == pytest.approx(0.75)
    assert row["precision@3"] == pytest.approx(1 / 3)
    assert row["recall@3"] == row["hr@3"] == pytest.approx(1.0)
    assert row["ndcg@3"] == pytest.approx((1 + 0.5 + 1 + 1) / 4)
    assert row["users"] == 4
    # without the exclusion item 2 would top every list: only u4 would hit at 1
    scores = fit_scorer("most_popular", hand)(np.arange(4))
    relevant = np.zeros(scores.shape, dtype=bool)
    relevant[np.arange(4), [4, 5, 1, 2]] = True
    assert ranking_metrics(scores, relevant, (1,))["precision@1"] == pytest.approx(0.25)
    assert set(row) == {
        *(f"{m}@{k}" for m in ("precision", "recall", "hr", "ndcg") for k in (1, 3)),
        "users",
        "fit_seconds",
        "score_seconds",
    }


def test_padding_is_never_ranked(hand: TopNData) -> None:
    popular = fit_scorer("most_popular", hand)

    def padding_first(users: np.ndarray) -> np.ndarray:
        scores = popular(users)
        scores[:, 0] = 1e9
        return scores

    mine, counted = evaluate_scorer(padding_first, hand, ks=(1, 3))
    theirs, _ = evaluate_scorer(popular, hand, ks=(1, 3))
    assert mine == theirs and counted == 4
    for name in TOPN_BASELINES:
        scores = fit_scorer(name, hand)(np.arange(4))
        assert np.all(scores[:, 0] == -np.inf)
        assert 0 not in top_k(scores, 5)  # 5 real items rank before the padding


def test_liked_relevance_and_users_without_retrievable_items() -> None:
    # u1's only test item was also in its train part: it cannot be retrieved
    data = topn_of({**HAND, 5: [(1, 5), (3, 4), (1, 5)]})
    rated = evaluate_topn_baselines(data, ["most_popular"], ks=(3,))["most_popular"]
    assert rated["users"] == 4  # the fifth user is left out
    # liked test items (rating >= 4): u1 item 4 (5), u3 item 1 (4); u2's 5 and u4's 2 are not
    liked = evaluate_topn_baselines(data, ["most_popular"], "liked", ks=(3,))["most_popular"]
    assert liked["users"] == 2


def test_fitting_is_deterministic_and_seed_free() -> None:
    data = random_topn(seed=1)
    users = np.arange(data.n_users)
    for name in TOPN_BASELINES:
        first = fit_scorer(name, data, seed=0)(users)
        again = fit_scorer(name, data, seed=5)(users)
        np.testing.assert_array_equal(first, again)
    a = evaluate_topn_baselines(data, seed=0)
    b = evaluate_topn_baselines(data, seed=0)
    for name in TOPN_BASELINES:
        assert {k: v for k, v in a[name].items() if not k.endswith("seconds")} == {
            k: v for k, v in b[name].items() if not k.endswith("seconds")
        }


def test_neighbourhood_models_beat_popularity_on_clustered_users() -> None:
    # two taste groups (items 1-20 vs 21-40): neighbours recover the group, popularity not
    rng = np.random.default_rng(0)
    sequences = {}
    for user in range(1, 41):
        pool = np.arange(1, 21) if user % 2 else np.arange(21, 41)
        items = rng.choice(pool, size=15, replace=False)
        sequences[user] = [(int(i), 4) for i in items]
    data = topn_of(sequences)
    rows = evaluate_topn_baselines(data, ks=(3,))
    for name in ("itemcf", "usercf"):
        assert rows[name]["precision@3"] > rows["most_popular"]["precision@3"] + 0.2


# ---------------------------------------------------------------------- refusals
def test_unknown_name_lists_the_known_ones(hand: TopNData) -> None:
    with pytest.raises(InputError, match=r"^topn baselines: name: expected one of most_popular"):
        fit_scorer("itemknn", hand)
    with pytest.raises(InputError, match="itemcf, usercf, got 'itemknn'"):
        evaluate_topn_baselines(hand, ["itemcf", "itemknn"])


def test_bad_options_are_refused(hand: TopNData) -> None:
    with pytest.raises(
        InputError, match=r"^topn baselines: itemcf: options: expected keys among k,"
    ):
        fit_scorer("itemcf", hand, K=3)
    with pytest.raises(InputError, match=r"^topn baselines: usercf\.k: expected an integer >= 1"):
        fit_scorer("usercf", hand, k=0)
    with pytest.raises(InputError, match="expected keys among the names run"):
        evaluate_topn_baselines(hand, ["usercf"], options={"itemcf": {"k": 3}})
    with pytest.raises(InputError, match=r"^topn baselines: relevance: expected one of rated"):
        evaluate_topn_baselines(hand, ["most_popular"], "all")  # type: ignore[arg-type]
    with pytest.raises(IndexError, match=r"users: expected indices in 0 \.\. 3"):
        fit_scorer("usercf", hand)(np.array([4]))


# ---------------------------------------------------------------------- real data
def test_ml1m_figures_stay_where_they_were_measured() -> None:
    from rayrec.data.datasets import load_dataset
    from tests.conftest import shared_dataset

    data = build_topn_data(load_dataset("ml-1m", shared_dataset("movielens-1m")))
    assert (data.n_users, data.n_items) == (2999, 3615)
    rows = evaluate_topn_baselines(data)  # speed: benchmarks/topn_baselines.py
    # measured 2026-12: most-popular 0.103, ItemCF 0.131, UserCF 0.128 P@10 (rated)
    assert rows["most_popular"]["precision@10"] == pytest.approx(0.103, abs=0.005)
    assert rows["itemcf"]["precision@10"] == pytest.approx(0.131, abs=0.005)
    assert rows["usercf"]["precision@10"] == pytest.approx(0.128, abs=0.005)
