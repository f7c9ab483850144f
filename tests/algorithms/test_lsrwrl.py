"""LSRWRL: the paper's settings, the masked Q, the DQN loss on a hand-computed batch, a
learning test on a log with two tastes, and the CLI from training to a checkpoint's
evaluation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from ray.rllib.algorithms.dqn.default_dqn_rl_module import QF_PREDS
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME

from rayrec.algorithms.lsrwrl import LSRWRLConfig, LSRWRLModelConfig
from rayrec.environments.keys import OBS_ACTION_MASK
from rayrec.errors import InputError
from tests.algorithms.conftest import B, topn_batch

T0 = 978_300_000


def test_defaults_are_the_papers_settings() -> None:
    config = LSRWRLConfig()
    assert config.double_q and not config.dueling and config.num_atoms == 1
    assert (config.gamma, config.lr, config.train_batch_size_per_learner) == (0.9, 0.01, 128)
    assert (config.target_network_update_freq, config.tau) == (50, 1.0)
    assert config.epsilon == [[0, 0.1]]  # exploitation probability 0.9, constant


def test_dueling_and_distributional_heads_are_refused() -> None:
    with pytest.raises(ValueError, match="dueling, distributional"):
        LSRWRLConfig().training(dueling=True).validate()
    with pytest.raises(InputError, match=r"model\.fm_dim: expected an integer >= 1"):
        LSRWRLModelConfig(fm_dim=0)


def build_learner(env: Any, config: LSRWRLConfig) -> Any:
    torch.manual_seed(0)
    return config.build_learner(
        spaces={DEFAULT_MODULE_ID: (env.single_observation_space, env.single_action_space)}
    )


def test_exploration_never_draws_a_masked_item(topn_env: Any) -> None:
    config = LSRWRLConfig().training(epsilon=[[0, 1.0]])  # every action a random draw
    module = build_learner(topn_env, config).module[DEFAULT_MODULE_ID]
    batch = topn_batch(topn_env)
    obs = {Columns.OBS: batch[Columns.OBS]}
    allowed = batch[Columns.OBS][OBS_ACTION_MASK].bool()  # (B, I + 1)
    drawn = torch.zeros_like(allowed)
    for _ in range(200):
        actions = module.forward_exploration(obs, t=0)[Columns.ACTIONS]
        drawn[torch.arange(B), actions] = True
    assert not bool((drawn & ~allowed).any()), "a masked item was explored"
    # every available item of a user is reachable (uniform over the available ones)
    assert bool((drawn == allowed).all())


def test_learner_loss_equals_the_hand_computed_double_q_huber(topn_env: Any) -> None:
    config = LSRWRLConfig()
    learner = build_learner(topn_env, config)
    module = learner.module[DEFAULT_MODULE_ID]
    batch = topn_batch(topn_env, seed=3)
    batch[Columns.TERMINATEDS] = torch.tensor([False] * (B - 1) + [True])
    with torch.no_grad():
        q = module.compute_q_values({Columns.OBS: batch[Columns.OBS]})[QF_PREDS]
        q_next = module.compute_q_values({Columns.OBS: batch[Columns.NEXT_OBS]})[QF_PREDS]
        q_next_target = module.forward_target({Columns.OBS: batch[Columns.NEXT_OBS]})[QF_PREDS]
    # by hand: Q(s, a); a* = argmax over the AVAILABLE next items (online net); target net
    # at a*; y = r + γ (1 − done) Q'(s', a*); Huber(Q(s, a) − y)
    allowed_next = batch[Columns.NEXT_OBS][OBS_ACTION_MASK].bool()
    best = torch.where(allowed_next, q_next, torch.full_like(q_next, -1e30)).argmax(dim=-1)
    assert bool(allowed_next[torch.arange(B), best].all())
    q_sa = q[torch.arange(B), batch[Columns.ACTIONS]]
    done = batch[Columns.TERMINATEDS].float()
    y = batch[Columns.REWARDS] + config.gamma * (1 - done) * q_next_target[torch.arange(B), best]
    expected = float(F.huber_loss(q_sa, y, delta=1.0))
    columns = {
        k: ({kk: vv.numpy() for kk, vv in v.items()} if isinstance(v, dict) else v.numpy())
        for k, v in batch.items()
    }
    columns |= {"n_step": np.ones(B), "weights": np.ones(B)}
    results = learner.update(
        batch=MultiAgentBatch({DEFAULT_MODULE_ID: SampleBatch(columns)}, env_steps=B),
        timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: B},
    )[DEFAULT_MODULE_ID]
    assert float(results["qf_loss"].peek()) == pytest.approx(expected, rel=1e-5)


def test_the_target_is_a_copy_taken_every_target_network_update_freq_steps(
    topn_env: Any,
) -> None:
    config = LSRWRLConfig()  # target_network_update_freq 50 sampled steps, tau 1
    learner = build_learner(topn_env, config)
    module = learner.module[DEFAULT_MODULE_ID]
    columns = {
        k: ({kk: vv.numpy() for kk, vv in v.items()} if isinstance(v, dict) else v.numpy())
        for k, v in topn_batch(topn_env).items()
    }
    columns |= {"n_step": np.ones(B), "weights": np.ones(B)}
    batch = MultiAgentBatch({DEFAULT_MODULE_ID: SampleBatch(columns)}, env_steps=B)

    def same() -> bool:
        main, target = module.q_net.state_dict(), module._target_q_net.state_dict()
        return all(torch.equal(main[k], target[k]) for k in main)

    assert same()  # built as a copy
    learner.update(batch=batch, timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: 10})
    assert not same(), "10 sampled steps: the online net moved, the target did not"
    learner.update(batch=batch, timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: 49})
    assert not same()
    learner.update(batch=batch, timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: 50})
    assert same(), "50 sampled steps since the last copy: the target is the online net"


def test_replay_follows_the_runs_seed(tmp_path: Path) -> None:
    """RLlib's EpisodeReplayBuffer samples from an unseeded generator; ours from the
    run's seed, which ``rayrec train`` writes into ``replay_buffer_config``."""
    from ray.rllib.env.single_agent_episode import SingleAgentEpisode
    from ray.rllib.utils.from_config import from_config
    from ray.rllib.utils.replay_buffers import ReplayBuffer

    from rayrec.algorithms.lsrwrl.replay import SeededEpisodeReplayBuffer
    from rayrec.train import TrainOptions, build_config

    def episode(k: int) -> SingleAgentEpisode:
        return SingleAgentEpisode(
            observations=list(range(k, k + 31)),
            actions=[0] * 30,
            rewards=[0.0] * 30,
            len_lookback_buffer=0,
        )

    def draws(seed: int) -> list[int]:
        config = {**LSRWRLConfig().replay_buffer_config, "rng_seed": seed}
        buffer = from_config(ReplayBuffer, config)
        assert isinstance(buffer, SeededEpisodeReplayBuffer)
        buffer.add([episode(100 * k) for k in range(5)])
        sampled = buffer.sample(batch_size_B=64, batch_length_T=1)
        return np.asarray(sampled["obs"]).ravel().tolist()

    assert draws(3) == draws(3)
    assert draws(3) != draws(4)
    spec = write_spec(tmp_path, write_taste_log(tmp_path / "data"))
    config, _ = build_config(TrainOptions(algo="lsrwrl", env=str(spec), seed=7))
    assert config.replay_buffer_config["rng_seed"] == 7


