"""A2C over slates: the Plackett–Luce distribution, the module contract, the PPO preset.

- Plackett–Luce: log-probabilities against a hand computation on a 3-item pool with
  K = 2, probabilities of all ordered slates summing to one, and seeded sampling
  frequencies against the exact probabilities.
- Module (no Ray): forward shapes, distinct valid slates, greedy = top-K and
  deterministic, exploration stochastic with the log-probability the learner will
  recompute (the PPO ratio is exactly 1: that is what makes the preset A2C);
  save → restore and the generic shapes are ``test_contract.py``'s.
- Learner (no Ray): one RLlib PPO-learner update on episodes sampled from the
  synthetic simulator by an env runner reports finite, named losses and moves weights.
- Config: the A2C-defining settings and every hyper-parameter are validated with the
  field named; Tune-style ``training(**kwargs)`` with PPO's keys or
  ``replay_buffer_config`` does not crash.
The learning test is in ``test_learning.py`` (``MARGINS["a2c"]``).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
import torch
from ray.rllib.core.columns import Columns

from rayrec.algorithms.a2c import A2CConfig
from rayrec.algorithms.a2c.torch.plackett_luce import TorchPlackettLuce, plackett_luce_cls
from rayrec.algorithms.registry import make_config
from rayrec.environments.slate import SlateEnv
from rayrec.errors import InputError
from rayrec.models.plackett_luce import PlackettLuce
from rayrec.train import LOGGED_LEARNER_KEYS, TrainOptions, build_config
from tests.algorithms.conftest import SYNTHETIC, B, slate_sizes
from tests.algorithms.test_contract import assert_valid_actions

# ------------------------------------------------------------ Plackett–Luce
#: a 3-item pool; P(a) for K = 2, by hand:  Z = e + 1 + e⁻¹ = 4.0862
THETA = torch.tensor([1.0, 0.0, -1.0])


def hand_pl_prob(slate: tuple[int, int]) -> float:
    """P(a_1, a_2) = exp θ_{a_1} / Σ_j exp θ_j · exp θ_{a_2} / Σ_{j ≠ a_1} exp θ_j."""
    w = [math.exp(t) for t in THETA.tolist()]
    first, second = slate
    return w[first] / sum(w) * w[second] / (sum(w) - w[first])


def test_pl_log_prob_matches_a_hand_computation() -> None:
    dist = PlackettLuce(THETA.unsqueeze(0), slate_size=2)
    # (0, 2): e/(e + 1 + e⁻¹) · e⁻¹/(1 + e⁻¹) = 0.66524 · 0.26894 = 0.17891
    got = dist.log_prob(torch.tensor([[0, 2]]))
    assert got.shape == (1,)
    assert float(got) == pytest.approx(math.log(0.665241 * 0.268941), abs=1e-5)
    assert float(got) == pytest.approx(-1.72087, abs=1e-5)
    # order matters: (2, 0) = e⁻¹/(e + 1 + e⁻¹) · e/(e + 1) = 0.09003 · 0.73106
    assert float(dist.log_prob(torch.tensor([[2, 0]]))) == pytest.approx(
        math.log(0.090031 * 0.731059), abs=1e-5
    )
    for slate in itertools.permutations(range(3), 2):
        lp = float(dist.log_prob(torch.tensor([slate])))
        assert lp == pytest.approx(math.log(hand_pl_prob(slate)), abs=1e-5), slate


def test_pl_probabilities_of_all_slates_sum_to_one_and_batch() -> None:
    logits = torch.tensor([[0.3, -1.2, 2.0, 0.5], [0.0, 0.0, 0.0, 0.0]])  # (2, 4)
    dist = PlackettLuce(logits, slate_size=2)
    slates = torch.tensor(list(itertools.permutations(range(4), 2)))  # (12, 2)
    lp = dist.log_prob(slates.unsqueeze(1).expand(-1, 2, -1))  # (12, 2): sample axis first
    torch.testing.assert_close(lp.exp().sum(0), torch.ones(2))
    torch.testing.assert_close(lp[:, 1], torch.full((12,), -math.log(12.0)))  # uniform


def test_pl_sampling_frequencies_match_the_probabilities() -> None:
    torch.manual_seed(0)
    n = 40_000
    dist = PlackettLuce(THETA.unsqueeze(0), slate_size=2)
    samples = dist.sample((n,))[:, 0]  # (n, 2)
    assert (samples[:, 0] != samples[:, 1]).all(), "sampled without replacement"
    for slate in itertools.permutations(range(3), 2):
        freq = float((samples == torch.tensor(slate)).all(dim=1).float().mean())
        p = hand_pl_prob(slate)
        sigma = math.sqrt(p * (1 - p) / n)
        assert abs(freq - p) < 5 * sigma, (slate, freq, p)


def test_pl_greedy_entropy_and_kl() -> None:
    logits = torch.tensor([[0.1, 3.0, -2.0, 1.0]])
    dist = PlackettLuce(logits, slate_size=3)
    assert dist.mode.tolist() == [[1, 3, 0]]
    p = logits.softmax(-1)
    torch.testing.assert_close(dist.entropy(), -(p * p.log()).sum(-1))  # first position
    torch.testing.assert_close(dist.kl_first_position(dist), torch.zeros(1))
    other = PlackettLuce(torch.zeros(1, 4), slate_size=3)
    assert float(dist.kl_first_position(other)) > 0
    with pytest.raises(ValueError, match="slate_size"):
        PlackettLuce(logits, slate_size=5)


def test_rllib_wrapper_works_in_item_ids() -> None:
    """TorchPlackettLuce over ids 1..3 (the slate env's space) = PL over indices 0..2."""
    import gymnasium as gym
    import numpy as np

    space = gym.spaces.MultiDiscrete(np.full(2, 3), start=np.ones(2, dtype=np.int64))
    cls = plackett_luce_cls(space)
    assert TorchPlackettLuce.required_input_dim(space) == 3
    dist = cls.from_logits(THETA.unsqueeze(0))
    assert isinstance(dist, TorchPlackettLuce)
    assert float(dist.logp(torch.tensor([[1, 3]]))) == pytest.approx(-1.72087, abs=1e-5)
    assert dist.to_deterministic().sample().tolist() == [[1, 2]]
    torch.manual_seed(0)
    ids = dist.sample(sample_shape=(500,))  # (500, 1, 2)
    assert int(ids.min()) >= 1 and int(ids.max()) <= 3
    torch.testing.assert_close(dist.kl(dist), torch.zeros(1))


# ------------------------------------------------------------- module level
def build_a2c_module(env: SlateEnv, seed: int = 0, **model: Any) -> Any:
    """The A2C RLModule exactly as its config builds it (no target nets, unlike HAC)."""
    config = make_config("a2c")
    if model:
        config.rl_module(model_config=model)
    spec = config.get_default_rl_module_spec()
    spec.observation_space = env.single_observation_space
    spec.action_space = env.single_action_space
    spec.model_config = config.model_config
    torch.manual_seed(seed)
    return spec.build()


@pytest.fixture(scope="module")
def a2c_module(slate_env: SlateEnv) -> Any:
    return build_a2c_module(slate_env)


def test_forward_shapes_and_valid_distinct_slates(
    a2c_module: Any, slate_env: SlateEnv, slate_batch: dict[str, Any]
) -> None:
    n_items, _ = slate_sizes(slate_env)
    obs = {Columns.OBS: slate_batch[Columns.OBS]}
    with torch.no_grad():
        greedy = a2c_module.forward_inference(obs)
        explore = a2c_module.forward_exploration(obs)
        train = a2c_module.forward_train(obs)
        values = a2c_module.compute_values(obs)
    for out in (greedy, explore):
        assert_valid_actions(out[Columns.ACTIONS], slate_env.single_action_space)
        assert out[Columns.ACTION_DIST_INPUTS].shape == (B, n_items)
    assert explore[Columns.ACTION_LOGP].shape == (B,)
    assert (explore[Columns.ACTION_LOGP] < 0).all()
    assert train[Columns.ACTION_DIST_INPUTS].shape == (B, n_items)
    assert train[Columns.EMBEDDINGS].shape == (B, a2c_module.cfg.state_dim)
    assert values.shape == (B,)
    torch.testing.assert_close(
        a2c_module.compute_values(obs, embeddings=train[Columns.EMBEDDINGS]), values
    )
    for tensor in (*greedy.values(), *explore.values(), *train.values(), values):
        assert torch.isfinite(tensor.float()).all()


def test_inference_is_the_deterministic_top_k(a2c_module: Any, slate_batch: dict[str, Any]) -> None:
    obs = {Columns.OBS: slate_batch[Columns.OBS]}
    with torch.no_grad():
        first, second = a2c_module.forward_inference(obs), a2c_module.forward_inference(obs)
    assert torch.equal(first[Columns.ACTIONS], second[Columns.ACTIONS])
    logits = first[Columns.ACTION_DIST_INPUTS]
    assert torch.equal(first[Columns.ACTIONS], logits.topk(a2c_module.slate_size).indices + 1)


def test_exploration_samples_and_its_logp_is_what_the_learner_recomputes(
    a2c_module: Any, slate_batch: dict[str, Any]
) -> None:
    obs = {Columns.OBS: slate_batch[Columns.OBS]}
    with torch.no_grad():
        torch.manual_seed(1)
        a = a2c_module.forward_exploration(obs)
        torch.manual_seed(2)
        b = a2c_module.forward_exploration(obs)
        train = a2c_module.forward_train(obs)
    assert not torch.equal(a[Columns.ACTIONS], b[Columns.ACTIONS]), "exploration is stochastic"
    # The learner's view: the same logits, the same slate log-probability (PPO ratio = 1).
    dist = a2c_module.get_train_action_dist_cls().from_logits(train[Columns.ACTION_DIST_INPUTS])
    torch.testing.assert_close(dist.logp(a[Columns.ACTIONS]), a[Columns.ACTION_LOGP])


# ------------------------------------------------------------- learner level
def test_ppo_learner_update_reports_finite_named_losses_on_a_real_batch() -> None:
    """An env runner samples the synthetic simulator; RLlib's PPO learner (GAE connector,
    PPO loss) updates the A2C module once, starting from the runner's weights."""
    from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner

    config, _ = build_config(
        TrainOptions(
            algo="a2c",
            env=str(SYNTHETIC),
            num_envs_per_env_runner=B,
            overrides={"train_batch_size_per_learner": 64},
        )
    )
    torch.manual_seed(0)
    runner = SingleAgentEnvRunner(config=config)
    try:
        episodes = runner.sample(num_timesteps=64, random_actions=False)
        learner = config.build_learner(env=runner.env)
        learner.module.set_state(runner.module.get_state())
        before = {k: v.clone() for k, v in learner.module["default_policy"].state_dict().items()}
        results = learner.update(episodes=episodes)["default_policy"]
    finally:
        runner.stop()
    losses = {key: float(results[key].peek()) for key in LOGGED_LEARNER_KEYS}
    for key, value in losses.items():
        assert math.isfinite(value), (key, value)
    assert losses["vf_loss"] > 0
    # near-uniform initial policy: H(first position) ≈ log I
    assert 0 < losses["entropy"] <= math.log(400) + 1e-4
    assert float(results["mean_kl_loss"].peek()) == 0.0  # A2C: no KL term
    assert float(results["gradients_default_optimizer_global_norm"].peek()) > 0
    after = learner.module["default_policy"].state_dict()
    for prefix in ("policy.", "value.", "kernel.", "state_encoder."):
        moved = max(
            float((after[k] - before[k]).abs().max()) for k in before if k.startswith(prefix)
        )
        assert moved > 0, f"{prefix}* did not move"


# ----------------------------------------------------------------- config
def test_preset_is_ppo_with_the_a2c_settings() -> None:
    config = make_config("a2c")
    assert isinstance(config, A2CConfig)
    assert (config.num_epochs, config.minibatch_size, config.use_kl_loss) == (1, None, False)
    assert config.use_critic and config.use_gae
    assert config.gamma == 0.9
    assert config.clip_param >= 1e6 and config.vf_clip_param >= 1e6
    config.validate()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("num_epochs", 2),
        ("minibatch_size", 64),
        ("use_kl_loss", True),
        ("lr", -1e-3),
        ("lr", "fast"),
        ("entropy_coeff", -0.1),
        ("vf_loss_coeff", -1.0),
        ("lambda_", 1.5),
        ("gamma", 0.0),
        ("grad_clip", 0.0),
        ("clip_param", 0.0),
        ("train_batch_size_per_learner", 0),
    ],
)
def test_validate_names_the_bad_field(field: str, value: Any) -> None:
    config = make_config("a2c")
    setattr(config, field, value)
    with pytest.raises(ValueError, match=f"'{field}'"):
        config.validate()
    # --config type-checks the value first (`--config lr: expected a number, ...`)
    with pytest.raises(InputError, match=rf"\b{field}\b"):
        build_config(TrainOptions(algo="a2c", env=str(SYNTHETIC), overrides={field: value}))


