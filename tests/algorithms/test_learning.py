"""One small learning test per algorithm: beat the random policy on the synthetic simulator.

Each algorithm trains 60 iterations (~16k user-steps, about 2 minutes on 2 cores) in the
synthetic ground-truth simulator with the paper's defaults and is evaluated greedily on
300 users of its evaluation simulator, next to the random policy on the same users.
Margins are stated per algorithm below, with what was measured when they were set
(2026-11-22; random 1.98, most popular 4.76, oracle 16.65 total reward). Runs are
seeded and reproducible on one machine (see the train-twice test below).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rayrec.environments.rollout import POLICIES, random_policy
from rayrec.evaluation.slate_rollout import eval_simulator, evaluate_policy, module_policy
from rayrec.train import TrainOptions, build_config

REPO = Path(__file__).resolve().parents[2]
SYNTHETIC = str(REPO / "envs" / "synthetic.yaml")

#: algorithm -> (minimum total-reward margin over random, measured value when set)
MARGINS: dict[str, tuple[float, float]] = {
    # measured 2026-11-22 (seed 0) after the encoder / target-network speed changes
    # (target encoder without dropout; before them: HAC 3.65, DDPG 2.77, TD3 2.26);
    # depth 7.82 / 7.87 / 7.00 / 8.59. Re-measured 2026-11-23 after the attention /
    # dropout-mask rewrite and TD3's delayed target updates: HAC 3.30, DDPG 3.28,
    # TD3 2.38, online SL 4.13, A2C 3.61, offline SL 3.24 (margins unchanged).
    "hac": (0.65, 3.29),
    "ddpg": (0.4, 3.33),
    # TD3's delayed actor makes half as many actor steps: the smallest gap (0.34)
    "td3": (0.15, 2.31),
    "online-sl": (1.0, 4.13),
    # 60 on-policy updates of 256 user-steps; depth 8.32 vs random's 6.71 (seed 1: 3.46)
    "a2c": (0.9, 3.82),
    # 60 iterations × 8 updates of 64 logged transitions (~4 passes over the 7.2k of the
    # train part), no env steps; depth 7.81 vs random's 6.71
    "offline-sl": (0.6, 3.24),
}
#: HAC must reach this fraction of the true oracle's total reward (16.65) at 60 iterations
#: (19.8% measured; 22% before the speed changes)
HAC_ORACLE_FRACTION = 0.16


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.parametrize("algo", sorted(MARGINS))
def test_beats_random_on_synthetic(algo: str, ray_session: object) -> None:
    config, target = build_config(TrainOptions(algo=algo, env=SYNTHETIC, seed=0))
    built = config.build_algo()
    try:
        for _ in range(60):
            built.train()
        sim, env_cfg = eval_simulator(target)
        agent = evaluate_policy(
            sim, module_policy(built.get_module()), env_cfg, n_users=300, seed=1
        )
    finally:
        built.stop()
    rand = evaluate_policy(sim, random_policy(), env_cfg, n_users=300, seed=1)
    margin, _ = MARGINS[algo]
    assert agent["total_reward"] >= rand["total_reward"] + margin, (agent, rand)
    if algo == "hac":  # the "stated fraction of the oracle": 19.8% measured
        oracle = evaluate_policy(sim, POLICIES["oracle"](), env_cfg, n_users=300, seed=1)
        assert agent["total_reward"] >= HAC_ORACLE_FRACTION * oracle["total_reward"], oracle


@pytest.mark.ray
@pytest.mark.slow
def test_training_twice_with_one_seed_is_identical(ray_session: object) -> None:
    """Same seed, same config: the same losses and the same greedy slates (SB3's habit)."""
    import numpy as np

    def run() -> tuple[list[float], np.ndarray]:
        config, target = build_config(
            TrainOptions(
                algo="hac",
                env=SYNTHETIC,
                seed=3,
                overrides={"num_steps_sampled_before_learning_starts": 256},
            )
        )
        built = config.build_algo()
        try:
            losses = []
            for _ in range(3):
                learner = built.train()["learners"]["default_policy"]
                losses += [float(learner[k]) for k in ("L_TD", "L_QMax", "L_Hyper", "L_BCE")]
            sim, env_cfg = eval_simulator(target)
            from rayrec.environments.slate import SlateEnv

            env = SlateEnv(sim, 16, env_cfg, seed=0)
            obs, _ = env.reset(seed=0)
            slates = module_policy(built.get_module())(env, obs)
        finally:
            built.stop()
        return losses, slates

    losses_a, slates_a = run()
    losses_b, slates_b = run()
    assert losses_a == losses_b
    assert (slates_a == slates_b).all()
