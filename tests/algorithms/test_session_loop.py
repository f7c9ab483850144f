"""The offline loop of the logged-session learners (:class:`rayrec.algorithms.sqn.sqn.SQN`)
through :class:`rayrec.train.TrainingRun`, on the synthetic sessions (Ray, slow).

Two iterations of a few SQN updates; the second wrecks the weights on purpose (a
learning-rate schedule that jumps to 20 after the first iteration's rows), so
validation selects the first iteration. Checked: each iteration's row logs the
validation figures, their best so far and the selection; ``algo.get_module()`` holds
the selected (first iteration's) weights, not the learner's last ones; the final
evaluation is the ``next_item`` protocol on the test part of those weights; a
checkpoint restored into a fresh algorithm has the same selection record and module
weights, and its next iteration continues the update count.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from ray.rllib.core import DEFAULT_MODULE_ID

from rayrec.algorithms.sqn.sqn import SQN
from rayrec.algorithms.sqn.sqn_learner import (
    BEST_VALID_PREFIX,
    NUM_UPDATES,
    SELECTED_ITERATION,
    SELECTED_VALUE,
    VALID_PREFIX,
)
from rayrec.data.sessions import PART_TEST
from rayrec.environments.sessions import session_data_for
from rayrec.evaluation.next_item import evaluate_next_item, module_scorer
from rayrec.train import (
    Iteration,
    StopCriteria,
    TrainingRun,
    TrainOptions,
    algorithm_protocol,
    build_config,
)
from tests.algorithms.conftest import SYNTHETIC_SESSIONS

UPDATES = 20  # per iteration
BATCH = 64
ROWS = UPDATES * BATCH  # rows drawn by the first iteration
TOTAL = "total@20"


class Rows:
    """A sink keeping each iteration's row."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def iteration(self, run: TrainingRun, it: Iteration) -> None:
        self.rows.append(it.row)


def weights(module: Any) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.ray
@pytest.mark.slow
def test_offline_loop_selects_on_validation_and_resumes(ray_session: Any, tmp_path: Path) -> None:
    opts = TrainOptions(
        algo="sqn",
        env=str(SYNTHETIC_SESSIONS),
        seed=0,
        stop_iters=2,
        overrides={
            "updates_per_iteration": UPDATES,
            "train_batch_size_per_learner": BATCH,
            "lr": 0.01,
            "model.dim": 16,
        },
    )
    config, _ = build_config(opts)
    # lr 0.01 for the first iteration's rows, then 20: the second iteration is worse
    config.training(lr=[[0, 0.01], [ROWS, 0.01], [ROWS + 1, 20.0]])
    protocol = algorithm_protocol("sqn")
    sink = Rows()
    checkpoint = tmp_path / "checkpoint"
    with TrainingRun(config, protocol, stop=StopCriteria(2), checkpoint_every=None) as run:
        run.start()
        evaluation = run.run(sink)
        algo: SQN = run.algo
        selected = weights(algo.get_module())
        learner_last = {
            k: torch.as_tensor(v)
            for k, v in algo.learner_group.get_weights()[DEFAULT_MODULE_ID].items()
        }
        record = (algo.selection.iteration, algo.selection.value, algo.selection.best)
        run.save(checkpoint)

    # --- each iteration logs its validation figures, their best so far, the selection
    first, second = sink.rows
    valid = [first[VALID_PREFIX + TOTAL], second[VALID_PREFIX + TOTAL]]
    assert all(math.isfinite(v) for v in valid)
    assert valid[1] < valid[0], "lr 20 should have wrecked the second iteration"
    assert first[BEST_VALID_PREFIX + TOTAL] == valid[0]
    assert second[BEST_VALID_PREFIX + TOTAL] == max(valid)
    assert [first[NUM_UPDATES], second[NUM_UPDATES]] == [UPDATES, 2 * UPDATES]
    assert first[SELECTED_ITERATION] == second[SELECTED_ITERATION] == 1
    assert second[SELECTED_VALUE] == valid[0]
    assert record[:2] == (1, valid[0])

    # --- the module is the selected weights, not the learner's last ones
    assert not same(selected, learner_last)

    # --- the final evaluation: the next_item protocol on the test part of those weights
    assert evaluation.protocol == "next_item"
    data = session_data_for(config.env_config)
    assert evaluation.evaluated == len(data.rows(PART_TEST))
    assert "most_popular" in evaluation.references

    # --- `rayrec evaluate` loads the selected weights from the checkpoint, not the last
    from rayrec.train import load_policy_module

    assert same(weights(load_policy_module(checkpoint, env_config=config.env_config)), selected)

    # --- restored into a fresh algorithm: the same record and weights; training goes on
    fresh = TrainingRun(config, protocol, stop=StopCriteria(3), checkpoint_every=None)
    with fresh:
        fresh.start(checkpoint)
        again: SQN = fresh.algo
        assert fresh.state.iteration == 2
        assert (again.selection.iteration, again.selection.value, again.selection.best) == record
        assert same(weights(again.get_module()), selected)
        module = again.get_module()
        module.eval()
        on_test = evaluate_next_item(module_scorer(module), data, PART_TEST)
        assert on_test.metrics == pytest.approx(evaluation.metrics, nan_ok=True)
        third = fresh.step()
        assert third.row["iteration"] == 3
        assert third.row[NUM_UPDATES] == 3 * UPDATES
        assert math.isfinite(third.row[VALID_PREFIX + TOTAL])
