"""DDPG-LA throughput: the rating-walk env alone, the acting step alone, the learner
alone, and env steps per second *while learning*.

Usage::

    RAYREC_DATA=/work/shared/data python benchmarks/ddpg_la_throughput.py
        [--env ml1m_rating] [--seconds 20] [--runners 0] [--users 32]
        [--variant rlstm+t_attention] [--training-intensity 8] [--torch-threads 1]
        [--env-batches 1 32 256] [--act-batches 32 256] [--alone-seconds 2]
        [--alone-updates 60]

Four measurements, in one run (so the ratios compare figures of the same minutes):

- **env alone** (``env``): the ``rating_walk`` env
  (:mod:`rayrec.environments.rating_walk`) built as RLlib builds it,
  ``make_env({**env_config_for(spec, part=...), "num_envs": B})``, then ``reset()`` and
  ``step(rng.random((B, 1)))`` for ``--alone-seconds`` per B and part (``train`` /
  ``eval``; the eval walk starts over when it is done). ``steps_per_s`` counts B
  user-steps per ``step`` call (as RLlib counts env steps); ``predicted_per_s`` only the
  rows that predicted a record (an auto-reset row or an idle eval row predicts none).
- **acting alone** (``acting``): the learner's DDPG-LA module's ``forward_exploration``
  with its carried state (rows whose user changed restart from the initial state), as
  :func:`rayrec.evaluation.rating_walk.walk_predictions` drives it, on the train walk at
  B = ``--act-batches``; only the forward (the observation's conversion to tensors
  included) is timed, the env steps between are not.
- **learner alone** (``ms_per_update_alone``): right after the timed loop, the same
  learner times ``--alone-updates`` updates on replay batches of 64 with nothing else
  running (``hac_learner_update.learner_update_blocks``: batch draw included; median of
  three blocks).
- **while learning** (``learning``): ``ddpg-la`` at its defaults (batch 64, training
  intensity 8, replay, soft targets, weight sync after every round) through
  :func:`rayrec.train.build_config` and ``config.build_algo()``, ``--runners`` remote
  env runners (0: the driver's own runner samples) × ``--users`` sub-envs each, learning
  from 512 sampled steps on (lowered from 1,000, so that the measurement is of learning),
  for ``--seconds`` once updates happen every iteration. Per row: ``steps_per_s``
  (env steps sampled per wall second), ``updates_per_s`` / ``ms_per_update`` (learner
  updates of 64 inside the loop), and the shares of wall time spent waiting for samples
  (DDPG's ``_sample``), inside learner updates, and elsewhere (replay writes and draws,
  weight sync, metrics), timed around the calls themselves.

The learner alone bounds the rate at ``ceiling = batch / (intensity × ms per update)``
user-steps/s; ``of_ceiling`` = ``steps_per_s`` / ceiling says how much of that bound
the whole loop reaches (sampling, replay and weight sync not hidden behind learning).

Torch threads are pinned: ``torch.set_num_threads(--torch-threads)`` in the driver (the
learner, the local env runner and the alone measurements run there) and
``OMP_NUM_THREADS`` for the Ray workers (remote env runners). The last line is JSON with
every row and the driver's peak RSS (``ru_maxrss``; remote env runners are separate
processes and not counted).

Figures (2026-12-07 03:39 UTC, 2-core shared CPU, torch 2.13 CPU, 1 torch thread, ML-1M
users 1–2999 (``ml1m_rating``), full DDPG-LA (``rlstm+t_attention``, separate critic
encoder), intensity 8, batch 64, 20 s of learning; 53 s for the whole run. Shared with
other jobs: a pytest of ``tests/algorithms/test_ddpg_la.py`` and two ``rayrec reproduce
ddpg-la-table`` runs took 35–50% of a core each during the learning row, 1-minute load
average 1.5–2.0; figures move by ±10–20% between runs here)::

    RAYREC_DATA=/work/shared/data PYTHONPATH=$PWD OMP_NUM_THREADS=1 \\
        python benchmarks/ddpg_la_throughput.py --seconds 20

    env alone (user-steps/s)    B = 1      B = 32      B = 256
      train                     19,900     383,000     526,000
      eval                      21,100     385,000     590,000  (454,000 predicted:
                                                                 idle rows at the walk's end)

    acting alone (forward_exploration, carried state): B = 32: 14,500 steps/s (2.2 ms
    per call); B = 256: 36,000 steps/s (7.1 ms per call)

    runners users  steps/s  updates/s  ms/update  alone ms  ceiling  of ceiling  wait learn other
    0       32       380.7       47.6       18.4      17.9      446        0.85    8%   87%    4%

The learner bounds the loop: one update of 64 costs ~18 ms (actor and critic encoders
re-encoding ``train_window`` records of s and s', the target encoders on s', one
``autograd.grad`` per optimizer), and at intensity 8 the loop owes one per 8 sampled
steps, so 87% of the wall time is learner updates; sampling (acting + env + RLlib's env
runner) is 8%. The env alone is ~1,000x and the acting step alone ~40x faster than the
learning loop.

Options, same session (03:40 UTC, load average rising from 2.0 to 5.5 as other jobs
started): ``--variant lstm --runners 0 1 --seconds 15``: 0 runners 515 steps/s (13.3 ms
per update, of ceiling 0.86); 1 remote runner 423 steps/s (15.3 ms, 0.71): on two
shared cores a remote runner costs more than it hides.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from typing import Any

import numpy as np
import torch
from hac_throughput import time_learning  # the same timed loop and ceiling as HAC's
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns

from rayrec.environments.rating_walk import RatingWalkEnv, make_env
from rayrec.environments.spec import env_config_for
from rayrec.simulator.keys import PART_EVAL, PART_TRAIN
from rayrec.train import TrainOptions, build_config

ALGO = "ddpg-la"
#: learning starts after this many sampled steps (the preset's 1,000, lowered)
LEARNING_STARTS = 512


def _walk_env(env: str, part: str, batch: int) -> RatingWalkEnv:
    """The batched rating walk of ``env``'s ``part``, as RLlib's env runner makes it."""
    walk = make_env({**env_config_for(env, part=part), "num_envs": batch})
    assert isinstance(walk, RatingWalkEnv)
    return walk


def env_alone(env: str, part: str, batch: int, seconds: float) -> dict[str, Any]:
    """User-steps/s of the env alone: random ratings for ``seconds`` (after 10 warm-up
    steps); the eval walk is reset when every user has finished."""
    walk = _walk_env(env, part, batch)
    rng = np.random.default_rng(0)
    walk.reset(seed=0)
    for _ in range(10):
        walk.step(rng.random((batch, 1), dtype=np.float32))
    calls = predicted = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        _, _, _, _, info = walk.step(rng.random((batch, 1), dtype=np.float32))
        calls += 1
        predicted += int(np.count_nonzero(info["predicted"]))
        if walk.done:
            walk.reset()
    wall = time.perf_counter() - t0
    return {
        "part": part,
        "batch": batch,
        "steps_per_s": round(batch * calls / wall, 1),
        "predicted_per_s": round(predicted / wall, 1),
        "us_per_call": round(1e6 * wall / calls, 1),
    }


def acting_alone(module: Any, env: str, batch: int, seconds: float) -> dict[str, Any]:
    """Steps/s of the module's ``forward_exploration`` with its carried state on the
    train walk (walk_predictions' loop, exploring); only the forward is timed."""
    walk = _walk_env(env, PART_TRAIN, batch)
    obs, _ = walk.reset(seed=0)
    state = module.initial_state_batch(batch)
    initial = module.initial_state_batch(1)
    resetting = np.zeros(batch, dtype=bool)
    forward_s, calls = 0.0, 0
    t_start = time.perf_counter()
    warmup = 5
    while time.perf_counter() - t_start < seconds or calls < warmup + 1:
        t0 = time.perf_counter()
        with torch.no_grad():
            out = module.forward_exploration(
                {
                    Columns.OBS: {k: torch.as_tensor(v) for k, v in obs.items()},
                    Columns.STATE_IN: state,
                }
            )
        if calls >= warmup:
            forward_s += time.perf_counter() - t0
        calls += 1
        action = out[Columns.ACTIONS].numpy()  # (B, 1)
        obs, _, terminated, truncated, _ = walk.step(action)
        state = {name: ring.clone() for name, ring in out[Columns.STATE_OUT].items()}
        # the rows reset by this step start their new user from the initial state
        for name, ring in state.items():
            ring[torch.as_tensor(resetting)] = initial[name][0]
        resetting = np.asarray(terminated) | np.asarray(truncated)
    timed = calls - warmup
    return {
        "batch": batch,
        "steps_per_s": round(batch * timed / forward_s, 1),
        "ms_per_call": round(1000 * forward_s / timed, 2),
    }


def measure(
    env: str,
    runners: int,
    users: int,
    seconds: float,
    intensity: float,
    variant: str | None,
    alone_updates: int,
    act_batches: list[int],
    alone_seconds: float,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One learning row (and, on request, the acting-alone rows of its module)."""
    overrides: dict[str, Any] = {
        "num_steps_sampled_before_learning_starts": LEARNING_STARTS,
        "training_intensity": intensity,
    }
    if variant is not None:
        overrides["model.variant"] = variant
    opts = TrainOptions(
        algo=ALGO,
        env=env,
        num_env_runners=runners,
        num_envs_per_env_runner=users,
        seed=0,
        overrides=overrides,
    )
    config, _ = build_config(opts)
    algo: Any = config.build_algo()
    try:
        timed = time_learning(
            algo, config, intensity, seconds, LEARNING_STARTS + 256, alone_updates
        )
        module = algo.learner_group._learner.module[DEFAULT_MODULE_ID]  # the local learner
        variant_used = module.cfg.variant
        acting = [acting_alone(module, env, b, alone_seconds) for b in act_batches]
    finally:
        algo.stop()
    row = {"env_runners": runners, "users_per_env": users, "variant": variant_used, **timed}
    return row, acting


def main() -> None:
    parser = argparse.ArgumentParser(description="DDPG-LA steps/s: env, acting, learning")
    parser.add_argument("--env", default="ml1m_rating", help="a rating_walk env spec")
    parser.add_argument("--seconds", type=float, default=20.0, help="learning seconds per row")
    parser.add_argument("--runners", type=int, nargs="+", default=[0])
    parser.add_argument("--users", type=int, nargs="+", default=[32], help="users per env")
    parser.add_argument("--variant", default=None, help="model.variant (default: the full DDPG-LA)")
    parser.add_argument("--training-intensity", type=float, default=8.0)
    parser.add_argument(
        "--torch-threads", type=int, default=1, help="torch threads of the driver and runners"
    )
    parser.add_argument("--env-batches", type=int, nargs="+", default=[1, 32, 256])
    parser.add_argument("--act-batches", type=int, nargs="+", default=[32, 256])
    parser.add_argument(
        "--alone-seconds", type=float, default=2.0, help="seconds per env / acting setting"
    )
    parser.add_argument(
        "--alone-updates", type=int, default=60, help="learner-alone updates timed per row"
    )
    args = parser.parse_args()

    import ray

    torch.set_num_threads(args.torch_threads)
    print(f"torch threads: {args.torch_threads} (driver: learner, local runner; env runners)")
    env_rows = [
        env_alone(args.env, part, b, args.alone_seconds)
        for part in (PART_TRAIN, PART_EVAL)
        for b in args.env_batches
    ]
    print(f"{'env alone':>9} {'B':>5} {'steps/s':>10} {'predicted/s':>11} {'us/call':>9}")
    for r in env_rows:
        print(
            f"{r['part']:>9} {r['batch']:>5} {r['steps_per_s']:>10.0f} "
            f"{r['predicted_per_s']:>11.0f} {r['us_per_call']:>9.1f}",
            flush=True,
        )

    ray.init(
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"env_vars": {"OMP_NUM_THREADS": str(args.torch_threads)}},
    )
    rows: list[dict[str, Any]] = []
    acting: list[dict[str, Any]] = []
    for runners in args.runners:
        for users in args.users:
            row, act = measure(
                args.env,
                runners,
                users,
                args.seconds,
                args.training_intensity,
                args.variant,
                args.alone_updates,
                [] if acting else args.act_batches,  # the module is the same in every row
                args.alone_seconds,
            )
            rows.append(row)
            acting.extend(act)
    ray.shutdown()

    print(f"{'acting alone':>12} {'B':>5} {'steps/s':>10} {'ms/call':>8}")
    for r in acting:
        print(f"{'':>12} {r['batch']:>5} {r['steps_per_s']:>10.0f} {r['ms_per_call']:>8.2f}")
    print(
        f"{'runners':>7} {'users/env':>9} {'steps/s':>9} {'updates/s':>9} {'ms/update':>9} "
        f"{'alone ms':>8} {'ceiling':>8} {'of ceil':>7} {'wait':>6} {'learn':>6} {'other':>6}"
    )
    for row in rows:
        print(
            f"{row['env_runners']:>7} {row['users_per_env']:>9} {row['steps_per_s']:>9.1f} "
            f"{row['updates_per_s']:>9.1f} {row['ms_per_update']:>9.1f} "
            f"{row['ms_per_update_alone']:>8.1f} {row['ceiling_steps_per_s']:>8.0f} "
            f"{row['of_ceiling']:>7.2f} {row['sample_wait_share']:>6.0%} "
            f"{row['learner_share']:>6.0%} {row['other_share']:>6.0%}"
        )
    best = max(rows, key=lambda r: r["steps_per_s"])
    print(
        json.dumps(
            {
                "env": args.env,
                "algo": ALGO,
                "variant": rows[0]["variant"],
                "training_intensity": args.training_intensity,
                "torch_threads": args.torch_threads,
                "best_steps_per_s": best["steps_per_s"],
                "best_of_ceiling": max(r["of_ceiling"] for r in rows),
                "peak_rss_mib_driver": round(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                ),
                "env_alone": env_rows,
                "acting_alone": acting,
                "learning": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
