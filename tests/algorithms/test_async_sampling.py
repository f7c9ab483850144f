"""HAC's asynchronous sampling: remote runners sample round k + 1 while the learner
trains on round k, acting with weights one sync behind the learner's.

With ``exploration_noise = 0`` the acting hyper-action is a deterministic function of
the weights and the observation, so the replay's stored Z tells which weights sampled
each round: in the async mode the second round was sampled with the *initial* weights
(it was started before the first updates), in the synchronous mode with the updated
ones. Both modes must be reproducible from the seed.
"""

from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME

from rayrec.algorithms.ddpg.ddpg import ASYNC_SAMPLE_TAG
from rayrec.algorithms.keys import HYPER_ACTION
from rayrec.train import TrainOptions, build_config

REPO = Path(__file__).resolve().parents[2]
SYNTHETIC = str(REPO / "envs" / "synthetic.yaml")
RUNNERS, USERS, FRAGMENT = 2, 8, 8
ROUND = RUNNERS * USERS * FRAGMENT  # transitions per sampling round (128)


def _run(async_sampling: bool) -> dict[str, Any]:
    config, _ = build_config(
        TrainOptions(
            algo="hac",
            env=SYNTHETIC,
            num_env_runners=RUNNERS,
            num_envs_per_env_runner=USERS,
            seed=3,
            overrides={
                "num_steps_sampled_before_learning_starts": 64,
                "exploration_noise": 0.0,
                "async_sampling": async_sampling,
            },
        )
    )
    assert config.get_rollout_fragment_length() == FRAGMENT
    algo: Any = config.build_algo()
    try:
        initial = copy.deepcopy(algo.get_module())
        buffer = algo.transition_buffer
        sizes: list[int] = []  # transitions added per runner result, in order
        add = buffer.add_columns

        def recording_add(cols: Any, n: int) -> int:
            sizes.append(n)
            return add(cols, n)

        buffer.add_columns = recording_add
        result = algo.train()  # 256 env steps = two sampling rounds
        learner = result["learners"]["default_policy"]
        in_flight = algo.env_runner_group.num_in_flight_async_reqs(tag=ASYNC_SAMPLE_TAG)
        result = algo.train()
        bounds = np.cumsum([0, *sizes])[::RUNNERS]  # where each sampling round starts
        return {
            "rounds": [slice(int(a), int(b)) for a, b in itertools.pairwise(bounds)],
            "initial": initial,
            "steps": int(result[ENV_RUNNER_RESULTS][NUM_ENV_STEPS_SAMPLED_LIFETIME]),
            "losses": [float(learner[k]) for k in ("L_TD", "L_QMax", "L_Hyper", "L_BCE")],
            "columns": {k: v[: len(buffer)].copy() for k, v in buffer.columns.items()},
            "stored": len(buffer),
            "in_flight": in_flight,
        }
    finally:
        algo.stop()


def _max_gap_to_initial_policy(run: dict[str, Any], rows: slice) -> float:
    """max |Z stored − π_initial(s)| over the replay rows ``rows``."""
    cols = run["columns"]
    obs = {
        key[1]: torch.as_tensor(value[rows]) for key, value in cols.items() if key[0] == Columns.OBS
    }
    with torch.no_grad():
        z = run["initial"].forward_inference({Columns.OBS: obs})[HYPER_ACTION]
    return float((z - torch.as_tensor(cols[(HYPER_ACTION,)][rows])).abs().max())


@pytest.mark.ray
@pytest.mark.slow
def test_async_runners_sample_ahead_with_weights_one_sync_behind(
    ray_session: Any, single_thread: None
) -> None:
    async_a, async_b = _run(True), _run(True)
    sync = _run(False)

    # The runners are kept busy between training steps only in the async mode.
    assert async_a["in_flight"] == RUNNERS
    assert sync["in_flight"] == 0
    # Every sampled step reaches the replay in both modes (a round is ~128 steps:
    # RLlib finishes the vector step that crosses the fragment length).
    for run in (async_a, sync):
        assert run["stored"] == run["steps"] >= 4 * ROUND
        assert len(run["rounds"]) >= 4

    # Round 1: the initial weights in both modes.
    assert _max_gap_to_initial_policy(async_a, async_a["rounds"][0]) < 1e-5
    assert _max_gap_to_initial_policy(sync, sync["rounds"][0]) < 1e-5
    # Round 2 was started before the first updates in the async mode: still the
    # initial weights; the synchronous mode sampled it after the updates.
    assert _max_gap_to_initial_policy(async_a, async_a["rounds"][1]) < 1e-5
    assert _max_gap_to_initial_policy(sync, sync["rounds"][1]) > 1e-3
    # Round 3 in the async mode: after one sync, the learner's weights have moved.
    assert _max_gap_to_initial_policy(async_a, async_a["rounds"][2]) > 1e-3

    # Seeded and reproducible: the same transitions in the same order, the same losses.
    assert async_a["losses"] == async_b["losses"]
    for key, value in async_a["columns"].items():
        np.testing.assert_array_equal(value, async_b["columns"][key], err_msg=str(key))
