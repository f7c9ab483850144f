"""HAC training throughput: env steps per second *while learning*, sampling vs learner time.

Usage::

    python benchmarks/hac_throughput.py [--env envs/synthetic.yaml] [--seconds 20]
                                        [--runners 1 2] [--users 1 32 128]
                                        [--sampling async sync] [--gpus 0]
                                        [--training-intensity 2] [--torch-threads 1]
                                        [--alone-updates 60]

For each sampling mode × number of env runners × users per env instance, HAC (the
paper's defaults: batch 64, training intensity 2 = one update of 64 per 32 sampled
user-steps, replay, soft targets, weight sync after every round) trains until learning
has started (``num_steps_sampled_before_learning_starts`` lowered to 512 so the
measurement is of learning, not warm-up), then for ``--seconds``. Reported per setting:

- ``steps_per_s``: env (user-)steps sampled per wall second while learning;
- ``updates_per_s`` / ``ms_per_update``: learner updates (batches of 64);
- ``wait`` / ``learn`` / ``other``: shares of wall time the driver spent waiting for
  samples (HAC's ``_sample``: the runners' round in the sync mode, only the part not
  hidden behind learning in the async mode), inside learner updates, and elsewhere
  (replay writes and draws, weight sync, metrics), timed around the calls themselves.

The figure that counts (issue #13) is **achieved / ceiling**: the learner alone bounds
the rate at ``ceiling = batch / (intensity × ms per update)`` user-steps/s, so the share
of it the whole loop reaches says how well sampling, replay and weight sync hide behind
learning (goal ≥ 0.9), whatever the machine. Measured in the same run, per row:

- ``ms_per_update_alone``: right after the timed loop, the same learner times
  ``--alone-updates`` updates on replay batches with nothing else running in the loop
  (as ``benchmarks/hac_learner_update.py`` does: batch draw included; median of three
  blocks); the ceiling uses it;
- ``ceiling_steps_per_s`` and ``of_ceiling`` (= ``steps_per_s`` / ceiling).

Torch threads are pinned: ``torch.set_num_threads(--torch-threads)`` in the driver (the
learner runs there: one local learner) and ``OMP_NUM_THREADS`` for the Ray workers (env
runners). The JSON also holds the driver's peak RSS (``ru_maxrss``; env runners are
separate processes and not counted).

Figures for the ceiling (2-core CPU, torch 2.13 CPU, 1 torch thread, synthetic env,
intensity 2, 10 s rows, 2026-12-06; the machine was loaded by three other jobs, load
average ~3 on 2 cores, so every figure is low and noisy)::

    python benchmarks/hac_throughput.py --seconds 10 --runners 0 --users 32 128 --sampling sync
    python benchmarks/hac_throughput.py --seconds 10 --runners 1 --users 32 --sampling sync

    sampling runners users  steps/s  ms/update  alone ms  ceiling  of ceiling
    sync     0       32       658.1       38.8      34.1      939        0.70
    sync     0       128      717.2       37.5      38.1      841        0.85
    sync     1       32       652.8       36.8      39.7      805        0.81

``sync`` is RLlib's DQN-style loop (sample, then train, then sync); ``async``
(``async_sampling=True``, remote runners only) lets the runners sample the next round
while the learner trains. 0 runners = the driver's own runner samples. The last line is
JSON with every row.

Reference: the HAC authors' code trains at 21.6 user-steps/s on these two cores and
192/s on an H100 (``../shared/ANCHORS.md``).

Figures (2-core CPU, torch 2.13 CPU, synthetic env, 15 s per row; rows move by up to
±20% between runs on this shared machine: 2 runners × 32 users gave 401 and 494 in two
runs on 2026-11-22)::

    training intensity 2 (the paper's)       steps/s (ms per update)
                         2026-11-23 sync     2026-11-22
    runners  users/env   (this code)         sync          async
    0        1           102 (63)            119 (60)      –
    0        32          412 (58)            416 (59)      –
    0        128         389 (69)            390 (70)      –
    1        1            95 (72)             95 (70)       90 (118)
    1        32          363 (64)            404 (58)      344 (73)
    1        128         403 (63)            395 (66)      417 (68)
    2        1           139 (67)            142 (69)      141 (90)
    2        32          427 (61)            401 (67)      379 (76)
    2        128         371 (75)            425 (65)      347 (87)

    lower replay ratios, 2 runners: intensity 0.5: 1,002 (2 × 32) / 1,226 (2 × 128) sync
    on 2026-11-23 (1,025 / 1,314 on 2026-11-22; async 1,020 / 1,172); intensity 0.25:
    1,927 (2 × 128, sync, 2026-11-22)

This session's changes (attention mask broadcast, float dropout masks, the target
encoder's dropout as an argument instead of mode toggles, one finiteness check for all
gradients), measured interleaved with the code before them (6449426) on the same machine,
0 runners × 32 users, 20 s rows, three pairs: 345–361 -> 376–439 user-steps/s, 67.9–70.7
-> 53.7–62.9 ms per update (2026-11-23). The table's columns, taken minutes or a day
apart, cannot show a difference of this size through the machine's spread.

At the paper's replay ratio the learner bounds the rate: ~60-70 ms per update of 64 on
these cores is at most ~1,000 trained samples/s, i.e. ~500 user-steps/s at 2 samples per
step even if sampling were free; the 1,000/s target is reached at intensity 0.5. One
update runs the SASRec encoder forward on s (train mode) and s' (target, eval mode) and
backward twice (actor and kernel losses); see ``rayrec/algorithms/hac/README.md`` for
what was done to make that cheap (before: 165 user-steps/s, ~0.28 s per update). On two
shared cores the async mode does not pay: the learner's two threads and the runners
contend for the same cores. ``torch.compile`` of the encoder was slower here (30 vs
21 ms per forward + backward, after 54 s of compilation). GPU: not measured (no GPU was
lent to this work).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from hac_learner_update import learner_update_blocks  # benchmarks/ is on sys.path
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME

from rayrec.train import TrainOptions, build_config

REPO = Path(__file__).resolve().parents[1]


class _Timed:
    """Wraps a bound method: wall seconds spent inside it and the number of calls."""

    def __init__(self, fn: Any) -> None:
        self.fn, self.seconds, self.calls = fn, 0.0, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0
            self.calls += 1


def learner_alone_ms(algo: Any, batch: int, updates: int, steps: int) -> float:
    """Median ms per ``Learner.update`` on replay batches of ``batch``, nothing else running:
    three blocks of ``updates // 3`` after 5 warm-up updates
    (``hac_learner_update.learner_update_blocks``)."""
    per_block = max(updates // 3, 1)
    blocks = learner_update_blocks(algo, batch, steps, updates=per_block, repeats=3, warmup=5)
    return statistics.median(blocks)


def time_learning(
    algo: Any, config: Any, intensity: float, seconds: float, warm_steps: int, alone_updates: int
) -> dict[str, Any]:
    """Train ``algo`` until ``warm_steps`` env steps were sampled (updates then happen every
    iteration), then for ``seconds``, timing the waits for samples and the learner updates
    around the calls themselves (RLlib's timers are smoothed per call); then the learner
    alone (:func:`learner_alone_ms`). Returns the row's figures: steps/s, updates/s, ms per
    update in the loop and alone, the learner-bound ceiling and the share of it reached,
    the shares of wall time, iterations."""
    steps = 0
    while steps < warm_steps:
        steps = algo.train()[ENV_RUNNER_RESULTS][NUM_ENV_STEPS_SAMPLED_LIFETIME]
    sample = algo._sample = _Timed(algo._sample)
    update = algo.learner_group.update = _Timed(algo.learner_group.update)
    start_steps, t0 = steps, time.perf_counter()
    iters = 0
    while time.perf_counter() - t0 < seconds:
        steps = algo.train()[ENV_RUNNER_RESULTS][NUM_ENV_STEPS_SAMPLED_LIFETIME]
        iters += 1
    wall = time.perf_counter() - t0
    batch = int(config.total_train_batch_size)
    ms_alone = learner_alone_ms(algo, batch, alone_updates, steps)
    steps_per_s = (steps - start_steps) / wall
    # the learner alone bounds the rate: batch / (intensity × s per update) user-steps/s
    ceiling = batch / (intensity * ms_alone / 1000)
    return {
        "steps_per_s": round(steps_per_s, 1),
        "updates_per_s": round(update.calls / wall, 1),
        "ms_per_update": round(1000 * update.seconds / max(update.calls, 1), 1),
        "ms_per_update_alone": round(ms_alone, 1),
        "batch": batch,
        "ceiling_steps_per_s": round(ceiling, 1),
        "of_ceiling": round(steps_per_s / ceiling, 3),
        "sample_wait_share": round(sample.seconds / wall, 3),
        "learner_share": round(update.seconds / wall, 3),
        "other_share": round(max(wall - sample.seconds - update.seconds, 0.0) / wall, 3),
        "iterations": iters,
    }


def measure(
    env: str,
    runners: int,
    users: int,
    seconds: float,
    gpus: float,
    intensity: float,
    async_sampling: bool,
    alone_updates: int,
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
            "async_sampling": async_sampling,
        },
    )
    config, _ = build_config(opts)
    algo: Any = config.build_algo()
    try:
        row = time_learning(algo, config, intensity, seconds, 512 + 64, alone_updates)
    finally:
        algo.stop()
    return {
        "env_runners": runners,
        "users_per_env": users,
        "sampling": "async" if async_sampling and runners > 0 else "sync",
        **row,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="HAC steps/s while learning")
    parser.add_argument("--env", default=str(REPO / "envs" / "synthetic.yaml"))
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--runners", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--users", type=int, nargs="+", default=[1, 32, 128])
    parser.add_argument("--gpus", type=float, default=0.0)
    parser.add_argument("--training-intensity", type=float, default=2.0)
    parser.add_argument(
        "--sampling",
        nargs="+",
        choices=["async", "sync"],
        default=["async", "sync"],
        help="HAC's async_sampling on (runners sample while the learner trains) / off",
    )
    parser.add_argument(
        "--torch-threads", type=int, default=1, help="torch threads of the learner and runners"
    )
    parser.add_argument(
        "--alone-updates", type=int, default=60, help="learner-alone updates timed per row"
    )
    args = parser.parse_args()

    import ray

    torch.set_num_threads(args.torch_threads)
    ray.init(
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"env_vars": {"OMP_NUM_THREADS": str(args.torch_threads)}},
    )
    rows = []
    print(f"torch threads: {args.torch_threads} (learner in the driver; env runners)")
    print(
        f"{'sampling':>8} {'runners':>7} {'users/env':>9} {'steps/s':>9} {'updates/s':>9} "
        f"{'ms/update':>9} {'alone ms':>8} {'ceiling':>8} {'of ceil':>7} "
        f"{'wait':>6} {'learn':>6} {'other':>6}"
    )
    for mode in args.sampling:
        for runners in args.runners:
            if mode == "async" and runners == 0:
                continue  # the local runner samples in the learner's process: sync only
            for users in args.users:
                row = measure(
                    args.env,
                    runners,
                    users,
                    args.seconds,
                    args.gpus,
                    args.training_intensity,
                    mode == "async",
                    args.alone_updates,
                )
                rows.append(row)
                print(
                    f"{row['sampling']:>8} {runners:>7} {users:>9} {row['steps_per_s']:>9.1f} "
                    f"{row['updates_per_s']:>9.1f} {row['ms_per_update']:>9.1f} "
                    f"{row['ms_per_update_alone']:>8.1f} {row['ceiling_steps_per_s']:>8.0f} "
                    f"{row['of_ceiling']:>7.2f} {row['sample_wait_share']:>6.0%} "
                    f"{row['learner_share']:>6.0%} "
                    f"{row['other_share']:>6.0%}",
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
                "torch_threads": args.torch_threads,
                "best_of_ceiling": max(r["of_ceiling"] for r in rows),
                "peak_rss_mib_driver": round(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                ),
                "best_steps_per_s": best["steps_per_s"],
                "reference_steps_per_s": 21.6,
                "ratio_vs_reference": round(best["steps_per_s"] / 21.6, 1),
                "rows": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
