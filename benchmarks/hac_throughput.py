"""HAC training throughput: env steps per second *while learning*, sampling vs learner time.

Usage::

    python benchmarks/hac_throughput.py [--env envs/synthetic.yaml] [--seconds 20]
                                        [--runners 1 2] [--users 1 32 128]
                                        [--gpus 0] [--training-intensity 2]

For each number of env runners × users per env instance, HAC (the paper's defaults:
batch 64, training intensity 2 = one update of 64 per 32 sampled user-steps, replay,
soft targets, weight sync after every round) trains until learning has started
(``num_steps_sampled_before_learning_starts`` lowered to 512 so the measurement is of
learning, not warm-up), then for ``--seconds``. Reported per setting:

- ``steps_per_s``: env (user-)steps sampled per wall second while learning;
- ``updates_per_s``: learner updates (batches of 64) per second;
- ``sample_s`` / ``learn_s`` / ``other_s``: seconds per iteration spent sampling (the
  env runners' ``sample`` round, which includes module inference), in learner updates,
  and elsewhere (replay add/sample, weight sync, metrics);

RLlib's DQN-style ``training_step`` is synchronous: sample, then train, then sync — so
with one learner on the same two cores, sampling and learning add up rather than
overlap. The last line is JSON with every row.

Reference: the HAC authors' code trains at 21.6 user-steps/s on these two cores and
192/s on an H100 (``../shared/ANCHORS.md``).

Figures (2-core CPU, idle, 2026-11-22, torch 2.13 CPU, 1 torch thread, synthetic env)::

    training intensity 2 (the paper's)          intensity 0.125
    runners users/env steps/s updates/s         runners users/env steps/s
    1       1            62       0.2           1       128          927
    1       32          161       9.3           2       128        1,288
    1       128         159       8.9
    2       1            79       0.3
    2       32          165       7.1
    2       128         159       6.6

At the paper's replay ratio the learner bounds the rate (~0.28 s per update of 64; the
SASRec attention with dropout on its weights is most of it); GPU: not measured yet.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from ray.rllib.utils.metrics import (
    ENV_RUNNER_RESULTS,
    ENV_RUNNER_SAMPLING_TIMER,
    LEARNER_UPDATE_TIMER,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    TIMERS,
)

from rayrec.train import TrainOptions, build_config

REPO = Path(__file__).resolve().parents[1]


def _rr_weights(config: Any) -> tuple[int, int]:
    from ray.rllib.algorithms.dqn.dqn import calculate_rr_weights

    store, train = calculate_rr_weights(config)
    return int(store), int(train)


def measure(
    env: str, runners: int, users: int, seconds: float, gpus: float, intensity: float
) -> dict[str, Any]:
    opts = TrainOptions(
        algo="hac",
        env=env,
        num_env_runners=runners,
        num_envs_per_env_runner=users,
        gpus=gpus,
        seed=0,
        overrides={
            "num_steps_sampled_before_learning_starts": 512,
            "training_intensity": intensity,
        },
    )
    config, _ = build_config(opts)
    store_w, train_w = _rr_weights(config)
    algo = config.build_algo()
    try:
        steps = 0
        while steps < 512 + 64:  # until updates happen every iteration
            steps = algo.train()[ENV_RUNNER_RESULTS][NUM_ENV_STEPS_SAMPLED_LIFETIME]
        start_steps, t0 = steps, time.perf_counter()
        iters, sample_s, learn_s = 0, 0.0, 0.0
        while time.perf_counter() - t0 < seconds:
            result = algo.train()
            timers = result.get(TIMERS, {})
            sample_s += store_w * float(timers.get(ENV_RUNNER_SAMPLING_TIMER, 0.0))
            learn_s += train_w * float(timers.get(LEARNER_UPDATE_TIMER, 0.0))
            iters += 1
            steps = result[ENV_RUNNER_RESULTS][NUM_ENV_STEPS_SAMPLED_LIFETIME]
        wall = time.perf_counter() - t0
    finally:
        algo.stop()
    n_steps = steps - start_steps
    return {
        "env_runners": runners,
        "users_per_env": users,
        "steps_per_s": round(n_steps / wall, 1),
        "updates_per_s": round(iters * train_w / wall, 1),
        "sample_s": round(sample_s / iters, 4),
        "learn_s": round(learn_s / iters, 4),
        "other_s": round(max(wall - sample_s - learn_s, 0.0) / iters, 4),
        "steps_per_iter": round(n_steps / iters, 1),
        "iterations": iters,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="HAC steps/s while learning")
    parser.add_argument("--env", default=str(REPO / "envs" / "synthetic.yaml"))
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--runners", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--users", type=int, nargs="+", default=[1, 32, 128])
    parser.add_argument("--gpus", type=float, default=0.0)
    parser.add_argument("--training-intensity", type=float, default=2.0)
    args = parser.parse_args()

    import ray

    ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    rows = []
    print(
        f"{'runners':>7} {'users/env':>9} {'steps/s':>9} {'updates/s':>9} "
        f"{'sample s/it':>11} {'learn s/it':>10} {'other s/it':>10}"
    )
    for runners in args.runners:
        for users in args.users:
            row = measure(
                args.env, runners, users, args.seconds, args.gpus, args.training_intensity
            )
            rows.append(row)
            print(
                f"{runners:>7} {users:>9} {row['steps_per_s']:>9.1f} "
                f"{row['updates_per_s']:>9.1f} {row['sample_s']:>11.4f} "
                f"{row['learn_s']:>10.4f} {row['other_s']:>10.4f}",
                flush=True,
            )
    ray.shutdown()
    best = max(rows, key=lambda r: r["steps_per_s"])
    print(
        json.dumps(
            {
                "env": args.env,
                "training_intensity": args.training_intensity,
                "gpus": args.gpus,
                "best_steps_per_s": best["steps_per_s"],
                "reference_steps_per_s": 21.6,
                "ratio_vs_reference": round(best["steps_per_s"] / 21.6, 1),
                "rows": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
