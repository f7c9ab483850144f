"""HAC's learner alone: milliseconds per update of 64, without sampling in the way.

Usage::

    python benchmarks/hac_learner_update.py [--env envs/synthetic.yaml] [--updates 150]
                                            [--threads 1 2] [--gpus 0] [--repeats 5]

Builds HAC at the paper's defaults with the driver's own env runner, samples until the
replay holds 1,024 user-steps, then times ``Learner.update`` on replay batches of 64
(batch draw included, ~0.1 ms) in ``--repeats`` blocks of ``--updates`` updates for each
torch thread count, and prints the median and the fastest block. With ``--gpus 1`` the
learner runs on the GPU (RLlib's ``num_gpus_per_learner``) and moves each batch there.
Use it to compare learner changes: ``benchmarks/hac_throughput.py`` includes sampling and
the machine's spread; here only the update is timed, and blocks of two code versions can
be interleaved by running this script from two checkouts in turn. The last line is JSON
(with ``peak_rss_mib``: ``ru_maxrss`` of this process).

Figures (2-core CPU, torch 2.13 CPU, synthetic env, 2026-11-23): 1 thread, median of
blocks 58–68 ms per update, depending on the minute (this machine's speed moves by up to
2x between identical runs). The learner's share of the throughput benchmark's wall time
at intensity 2 is 74–87%, which is why this is the number that bounds it.
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
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME

from rayrec.train import TrainOptions, build_config

REPO = Path(__file__).resolve().parents[1]
BATCH = 64


def learner_update_blocks(
    algo: Any, batch: int, steps: int, *, updates: int, repeats: int, warmup: int
) -> list[float]:
    """ms per ``Learner.update`` on replay batches of ``batch`` (the draw included, ~0.1
    ms), nothing else running: ``warmup`` updates (allocator, Adam state), then
    ``repeats`` timed blocks of ``updates``; one figure per block. Also used by
    ``hac_throughput.py`` for its learner-bound ceiling."""
    learner = algo.learner_group._learner  # the local learner (num_learners=0)
    timesteps = {NUM_ENV_STEPS_SAMPLED_LIFETIME: steps}

    def update() -> None:
        columns = algo.transition_buffer.sample(batch)
        learner.update(
            batch=MultiAgentBatch({DEFAULT_MODULE_ID: SampleBatch(columns)}, env_steps=batch),
            timesteps=timesteps,
        )

    for _ in range(warmup):
        update()
    blocks = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(updates):
            update()
        if str(learner._device).startswith("cuda"):
            torch.cuda.synchronize()
        blocks.append(1000 * (time.perf_counter() - t0) / updates)
    return blocks


def main() -> None:
    parser = argparse.ArgumentParser(description="HAC learner ms per update")
    parser.add_argument("--env", default=str(REPO / "envs" / "synthetic.yaml"))
    parser.add_argument("--updates", type=int, default=150, help="updates per timed block")
    parser.add_argument("--repeats", type=int, default=5, help="timed blocks per setting")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--gpus", type=float, default=0.0, help="GPUs for the learner")
    args = parser.parse_args()

    import ray

    ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    opts = TrainOptions(
        algo="hac",
        env=args.env,
        num_env_runners=0,
        num_envs_per_env_runner=32,
        gpus=args.gpus,
        seed=0,
        overrides={"num_steps_sampled_before_learning_starts": 512},
    )
    config, _ = build_config(opts)
    algo: Any = config.build_algo()
    rows = []
    try:
        steps = 0
        while steps < 1024:
            steps = algo.train()[ENV_RUNNER_RESULTS][NUM_ENV_STEPS_SAMPLED_LIFETIME]
        learner = algo.learner_group._learner  # the local learner (num_learners=0)
        print(f"{'threads':>7} {'device':>7} {'median ms':>9} {'best ms':>8}")
        for threads in args.threads:
            torch.set_num_threads(threads)
            blocks = learner_update_blocks(
                algo, BATCH, steps, updates=args.updates, repeats=args.repeats, warmup=10
            )
            row = {
                "threads": threads,
                "device": str(learner._device),
                "ms_per_update_median": round(statistics.median(blocks), 2),
                "ms_per_update_best": round(min(blocks), 2),
                "blocks": [round(b, 2) for b in blocks],
            }
            rows.append(row)
            print(
                f"{threads:>7} {row['device']:>7} {row['ms_per_update_median']:>9.1f} "
                f"{row['ms_per_update_best']:>8.1f}",
                flush=True,
            )
    finally:
        algo.stop()
        ray.shutdown()
    # peak RSS of this process (the learner is local); ru_maxrss is in KiB on Linux
    peak_mib = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(
        json.dumps(
            {
                "env": args.env,
                "batch": BATCH,
                "gpus": args.gpus,
                "peak_rss_mib": peak_mib,
                "rows": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