def test_training_accepts_ppo_keys_and_tune_style_kwargs() -> None:
    config = make_config("a2c").training(
        lr=1e-3,
        gamma=0.95,
        lambda_=0.9,
        entropy_coeff=0.0,
        vf_loss_coeff=1.0,
        grad_clip=None,
        clip_param=0.2,
        replay_buffer_config={"type": "EpisodeReplayBuffer", "capacity": 10},
    )
    assert (config.lr, config.gamma, config.lambda_, config.clip_param) == (1e-3, 0.95, 0.9, 0.2)
    assert config.replay_buffer_config is None  # on-policy: ignored
    config.validate()
    # The dict round trip Tune and checkpoints use (update_from_dict -> training(...)).
    again = A2CConfig().update_from_dict(config.to_dict())
    assert (again.lr, again.lambda_, again.num_epochs) == (1e-3, 0.9, 1)
    again.validate()


@pytest.mark.parametrize("runners", [0, 2, 3])
def test_a2c_builds_for_any_number_of_env_runners(runners: int) -> None:
    """Each runner samples its share of one train batch (RLlib's "auto" fragment)."""
    from rayrec.train import TrainOptions, build_config

    config, _ = build_config(TrainOptions(algo="a2c", env=str(SYNTHETIC), num_env_runners=runners))
    share = config.get_rollout_fragment_length() * 32 * max(1, runners)
    assert config.train_batch_size_per_learner == 256
    assert 256 <= share < 256 + 32 * max(1, runners)
