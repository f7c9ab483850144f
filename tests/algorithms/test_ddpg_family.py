"""The DDPG family's own contract: DDPG, TD3 (a preset), HAC (an extension), online and
offline SL (HAC presets); the contract all algorithms keep is ``test_contract.py``.

Module level (no Ray): target Q without dropout, noise only when exploring, dropout off
while acting, the bounded hyper-action. Learner level (no Ray): Polyak averaging,
``apply_gradients`` against RLlib's, TD3's delayed targets, DDPG's optimizers.
Algorithm level (Ray, slow): a tiny build of each trains two iterations through
``rayrec.train.build_config`` and reports finite, named losses; frozen parameters stay
put. Config validation names the offending field.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
import torch
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME

from rayrec.algorithms.ddpg import DDPGConfig
from rayrec.algorithms.ddpg.ddpg_learner import BCE_LOSS, HYPER_LOSS, QMAX_LOSS, TD_LOSS
from rayrec.algorithms.hac import HACConfig
from rayrec.algorithms.keys import (
    ALIGNED_HYPER_ACTION,
    HYPER_ACTION,
    Q_NEXT_TARGET,
    Q_POLICY,
    SLATE_LOGITS,
)
from rayrec.algorithms.registry import ALGORITHMS, make_config
from rayrec.environments.slate import SlateEnv
from rayrec.errors import InputError
from rayrec.train import TrainOptions, build_config
from tests.algorithms.conftest import SYNTHETIC, build_module

#: the registered members of the family that act on slates (DDPG-LA, the member on the
#: rating walk, keeps its own contract in ``test_ddpg_la.py``)
MEMBERS = sorted(n for n in ALGORITHMS if isinstance(make_config(n), DDPGConfig))
NAMES = [n for n in MEMBERS if "slate" in ALGORITHMS[n].env_kinds]


def test_the_family_is_what_the_registry_says() -> None:
    assert MEMBERS == ["ddpg", "ddpg-la", "hac", "offline-sl", "online-sl", "td3"]
    assert NAMES == ["ddpg", "hac", "offline-sl", "online-sl", "td3"]


@pytest.fixture(scope="module", params=NAMES)
def module_of(request: pytest.FixtureRequest, slate_env: SlateEnv) -> tuple[str, Any]:
    return request.param, build_module(request.param, slate_env)


def test_only_hac_trains_the_slate_head(slate_env: SlateEnv, slate_batch: dict[str, Any]) -> None:
    """DDPG's Ẑ(top-K(Z)) and Φ(a_i)ᵀZ are diagnostics (no gradient); HAC's train Φ, π."""
    for name, trains in (("ddpg", False), ("td3", False), ("hac", True), ("online-sl", True)):
        out = build_module(name, slate_env).forward_train(slate_batch)
        assert out[ALIGNED_HYPER_ACTION].requires_grad is trains, name
        assert out[SLATE_LOGITS].requires_grad is trains, name


def test_ddpg_has_critic_and_actor_optimizers_and_hac_adds_the_kernels(
    slate_env: SlateEnv,
) -> None:
    spaces = {
        DEFAULT_MODULE_ID: (slate_env.single_observation_space, slate_env.single_action_space)
    }
    expected = {
        "ddpg": ["critic", "actor"],
        "td3": ["critic", "actor", "critic_twin"],
        "hac": ["critic", "actor", "kernel"],
    }
    for name, optimizers in expected.items():
        learner = make_config(name).build_learner(spaces=spaces)
        got = [n for n, _ in learner.get_optimizers_for_module(DEFAULT_MODULE_ID)]
        assert got == optimizers, name
        if name == "hac":
            module = learner.module[DEFAULT_MODULE_ID]
            kernel = dict(learner.get_optimizers_for_module(DEFAULT_MODULE_ID))["kernel"]
            assert kernel.param_groups[0]["params"] == [module.kernel.weight]
            assert kernel.param_groups[0]["weight_decay"] == 1e-5


def test_target_q_has_no_dropout_unless_target_dropout(
    module_of: tuple[str, Any], slate_batch: dict[str, Any]
) -> None:
    """Q'(s', π'(s')) is deterministic in train mode (the target encoder runs without
    dropout); ``target_dropout`` gives the reference code's stochastic target back."""
    _, module = module_of
    cfg = module.cfg
    module.train()
    try:
        module.cfg = replace(cfg, target_noise=0.0)  # TD3's smoothing noise aside
        with torch.no_grad():
            a, b = (module.forward_target(slate_batch)[Q_NEXT_TARGET] for _ in range(2))
        assert torch.equal(a, b)
        assert module.target_state_encoder.training, "the target's mode is restored"
        module.cfg = replace(cfg, target_noise=0.0, target_dropout=True)
        with torch.no_grad():
            c, d = (module.forward_target(slate_batch)[Q_NEXT_TARGET] for _ in range(2))
        assert not torch.equal(c, d)
    finally:
        module.cfg = cfg


