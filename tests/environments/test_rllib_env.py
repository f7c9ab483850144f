"""The simulator inside RLlib: env runners step SlateEnv through the vector entry point."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rayrec.environments.rllib_env import env_config_of, make_env
from rayrec.environments.slate import SingleUserSlateEnv, SlateEnv
from rayrec.errors import InputError

REPO = Path(__file__).resolve().parents[2]
SYNTHETIC = str(REPO / "envs" / "synthetic.yaml")


def test_make_env_batched_and_single() -> None:
    env = make_env({"simulator": SYNTHETIC, "num_envs": 8, "seed": 3})
    assert isinstance(env, SlateEnv) and env.num_envs == 8
    single = make_env({"simulator": SYNTHETIC})
    assert isinstance(single, SingleUserSlateEnv)


def test_env_overrides_and_errors() -> None:
    _, cfg = env_config_of({"simulator": SYNTHETIC, "env": {"slate_size": 4, "max_steps": 7}})
    assert (cfg.slate_size, cfg.max_steps) == (4, 7)
    with pytest.raises(InputError, match="simulator"):
        env_config_of({})
    with pytest.raises(InputError, match="part"):
        env_config_of({"simulator": SYNTHETIC, "part": "test"})
    with pytest.raises(InputError, match="slate_sise"):
        env_config_of({"simulator": SYNTHETIC, "env": {"slate_sise": 4}})


@pytest.mark.ray
@pytest.mark.slow
def test_two_env_runners_sample_batched_envs(ray_session: object) -> None:
    from ray.rllib.env.env_runner_group import EnvRunnerGroup

    from rayrec.algorithms.registry import make_config

    config = (
        make_config("hac")
        .environment(env=make_env, env_config={"simulator": SYNTHETIC, "seed": 1})
        .env_runners(
            num_env_runners=2,
            num_envs_per_env_runner=16,
            gym_env_vectorize_mode="vector_entry_point",
            num_cpus_per_env_runner=0.5,
        )
    )
    group = EnvRunnerGroup(config=config)
    try:
        results = group.foreach_env_runner(
            lambda r: (
                r.num_envs,
                type(r.env.unwrapped).__name__,
                [(float(e.get_return()), len(e)) for e in r.sample(num_episodes=16)],
            ),
            local_env_runner=False,
        )
    finally:
        group.stop()
    assert len(results) == 2
    for num_envs, env_type, episodes in results:
        assert num_envs == 16 and env_type == "SlateEnv"
        assert len(episodes) >= 16
        depths = np.array([d for _, d in episodes])
        assert (depths >= 1).all() and (depths <= 20).all()
    # The two runners draw different users: their episode returns differ.
    returns = [[r for r, _ in eps] for _, _, eps in results]
    assert returns[0] != returns[1]


def test_learned_simulators_are_found_under_rayrec_simulators(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a cluster the checkpoints are mounted outside the job's working dir."""
    from rayrec.environments.rllib_env import SIM_ROOT_ENV, resolve_simulator

    spec = str(Path(__file__).resolve().parents[2] / "envs" / "ml1m.yaml")
    monkeypatch.setenv(SIM_ROOT_ENV, str(tmp_path))
    with pytest.raises(InputError, match=f"no simulator checkpoint at {tmp_path}/ml1m"):
        resolve_simulator(spec)
    (tmp_path / "ml1m" / "train").mkdir(parents=True)
    (tmp_path / "ml1m" / "train" / "meta.json").write_text("{}")
    assert resolve_simulator(spec) == str((tmp_path / "ml1m").resolve())
