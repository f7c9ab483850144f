"""The session settings are the env spec's, read when a run starts (issue 11's bug).

A learned simulator's checkpoint holds no session settings: editing ``reward_weights``
or ``max_steps`` in the env spec changes what ``rayrec train`` sees (build_config's
env_config -> make_env -> the env, and Offline SL's logged rewards) without retraining
the simulator; a setting the checkpoint cannot serve is refused before Ray starts,
naming the spec file and the key.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from rayrec.environments import env_config_for, env_config_of, make_env
from rayrec.environments.keys import INFO_RESPONSE
from rayrec.environments.logged import train_part_transitions
from rayrec.environments.reward import slate_reward
from rayrec.environments.slate import SlateEnv
from rayrec.errors import InputError
from rayrec.train import TrainOptions, build_config
from tests.simulator.conftest import MAX_STEPS, LearnedRun, write_env_spec


def checkpoint_files(root: Path) -> dict[Path, bytes]:
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def edit(path: Path, **env: Any) -> None:
    """Change keys of the ``env`` section of the spec file at ``path``, as a user would."""
    data = yaml.safe_load(path.read_text())
    data["env"].update(env)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def trained_env(path: Path, learned_run: LearnedRun) -> tuple[SlateEnv, dict[str, Any]]:
    """The env an env runner of ``rayrec train --env PATH --simulator CKPT`` builds."""
    opts = TrainOptions(algo="hac", env=str(path), simulator=str(learned_run.out), seed=0)
    config, target = build_config(opts)
    assert target == str(learned_run.out.resolve())
    env = make_env({**config.env_config, "num_envs": 16})
    assert isinstance(env, SlateEnv)
    return env, dict(config.env_config)


def test_edited_reward_and_step_cap_reach_training_without_retraining(
    learned_run: LearnedRun, tmp_path: Path
) -> None:
    before = checkpoint_files(learned_run.out)
    path = write_env_spec(tmp_path / "tiny.yaml", learned_run.spec)
    env, _ = trained_env(path, learned_run)
    assert env.config.reward_weights == {"click": 1.0, "purchase": 2.0}
    assert env.config.max_steps == MAX_STEPS
    np.testing.assert_array_equal(env.reward_weights.numpy(), [1.0, 2.0])  # (click, purchase)
    env.reset(seed=0)
    _, _, terminated, truncated, _ = env.step(env.action_space.sample())
    assert not (terminated | truncated).any()  # patience 3 outlasts one step, the cap is 10

    edit(path, reward_weights={"purchase": 3.0}, max_steps=1)
    env, env_config = trained_env(path, learned_run)
    assert env.config.reward_weights == {"purchase": 3.0} and env.config.max_steps == 1
    np.testing.assert_array_equal(env.reward_weights.numpy(), [0.0, 3.0])
    env.reset(seed=0)
    slates = np.stack([np.random.default_rng(i).permutation(100)[:5] + 1 for i in range(16)])
    _, reward, terminated, truncated, info = env.step(slates)
    assert truncated.all() and not terminated.any()  # the new cap: one step
    np.testing.assert_allclose(reward, 3.0 * info[INFO_RESPONSE][..., 1].mean(-1), rtol=1e-6)
    # Offline SL's logged transitions take the new weights too
    logged = train_part_transitions(env_config)
    np.testing.assert_allclose(
        logged.reward,
        slate_reward(logged.response, logged.valid, np.array([0.0, 3.0]), "mean"),
    )
    # the evaluation session is the same file's
    _, eval_config = env_config_of({**env_config, "part": "eval"})
    assert eval_config == env.config
    assert checkpoint_files(learned_run.out) == before  # nothing retrained or rewritten


@pytest.mark.parametrize(
    ("env", "key", "problem"),
    [
        ({"reward_weights": {"like": 1.0}}, "reward_weights", "'like' is not a feedback"),
        ({"history_length": 500}, "history_length", "500 is more than the 200 items of history"),
        ({"slate_size": 101}, "slate_size", "101 is more than the 100 items"),
    ],
)
def test_a_session_the_checkpoint_cannot_serve_is_refused(
    learned_run: LearnedRun, tmp_path: Path, env: dict[str, Any], key: str, problem: str
) -> None:
    path = write_env_spec(tmp_path / "tiny.yaml", learned_run.spec)
    data = yaml.safe_load(path.read_text())
    # a feedback the file defines (so the file alone is fine) but the checkpoint lacks
    data["slates"]["feedback"]["like"] = {"column": "click"}
    data["env"].update(env)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    opts = TrainOptions(algo="hac", env=str(path), simulator=str(learned_run.out))
    with pytest.raises(InputError) as err:
        build_config(opts)
    message = str(err.value)
    assert message.startswith(f"{path}: env.{key}: {problem}"), message
    assert str(learned_run.out.resolve()) in message
    if key == "reward_weights":
        assert message.endswith("predicts (click, purchase)")


def test_a_checkpoint_folder_needs_the_session_settings(learned_run: LearnedRun) -> None:
    with pytest.raises(InputError, match="'env' \\(the session settings\\) is required"):
        env_config_of({"simulator": str(learned_run.out)})
    _, config = env_config_of({"simulator": str(learned_run.out), "env": {"slate_size": 3}})
    assert config.slate_size == 3  # the rest: EnvConfig's defaults


def test_env_config_for_holds_the_spec_settings(learned_run: LearnedRun, tmp_path: Path) -> None:
    spec = replace(learned_run.spec, env=replace(learned_run.spec.env, slate_size=7))
    path = write_env_spec(tmp_path / "tiny.yaml", spec)
    env_config = env_config_for(path, str(learned_run.out), part="eval", seed=4)
    assert env_config["kind"] == "slate" and env_config["spec"] == str(path)
    assert (env_config["part"], env_config["seed"], env_config["env"]["slate_size"]) == (
        "eval",
        4,
        7,
    )
    sim, config = env_config_of(env_config)
    assert config == spec.env and sim.meta["part"] == "eval"