def test_soft_target_update_is_polyak_averaging(slate_env: SlateEnv) -> None:
    """The learner's in-place lerp gives θ' ← τ θ + (1 − τ) θ' for every target pair
    (RLlib's state-dict formula), and counts the update."""
    config = make_config("td3")  # four pairs: encoder, actor, critic, twin
    spaces = {
        DEFAULT_MODULE_ID: (slate_env.single_observation_space, slate_env.single_action_space)
    }
    torch.manual_seed(0)
    learner = config.build_learner(spaces=spaces)
    module = learner.module[DEFAULT_MODULE_ID]
    pairs = module.get_target_network_pairs()
    with torch.no_grad():
        for main, _ in pairs:
            for p in main.parameters():
                p.add_(torch.randn_like(p))
    expected = [
        {
            k: config.tau * main.state_dict()[k] + (1 - config.tau) * v
            for k, v in target.state_dict().items()
        }
        for main, target in pairs
    ]
    learner.after_gradient_based_update(timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: 64})
    for (_, target), want in zip(pairs, expected, strict=True):
        got = target.state_dict()
        for key, value in want.items():
            torch.testing.assert_close(got[key], value, rtol=1e-6, atol=1e-7, msg=key)
    assert learner.last_update_ts_by_mid[DEFAULT_MODULE_ID] == 64


@pytest.mark.parametrize("poison", [False, True])
def test_apply_gradients_matches_rllibs(slate_env: SlateEnv, poison: bool) -> None:
    """HACTorchLearner.apply_gradients (one finiteness check for all gradients) leaves
    parameters and optimizer states exactly as RLlib's TorchLearner.apply_gradients does,
    with finite gradients and with a NaN/inf in one of them (RLlib's handling then)."""
    from ray.rllib.core.learner.torch.torch_learner import TorchLearner

    config = make_config("hac")
    spaces = {
        DEFAULT_MODULE_ID: (slate_env.single_observation_space, slate_env.single_action_space)
    }
    torch.manual_seed(0)
    learner = config.build_learner(spaces=spaces)
    params = learner._params
    grads = {pid: torch.randn_like(p) for pid, p in params.items()}
    if poison:
        first = next(iter(grads))
        grads[first][..., 0] = float("nan")
        grads[first].view(-1)[-1] = float("inf")
    start = {pid: p.detach().clone() for pid, p in params.items()}
    results = []
    for apply in (learner.apply_gradients, lambda g: TorchLearner.apply_gradients(learner, g)):
        with torch.no_grad():
            for pid, p in params.items():
                p.copy_(start[pid])
        for _, optim in learner.get_optimizers_for_module(DEFAULT_MODULE_ID):
            optim.state.clear()
        apply({pid: g.clone() for pid, g in grads.items()})
        results.append({pid: p.detach().clone() for pid, p in params.items()})
    ours, rllib = results
    assert any(not torch.equal(ours[pid], start[pid]) for pid in params)
    for pid in params:
        assert torch.equal(ours[pid], rllib[pid]), pid


@pytest.mark.parametrize("delay_targets", [True, False])
def test_td3_targets_move_with_the_delayed_actor(slate_env: SlateEnv, delay_targets: bool) -> None:
    """TD3 (Fujimoto et al. 2018): with policy_delay d the target networks are updated on
    the actor's steps only; ``delay_target_updates=False`` updates them every step."""
    config = make_config("td3").training(delay_target_updates=delay_targets)
    spaces = {
        DEFAULT_MODULE_ID: (slate_env.single_observation_space, slate_env.single_action_space)
    }
    learner = config.build_learner(spaces=spaces)
    module = learner.module[DEFAULT_MODULE_ID]
    with torch.no_grad():
        for p in module.critic.parameters():
            p.add_(1.0)
    moved = []
    for n_updates in (1, 2):  # update 1 of d = 2 skips the actor, update 2 does not
        learner._num_updates = n_updates
        before = [t.clone() for t in module.target_critic.parameters()]
        learner.after_gradient_based_update(
            timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: 64 * n_updates}
        )
        after = list(module.target_critic.parameters())
        moved.append(any(not torch.equal(a, b) for a, b in zip(after, before, strict=True)))
    assert moved == ([False, True] if delay_targets else [True, True])


