"""The contract every registered algorithm keeps (d3rlpy-style, one test for all).

Parametrised from :data:`rayrec.algorithms.registry.ALGORITHMS` — a newly registered
algorithm is tested here, or fails here until it says which contract it keeps — plus
DDPG with a continuous Box action (the next issue's DDPG-LA), not registered yet, from a
flat observation and from the slate env's history observation. The logged-session
learners (SQN, SAC, CE, CAL4Rec: the ``sessions`` family) are checked on the synthetic
click/purchase sessions' spaces and real replay rows; CAL4Rec's update also step by
step: which parameters each of Algorithm 1's optimizer steps moves, per variant.

Module level (no Ray), built from the config's own module spec: the shapes of every
forward, valid actions for the action space, greedy acting deterministic, target
networks paired and equal to their main nets at the start, save → restore gives the
same greedy action. Learner level (no Ray): one update on a real batch reports finite,
named losses and moves weights. Registry: metadata, unknown names, env-kind checks.
The DDPG family's own contract (noise, TD3, validation, Ray level) is in
``test_ddpg_family.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from ray.rllib.algorithms.dqn import DQNConfig
from ray.rllib.algorithms.dqn.default_dqn_rl_module import (
    QF_NEXT_PREDS,
    QF_PREDS,
    QF_TARGET_NEXT_PREDS,
)
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import TargetNetworkAPI
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME

from rayrec.algorithms.cal4rec.cal4rec_learner import (
    D_LOSS,
    DISCRIMINATOR,
    ENCODER,
    ENCODER_LOSS,
    FULL,
    G_LOSS,
    GAN_ONLY,
    GENERATOR,
    NO_GUMBEL,
    SSL_LOSS,
    SSL_ONLY,
)
from rayrec.algorithms.ddpg import DDPGConfig
from rayrec.algorithms.ddpg.ddpg_learner import BCE_LOSS, HYPER_LOSS, QMAX_LOSS, TD_LOSS
from rayrec.algorithms.keys import (
    ALIGNED_HYPER_ACTION,
    HYPER_ACTION,
    HYPER_ACTION_POLICY,
    INFERRED_HYPER_ACTION,
    Q_INFERRED,
    Q_INFERRED_TWIN,
    Q_NEXT_TARGET,
    Q_POLICY,
    SLATE_LOGITS,
    STATE,
)
from rayrec.algorithms.registry import (
    ALGORITHMS,
    PROTOCOLS,
    check_env_kind,
    get_algorithm,
    make_config,
)
from rayrec.algorithms.sqn import SQNConfig
from rayrec.algorithms.sqn.sqn_learner import CE_LOSS
from rayrec.algorithms.sqn.sqn_learner import TD_LOSS as SQN_TD_LOSS
from rayrec.data.sessions import LEN_STATE as SESSION_LEN_STATE
from rayrec.data.sessions import STATE as SESSION_STATE
from rayrec.environments import env_config_for
from rayrec.environments.keys import OBS_ACTION_MASK
from rayrec.environments.slate import SlateEnv
from rayrec.errors import InputError
from rayrec.train import LOGGED_LEARNER_KEYS, TrainOptions, build_config
from tests.algorithms.conftest import (
    SYNTHETIC,
    SYNTHETIC_SESSIONS,
    B,
    rating_batch,
    sessions_batch,
    topn_batch,
)

#: DDPG with a Box action (not registered: no env kind serves it yet)
BOX_FLAT = "ddpg[box, flat obs]"
BOX_HISTORY = "ddpg[box, history obs]"
CASES = [*sorted(ALGORITHMS), BOX_FLAT, BOX_HISTORY]
#: the Box cases' spaces: a rating in [0, 1] (DDPG-LA's action), a 6-d observation
BOX_ACTION = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
FLAT_OBS = gym.spaces.Box(-1.0, 1.0, (6,), np.float32)
#: output key of the session modules' CE-head scores in these tests
ITEM_SCORES = "item_scores"
#: the learners of logged sessions (offline: they never sample the env)
SESSION_ALGOS = ("cal4rec", "ce", "sac", "sqn")
#: the named losses each session learner logs (SAC weights its CE only after T updates)
SESSION_LOSSES: dict[str, set[str]] = {
    "sqn": {SQN_TD_LOSS, CE_LOSS},
    "sac": {SQN_TD_LOSS, CE_LOSS},
    "ce": {CE_LOSS},
    "cal4rec": {D_LOSS, G_LOSS, SSL_LOSS, ENCODER_LOSS},
}


def family(config: Any) -> str:
    """Which forward / learner contract a config's algorithm keeps."""
    if isinstance(config, SQNConfig):  # CAL4Rec's config is one too
        return "sessions"
    if isinstance(config, DDPGConfig):
        return "ddpg"
    if isinstance(config, DQNConfig):  # after DDPG: DDPGConfig is a DQNConfig
        return "dqn"
    if isinstance(config, PPOConfig):
        return "ppo"
    raise AssertionError(f"{type(config).__name__}: no contract test for this algorithm family")


