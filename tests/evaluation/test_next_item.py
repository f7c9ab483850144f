"""The ``next_item`` (SQN) protocol: against a brute-force per-row ranking, on a
hand-computed example, and its rules — no filtering of seen items, column 0 never
ranked, click-only data, refusals — then over session data and a module."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from rayrec.data.sessions import SessionData
from rayrec.errors import InputError
from rayrec.evaluation import get_protocol, protocol_for_kind
from rayrec.evaluation.next_item import (
    HEADLINE,
    KS,
    METRICS,
    evaluate_item_scores,
    evaluate_module,
    evaluate_next_item,
    evaluate_targets,
    metric_names,
)
from rayrec.metrics.next_item import next_item_metrics, target_ranks


def table_scorer(scores: np.ndarray, *, calls: list[int] | None = None) -> Any:
    """A scorer reading row ``state[:, 0]`` of a fixed score table (the tests put each
    target's row index in its state's first position)."""

    def scorer(states: np.ndarray, len_state: np.ndarray) -> np.ndarray:
        if calls is not None:
            calls.append(len(states))
        return scores[states[:, 0]]

    return scorer


def brute_force(
    scores: np.ndarray, targets: np.ndarray, is_buy: np.ndarray, ks: tuple[int, ...]
) -> dict[str, float]:
    """The protocol one row at a time: items 1..N sorted by (−score, id), the target's
    position read off, HR / NDCG averaged per kind."""
    n_items = scores.shape[1] - 1
    per_kind: dict[str, list[int]] = {"click": [], "purchase": []}
    for row, target, buy in zip(scores, targets, is_buy, strict=True):
        order = sorted(range(1, n_items + 1), key=lambda j: (-row[j], j))
        per_kind["purchase" if buy else "click"].append(order.index(int(target)) + 1)
    out: dict[str, float] = {}
    for kind, ranks in per_kind.items():
        for k in ks:
            hr = [1.0 if r <= k else 0.0 for r in ranks]
            ndcg = [1.0 / math.log2(r + 1) if r <= k else 0.0 for r in ranks]
            out[f"{kind}_hr@{k}"] = sum(hr) / len(ranks) if ranks else math.nan
            out[f"{kind}_ndcg@{k}"] = sum(ndcg) / len(ranks) if ranks else math.nan
    last = max(ks)
    parts = [out[f"{kind}_{m}@{last}"] for kind in per_kind for m in ("hr", "ndcg")]
    out[f"total@{last}"] = sum(p for p in parts if not math.isnan(p))
    return out


def as_states(n: int, length: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """(n, L) states whose first position is the row index (see :func:`table_scorer`)."""
    states = np.zeros((n, length), dtype=np.int64)
    states[:, 0] = np.arange(n)
    return states, np.ones(n, dtype=np.int64)


def test_metric_names_and_registration() -> None:
    assert KS == (5, 10, 20) and HEADLINE == "total@20"
    expected = (
        *(f"click_{m}@{k}" for k in KS for m in ("hr", "ndcg")),
        *(f"purchase_{m}@{k}" for k in KS for m in ("hr", "ndcg")),
        "total@20",
    )
    assert expected == METRICS
    protocol = protocol_for_kind("logged_sessions")
    assert protocol is get_protocol("next_item")
    assert protocol.metrics == METRICS and protocol.headline == HEADLINE
    assert protocol.references == ("most_popular",)
    assert "click_hr@5" not in protocol.shown and "total@20" in protocol.shown
    assert metric_names((1, 3)) == (
        "click_hr@1",
        "click_ndcg@1",
        "click_hr@3",
        "click_ndcg@3",
        "purchase_hr@1",
        "purchase_ndcg@1",
        "purchase_hr@3",
        "purchase_ndcg@3",
        "total@3",
    )


@pytest.mark.parametrize("batch", [1, 37, 1000])
def test_the_protocol_is_the_brute_force_ranking_with_ties(batch: int) -> None:
    """Integer scores in 0..4 over 12 items: most rows have ties at the target."""
    rng = np.random.default_rng(7)
    n, n_items = 150, 12
    scores = rng.integers(0, 5, size=(n, n_items + 1)).astype(np.float64)
    scores[rng.random(scores.shape) < 0.05] = -np.inf
    targets = rng.integers(1, n_items + 1, size=n)
    is_buy = rng.random(n) < 0.3
    ks = (1, 3, 5)
    states, len_state = as_states(n)
    result = evaluate_targets(
        table_scorer(scores), states, len_state, targets, is_buy, ks=ks, batch=batch
    )
    assert result.metrics == pytest.approx(brute_force(scores, targets, is_buy, ks))
    assert list(result.metrics) == list(metric_names(ks))
    assert result.evaluated == n and result.protocol == "next_item"
    assert f"{int((~is_buy).sum())} click and {int(is_buy.sum())} purchase" in result.data


def test_a_hand_computed_example() -> None:
    """3 items, 4 targets (column 0 first, never ranked):

    row 0 [9, .5, .2, .1] target 1 click    -> rank 1
    row 1 [0, .3, .3, .9] target 2 click    -> item 3 higher, item 1 tied and smaller: 3
    row 2 [0, .3, .3, .9] target 1 purchase -> item 3 higher, no smaller tie: rank 2
    row 3 [0, .1, .2, .3] target 3 purchase -> rank 1
    """
    scores = np.array(
        [[9, 0.5, 0.2, 0.1], [0, 0.3, 0.3, 0.9], [0, 0.3, 0.3, 0.9], [0, 0.1, 0.2, 0.3]]
    )
    targets = np.array([1, 2, 1, 3])
    is_buy = np.array([False, False, True, True])
    np.testing.assert_array_equal(target_ranks(scores, targets), [1, 3, 2, 1])
    states, len_state = as_states(4)
    m = evaluate_targets(
        table_scorer(scores), states, len_state, targets, is_buy, ks=(1, 2), batch=3
    ).metrics
    third = 1 / math.log2(3)
    assert m["click_hr@1"] == m["click_ndcg@1"] == 0.5
    assert m["click_hr@2"] == m["click_ndcg@2"] == 0.5
    assert m["purchase_hr@1"] == m["purchase_ndcg@1"] == 0.5
    assert m["purchase_hr@2"] == 1.0
    assert m["purchase_ndcg@2"] == pytest.approx((third + 1) / 2)
    assert m["total@2"] == pytest.approx(0.5 + 0.5 + 1 + (third + 1) / 2)
    m = evaluate_targets(table_scorer(scores), states, len_state, targets, is_buy).metrics
    assert m["click_hr@5"] == m["purchase_hr@20"] == 1.0
    assert m["click_ndcg@20"] == pytest.approx((1 + 1 / math.log2(4)) / 2)
    assert m["total@20"] == pytest.approx(1 + 0.75 + 1 + (third + 1) / 2)


def test_items_of_the_session_are_not_filtered() -> None:
    """A scorer that puts the state's items first: a target repeated from its own
    state ranks 1 (a filtering protocol would drop it from the ranking)."""
    n_items = 50
    states = np.array([[7, 3, 0], [4, 0, 0], [9, 9, 2]])
    len_state = np.array([2, 1, 3])
    targets = np.array([3, 4, 2])  # each one an item of its own state

    def repeat(states: np.ndarray, len_state: np.ndarray) -> np.ndarray:
        scores = np.zeros((len(states), n_items + 1))
        np.put_along_axis(scores, states, 1.0, axis=1)
        return scores

    m = evaluate_targets(repeat, states, len_state, targets, np.zeros(3, bool)).metrics
    assert m["click_hr@5"] == 1.0 and m["click_ndcg@5"] == 1.0


def test_column_zero_is_never_ranked() -> None:
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(40, 9))
    targets = rng.integers(1, 9, size=40)
    base = target_ranks(scores, targets)
    for padding in (np.inf, 1e9, -np.inf, np.nan):
        scores[:, 0] = padding
        np.testing.assert_array_equal(target_ranks(scores, targets), base)
    scores[:, 0] = 0.0
    worst = np.argmin(scores[:, 1:], axis=1) + 1  # the lowest-scored item ranks N = 8
    np.testing.assert_array_equal(target_ranks(scores, worst), np.full(40, 8))


def test_click_only_data_has_nan_purchase_metrics_and_a_click_total() -> None:
    rng = np.random.default_rng(2)
    scores = rng.normal(size=(30, 26))
    targets = rng.integers(1, 26, size=30)
    states, len_state = as_states(30)
    result = evaluate_targets(
        table_scorer(scores), states, len_state, targets, np.zeros(30, dtype=bool)
    )
    m = result.metrics
    assert all(math.isnan(m[f"purchase_{x}@{k}"]) for k in KS for x in ("hr", "ndcg"))
    assert m["total@20"] == pytest.approx(m["click_hr@20"] + m["click_ndcg@20"])
    assert "30 click and 0 purchase targets" in result.data


def test_one_score_vector_for_every_target_is_ranked_once() -> None:
    """Most-popular's path: the same numbers as the per-target ranking of that row."""
    rng = np.random.default_rng(3)
    popularity = rng.integers(0, 4, size=21).astype(np.float64)  # many ties
    popularity[5] = -np.inf
    targets = rng.integers(1, 21, size=200)
    is_buy = rng.random(200) < 0.4
    states, len_state = as_states(200)
    per_target = evaluate_targets(
        lambda s, n: np.tile(popularity, (len(s), 1)), states, len_state, targets, is_buy
    )
    once = evaluate_item_scores(popularity, targets, is_buy)
    assert once.metrics == pytest.approx(per_target.metrics)
    assert once.evaluated == 200