def test_exploration_adds_noise_and_inference_is_deterministic(
    module_of: tuple[str, Any], slate_batch: dict[str, Any]
) -> None:
    _, module = module_of
    obs = {Columns.OBS: slate_batch[Columns.OBS]}
    with torch.no_grad():
        greedy_a, greedy_b = module.forward_inference(obs), module.forward_inference(obs)
        explore = module.forward_exploration(obs)
    assert torch.equal(greedy_a[HYPER_ACTION], greedy_b[HYPER_ACTION])
    assert torch.equal(greedy_a[Columns.ACTIONS], greedy_b[Columns.ACTIONS])
    assert module.cfg.exploration_noise > 0
    assert not torch.allclose(explore[HYPER_ACTION], greedy_a[HYPER_ACTION])


def test_uniform_noise_is_the_reference_codes_non_negative_form(
    slate_env: SlateEnv, slate_batch: dict[str, Any]
) -> None:
    module = build_module("hac", slate_env, noise_type="uniform", exploration_noise=0.3)
    obs = {Columns.OBS: slate_batch[Columns.OBS]}
    with torch.no_grad():
        z = module.forward_inference(obs)[HYPER_ACTION]
        z_explore = module.forward_exploration(obs)[HYPER_ACTION]
    noise = z_explore - z  # U[0, σ)
    assert float(noise.min()) >= 0.0 and float(noise.max()) < 0.3 + 1e-6
    assert float(noise.mean()) > 0.05


def test_dropout_is_off_while_acting_even_in_train_mode(
    module_of: tuple[str, Any], slate_batch: dict[str, Any]
) -> None:
    _, module = module_of
    obs = {Columns.OBS: slate_batch[Columns.OBS]}
    module.train()
    with torch.no_grad():
        # the check is not vacuous: the encoder does drop out in train mode
        assert module.cfg.dropout > 0
        assert not torch.equal(module.encode(obs[Columns.OBS]), module.encode(obs[Columns.OBS]))
        first, second = module.forward_inference(obs), module.forward_inference(obs)
        torch.manual_seed(7)
        noisy_a = module.forward_exploration(obs)
        torch.manual_seed(7)
        noisy_b = module.forward_exploration(obs)
    assert torch.equal(first[HYPER_ACTION], second[HYPER_ACTION])
    assert torch.equal(noisy_a[HYPER_ACTION], noisy_b[HYPER_ACTION])
    assert module.training, "acting must restore the module's train mode"


# ------------------------------------------------------------------- presets
def test_the_family_is_rooted_in_ddpg_and_presets_change_only_their_settings() -> None:
    hac, ddpg, td3, sl = (make_config(n) for n in ("hac", "ddpg", "td3", "online-sl"))
    # DDPG is the root: TD3 a preset of it, HAC an extension, online SL a preset of HAC
    assert type(ddpg) is DDPGConfig and type(td3).__mro__[1] is DDPGConfig
    assert isinstance(hac, DDPGConfig) and type(sl).__mro__[1] is HACConfig
    assert (hac.hyper_actor_coef, hac.bce_coef, hac.actor_q_coef) == (0.1, 1.0, 1.0)
    assert not hac.twin_q and hac.policy_delay == 1 and hac.bootstrap == "terminated"
    for cfg in (ddpg, td3):  # DDPG has no alignment, supervision or kernel optimizer
        assert not any(hasattr(cfg, f) for f in ("hyper_actor_coef", "bce_coef", "kernel_lr"))
    assert not ddpg.twin_q and ddpg.policy_delay == 1 and ddpg.target_noise == 0
    assert td3.twin_q and td3.policy_delay == 2 and td3.target_noise > 0
    assert (sl.actor_q_coef, sl.hyper_actor_coef, sl.bce_coef) == (0.0, 0.0, 1.0)
    for cfg in (ddpg, td3, sl):
        assert (cfg.gamma, cfg.tau, cfg.actor_lr, cfg.critic_lr) == (
            hac.gamma,
            hac.tau,
            hac.actor_lr,
            hac.critic_lr,
        )