@dataclass
class Case:
    """An algorithm with the spaces and the batch its contract is checked on."""

    name: str
    config: Any
    observation_space: gym.Space[Any]
    action_space: gym.Space[Any]
    batch: dict[str, Any]  # (B,) transitions, tensors

    @property
    def family(self) -> str:
        return family(self.config)

    @property
    def is_slate(self) -> bool:
        return isinstance(self.action_space, gym.spaces.MultiDiscrete)

    def build_module(self, seed: int = 0) -> Any:
        spec = self.config.get_default_rl_module_spec()
        spec.observation_space = self.observation_space
        spec.action_space = self.action_space
        spec.model_config = self.config.model_config
        torch.manual_seed(seed)
        module = spec.build()
        if isinstance(module, TargetNetworkAPI):
            module.make_target_networks()
        return module


def box_batch(obs_space: gym.Space[Any], slate_batch: dict[str, Any]) -> dict[str, Any]:
    """(B,) random transitions with Box actions; the slate env's observations when the
    observation space is the slate env's."""
    gen = torch.Generator().manual_seed(1)
    if isinstance(obs_space, gym.spaces.Box):
        obs = torch.rand(B, *obs_space.shape, generator=gen) * 2 - 1  # (B, 6)
        next_obs = torch.rand(B, *obs_space.shape, generator=gen) * 2 - 1  # (B, 6)
    else:
        obs, next_obs = slate_batch[Columns.OBS], slate_batch[Columns.NEXT_OBS]
    return {
        Columns.OBS: obs,
        Columns.NEXT_OBS: next_obs,
        Columns.ACTIONS: torch.rand(B, 1, generator=gen),  # (B, 1) in [0, 1]
        Columns.REWARDS: torch.rand(B, generator=gen),  # (B,)
        Columns.TERMINATEDS: torch.tensor([False] * (B - 1) + [True]),  # (B,)
    }


@pytest.fixture(scope="module", params=CASES)
def case(
    request: pytest.FixtureRequest,
    slate_env: SlateEnv,
    slate_batch: dict[str, Any],
    rating_env: Any,
    topn_env: Any,
    sessions_env: Any,
) -> Case:
    name = request.param
    if name in (BOX_FLAT, BOX_HISTORY):
        obs_space = FLAT_OBS if name == BOX_FLAT else slate_env.single_observation_space
        return Case(name, DDPGConfig(), obs_space, BOX_ACTION, box_batch(obs_space, slate_batch))
    if get_algorithm(name).env_kinds == ("rating_walk",):
        config = make_config(name)
        return Case(
            name,
            config,
            rating_env.single_observation_space,
            rating_env.single_action_space,
            rating_batch(rating_env, config),
        )
    if get_algorithm(name).env_kinds == ("topn",):
        return Case(
            name,
            make_config(name),
            topn_env.single_observation_space,
            topn_env.single_action_space,
            topn_batch(topn_env),
        )
    if get_algorithm(name).env_kinds == ("logged_sessions",):
        return Case(
            name,
            session_config(name),
            sessions_env.single_observation_space,
            sessions_env.single_action_space,
            sessions_batch(sessions_env),
        )
    return Case(
        name,
        make_config(name),
        slate_env.single_observation_space,
        slate_env.single_action_space,
        slate_batch,
    )


