"""The ``rating_error`` protocol on the ``rating_walk`` env kind: the test walk.

A trained DDPG-LA module walks every user's whole record sequence in the env spec's
evaluation part (:mod:`rayrec.environments.rating_walk`): the carried state passes
through the train records, and the module's greedy prediction of each test-part record
is scored, with no updates. Metrics on the rating scale (1–5 on MovieLens): RMSE and
MAE with the earlier test records' true ratings in the state (the paper's protocol),
and — the protocol asymmetry stated — RMSE and MAE when the state holds the module's own
predictions of the earlier test records instead (``rmse_own`` / ``mae_own``: what a
recommender that never sees test ratings could do, as the Surprise models). References
on the same test records: the global-mean and user-mean predictors of the train part;
a table's references add scikit-surprise's models (:mod:`rayrec.baselines.rating`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from rayrec.baselines.rating import RATING_BASELINES, RatingTriples, evaluate_baselines
from rayrec.environments.rating_walk import RatingWalkEnv, env_config_of, make_env
from rayrec.evaluation.rating_error import METRICS, NAME
from rayrec.evaluation.result import EvalResult
from rayrec.metrics.rating import mae, rmse
from rayrec.simulator.keys import PART_EVAL

#: the metrics of a module's test walk (Tune's ``eval_<m>`` columns)
WALK_METRICS = (*METRICS, "rmse_own", "mae_own")
#: the references of every module evaluation (fast; a table adds the Surprise models)
MEAN_PREDICTORS = ("global_mean", "user_mean")
#: test walks run this many users at once
WALK_BATCH = 1024


def walk_predictions(
    module: Any, env_config: Mapping[str, Any], *, test_history: str = "observed"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The module's greedy predictions of every scored record of the test walk.

    Returns:
        (predicted, real, user): (N,) ratings on the env's rating scale and the users.
    """
    from ray.rllib.core.columns import Columns

    config = dict(env_config)
    config["walk"] = {**dict(config.get("walk") or {}), "test_history": test_history}
    env = make_env({**config, "part": PART_EVAL, "num_envs": WALK_BATCH})
    assert isinstance(env, RatingWalkEnv)
    obs, _ = env.reset()
    state = module.initial_state_batch(env.num_envs)
    initial = module.initial_state_batch(1)
    resetting = np.zeros(env.num_envs, dtype=bool)
    predicted, real, users = [], [], []
    low, high = env.records.rating_scale
    while not env.done:
        batch = {
            Columns.OBS: {k: torch.as_tensor(v) for k, v in obs.items()},
            Columns.STATE_IN: state,
        }
        with torch.no_grad():
            out = module.forward_inference(batch)
        action = out[Columns.ACTIONS].cpu().numpy()  # (B, 1)
        obs, _, terminated, truncated, info = env.step(action)
        scored = np.asarray(info["scored"], dtype=bool)  # (B,)
        predicted.append(action[scored, 0])
        real.append(np.asarray(info["rating"])[scored])
        users.append(np.asarray(info["user"])[scored])
        state = dict(out[Columns.STATE_OUT])
        if resetting.any():  # the rows reset by this step start their new user afresh
            rows = torch.as_tensor(resetting)
            # a copy: a ring passed through unchanged is the previous step's tensor
            state = {name: ring.clone() for name, ring in state.items()}
            for name, ring in state.items():
                ring[rows] = initial[name][0]
        resetting = np.asarray(terminated) | np.asarray(truncated)
    scale = high - low
    return (
        low + np.concatenate(predicted).astype(np.float64) * scale,
        low + np.concatenate(real).astype(np.float64) * scale,
        np.concatenate(users),
    )


def baseline_results(
    env_config: Mapping[str, Any], names: tuple[str, ...], *, seed: int = 1
) -> dict[str, dict[str, float]]:
    """Rating baselines (:data:`rayrec.baselines.rating.RATING_BASELINES`) fitted on the
    train part of the walk's split and scored on the test walk's scored records — the
    same records the agent is scored on — by RMSE and MAE (and their fit time)."""
    records, _, _ = env_config_of(env_config)
    low, high = (float(x) for x in records.rating_scale)
    train = RatingTriples(*records.triples("train"))
    test = RatingTriples(*records.triples("test"))
    rows = evaluate_baselines(train, test, names, seed=seed, rating_scale=(low, high))
    return {
        name: {"rmse": row["rmse"], "mae": row["mae"], "fit_seconds": row["fit_seconds"]}
        for name, row in rows.items()
    }


def evaluate_module(
    module: Any, env_config: Mapping[str, Any], *, users: int, seed: int
) -> EvalResult:
    """The module's test walk (``users`` and ``seed`` unused: every user's test records
    are scored, in a fixed order) next to the mean predictors."""
    del users, seed
    pred, real, _ = walk_predictions(module, env_config, test_history="observed")
    own, own_real, _ = walk_predictions(module, env_config, test_history="predicted")
    metrics = {
        "rmse": rmse(pred, real),
        "mae": mae(pred, real),
        "rmse_own": rmse(own, own_real),
        "mae_own": mae(own, own_real),
    }
    return EvalResult(
        protocol=NAME,
        metrics=metrics,
        references=baseline_results(env_config, MEAN_PREDICTORS),
        evaluated=len(real),
        data=f"test walk of {env_config.get('spec', 'the rating walk')}",
    )


def reference_results(
    env_config: Mapping[str, Any], *, users: int, seed: int = 1
) -> dict[str, dict[str, float]]:
    """Every rating baseline (a table's reference rows): the mean predictors and the
    Surprise models, fitted once with ``seed``."""
    del users
    return baseline_results(env_config, tuple(RATING_BASELINES), seed=seed)