# ----------------------------------------------------------- a log with two tastes
#: items 1..20 are taste A's, 21..40 taste B's; women have taste A, men taste B
N_ITEMS = 40


def write_taste_log(root: Path, users: int = 60, per_user: int = 18, seed: int = 0) -> Path:
    """An ML-1M folder: each user rates 13 random items of its taste 5 and 5 random items
    of the other taste 1, in random time order; the taste is the user's gender."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "movies.dat").write_text(
        "".join(f"{m}::Movie {m} (1995)::Drama\n" for m in range(1, N_ITEMS + 1))
    )
    genders = ["F" if u % 2 else "M" for u in range(1, users + 1)]
    (root / "users.dat").write_text(
        "".join(f"{u}::{genders[u - 1]}::25::{u % 21}::00000\n" for u in range(1, users + 1))
    )
    lines = []
    for u in range(1, users + 1):
        own = 0 if genders[u - 1] == "F" else 20
        other = 20 - own
        liked = rng.choice(20, 13, replace=False) + 1 + own
        disliked = rng.choice(20, per_user - 13, replace=False) + 1 + other
        records = [(int(m), 5) for m in liked] + [(int(m), 1) for m in disliked]
        for k, i in enumerate(rng.permutation(len(records))):
            m, r = records[i]
            lines.append(f"{u}::{m}::{r}::{T0 + 3600 * k + u}\n")
    (root / "ratings.dat").write_text("".join(lines))
    return root


def write_spec(tmp_path: Path, data: Path) -> Path:
    spec = {
        "kind": "topn",
        "name": "two_tastes",
        "dataset": {"name": "ml-1m", "path": str(data)},
        "topn": {"initial_items": 3, "episode_length": 8, "short_window": 5, "long_window": 16},
    }
    path = tmp_path / "two_tastes.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


#: env steps of the learning test (375 episodes of 8 steps)
LEARNING_STEPS = 3_000
LEARNING_OVERRIDES: dict[str, Any] = {
    "num_steps_sampled_before_learning_starts": 200,
    "lr": 0.003,
}
#: LSRWRL's precision@10 must beat most-popular's by this much: the test part holds the
#: user's own taste mostly, which popularity (both tastes alike) cannot tell. Measured
#: 2026-12-07 (seed 0, 3,000 steps, replay seeded): LSRWRL 0.195 (the same alone and
#: after other tests), most popular 0.137, UserCF 0.193; a perfect taste ranker ~0.29.
#: Before the replay was seeded the same test gave 0.183-0.200 from run to run.
LEARNING_MARGIN = 0.04
#: ... and a random ranking's (expected 0.154 on this log: ~4 test items of 26 left)
RANDOM_MARGIN = 0.03


@pytest.mark.ray
@pytest.mark.slow
def test_lsrwrl_learns_the_users_taste(tmp_path: Path, ray_session: object) -> None:
    from rayrec.train import TrainOptions, run_training

    spec = write_spec(tmp_path, write_taste_log(tmp_path / "data"))
    result = run_training(
        TrainOptions(
            algo="lsrwrl",
            env=str(spec),
            seed=0,
            stop_iters=10**6,
            stop_timesteps=LEARNING_STEPS,
            out=str(tmp_path / "run"),
            checkpoint_every=None,
            overrides=LEARNING_OVERRIDES,
        )
    )
    evaluation = result["evaluation"]
    agent = evaluation["lsrwrl"]["precision@10"]
    popular = evaluation["most_popular"]["precision@10"]
    assert agent >= popular + LEARNING_MARGIN, evaluation
    assert agent >= random_precision(spec) + RANDOM_MARGIN, evaluation


def random_precision(spec: Path) -> float:
    """The expected precision@10 of a uniformly random ranking: per evaluated user,
    relevant test items over the items it can be shown (the pool less its train items;
    every user here has at least 10)."""
    from rayrec.environments.topn import load_topn_data

    data = load_topn_data(spec)
    relevant, seen = data.test_relevant("rated"), data.train_seen()
    users = data.eval_users("rated")
    return float(np.mean([len(relevant[k]) / (data.n_items - len(seen[k])) for k in users]))


@pytest.mark.ray
@pytest.mark.slow
def test_cli_trains_prints_the_references_and_evaluates_the_checkpoint(
    tmp_path: Path, ray_session: object, capsys: pytest.CaptureFixture[str]
) -> None:
    from rayrec.cli import main

    spec = write_spec(tmp_path, write_taste_log(tmp_path / "data", users=12))
    out = tmp_path / "run"
    argv = ["train", "lsrwrl", "--env", str(spec), "--out", str(out), "--stop-timesteps", "300"]
    argv += ["--config", "num_steps_sampled_before_learning_starts=100", "--json"]
    argv += ["--config", "training_intensity=16"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    for name in ("lsrwrl", "most_popular", "itemcf", "usercf"):
        assert any(line.strip().startswith(name) for line in printed.splitlines()), name
    trained = json.loads(printed.strip().splitlines()[-1])["evaluation"]
    assert set(trained["lsrwrl"]) >= {"precision@10", "recall@10", "precision@10_liked"}
    assert main(["evaluate", str(out / "checkpoint"), "--env", str(spec), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # the checkpoint's greedy ranking is the one the run evaluated
    assert evaluated["precision@10"] == pytest.approx(trained["lsrwrl"]["precision@10"])


@pytest.mark.ray
@pytest.mark.slow
def test_the_table_sets_lsrwrl_beside_every_baseline_and_reuses_the_fits(
    tmp_path: Path, ray_session: object, capsys: pytest.CaptureFixture[str]
) -> None:
    from rayrec.cli import main

    spec = write_spec(tmp_path, write_taste_log(tmp_path / "data", users=12))
    out = tmp_path / "table"
    argv = ["reproduce", "lsrwrl-table", "--env", str(spec), "--seeds", "0", "1"]
    argv += ["--budget-steps", "200", "--out", str(out)]
    argv += ["--config", "num_steps_sampled_before_learning_starts=100"]
    assert main(argv) == 0
    table = (out / "table.md").read_text()
    rows = {line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ")}
    assert "lsrwrl" in rows
    for name in ("most_popular", "itemcf", "usercf", "sasrec", "gru4rec", "stamp"):
        assert f"*{name}* (reference)" in rows, name
    # the sequential rows are means over the plan's seeds, with their spread
    sasrec = next(line for line in table.splitlines() if "*sasrec*" in line)
    assert "±" in sasrec
    for seed in (0, 1):
        assert (out / "baselines" / "sasrec" / f"s{seed}.json").is_file()
    capsys.readouterr()
    fits = {p: p.stat().st_mtime_ns for p in (out / "baselines").rglob("*.json")}
    assert main(argv) == 0  # a rerun reuses the runs and every baseline fit
    again = capsys.readouterr()
    assert "training lsrwrl" not in again.out + again.err
    assert {p: p.stat().st_mtime_ns for p in (out / "baselines").rglob("*.json")} == fits