def test_bad_input_is_refused_naming_what_was_wrong() -> None:
    scores = np.zeros((3, 5))
    states, len_state = as_states(3)
    scorer = table_scorer(scores)
    buy = np.zeros(3, dtype=bool)
    with pytest.raises(InputError, match=r"is_buy: expected shape \(3,\)"):
        evaluate_targets(scorer, states, len_state, np.array([1, 2, 3]), buy[:2])
    with pytest.raises(InputError, match=r"states \(R, L\).*R = 3"):
        evaluate_targets(scorer, states[:2], len_state[:2], np.array([1, 2, 3]), buy)
    with pytest.raises(InputError, match=r"targets: expected item ids 1..N.*got 0 at row 1"):
        evaluate_targets(scorer, states, len_state, np.array([1, 0, 3]), buy)
    with pytest.raises(InputError, match=r"targets: expected item ids 1..4.*got 5 at row 2"):
        evaluate_targets(scorer, states, len_state, np.array([1, 2, 5]), buy)
    nan = scores.copy()
    nan[2, 3] = np.nan
    with pytest.raises(InputError, match=r"no NaN in columns 1\.\.N, got NaN in row 2"):
        evaluate_targets(table_scorer(nan), states, len_state, np.array([1, 2, 3]), buy)
    with pytest.raises(InputError, match=r"scores: expected shape \(3, N \+ 1\)"):
        evaluate_targets(lambda s, n: scores[:2], states, len_state, np.array([1, 2, 3]), buy)
    with pytest.raises(InputError, match="no target"):
        evaluate_targets(scorer, states[:0], len_state[:0], np.zeros(0, np.int64), buy[:0])
    with pytest.raises(InputError, match="ks"):
        next_item_metrics(scores, np.array([1, 2, 3]), buy, ks=(0,))