def session_config(name: str, **training: Any) -> Any:
    """The config of a session learner on the synthetic sessions, one update taking the
    B batch rows (CAL4Rec's takes K + 1 minibatches: K discriminator steps, then the
    generator and encoder steps)."""
    config = make_config(name).environment(env_config=env_config_for(SYNTHETIC_SESSIONS))
    config.debugging(seed=0).training(**training)
    per_update = 1 if getattr(config, "variant", SSL_ONLY) == SSL_ONLY else config.disc_steps + 1
    assert B % per_update == 0
    return config.training(train_batch_size_per_learner=B // per_update)


@pytest.fixture(scope="module")
def module_of(case: Case) -> Any:
    return case.build_module()


def state_width(module: Any) -> int:
    """The width of the state s the actor reads (DDPG-LA's interest encoder has its own)."""
    encoder = getattr(module, "state_encoder", None)
    return int(getattr(encoder, "out_dim", None) or module.cfg.state_dim)


def main_next_q(module: Any, batch: dict[str, Any]) -> torch.Tensor:
    """Q(s', π(s')) of the main networks (a stateful module re-encodes s' from the
    stored recurrent starts, as its target pass does)."""
    from rayrec.algorithms.ddpg.torch.ddpg_la_torch_rl_module import (
        ACTOR_RING,
        CRITIC_RING,
        DDPGLATorchRLModule,
    )
    from rayrec.algorithms.keys import NEXT_RECURRENT_START

    if isinstance(module, DDPGLATorchRLModule):
        states = module._encode_replayed(
            batch[Columns.NEXT_OBS], batch[NEXT_RECURRENT_START], target=False
        )
        z = module.actor(states[ACTOR_RING])
        return module.critic(states[CRITIC_RING], z)  # type: ignore[no-any-return]
    s_next = module.encode(batch[Columns.NEXT_OBS])
    return module.q_value(s_next, module.actor(s_next))  # type: ignore[no-any-return]


def session_scores(module: Any, obs: dict[str, Any]) -> torch.Tensor:
    """(B, N + 1) the CE head's scores of a session module (eval mode: no dropout)."""
    state = obs[Columns.OBS][SESSION_STATE]  # (B, L)
    len_state = obs[Columns.OBS][SESSION_LEN_STATE][:, 0]  # (B,)
    was = module.training
    module.eval()
    try:
        with torch.no_grad():
            return module.item_scores(state, len_state)  # type: ignore[no-any-return]
    finally:
        module.train(was)


def session_forwards_have_their_shapes(module: Any, case: Case, out: dict[str, Any]) -> None:
    """The session modules' forwards: the learners run the networks themselves
    (SQN's coin flip picks which), so forward_train precomputes nothing; every network
    scores (B, N + 1) with the padding column −∞; CAL4Rec's generator gives (B, 2)
    log-probabilities of click / purchase and its discriminator (B,) logits."""
    assert out == {}
    batch, n = case.batch, case.action_space.n
    two = case.name in ("sqn", "sac")
    assert len(module.networks) == (2 if two else 1)
    for net in module.networks:
        s = net(batch[SESSION_STATE], batch[SESSION_LEN_STATE])  # (B, d)
        assert s.shape == (B, net.encoder.dim) and torch.isfinite(s).all()
        assert net.ce_head(s).shape == (B, n)
        assert (net.q_head is not None) == two
        if two:
            assert net.q_head(s).shape == (B, n)
    scores = session_scores(module, {Columns.OBS: batch[Columns.OBS]})  # (B, N + 1)
    assert scores.shape == (B, n) and bool((scores[:, 0] == float("-inf")).all())
    assert bool(torch.isfinite(scores[:, 1:]).all())
    if case.name == "cal4rec":
        net = module.networks[0]
        s = net(batch[SESSION_STATE], batch[SESSION_LEN_STATE])  # (B, d)
        e_a = net.encoder.item_embedding(batch["action"])  # (B, d)
        log_p = module.generator(s, e_a, torch.rand(B, module.generator.noise_dim))  # (B, 2)
        assert log_p.shape == (B, 2)
        torch.testing.assert_close(log_p.exp().sum(-1), torch.ones(B))
        assert module.discriminator(log_p.exp(), s, e_a).shape == (B,)


def assert_valid_actions(
    actions: torch.Tensor, space: gym.Space[Any], obs: dict[str, Any] | None = None
) -> None:
    """(B, K) distinct item ids of a slate space, (B,) available item ids of a Discrete
    space (its observation's action mask), or (B, *shape) inside a Box."""
    if isinstance(space, gym.spaces.Discrete):
        assert actions.shape == (B,) and not actions.is_floating_point()
        assert obs is not None
        allowed = obs[OBS_ACTION_MASK].bool()  # (B, I + 1)
        assert bool(allowed[torch.arange(B), actions].all()), "a masked item was chosen"
    elif isinstance(space, gym.spaces.MultiDiscrete):
        n_items, k = int(space.nvec[0]), len(space.nvec)
        assert actions.shape == (B, k)
        assert not actions.is_floating_point()
        assert int(actions.min()) >= 1 and int(actions.max()) <= n_items
        for row in actions.tolist():
            assert len(set(row)) == k, f"slate repeats an item: {row}"
    else:
        assert isinstance(space, gym.spaces.Box)
        assert actions.shape == (B, *space.shape)
        assert torch.isfinite(actions).all()
        low, high = torch.as_tensor(space.low), torch.as_tensor(space.high)
        assert bool((actions >= low).all()) and bool((actions <= high).all())


# ------------------------------------------------------------------ registry
def test_every_algorithm_is_registered_with_its_metadata() -> None:
    assert set(ALGORITHMS) == {
        "a2c",
        "cal4rec",
        "ce",
        "ddpg",
        "ddpg-la",
        "hac",
        "lsrwrl",
        "offline-sl",
        "online-sl",
        "sac",
        "sqn",
        "td3",
    }
    for name, entry in ALGORITHMS.items():
        assert entry.name == name
        if name == "ddpg-la":
            assert entry.env_kinds == ("rating_walk",) and entry.protocol == "rating_error"
        elif name == "lsrwrl":
            assert entry.env_kinds == ("topn",) and entry.protocol == "topn"
        elif name in SESSION_ALGOS:
            assert entry.env_kinds == ("logged_sessions",) and entry.protocol == "next_item"
        else:
            assert entry.env_kinds == ("slate",) and entry.protocol == "slate_rollout"
        assert entry.protocol in PROTOCOLS
        assert entry.summary and "\n" not in entry.summary
        assert entry.samples_env is (name not in ("offline-sl", *SESSION_ALGOS))
        config = entry.make_config()
        # the entry agrees with what train.py reads off the config
        assert getattr(config, "samples_env_steps", True) is entry.samples_env
        assert config.model_config_class is not None
        assert entry.make_config() is not config, "a fresh config per call"
        assert make_config(name).__class__ is config.__class__


def test_an_unknown_algorithm_is_named_with_the_known_ones() -> None:
    with pytest.raises(InputError, match=r"unknown algorithm 'hca'.*a2c, cal4rec, ce, ddpg, "):
        get_algorithm("hca")
    with pytest.raises(InputError, match="unknown algorithm 'hca'"):
        make_config("hca")


def test_check_env_kind_names_the_spec_the_kind_and_the_algorithm() -> None:
    check_env_kind("hac", "slate", "envs/ml1m.yaml")
    with pytest.raises(InputError) as err:
        check_env_kind("hac", "rating_walk", "envs/ml1m_walk.yaml")
    assert str(err.value) == "envs/ml1m_walk.yaml: kind 'rating_walk': hac trains on slate"
    with pytest.raises(InputError, match="unknown algorithm"):
        check_env_kind("nope", "slate", "envs/ml1m.yaml")


# ------------------------------------------------------------ module contract
def test_acting_forwards_give_valid_actions(module_of: Any, case: Case) -> None:
    obs = {Columns.OBS: case.batch[Columns.OBS]}
    with torch.no_grad():
        outs = (module_of.forward_inference(obs), module_of.forward_exploration(obs))
    if case.family == "sessions":
        # one item of 1..N per row (0 is padding), the argmax of the CE head's scores;
        # offline, exploring is acting greedily
        n_items = case.action_space.n - 1
        scores = session_scores(module_of, obs)  # (B, N + 1)
        for out in outs:
            actions = out[Columns.ACTIONS]
            assert actions.shape == (B,) and not actions.is_floating_point()
            assert int(actions.min()) >= 1 and int(actions.max()) <= n_items
            assert torch.equal(actions, scores.argmax(dim=-1))
        return
    for out in outs:
        assert_valid_actions(out[Columns.ACTIONS], case.action_space, obs[Columns.OBS])
        if case.family == "dqn":
            # greedy = the argmax of the masked Q-values
            q = module_of.compute_q_values(obs)[QF_PREDS]  # (B, I + 1)
            if out is outs[0]:
                assert torch.equal(out[Columns.ACTIONS], q.argmax(dim=-1))
        elif case.family == "ddpg":
            z = out[HYPER_ACTION]
            assert z.shape == (B, module_of.z_dim) and torch.isfinite(z).all()
            # the env action is the latent action's image (top-K of ΦᵀZ, or the rescaled z)
            torch.testing.assert_close(out[Columns.ACTIONS], module_of.to_action(z))
        else:
            assert out[Columns.ACTION_DIST_INPUTS].shape == (B, case.action_space.nvec[0])
    if case.family == "ppo":
        assert outs[1][Columns.ACTION_LOGP].shape == (B,)


def test_greedy_acting_is_deterministic(module_of: Any, case: Case) -> None:
    obs = {Columns.OBS: case.batch[Columns.OBS]}
    module_of.train()  # even in train mode: dropout is off while acting
    with torch.no_grad():
        first, second = module_of.forward_inference(obs), module_of.forward_inference(obs)
    assert torch.equal(first[Columns.ACTIONS], second[Columns.ACTIONS])
    if case.family == "sessions":
        # heavy dropout would flip the argmax of a train-mode forward: acting is eval mode
        config = session_config(case.name).rl_module(model_config={"dropout": 0.9})
        noisy = Case(case.name, config, case.observation_space, case.action_space, case.batch)
        module = noisy.build_module()
        module.train()
        with torch.no_grad():
            actions = [module.forward_inference(obs)[Columns.ACTIONS] for _ in range(3)]
        for got in actions:
            assert torch.equal(got, session_scores(module, obs).argmax(dim=-1))


def test_forward_train_gives_every_learner_key_with_its_shape(module_of: Any, case: Case) -> None:
    out = module_of.forward_train(case.batch)
    if case.family == "sessions":
        session_forwards_have_their_shapes(module_of, case, out)
        return
    if case.family == "dqn":
        n = case.action_space.n
        for key in (QF_PREDS, QF_NEXT_PREDS, QF_TARGET_NEXT_PREDS):
            assert out[key].shape == (B, n), key
        assert not out[QF_TARGET_NEXT_PREDS].requires_grad, "the TD target comes from the target"
        for key, obs in ((QF_PREDS, Columns.OBS), (QF_TARGET_NEXT_PREDS, Columns.NEXT_OBS)):
            allowed = case.batch[obs][OBS_ACTION_MASK].bool()
            # masked items are −∞, the available ones finite
            assert bool(torch.isfinite(out[key][allowed]).all()), key
            assert bool((out[key][~allowed] == float("-inf")).all()), key
        return
    d = state_width(module_of)
    if case.family == "ppo":
        assert out[Columns.ACTION_DIST_INPUTS].shape == (B, case.action_space.nvec[0])
        assert out[Columns.EMBEDDINGS].shape == (B, d)
        assert module_of.compute_values(case.batch).shape == (B,)
    else:
        z = module_of.z_dim
        assert z == (d + 1 if case.is_slate else 1)
        assert out[STATE].shape == (B, d)
        for key in (HYPER_ACTION_POLICY, INFERRED_HYPER_ACTION):
            assert out[key].shape == (B, z), key
        for key in (Q_INFERRED, Q_POLICY, Q_NEXT_TARGET):
            assert out[key].shape == (B,), key
        assert not out[Q_NEXT_TARGET].requires_grad, "the TD target comes from target nets"
        assert (Q_INFERRED_TWIN in out) == getattr(module_of.cfg, "twin_q", False)
        if case.is_slate:
            assert out[ALIGNED_HYPER_ACTION].shape == (B, z)
            assert out[SLATE_LOGITS].shape == (B, len(case.action_space.nvec))
        else:
            assert ALIGNED_HYPER_ACTION not in out and SLATE_LOGITS not in out
    assert all(torch.isfinite(v).all() for v in out.values() if isinstance(v, torch.Tensor))


def test_target_pairs_start_equal_to_their_main_nets(module_of: Any, case: Case) -> None:
    if case.family == "ppo":
        assert not isinstance(module_of, TargetNetworkAPI), "on-policy: no target networks"
        return
    if case.family == "sessions":
        # SQN's double Q is two complete networks, each the other's target: no lagged copy
        assert not isinstance(module_of, TargetNetworkAPI)
        return
    pairs = module_of.get_target_network_pairs()
    if case.family == "dqn":
        assert len(pairs) == 1  # the Q-network (encoder included) and its copy
    else:
        twin = module_of.critic_twin is not None
        assert len(pairs) == (4 if twin else 3)
    for main, target in pairs:
        assert main is not target
        main_state, target_state = main.state_dict(), target.state_dict()
        assert main_state.keys() == target_state.keys()
        for key in main_state:
            assert torch.equal(main_state[key], target_state[key]), key
        assert not any(p.requires_grad for p in target.parameters())
    if case.family == "dqn":
        module_of.eval()
        with torch.no_grad():
            q_main = module_of.compute_q_values({Columns.OBS: case.batch[Columns.NEXT_OBS]})
            q_target = module_of.forward_target({Columns.OBS: case.batch[Columns.NEXT_OBS]})
        module_of.train()
        torch.testing.assert_close(q_target[QF_PREDS], q_main[QF_PREDS])
    elif getattr(module_of.cfg, "target_noise", 0.0) == 0:
        # With targets equal to the main nets, Q'(s', π'(s')) is the main critic's value.
        module_of.eval()
        with torch.no_grad():
            q_main = main_next_q(module_of, case.batch)
            q_target = module_of.forward_target(case.batch)[Q_NEXT_TARGET]
        module_of.train()
        torch.testing.assert_close(q_target, q_main)


def test_save_restore_gives_the_same_greedy_action(
    module_of: Any, case: Case, tmp_path: Path
) -> None:
    obs = {Columns.OBS: case.batch[Columns.OBS]}
    module_of.save_to_path(str(tmp_path))
    torch.manual_seed(123)  # a different init: only the checkpoint can make them agree
    restored = RLModule.from_checkpoint(str(tmp_path))
    fresh = case.build_module(seed=321)

    def outputs(module: Any) -> dict[str, Any]:
        with torch.no_grad():
            out = dict(module.forward_inference(obs))
            if case.family == "dqn":  # the greedy action's Q-values
                out[QF_PREDS] = module.compute_q_values(obs)[QF_PREDS]
            if case.family == "sessions":  # the CE head's scores the greedy item comes from
                out[ITEM_SCORES] = session_scores(module, obs)
        return out

    expected = outputs(module_of)
    key = {"ddpg": HYPER_ACTION, "dqn": QF_PREDS, "sessions": ITEM_SCORES}.get(
        case.family, Columns.ACTION_DIST_INPUTS
    )
    assert not torch.equal(outputs(fresh)[key], expected[key])
    fresh.set_state(module_of.get_state())
    for other in (restored, fresh):
        got = outputs(other)
        assert torch.equal(got[Columns.ACTIONS], expected[Columns.ACTIONS])
        torch.testing.assert_close(got[key], expected[key])


# ------------------------------------------------------------ learner contract
def to_numpy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: to_numpy(v) for k, v in value.items()}
    return value.numpy() if isinstance(value, torch.Tensor) else value


