"""LSRWRL throughput: the ``topn`` env alone, the acting step alone, the learner alone,
and env steps per second *while learning*.

Usage::

    RAYREC_DATA=/work/shared/data python benchmarks/lsrwrl_throughput.py
        [--env ml1m_topn] [--seconds 20] [--users 32] [--training-intensity 32 128]
        [--torch-threads 1] [--env-batches 1 32 256] [--act-batches 32 256]
        [--alone-seconds 2] [--alone-updates 10]

Four measurements, in one run (so the ratios compare figures of the same minutes):

- **env alone** (``env``): :func:`topn_env_throughput.measure` (imported): the ``topn``
  env (:mod:`rayrec.environments.topn`) built as RLlib builds it, ``make_env({**
  env_config_for(spec), "num_envs": B})``, stepped for ``--alone-seconds`` per B; its
  actions are drawn outside the timed calls, half from each user's own train items and
  half uniformly from the pool. User-steps/s count B per ``step`` call.
- **acting alone** (``acting``): the module's ``forward_exploration`` (ε = 0.1, the
  masked argmax and a uniform draw over the available items) on B = ``--act-batches``
  observations of the env; the observation's conversion to tensors is timed, the env
  steps between calls are not.
- **learner alone** (``learner``): RLlib's ``DQNTorchLearner`` built by
  ``config.build_learner(spaces=...)`` with the run's config; ``learner.update(batch=
  MultiAgentBatch(...))`` on one batch of 128 real env transitions (128 users, a random
  available item each after 5 random steps; the replay's extra columns ``n_step`` and
  ``weights`` set to ones, as in ``tests/algorithms/test_lsrwrl.py``). 5 warm-up
  updates, then three blocks of ``--alone-updates``; the median block's ms per update.
- **while learning** (``learning``): ``lsrwrl`` at its defaults (batch 128, episode
  replay, double Q, target copy every 50 steps) through :func:`rayrec.train.build_config`
  and ``config.build_algo()``, the driver's own env runner × ``--users`` sub-envs,
  learning from 512 sampled steps on (lowered from 1,000), for ``--seconds`` after the
  first iteration that trained, at each ``--training-intensity``. ``steps_per_s``: env
  steps sampled per wall second (RLlib's ``num_env_steps_sampled_lifetime``);
  ``updates_per_s``: calls of ``learner_group.update`` counted around the call (each one
  update of 128 with the local learner), checked against RLlib's learner results
  (``num_module_steps_trained_lifetime`` / 128 → ``updates_per_s_rllib``); the shares of
  wall time inside the env runner's ``sample``, inside learner updates, inside the
  episode replay's ``add`` and ``sample`` (the draw of 128 transitions), and elsewhere
  (target sync, weight sync to the env runner, metrics), timed around the calls
  themselves. ``min_sample_timesteps_per_iteration`` is set to 0 so that one ``train()``
  is one ``training_step`` (one round: 8 steps × ``--users`` sampled, then
  intensity × 8 × users / 128 updates; DQN's 1,000 sampled steps per iteration would be
  four such rounds): reporting granularity only, the learning is the same. The timed
  span ends at the first round that finishes after ``--seconds``.

DQN's ``training_intensity`` is trained / sampled steps, so the loop owes
intensity / batch updates per sampled step, and the learner alone bounds the rate at
``ceiling = batch / (intensity × ms per update alone)`` user-steps/s; ``of_ceiling`` =
``steps_per_s`` / ceiling.

Torch threads are pinned: ``torch.set_num_threads(--torch-threads)`` in the driver (the
learner, the local env runner and the alone measurements all run there) and
``OMP_NUM_THREADS`` for Ray's workers. The last line is JSON with every row, the 1-minute
load average at the start and the end of the run and the driver's peak RSS
(``ru_maxrss``).

Figures (2026-12-07 06:23 UTC, 2-core CPU shared with other sessions: two ``rayrec
train lsrwrl`` runs took ~75% of a core each throughout, 1-minute load average 4.7 at
the start, 4.9–5.9 during the learning rows; torch 2.13 CPU, 1 torch thread; ML-1M
users 1–2999 (``ml1m_topn`` defaults: I = 3,615 items, n = 20, L = 256), the module at
its defaults (fm_dim 32, dnn (64, 32), attention 32, Q-head (128,)), 32 users, 20 s per
learning row (24 s timed: the round in flight finishes); 2 min 2 s for the whole run,
driver peak RSS 925 MiB)::

    RAYREC_DATA=/work/shared/data PYTHONPATH=$PWD OMP_NUM_THREADS=1 \\
        python benchmarks/lsrwrl_throughput.py

    env alone (user-steps/s)     B = 1: 19,100    B = 32: 372,000    B = 256: 603,000
    acting alone (forward_exploration, obs → tensors included):
                                 B = 32: 5,780 steps/s (5.5 ms per call)
                                 B = 256: 5,990 steps/s (42.7 ms per call)
    learner alone: 54.6 ms per update of 128 (blocks 57.8, 54.6, 54.4)

    intensity steps/s updates/s ms/update alone ms ceiling of ceil sample learn replay other
    32           42.7     10.67      64.1     54.6    73.2    0.58     1%   68%    27%    3%
    128          10.6     10.58      65.9     54.6    18.3    0.58     0%   70%    27%    3%

``updates/s`` counted around ``learner_group.update`` and equal to RLlib's learner results
(``num_module_steps_trained_lifetime`` / 128) in both rows. The learner bounds the loop:
~10.6 updates of 128 per second at either intensity, so the env steps/s scale as
128 / intensity (42.7 at 32, i.e. 4 sampled steps per update; 10.6 at 128, one step per
update — the paper's budget of 20,000 steps would take ~31 min there, ~8 min at 32).
Each update costs ~65 ms in the loop (55 ms alone on a ready batch: the loop's update
also runs the learner connector, episodes → batch, and the other sessions' load moved
between the two), and each draw of 128 transitions from RLlib's ``EpisodeReplayBuffer``
another ~25 ms (27% of the wall time; not profiled further — each observation carries
the (I + 1) action mask and the L = 256 long window), which is why the loop reaches 0.58
of the learner-alone ceiling; sampling (acting + env + the env runner) is 1% or less.
The env alone is ~9,000× and
the acting step alone ~130× faster than the learning loop at intensity 32; acting does
not gain from batching past B = 32 on one thread (the Q-head scores the whole pool:
(B, 3,616) per call).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from typing import Any

import numpy as np
import torch
from hac_throughput import _Timed  # benchmarks/ is on sys.path
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.metrics import (
    ALL_MODULES,
    ENV_RUNNER_RESULTS,
    LEARNER_RESULTS,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    NUM_MODULE_STEPS_TRAINED_LIFETIME,
)
from topn_env_throughput import measure as env_measure

from rayrec.environments import env_config_for
from rayrec.environments.keys import OBS_ACTION_MASK
from rayrec.environments.topn import TopNEnv, make_env
from rayrec.train import TrainOptions, build_config

ALGO = "lsrwrl"
#: learning starts after this many sampled steps (the preset's 1,000, lowered)
LEARNING_STARTS = 512


def _env(env: str, batch: int) -> TopNEnv:
    """The batched ``topn`` env of spec ``env`` at ``batch`` users, as RLlib makes it."""
    topn = make_env({**env_config_for(env), "num_envs": batch})
    assert isinstance(topn, TopNEnv)
    return topn


def _available(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(B,) one random available item per row of a (B, I + 1) action mask (0 where none)."""
    scores = rng.random(mask.shape) * mask  # (B, I + 1), 0 where masked
    return scores.argmax(axis=1)  # (B,)