def sessions_data(sessions: list[list[int]], buys: list[list[bool]], parts: list[int]) -> Any:
    """Five sessions over 6 items, end padding, L = 3."""
    return SessionData(
        n_items=6,
        items=np.array([i for s in sessions for i in s], dtype=np.int64),
        is_buy=np.array([b for s in buys for b in s], dtype=bool),
        session_start=np.r_[0, np.cumsum([len(s) for s in sessions])].astype(np.int64),
        session_part=np.array(parts, dtype=np.int8),
        state_length=3,
        padding="end",
        click_reward=0.2,
        purchase_reward=1.0,
        has_purchases=True,
        description={"dataset": "fake"},
    )


def fake_sessions() -> SessionData:
    return sessions_data(
        sessions=[[1, 2, 3], [2, 2, 4, 1], [5, 3, 3], [4, 1, 2, 2], [3, 5]],
        buys=[
            [False, False, True],
            [False, True, False, False],
            [False] * 3,
            [False] * 4,
            [False, True],
        ],
        parts=[0, 2, 1, 2, 0],
    )


def last_item_scorer(n_items: int, *, seen: list[tuple[np.ndarray, np.ndarray]]) -> Any:
    """Scores the state's last item highest, then lower ids (records its inputs)."""

    def scorer(states: np.ndarray, len_state: np.ndarray) -> np.ndarray:
        seen.append((states.copy(), len_state.copy()))
        scores = np.tile(-np.arange(n_items + 1, dtype=np.float64), (len(states), 1))
        last = states[np.arange(len(states)), len_state - 1]  # 0 for an empty state
        scores[np.arange(len(states)), last] = 100.0
        return scores

    return scorer