# --------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("actor_lr", -1e-4),
        ("critic_lr", -1.0),
        ("kernel_lr", -0.5),
        ("noise_type", "laplace"),
        ("bootstrap", "leave"),
        ("policy_delay", 0),
        ("delay_target_updates", "yes"),
        ("qmax_normalise", "sometimes"),
    ],
)
def test_validate_names_the_bad_field(field: str, value: Any) -> None:
    config = make_config("hac").training(**{field: value})
    with pytest.raises(ValueError, match=f"'{field}'.*{value}"):
        config.validate()
    # --config type-checks the value first (`--config lr: expected a number, ...`)
    with pytest.raises(InputError, match=rf"\b{field}\b"):
        build_config(TrainOptions(algo="hac", env=str(SYNTHETIC), overrides={field: value}))


def test_build_config_rejects_an_unknown_field() -> None:
    with pytest.raises(InputError, match="nosuchfield"):
        build_config(TrainOptions(algo="td3", env=str(SYNTHETIC), overrides={"nosuchfield": 1}))


@pytest.mark.parametrize("algo", ["hac", "a2c"])
def test_model_fields_are_set_with_the_model_prefix(algo: str, slate_env: SlateEnv) -> None:
    """``--config model.n_layers=1`` reaches the module that RLlib builds."""
    config, _ = build_config(
        TrainOptions(
            algo=algo, env=str(SYNTHETIC), overrides={"model.n_layers": 1, "model.dropout": 0.0}
        )
    )
    assert config.model_config["n_layers"] == 1 and config.model_config["dropout"] == 0.0
    spec = config.get_default_rl_module_spec()
    spec.observation_space = slate_env.single_observation_space
    spec.action_space = slate_env.single_action_space
    spec.model_config = config.model_config
    module = spec.build()
    assert len(module.state_encoder.encoder.layers.layers) == 1


def module_with(algo: str, overrides: dict[str, Any], env: SlateEnv) -> Any:
    """``algo``'s module as ``rayrec train --config`` builds it with ``overrides``
    (seeded, target networks made)."""
    config, _ = build_config(TrainOptions(algo=algo, env=str(SYNTHETIC), overrides=overrides))
    spec = config.get_default_rl_module_spec()
    spec.observation_space = env.single_observation_space
    spec.action_space = env.single_action_space
    spec.model_config = config.model_config
    torch.manual_seed(0)
    module = spec.build()
    module.make_target_networks()
    return module


@pytest.mark.parametrize("bounded", [True, False])
def test_tanh_hyper_action_bounds_z_only_when_on(
    bounded: bool, slate_env: SlateEnv, slate_batch: dict[str, Any]
) -> None:
    """``model.tanh_hyper_action`` (ours, on by default): Z = tanh(MLP(s)) stays in
    [-1, 1]; off, Z = MLP(s) as in the reference code, unbounded."""
    module = module_with("hac", {"model.tanh_hyper_action": bounded}, slate_env)
    with torch.no_grad():
        last = [m for m in module.actor.modules() if isinstance(m, torch.nn.Linear)][-1]
        last.bias.fill_(3.0)  # pre-activation ≈ 3 everywhere
        z = module.actor(module.encode(slate_batch[Columns.OBS]))
    assert bool((z.abs() <= 1).all()) is bounded
    assert any(isinstance(m, torch.nn.Tanh) for m in module.actor.modules()) is bounded


@pytest.mark.parametrize("algo", ["hac", "td3"])
def test_critic_bilinear_reaches_every_critic_and_starts_as_the_plain_critic(
    algo: str, slate_env: SlateEnv, slate_batch: dict[str, Any]
) -> None:
    """``model.critic_bilinear`` (ours, off by default) adds (W s)ᵀ z to the critic and
    its twin; W starts at zero, so the first Q values equal the plain critic's."""
    modules = [module_with(algo, {"model.critic_bilinear": on}, slate_env) for on in (False, True)]
    plain, bilinear = modules
    critics = [bilinear.critic] + ([bilinear.critic_twin] if algo == "td3" else [])
    assert all(c.bilinear is not None and not c.bilinear.any() for c in critics)
    assert plain.critic.bilinear is None
    with torch.no_grad():
        for m in modules:
            m.eval()
        s = plain.encode(slate_batch[Columns.OBS])
        z = plain.actor(s)
        torch.testing.assert_close(bilinear.q_value(s, z), plain.q_value(s, z))