def _tensors(obs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(v) for k, v in obs.items()}


def _options(env: str, users: int, intensity: float) -> TrainOptions:
    return TrainOptions(
        algo=ALGO,
        env=env,
        num_env_runners=0,
        num_envs_per_env_runner=users,
        seed=0,
        overrides={
            "num_steps_sampled_before_learning_starts": LEARNING_STARTS,
            "training_intensity": intensity,
        },
    )


def build_learner(env: str, intensity: float) -> tuple[Any, int]:
    """RLlib's learner of the run's config (``config.build_learner``) and its batch size."""
    config, _ = build_config(_options(env, 32, intensity))
    probe = _env(env, 1)
    torch.manual_seed(0)
    learner = config.build_learner(
        spaces={DEFAULT_MODULE_ID: (probe.single_observation_space, probe.single_action_space)}
    )
    return learner, int(config.total_train_batch_size)


def transition_batch(env: str, batch: int, seed: int = 0) -> MultiAgentBatch:
    """``batch`` real transitions: ``batch`` users, each a random available item, after 5
    random steps (so that states differ from the seeds); replay's ``n_step`` and
    ``weights`` columns set to ones."""
    topn = _env(env, batch)
    rng = np.random.default_rng(seed)
    obs, _ = topn.reset(seed=seed)
    for _ in range(5):
        obs, *_ = topn.step(_available(obs[OBS_ACTION_MASK], rng))
    actions = _available(obs[OBS_ACTION_MASK], rng)
    next_obs, reward, terminated, _, _ = topn.step(actions)
    columns = {
        Columns.OBS: obs,
        Columns.NEXT_OBS: next_obs,
        Columns.ACTIONS: actions,
        Columns.REWARDS: np.asarray(reward, dtype=np.float32),
        Columns.TERMINATEDS: np.asarray(terminated),
        "n_step": np.ones(batch),
        "weights": np.ones(batch),
    }
    return MultiAgentBatch({DEFAULT_MODULE_ID: SampleBatch(columns)}, env_steps=batch)