def ddpg_update(case: Case) -> tuple[dict[str, float], dict[str, torch.Tensor], Any]:
    """One learner update on the case's batch: (losses, weights before, learner)."""
    torch.manual_seed(0)
    learner = case.config.build_learner(
        spaces={DEFAULT_MODULE_ID: (case.observation_space, case.action_space)}
    )
    module = learner.module[DEFAULT_MODULE_ID]
    before = {k: v.clone() for k, v in module.state_dict().items()}
    batch = MultiAgentBatch({DEFAULT_MODULE_ID: SampleBatch(to_numpy(case.batch))}, env_steps=B)
    results = learner.update(batch=batch, timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: B})
    out = results[DEFAULT_MODULE_ID]
    return {k: float(v.peek()) for k, v in out.items() if k.startswith("L_")}, before, learner


def a2c_update(case: Case) -> tuple[dict[str, float], dict[str, torch.Tensor], Any]:
    """An env runner samples the synthetic simulator; RLlib's PPO learner updates once."""
    from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner

    config, _ = build_config(
        TrainOptions(
            algo=case.name,
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
        module = learner.module[DEFAULT_MODULE_ID]
        before = {k: v.clone() for k, v in module.state_dict().items()}
        out = learner.update(episodes=episodes)[DEFAULT_MODULE_ID]
    finally:
        runner.stop()
    return {k: float(out[k].peek()) for k in LOGGED_LEARNER_KEYS}, before, learner


def dqn_update(case: Case) -> tuple[dict[str, float], dict[str, torch.Tensor], Any]:
    """One update of RLlib's DQN learner on the case's batch (RLlib's loss names)."""
    torch.manual_seed(0)
    learner = case.config.build_learner(
        spaces={DEFAULT_MODULE_ID: (case.observation_space, case.action_space)}
    )
    module = learner.module[DEFAULT_MODULE_ID]
    before = {k: v.clone() for k, v in module.state_dict().items()}
    # the replay adds the n-step and importance-weight columns
    columns = {**to_numpy(case.batch), "n_step": np.ones(B), "weights": np.ones(B)}
    batch = MultiAgentBatch({DEFAULT_MODULE_ID: SampleBatch(columns)}, env_steps=B)
    out = learner.update(batch=batch, timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: B})
    names = ("qf_loss", "td_error_mean", "qf_mean")
    return {k: float(out[DEFAULT_MODULE_ID][k].peek()) for k in names}, before, learner


def session_learner(config: Any, case: Case) -> Any:
    torch.manual_seed(0)
    return config.build_learner(
        spaces={DEFAULT_MODULE_ID: (case.observation_space, case.action_space)}
    )


def session_update_batch(case: Case) -> MultiAgentBatch:
    """The B replay rows as the offline loop hands them over (no acting observation)."""
    columns = {k: v for k, v in to_numpy(case.batch).items() if k != Columns.OBS}
    return MultiAgentBatch({DEFAULT_MODULE_ID: SampleBatch(columns)}, env_steps=B)


def sessions_update(case: Case) -> tuple[dict[str, float], dict[str, torch.Tensor], Any]:
    """One update of a session learner on the B replay rows: its named losses."""
    learner = session_learner(case.config, case)
    module = learner.module[DEFAULT_MODULE_ID]
    before = {k: v.clone() for k, v in module.state_dict().items()}
    results = learner.update(
        batch=session_update_batch(case), timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: B}
    )
    out = results[DEFAULT_MODULE_ID]
    names = {k for k in out if k.startswith("L_")} | {
        k for k in SESSION_LOSSES[case.name] if k in out
    }
    return {k: float(out[k].peek()) for k in names}, before, learner