@pytest.mark.parametrize("through_state", [True, False])
def test_qmax_reaches_the_state_encoder_through_the_critic_input_only_when_asked(
    through_state: bool, slate_env: SlateEnv, slate_batch: dict[str, Any]
) -> None:
    """With π's last layer zeroed, z = tanh(0) does not depend on s: L_QMax's gradient
    in the state encoder is then exactly the critic-input path. The reference form
    (``qmax_through_state``, default) has it; the deterministic policy gradient not."""
    module = module_with("hac", {"model.qmax_through_state": through_state}, slate_env)
    with torch.no_grad():
        last = [m for m in module.actor.modules() if isinstance(m, torch.nn.Linear)][-1]
        last.weight.zero_()
        last.bias.zero_()
    out = module.forward_train(slate_batch)
    (-out[Q_POLICY].mean()).backward()
    grads = [p.grad for p in module.state_encoder.parameters() if p.grad is not None]
    reached = any(bool(g.abs().sum() > 0) for g in grads)
    assert reached is through_state


def test_an_unknown_model_field_is_named_with_the_known_ones() -> None:
    with pytest.raises(InputError, match=r"model\.dropuot.*model\.dropout"):
        build_config(TrainOptions(algo="hac", env=str(SYNTHETIC), overrides={"model.dropuot": 0.0}))


# ------------------------------------------------------- algorithm (Ray) level
Snapshot = dict[str, torch.Tensor]


def snapshot(algo: Any) -> Snapshot:
    """The acting module's weights (synced from the learner after every update)."""
    return {k: v.detach().clone() for k, v in algo.get_module().state_dict().items()}


def max_change(before: Snapshot, after: Snapshot, prefix: str) -> float:
    """The largest |Δ| of any weight whose name starts with ``prefix``."""
    keys = [k for k in before if k.startswith(prefix)]
    assert keys, f"no weights named {prefix}*"
    return max(float((after[k] - before[k]).abs().max()) for k in keys)


@pytest.fixture(scope="module")
def trained(ray_session: Any) -> Iterator[Callable[[str], dict[str, Any]]]:
    """``trained(name)``: a tiny build of ``name`` after two training iterations
    (learner results per iteration, weight snapshots before/after each); built once."""
    runs: dict[str, dict[str, Any]] = {}

    def run(name: str) -> dict[str, Any]:
        if name not in runs:
            config, _ = build_config(
                TrainOptions(
                    algo=name,
                    env=str(SYNTHETIC),
                    overrides={
                        "num_steps_sampled_before_learning_starts": 64,
                        "train_batch_size_per_learner": 16,
                        # RLlib's default: one update per training step (not HAC's 2
                        # trained samples per env step), so iteration n is update n.
                        "training_intensity": None,
                        # offline-sl: one logged minibatch per iteration, likewise
                        **({"updates_per_iteration": 1} if name == "offline-sl" else {}),
                    },
                )
            )
            algo = config.build_algo()
            try:
                weights, learner = [snapshot(algo)], []
                for _ in range(2):
                    result = algo.train()
                    learner.append(result["learners"]["default_policy"])
                    weights.append(snapshot(algo))
                runs[name] = {"config": algo.config, "learner": learner, "weights": weights}
            finally:
                algo.stop()
        return runs[name]

    yield run


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_learner_reports_finite_named_losses(
    name: str, trained: Callable[[str], dict[str, Any]]
) -> None:
    run = trained(name)
    for results in run["learner"]:
        for key in (TD_LOSS, QMAX_LOSS, HYPER_LOSS, BCE_LOSS):
            assert key in results, f"{name}: {key} missing from {sorted(results)}"
            assert math.isfinite(float(results[key])), (name, key, results[key])
        assert ("critic_twin_learning_rate" in results) == (name == "td3")
    config = run["config"]
    if name == "online-sl":
        assert config.actor_q_coef == 0
    # learning happened: one update (of 16 samples) per iteration moved the critic
    batch = run["config"].train_batch_size_per_learner
    steps = [int(r["num_module_steps_trained_lifetime"]) for r in run["learner"]]
    assert steps == [batch, 2 * batch]
    assert max_change(run["weights"][0], run["weights"][1], "critic.") > 0


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "iteration", "prefix"),
    [
        ("ddpg", 1, "kernel."),  # DDPG never trains Φ: it must stay at its initialisation
        ("ddpg", 2, "kernel."),
        ("td3", 1, "actor."),  # update 1 of policy_delay 2: the actor must not move
    ],
)
def test_frozen_parameters_stay_put(
    name: str, iteration: int, prefix: str, trained: Callable[[str], dict[str, Any]]
) -> None:
    weights = trained(name)["weights"]
    delta = max_change(weights[iteration - 1], weights[iteration], prefix)
    assert delta == 0, f"{name}: {prefix}* moved by up to {delta:.2e} in update {iteration}"