def learner_alone(learner: Any, batch: MultiAgentBatch, updates: int) -> dict[str, Any]:
    """ms per ``learner.update`` of one batch: 5 warm-up updates, then three blocks of
    ``updates``; the median block and every block."""
    timesteps = {NUM_ENV_STEPS_SAMPLED_LIFETIME: 10_000}
    for _ in range(5):
        learner.update(batch=batch, timesteps=timesteps)
    blocks = []
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(updates):
            learner.update(batch=batch, timesteps=timesteps)
        blocks.append(1000 * (time.perf_counter() - t0) / updates)
    return {
        "batch": batch.env_steps(),
        "ms_per_update": round(statistics.median(blocks), 2),
        "blocks_ms": [round(b, 2) for b in blocks],
    }


def acting_alone(module: Any, env: str, batch: int, seconds: float) -> dict[str, Any]:
    """Steps/s of ``forward_exploration`` on the env's observations at ``batch`` users
    (obs → tensors included; the env steps between calls are not timed)."""
    topn = _env(env, batch)
    obs, _ = topn.reset(seed=0)
    forward_s, calls, warmup = 0.0, 0, 5
    t_start = time.perf_counter()
    while time.perf_counter() - t_start < seconds or calls < warmup + 1:
        t0 = time.perf_counter()
        with torch.no_grad():
            out = module.forward_exploration({Columns.OBS: _tensors(obs)}, t=0)
        if calls >= warmup:
            forward_s += time.perf_counter() - t0
        calls += 1
        obs, *_ = topn.step(out[Columns.ACTIONS].numpy())
    timed = calls - warmup
    return {
        "batch": batch,
        "steps_per_s": round(batch * timed / forward_s, 1),
        "ms_per_call": round(1000 * forward_s / timed, 2),
    }


def _trained(result: dict[str, Any]) -> int:
    """Module steps trained so far (RLlib's learner results; 0 before learning)."""
    learners = result.get(LEARNER_RESULTS, {})
    return int(learners.get(ALL_MODULES, {}).get(NUM_MODULE_STEPS_TRAINED_LIFETIME, 0))


