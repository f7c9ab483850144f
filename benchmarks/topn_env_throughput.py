"""The ``topn`` env alone: user-steps per second at B = 1, 32, 256 on real data.

Usage::

    RAYREC_DATA=/work/shared/data python benchmarks/topn_env_throughput.py
        [--env ml1m_topn] [--batches 1 32 256] [--seconds 3] [--torch-threads 1]

The env is built as RLlib builds it, ``make_env({**env_config_for(spec), "num_envs":
B})`` (:mod:`rayrec.environments.topn`), then ``reset()`` and ``step(actions)`` for
``--seconds`` per B. Actions are drawn outside the timed calls, half from each user's
own train items (many hits: state updates happen) and half uniformly from the pool (a
miss), so the figures cover both paths. ``steps_per_s`` counts B user-steps per
``step`` call (as RLlib counts env steps); ``hits_per_s`` only the rewarded ones. Also
timed: :func:`~rayrec.environments.topn.final_observations` of every user (the
evaluation's input). No torch runs here; ``--torch-threads`` is pinned for parity with
the other throughput scripts. The last line is JSON.

Figures (2026-12-07 05:57 UTC, 2-core CPU shared with four other sessions, 1-minute
load average 2.2, numpy only, ML-1M users 1–2999 (``ml1m_topn`` defaults: n = 20,
L = 256, I = 3,615), 3 s per B)::

    RAYREC_DATA=/work/shared/data PYTHONPATH=$PWD OMP_NUM_THREADS=1 \\
        python benchmarks/topn_env_throughput.py

    B =    1:     28,673 user-steps/s      6,639 hits/s  0.035 ms per step()
    B =   32:    490,341 user-steps/s    113,685 hits/s  0.065 ms per step()
    B =  256:    690,601 user-steps/s    159,926 hits/s  0.371 ms per step()
    final_observations of 2999 users: 0.01 s

At B = 256 about a third of a step (0.11 ms) builds the observation, the (B, I + 1)
action mask copy included.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from rayrec.environments import env_config_for
from rayrec.environments.topn import TopNEnv, env_config_of, final_observations, make_env


def measure(env_config: dict[str, object], batch: int, seconds: float) -> dict[str, float]:
    """User-steps per second of one batched env at ``batch`` users."""
    env = make_env({**env_config, "num_envs": batch})
    assert isinstance(env, TopNEnv)
    data = env.data
    rng = np.random.default_rng(0)
    env.reset()
    steps = hits = 0
    elapsed = 0.0
    while elapsed < seconds:
        users = env.users
        starts, ends = data.train_offsets[users], data.train_offsets[users + 1]
        own = data.train_items[starts + (rng.random(batch) * (ends - starts)).astype(np.int64)]
        anywhere = rng.integers(1, data.n_items + 1, batch)
        actions = np.where(rng.random(batch) < 0.5, own, anywhere)
        t0 = time.perf_counter()
        _, _, _, _, info = env.step(actions)
        elapsed += time.perf_counter() - t0
        steps += batch
        hits += int(info["hit"].sum())
    return {
        "batch": batch,
        "steps_per_s": steps / elapsed,
        "hits_per_s": hits / elapsed,
        "ms_per_step_call": 1000 * elapsed / (steps / batch),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="ml1m_topn")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32, 256])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--torch-threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)
    t0 = time.perf_counter()
    env_config = env_config_for(args.env)
    data, config = env_config_of(env_config)
    load_s = time.perf_counter() - t0
    print(f"{args.env}: {data.n_users} users, {data.n_items} items, loaded in {load_s:.1f} s")
    rows = []
    for batch in args.batches:
        row = measure(env_config, batch, args.seconds)
        rows.append(row)
        print(
            f"B = {batch:4d}: {row['steps_per_s']:>10,.0f} user-steps/s"
            f"  {row['hits_per_s']:>9,.0f} hits/s  {row['ms_per_step_call']:.3f} ms per step()"
        )
    t0 = time.perf_counter()
    users = np.arange(data.n_users)
    for start in range(0, len(users), 512):
        final_observations(data, config, users[start : start + 512])
    final_s = time.perf_counter() - t0
    print(f"final_observations of {data.n_users} users: {final_s:.2f} s")
    print(json.dumps({"env": args.env, "rows": rows, "final_observations_s": final_s}))


if __name__ == "__main__":
    main()