UPDATES: dict[str, Callable[[Case], tuple[dict[str, float], dict[str, torch.Tensor], Any]]] = {
    "ddpg": ddpg_update,
    "dqn": dqn_update,
    "ppo": a2c_update,
    "sessions": sessions_update,
}


def test_one_update_reports_finite_named_losses_and_moves_weights(case: Case) -> None:
    losses, before, learner = UPDATES[case.family](case)
    if case.family == "ddpg":
        # L_Hyper / L_BCE: trained by HAC and its presets, logged by DDPG in a slate space
        expected = {TD_LOSS, QMAX_LOSS} | ({HYPER_LOSS, BCE_LOSS} if case.is_slate else set())
        assert set(losses) == expected, (case.name, sorted(losses))
    if case.family == "sessions":
        assert set(losses) == SESSION_LOSSES[case.name], (case.name, sorted(losses))
    assert losses and all(np.isfinite(v) for v in losses.values()), (case.name, losses)
    after = learner.module[DEFAULT_MODULE_ID].state_dict()
    moved = [k for k in before if not torch.equal(before[k], after[k])]
    prefix = {"ddpg": "critic.", "dqn": "q_net.", "sessions": "networks."}.get(
        case.family, "value."
    )
    assert any(k.startswith(prefix) for k in moved), (case.name, prefix)
    if case.name in ("sqn", "sac"):
        # the coin flip trains one network; the other only gave the target, so it
        # has no gradient and (one Adam over both) does not move
        trained = {k.split(".")[1] for k in moved if k.startswith("networks.")}
        assert len(trained) == 1, (case.name, trained)