def learning(
    env: str, users: int, intensity: float, seconds: float, ms_alone: float
) -> dict[str, Any]:
    """One ``lsrwrl`` run at ``intensity``: trained until an iteration updated, then
    timed for ``seconds``."""
    config, _ = build_config(_options(env, users, intensity))
    # one training_step per train() call (DQN's 1,000 sampled steps per iteration are
    # 4 rounds of 256 updates at intensity 128): reporting only, learning is the same
    config.reporting(min_sample_timesteps_per_iteration=0)
    algo: Any = config.build_algo()
    try:
        result = algo.train()
        while _trained(result) == 0:
            result = algo.train()
        load_start = os.getloadavg()[0]
        steps0 = result[ENV_RUNNER_RESULTS][NUM_ENV_STEPS_SAMPLED_LIFETIME]
        trained0 = _trained(result)
        sample = algo.env_runner.sample = _Timed(algo.env_runner.sample)
        update = algo.learner_group.update = _Timed(algo.learner_group.update)
        buffer = algo.local_replay_buffer
        draw = buffer.sample = _Timed(buffer.sample)
        store = buffer.add = _Timed(buffer.add)
        t0 = time.perf_counter()
        iters = 0
        while time.perf_counter() - t0 < seconds:
            result = algo.train()
            iters += 1
        wall = time.perf_counter() - t0
        steps = result[ENV_RUNNER_RESULTS][NUM_ENV_STEPS_SAMPLED_LIFETIME] - steps0
        trained = _trained(result) - trained0
    finally:
        algo.stop()
    batch = int(config.total_train_batch_size)
    steps_per_s = steps / wall
    timed = sample.seconds + update.seconds + draw.seconds + store.seconds
    # intensity / batch updates per sampled step: the learner alone bounds the rate
    ceiling = batch / (intensity * ms_alone / 1000)
    return {
        "training_intensity": intensity,
        "users": users,
        "steps_per_s": round(steps_per_s, 1),
        "updates_per_s": round(update.calls / wall, 2),
        "updates_per_s_rllib": round(trained / batch / wall, 2),
        "ms_per_update": round(1000 * update.seconds / max(update.calls, 1), 1),
        "ms_per_update_alone": round(ms_alone, 1),
        "batch": batch,
        "ceiling_steps_per_s": round(ceiling, 1),
        "of_ceiling": round(steps_per_s / ceiling, 3),
        "sample_share": round(sample.seconds / wall, 3),
        "learner_share": round(update.seconds / wall, 3),
        "replay_share": round((draw.seconds + store.seconds) / wall, 3),
        "other_share": round(max(wall - timed, 0.0) / wall, 3),
        "iterations": iters,
        "seconds": round(wall, 1),
        "load_1min": [round(load_start, 2), round(os.getloadavg()[0], 2)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="LSRWRL steps/s: env, acting, learner, learning")
    parser.add_argument("--env", default="ml1m_topn", help="a topn env spec")
    parser.add_argument("--seconds", type=float, default=20.0, help="learning seconds per row")
    parser.add_argument("--users", type=int, default=32, help="sub-envs of the env runner")
    parser.add_argument("--training-intensity", type=float, nargs="+", default=[32.0, 128.0])
    parser.add_argument(
        "--torch-threads", type=int, default=1, help="torch threads of the driver and workers"
    )
    parser.add_argument("--env-batches", type=int, nargs="+", default=[1, 32, 256])
    parser.add_argument("--act-batches", type=int, nargs="+", default=[32, 256])
    parser.add_argument(
        "--alone-seconds", type=float, default=2.0, help="seconds per env / acting setting"
    )
    parser.add_argument(
        "--alone-updates", type=int, default=10, help="learner-alone updates per timed block"
    )
    args = parser.parse_args()

    import ray

    t_run = time.perf_counter()
    load_start = os.getloadavg()
    torch.set_num_threads(args.torch_threads)
    print(f"torch threads: {args.torch_threads} (driver: learner, local env runner)")
    print(f"load average at start: {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}")

    env_config = env_config_for(args.env)
    env_rows = [
        {k: round(v, 3) for k, v in env_measure(env_config, b, args.alone_seconds).items()}
        for b in args.env_batches
    ]
    for r in env_rows:
        print(
            f"env alone B = {r['batch']:4d}: {r['steps_per_s']:>10,.0f} user-steps/s"
            f"  {r['ms_per_step_call']:.3f} ms per step()",
            flush=True,
        )

    learner, batch_size = build_learner(args.env, args.training_intensity[0])
    module = learner.module[DEFAULT_MODULE_ID]
    acting = [acting_alone(module, args.env, b, args.alone_seconds) for b in args.act_batches]
    for r in acting:
        print(
            f"acting alone B = {r['batch']:4d}: {r['steps_per_s']:>9,.0f} steps/s"
            f"  {r['ms_per_call']:.2f} ms per call",
            flush=True,
        )
    alone = learner_alone(learner, transition_batch(args.env, batch_size), args.alone_updates)
    print(
        f"learner alone: {alone['ms_per_update']:.1f} ms per update of {alone['batch']}"
        f" (blocks {alone['blocks_ms']})",
        flush=True,
    )
    del learner, module

    ray.init(
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"env_vars": {"OMP_NUM_THREADS": str(args.torch_threads)}},
    )
    rows = [
        learning(args.env, args.users, intensity, args.seconds, alone["ms_per_update"])
        for intensity in args.training_intensity
    ]
    ray.shutdown()

    print(
        f"{'intensity':>9} {'steps/s':>8} {'updates/s':>9} {'(rllib)':>7} {'ms/upd':>7}"
        f" {'alone ms':>8} {'ceiling':>8} {'of ceil':>7} {'sample':>6} {'learn':>6}"
        f" {'replay':>6} {'other':>6} {'load':>10}"
    )
    for row in rows:
        print(
            f"{row['training_intensity']:>9g} {row['steps_per_s']:>8.1f}"
            f" {row['updates_per_s']:>9.2f} {row['updates_per_s_rllib']:>7.2f}"
            f" {row['ms_per_update']:>7.1f} {row['ms_per_update_alone']:>8.1f}"
            f" {row['ceiling_steps_per_s']:>8.1f} {row['of_ceiling']:>7.2f}"
            f" {row['sample_share']:>6.0%} {row['learner_share']:>6.0%}"
            f" {row['replay_share']:>6.0%} {row['other_share']:>6.0%}"
            f" {row['load_1min'][0]:>4.1f}-{row['load_1min'][1]:.1f}"
        )
    print(
        json.dumps(
            {
                "env": args.env,
                "algo": ALGO,
                "torch_threads": args.torch_threads,
                "load_1min": [round(load_start[0], 2), round(os.getloadavg()[0], 2)],
                "run_seconds": round(time.perf_counter() - t_run, 1),
                "peak_rss_mib_driver": round(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                ),
                "env_alone": env_rows,
                "acting_alone": acting,
                "learner_alone": alone,
                "learning": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