def test_every_event_of_the_part_is_a_target_the_first_included() -> None:
    data = fake_sessions()
    seen: list[tuple[np.ndarray, np.ndarray]] = []
    result = evaluate_next_item(last_item_scorer(6, seen=seen), data, "test", batch=3)
    rows = data.rows("test")
    states = np.concatenate([s for s, _ in seen])
    len_state = np.concatenate([n for _, n in seen])
    assert len(states) == len(rows) == 8 == result.evaluated
    # the first events of sessions 1 and 3 (rows 3 and 10): all padding, length 1
    assert states[0].tolist() == [0, 0, 0] and states[4].tolist() == [0, 0, 0]
    assert len_state[0] == len_state[4] == 1
    same = evaluate_targets(
        last_item_scorer(6, seen=[]), states, len_state, data.items[rows], data.is_buy[rows]
    )
    assert result.metrics == same.metrics
    counts = "(7 click and 1 purchase targets)"
    assert result.data == f"test part of fake, every event of 2 sessions {counts}"
    with pytest.raises(InputError, match="part: expected one of train, valid, test"):
        evaluate_next_item(last_item_scorer(6, seen=[]), data, "eval")
    with pytest.raises(InputError, match="expected 7 columns"):
        evaluate_next_item(lambda s, n: np.zeros((len(s), 5)), data, "test")


class ItemScoresModule(torch.nn.Module):
    """A module with the CE head's API: logits from an embedding of the state's last item."""

    def __init__(self, n_items: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = torch.nn.Embedding(n_items + 1, n_items + 1)
        self.modes: list[bool] = []

    def item_scores(self, state: torch.Tensor, len_state: torch.Tensor) -> torch.Tensor:
        self.modes.append(self.training)
        assert state.dtype == torch.long and not torch.is_grad_enabled()
        last = state[torch.arange(len(state)), len_state - 1]  # (B,)
        out: torch.Tensor = self.embed(last)  # (B, N + 1)
        return out


def test_a_module_is_evaluated_in_eval_mode_next_to_most_popular(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = fake_sessions()
    monkeypatch.setattr("rayrec.environments.sessions.session_data_for", lambda c: data)
    module = ItemScoresModule(6)
    module.train()
    result = get_protocol("next_item").evaluate_module(
        module, {"eval_part": "valid"}, users=1, seed=0
    )
    assert module.modes == [False] and module.training  # eval mode, then restored
    assert result.evaluated == 3 and "valid part of fake" in result.data
    with torch.no_grad():
        table = module.embed.weight.numpy()

    def by_last(states: np.ndarray, len_state: np.ndarray) -> np.ndarray:
        return table[states[np.arange(len(states)), len_state - 1]]

    rows = data.rows("valid")
    assert result.metrics == pytest.approx(
        evaluate_targets(by_last, *data.states(rows), data.items[rows], data.is_buy[rows]).metrics,
        nan_ok=True,
    )
    popular = evaluate_item_scores(data.popularity(), data.items[rows], data.is_buy[rows])
    assert result.references == {"most_popular": pytest.approx(popular.metrics, nan_ok=True)}
    assert evaluate_module(module, {}, users=1, seed=0).evaluated == 8  # default: test
    with pytest.raises(InputError, match="eval_part: expected one of train, valid, test"):
        evaluate_module(module, {"eval_part": "eval"}, users=1, seed=0)