# ------------------------------------------------- CAL4Rec's Algorithm 1, step by step
def parameter_groups(module: Any) -> dict[str, list[torch.nn.Parameter]]:
    """θ_E (encoder, item embedding and policy head), θ_G and θ_D of a CAL4Rec module."""
    return {
        ENCODER: list(module.networks.parameters()),
        GENERATOR: list(module.generator.parameters()),
        DISCRIMINATOR: list(module.discriminator.parameters()),
    }


@pytest.mark.parametrize(
    ("variant", "disc_steps", "steps"),
    [
        # K discriminator steps, then the generator's, then the encoder's (on L_ssl + L_G)
        (FULL, 1, [DISCRIMINATOR, GENERATOR, ENCODER]),
        (FULL, 3, [DISCRIMINATOR] * 3 + [GENERATOR, ENCODER]),
        (NO_GUMBEL, 1, [DISCRIMINATOR, GENERATOR, ENCODER]),
        (GAN_ONLY, 1, [DISCRIMINATOR, GENERATOR, ENCODER]),
        # L_ssl only: the plain sequential recommender, G and D never move
        (SSL_ONLY, 1, [ENCODER]),
    ],
)
def test_cal4rec_update_steps_each_group_in_algorithm_1s_order(
    sessions_env: Any, variant: str, disc_steps: int, steps: list[str]
) -> None:
    """Each optimizer step moves its own parameter group and nothing else, in the order
    of Algorithm 1; the ``gan`` variant's encoder step leaves the policy head alone (L_G
    does not reach it)."""
    config = session_config("cal4rec", variant=variant, disc_steps=disc_steps)
    case = Case(
        "cal4rec",
        config,
        sessions_env.single_observation_space,
        sessions_env.single_action_space,
        sessions_batch(sessions_env),
    )
    learner = session_learner(config, case)
    module = learner.module[DEFAULT_MODULE_ID]
    groups = parameter_groups(module)
    log: list[tuple[str, set[str]]] = []
    snapshot: dict[str, list[torch.Tensor]] = {}

    def before_step(name: str) -> Callable[..., None]:
        def hook(*_: Any) -> None:
            snapshot.update({g: [p.detach().clone() for p in ps] for g, ps in groups.items()})

        return hook

    def after_step(name: str) -> Callable[..., None]:
        def hook(*_: Any) -> None:
            moved = {
                g
                for g, ps in groups.items()
                if any(not torch.equal(p, old) for p, old in zip(ps, snapshot[g], strict=True))
            }
            log.append((name, moved))

        return hook

    for name in (ENCODER, GENERATOR, DISCRIMINATOR):
        optim = learner.get_optimizer(DEFAULT_MODULE_ID, name)
        optim.register_step_pre_hook(before_step(name))
        optim.register_step_post_hook(after_step(name))
    head = {k: v.clone() for k, v in module.networks[0].ce_head.state_dict().items()}
    learner.update(batch=session_update_batch(case), timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: B})
    assert [name for name, _ in log] == steps
    for name, moved in log:
        assert moved == {name}, (name, moved)
    head_moved = any(
        not torch.equal(v, head[k]) for k, v in module.networks[0].ce_head.state_dict().items()
    )
    assert head_moved is (variant != GAN_ONLY)
