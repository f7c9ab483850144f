"""Evaluation protocols: the registry, full ranking and rating error on hand-made
cases, and the slate protocol against the rollout it wraps."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from rayrec.errors import InputError
from rayrec.evaluation import PROTOCOLS, EvalResult, get_protocol, protocol_for_kind
from rayrec.evaluation.full_ranking import evaluate_full_ranking
from rayrec.evaluation.rating_error import evaluate_rating_error

REPO = Path(__file__).resolve().parents[2]
SYNTHETIC = str(REPO / "envs" / "synthetic.yaml")


def test_each_env_kind_has_one_protocol() -> None:
    assert protocol_for_kind("slate").name == "slate_rollout"
    assert protocol_for_kind("rating_walk").name == "rating_error"
    assert protocol_for_kind("topn").name == "topn"
    assert protocol_for_kind("logged_sessions").name == "next_item"
    assert get_protocol("full_ranking").env_kinds == ()
    kinds = [k for p in PROTOCOLS.values() for k in p.env_kinds]
    assert len(kinds) == len(set(kinds))
    for protocol in PROTOCOLS.values():
        assert protocol.headline in protocol.metrics
        assert set(protocol.shown) <= set(protocol.metrics)


def test_unknown_names_are_refused_naming_the_known_ones() -> None:
    with pytest.raises(InputError, match="slate_rollout"):
        get_protocol("nope")
    with pytest.raises(InputError, match=r"'nope'.*slate"):
        protocol_for_kind("nope")


def test_a_protocol_without_an_env_yet_says_so() -> None:
    with pytest.raises(InputError, match="full_ranking: no env kind"):
        get_protocol("full_ranking").evaluate_module(object(), "x", users=1, seed=0)


def scores_from(table: list[list[float]]) -> Any:
    matrix = np.asarray(table)

    def scorer(rows: np.ndarray) -> np.ndarray:
        return matrix[rows]

    return scorer


def test_full_ranking_excludes_seen_items_and_averages_rows() -> None:
    """Three rows over 5 items, one relevant item each, k = 2 (computed by hand).

    row 0: ranking 4, 3, 2, 1, 0; item 4 seen -> 3, 2, ...; relevant 2 at rank 2
    row 1: ranking 0, 1, ...; relevant 0 at rank 1
    row 2: ranking 0, 1, 2, ...; item 0 seen -> 1, 2, 3; relevant 3 at rank 3 (miss)
    """
    scorer = scores_from(
        [[0.0, 1.0, 2.0, 3.0, 4.0], [5.0, 4.0, 3.0, 2.0, 1.0], [9.0, 8.0, 7.0, 6.0, 5.0]]
    )
    relevant = [np.array([2]), np.array([0]), np.array([3])]
    exclude = [np.array([4]), np.array([], dtype=np.int64), np.array([0])]
    result = evaluate_full_ranking(
        scorer, np.arange(3), relevant, exclude, ks=(2,), batch=2, data="hand-made"
    )
    assert isinstance(result, EvalResult) and result.protocol == "full_ranking"
    assert result.evaluated == 3 and result.data == "hand-made"
    m = result.metrics
    assert m["hr@2"] == pytest.approx(2 / 3)
    assert m["recall@2"] == pytest.approx(2 / 3)
    assert m["precision@2"] == pytest.approx((1 / 2 + 1 / 2 + 0) / 3)
    assert m["mrr@2"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert m["ndcg@2"] == pytest.approx((1 / math.log2(3) + 1 + 0) / 3)


def test_full_ranking_is_the_same_whatever_the_batch() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(7, 20))
    relevant = [rng.choice(20, size=1 + i % 3, replace=False) for i in range(7)]
    exclude = [np.setdiff1d(rng.choice(20, size=4, replace=False), r) for r in relevant]
    whole = evaluate_full_ranking(
        scores_from(scores.tolist()), np.arange(7), relevant, exclude, ks=(1, 5), batch=100
    )
    parts = evaluate_full_ranking(
        scores_from(scores.tolist()), np.arange(7), relevant, exclude, ks=(1, 5), batch=3
    )
    assert whole.metrics == pytest.approx(parts.metrics)
    assert set(whole.metrics) == {
        f"{m}@{k}" for k in (1, 5) for m in ("hr", "ndcg", "precision", "recall", "mrr")
    }


def test_full_ranking_refuses_rows_without_relevant_items() -> None:
    with pytest.raises(InputError, match="row 1 has no relevant item"):
        evaluate_full_ranking(
            scores_from([[1.0], [2.0]]),
            np.arange(2),
            [np.array([0]), np.array([], dtype=np.int64)],
            [np.array([], dtype=np.int64)] * 2,
        )


def test_rating_error_by_hand() -> None:
    users = np.array([1, 2, 3, 4])
    items = np.array([10, 20, 30, 40])
    real = np.array([4.0, 3.0, 5.0, 1.0])

    by_user = {1: 5.0, 2: 3.0, 3: 3.0, 4: -1.0}

    def predict(u: np.ndarray, i: np.ndarray) -> np.ndarray:
        return np.array([by_user[int(x)] for x in u])

    # errors 1, 0, -2, -2 -> RMSE sqrt(9/4), MAE 5/4
    result = evaluate_rating_error(predict, users, items, real, batch=3)
    assert result.protocol == "rating_error" and result.evaluated == 4
    assert result.metrics["rmse"] == pytest.approx(1.5)
    assert result.metrics["mae"] == pytest.approx(1.25)
    # clipped to [1, 5]: errors 1, 0, -2, 0
    clipped = evaluate_rating_error(predict, users, items, real, clip=(1.0, 5.0))
    assert clipped.metrics["rmse"] == pytest.approx(math.sqrt(5 / 4))
    assert clipped.metrics["mae"] == pytest.approx(0.75)


def test_rating_error_refuses_mismatched_lengths() -> None:
    with pytest.raises(InputError, match="one length"):
        evaluate_rating_error(lambda u, i: u, np.arange(3), np.arange(2), np.arange(3))


class FixedSlates:
    """A stand-in RLModule whose greedy action is always the same slate."""

    def __init__(self, slate: list[int]) -> None:
        self.slate = slate

    def forward_inference(self, batch: dict[str, Any]) -> dict[str, Any]:
        from ray.rllib.core.columns import Columns

        obs = next(iter(batch[Columns.OBS].values()))
        return {Columns.ACTIONS: torch.tensor([self.slate] * len(obs))}


def test_slate_protocol_is_the_rollout_of_the_greedy_policy_next_to_random() -> None:
    from rayrec.environments import env_config_for
    from rayrec.environments.rollout import random_policy
    from rayrec.evaluation.slate_rollout import eval_simulator, evaluate_policy, module_policy

    env_config = env_config_for(SYNTHETIC, part="train", seed=0)
    sim, env_cfg = eval_simulator(env_config)
    assert sim.meta.get("part", "eval") == "eval"
    module = FixedSlates(list(range(1, env_cfg.slate_size + 1)))
    result = get_protocol("slate_rollout").evaluate_module(module, env_config, users=20, seed=3)
    assert result.metrics == evaluate_policy(
        sim, module_policy(module), env_cfg, n_users=20, seed=3
    )
    assert result.references == {
        "random": evaluate_policy(sim, random_policy(), env_cfg, n_users=20, seed=3)
    }
    assert result.evaluated == 20 and result.seed == 3
    assert result.data == f"evaluation simulator of {SYNTHETIC}"
    assert set(result.by_policy("hac")) == {"hac", "random"}


def test_full_ranking_leaves_out_rows_whose_relevant_items_were_all_seen() -> None:
    """Row 1's only relevant item is excluded: the means are over rows 0 and 2."""
    scorer = scores_from([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0], [3.0, 2.0, 1.0]])
    result = evaluate_full_ranking(
        scorer,
        np.arange(3),
        [np.array([0]), np.array([1]), np.array([2])],
        [np.array([], dtype=np.int64), np.array([1]), np.array([], dtype=np.int64)],
        ks=(1,),
        batch=2,
    )
    assert result.evaluated == 2
    assert result.metrics["hr@1"] == pytest.approx(0.5)  # row 0 hit, row 2 missed


