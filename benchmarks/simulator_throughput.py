"""User-steps per second of the batched SlateEnv vs the same simulator one user at a time.

Usage::

    python benchmarks/simulator_throughput.py [--simulator runs/simulators/ml1m/eval]
                                              [--device cpu|cuda] [--seconds 3]

The simulator defaults to the ML-1M evaluation simulator if it has been trained
(``rayrec simulator train envs/ml1m.yaml``), else a learned simulator trained for two
epochs on the synthetic log (same architecture). Sessions run with ``envs/ml1m.yaml``'s
``env`` settings (a checkpoint holds none). Slates are drawn in advance
(random distinct items) so only the environment is timed.

- batched: one ``SlateEnv`` stepping B users per call, B ∈ {1, 32, 256, 4096}
  (and 65,536 on a GPU);
- per-user: B ``SingleUserSlateEnv`` s in gymnasium's ``SyncVectorEnv`` — the same
  simulator and response model, stepped one user per call, as a per-user env would be.

The last line is JSON with ``batched_steps_per_s``, ``per_user_steps_per_s`` and
``ratio`` at B = 256, plus the whole table and ``peak_rss_mib`` (``ru_maxrss`` of
this process).

Figures (ML-1M eval simulator, users 1–2999 subset, GRU d = 64, K = 10, 2 F):

2-core CPU (2026-11-22, torch 2.13 CPU, 2 torch threads, machine otherwise idle)::

    B        batched/s   per-user/s   ratio
    1              601          602     1.0
    32          13,485          733    18.4
    256         57,830          633    91.4
    4096       176,456            -       -

(The reference KuaiSim env: 35 / 327 / 467 user-steps/s at B = 1 / 32 / 256 on the same
cores.) Under CPU contention torch's two threads spin: one busy neighbour process cut
the B = 256 figure to ~3,000/s, and ``torch.set_num_threads(1)`` restored ~48,000/s.
GPU: not measured yet — the session that wrote this had no GPU lent; run this script
with ``--device cuda`` on one and record the table here.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from rayrec.environments.slate import EnvConfig, SingleUserSlateEnv, SlateEnv
from rayrec.simulator.simulator import Simulator

DEFAULT_CHECKPOINT = Path("runs/simulators/ml1m/eval")
SESSION_SPEC = Path(__file__).resolve().parents[1] / "envs" / "ml1m.yaml"


def synthetic_learned_simulator() -> tuple[Simulator, EnvConfig]:
    """A learned simulator on the synthetic log (fallback when no ML-1M checkpoint)."""
    import tempfile

    from rayrec.data.synthetic import SyntheticConfig
    from rayrec.simulator.build import train_simulators
    from rayrec.simulator.slates import FeedbackRule
    from rayrec.simulator.spec import (
        DatasetSpec,
        ModelSpec,
        SimulatorSpec,
        SlateSpec,
        TrainingSpec,
    )

    spec = SimulatorSpec(
        name="synthetic-learned",
        dataset=DatasetSpec(name="synthetic"),
        synthetic=SyntheticConfig(n_users=3000, n_items=3600, sessions_per_user=4),
        slates=SlateSpec(construction="log", feedback={"click": FeedbackRule("click")}),
        response_model=ModelSpec(dim=64),
        training=TrainingSpec(epochs=2),
    )
    out = Path(tempfile.mkdtemp(prefix="rayrec-bench-"))
    train_simulators(spec, out, parts=("eval",))
    return Simulator.load(out / "eval"), EnvConfig()


def load(target: Path | None) -> tuple[Simulator, EnvConfig, str]:
    from rayrec.environments import load_env_spec

    path = target or DEFAULT_CHECKPOINT
    if (path / "meta.json").is_file():
        sim = Simulator.load(path)
        return sim, load_env_spec(SESSION_SPEC).env, str(path)
    if target is not None:
        raise SystemExit(f"no simulator checkpoint at {target}")
    sim, cfg = synthetic_learned_simulator()
    return sim, cfg, "synthetic learned simulator (no ML-1M checkpoint found)"


def action_pool(n_items: int, k: int, b: int, n: int = 8, seed: int = 0) -> list[np.ndarray]:
    gen = torch.Generator().manual_seed(seed)
    return [
        (torch.rand(b, n_items, generator=gen).topk(k, dim=1).indices + 1).numpy() for _ in range(n)
    ]


def time_steps(
    step: object, actions: list[np.ndarray], users_per_call: int, seconds: float
) -> float:
    """User-steps per second of ``step(actions)`` called repeatedly for ~``seconds``."""
    fn = step  # a callable
    for a in actions[:2]:  # warm-up
        fn(a)  # type: ignore[operator]
    n, t0 = 0, time.perf_counter()
    while True:
        fn(actions[n % len(actions)])  # type: ignore[operator]
        n += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds and n >= 3:
            return n * users_per_call / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description="SlateEnv throughput")
    parser.add_argument("--simulator", type=Path, help="simulator checkpoint folder")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--per-user-max", type=int, default=256)
    args = parser.parse_args()
    sim, cfg, name = load(args.simulator)
    k = cfg.slate_size
    print(f"simulator: {name}; device {args.device}; torch threads {torch.get_num_threads()}")
    sizes = [1, 32, 256, 4096] + ([65_536] if args.device.startswith("cuda") else [])
    rows = []
    print(f"{'B':>7}{'batched/s':>14}{'per-user/s':>13}{'ratio':>8}")
    for b in sizes:
        pool = action_pool(sim.n_items, k, b, n=4 if b >= 4096 else 8)
        env = SlateEnv(sim, b, cfg, device=args.device, seed=0)
        env.reset(seed=0)
        batched = time_steps(env.step, pool, b, args.seconds)
        per_user = None
        if b <= args.per_user_max:
            vec = gym.vector.SyncVectorEnv(
                [lambda i=i: SingleUserSlateEnv(sim, cfg, device="cpu", seed=i) for i in range(b)],
                autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP,
            )
            vec.reset(seed=0)
            per_user = time_steps(vec.step, pool, b, args.seconds)
            vec.close()
        ratio = batched / per_user if per_user else None
        rows.append(
            {
                "B": b,
                "batched_steps_per_s": batched,
                "per_user_steps_per_s": per_user,
                "ratio": ratio,
            }
        )
        pu = f"{per_user:>13,.0f}" if per_user else f"{'-':>13}"
        rt = f"{ratio:>8.1f}" if ratio else f"{'-':>8}"
        print(f"{b:>7}{batched:>14,.0f}{pu}{rt}", flush=True)
    at256 = next(r for r in rows if r["B"] == 256)
    print(
        json.dumps(
            {
                "batched_steps_per_s": at256["batched_steps_per_s"],
                "per_user_steps_per_s": at256["per_user_steps_per_s"],
                "ratio": at256["ratio"],
                "device": args.device,
                "simulator": name,
                "table": rows,
                # peak RSS of this process (ru_maxrss, KiB on Linux); includes the
                # fallback simulator's training when no ML-1M checkpoint exists
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
        )
    )


if __name__ == "__main__":
    main()