def test_rollout_keeps_each_users_first_slate_whatever_the_batch() -> None:
    """``first_slates`` is row u = the slate user u saw first, across env batches; the
    protocol's ``overlap`` is :func:`slate_overlap` of those rows."""
    from rayrec.environments import env_config_for
    from rayrec.environments.rollout import rollout
    from rayrec.environments.slate import SlateEnv
    from rayrec.evaluation.slate_rollout import eval_simulator, evaluate_policy
    from rayrec.metrics.slate import slate_overlap

    sim, env_cfg = eval_simulator(env_config_for(SYNTHETIC, part="train", seed=0))
    k, n = env_cfg.slate_size, 20
    calls: list[tuple[SlateEnv, np.ndarray]] = []

    def by_user(env: SlateEnv, obs: dict[str, np.ndarray]) -> np.ndarray:
        """Slate ``u % 5 + 1 .. + K`` shifted by the call count: each user's first slate
        is known, later ones differ."""
        users = env.users.cpu().numpy()
        slates = (users[:, None] % 5 + np.arange(k)[None, :] + len(calls)) % sim.n_items + 1
        calls.append((env, slates))
        return slates

    result = rollout(sim, by_user, n, env_cfg, seed=2, batch=7)
    assert result.first_slates.shape == (n, k)
    assert result.slates.shape[0] == int(result.depth.sum())
    envs = [env for env, _ in calls]
    firsts = [s for i, (env, s) in enumerate(calls) if i == 0 or env is not envs[i - 1]]
    assert [len(f) for f in firsts] == [7, 7, 6]  # one env per batch of users
    np.testing.assert_array_equal(result.first_slates, np.concatenate(firsts))
    assert not np.array_equal(calls[1][1], calls[0][1])  # later slates differ
    calls.clear()
    metrics = evaluate_policy(sim, by_user, env_cfg, n_users=n, seed=2, batch=7)
    assert metrics["overlap"] == slate_overlap(result.first_slates)


def test_slate_protocol_reports_overlap_one_for_one_slate_for_everybody() -> None:
    from rayrec.environments import env_config_for

    env_config = env_config_for(SYNTHETIC, part="train", seed=0)
    protocol = get_protocol("slate_rollout")
    assert "overlap" in protocol.metrics and "overlap" in protocol.shown
    module = FixedSlates(list(range(1, 11)))
    result = protocol.evaluate_module(module, env_config, users=30, seed=3)
    assert result.metrics["overlap"] == 1.0
    # random slates of 10 from the synthetic pool share almost nothing
    assert result.references["random"]["overlap"] < 0.05
    assert protocol.columns(result)["eval_overlap"] == 1.0
