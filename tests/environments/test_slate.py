"""SlateEnv / SingleUserSlateEnv: gymnasium contract, determinism, leave model by hand,
NEXT_STEP auto-reset, invalid actions, reward and history bookkeeping, reference policies."""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from rayrec.environments import load_env_spec
from rayrec.environments.keys import (
    INFO_PATIENCE,
    INFO_RESPONSE,
    INFO_SLATE_VALID,
    OBS_HISTORY_FEEDBACK,
    OBS_HISTORY_ITEMS,
    OBS_USER,
    OBS_USER_FEATURES,
)
from rayrec.environments.rollout import POLICIES, rollout
from rayrec.environments.slate import (
    EnvConfig,
    InvalidActionError,
    LeaveConfig,
    SingleUserSlateEnv,
    SlateEnv,
)
from rayrec.simulator.build import in_memory_simulator
from rayrec.simulator.simulator import Simulator
from tests.simulator.conftest import ENVS, MAX_STEPS, H, K, tiny_ground_truth_spec

SIMS = ["gt_sim", "learned_sim"]


def env_config(sim: Simulator, **overrides: Any) -> EnvConfig:
    """The tiny specs' session settings, with the simulator's feedback weighted."""
    weights = {"click": 1.0, "purchase": 2.0} if "purchase" in sim.feedback_names else {}
    base = EnvConfig(
        slate_size=K,
        max_steps=MAX_STEPS,
        history_length=H,
        reward_weights=weights or {"click": 1.0},
    )
    return replace(base, **overrides)


def random_slates(rng: np.random.Generator, n_envs: int, n_items: int) -> np.ndarray:
    """(B, K) distinct valid ids per row."""
    keys = rng.random((n_envs, n_items))
    return np.argsort(keys, axis=1)[:, :K] + 1


def hopeless(sim: Simulator) -> Simulator:
    """The ground truth with users who never click anything."""
    assert sim.truth is not None
    return replace(sim, truth=replace(sim.truth, click_bias=-1000.0))


def eager(sim: Simulator) -> Simulator:
    """The ground truth with users who click everything."""
    assert sim.truth is not None
    return replace(sim, truth=replace(sim.truth, click_bias=1000.0))


# ----------------------------------------------------------- gymnasium contract
@pytest.mark.parametrize("sim_name", SIMS)
def test_check_env_single_user(sim_name: str, request: pytest.FixtureRequest) -> None:
    sim: Simulator = request.getfixturevalue(sim_name)
    env = SingleUserSlateEnv(sim, env_config(sim), seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # gymnasium's checker warns on soft violations
        check_env(env, skip_render_check=True)


@pytest.mark.parametrize("sim_name", SIMS)
def test_vector_spaces(sim_name: str, request: pytest.FixtureRequest) -> None:
    sim: Simulator = request.getfixturevalue(sim_name)
    n_envs = 4
    env = SlateEnv(sim, n_envs, env_config(sim), seed=0)
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    single = env.single_action_space
    assert isinstance(single, spaces.MultiDiscrete) and single.shape == (K,)
    assert (single.nvec == sim.n_items).all() and (single.start == 1).all()
    # gymnasium batches a MultiDiscrete into an integer Box of the same bounds
    assert env.action_space == batch_space(single, n_envs)
    assert env.action_space.shape == (n_envs, K)
    assert np.issubdtype(env.action_space.dtype, np.integer)
    assert (env.action_space.low == 1).all() and (env.action_space.high == sim.n_items).all()
    env.action_space.seed(0)
    sample = env.action_space.sample()
    assert sample.min() >= 1 and sample.max() <= sim.n_items
    assert (OBS_USER_FEATURES in env.single_observation_space.spaces) == (
        sim.user_features.shape[1] > 0
    )
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    rng = np.random.default_rng(0)
    for _ in range(12):  # crosses at least one auto-reset
        obs, reward, terminated, truncated, info = env.step(random_slates(rng, n_envs, sim.n_items))
        assert env.observation_space.contains(obs), {k: v.shape for k, v in obs.items()}
        assert reward.shape == terminated.shape == truncated.shape == (n_envs,)
        assert info[INFO_RESPONSE].shape == (n_envs, K, len(sim.feedback_names))
        assert info[INFO_SLATE_VALID].shape == (n_envs, K)


def test_learned_sim_has_user_features(learned_sim: Simulator) -> None:
    env = SlateEnv(learned_sim, 3, env_config(learned_sim), seed=0)
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(
        obs[OBS_USER_FEATURES], learned_sim.user_features[obs[OBS_USER][:, 0]]
    )


# ------------------------------------------------------------------ determinism
def run_steps(sim: Simulator, seed: int, n_steps: int = 30) -> list[Any]:
    env = SlateEnv(sim, 8, env_config(sim), seed=seed)
    out: list[Any] = [env.reset(seed=seed)[0]]
    rng = np.random.default_rng(123)  # same actions whatever the env seed
    for _ in range(n_steps):
        obs, reward, terminated, truncated, info = env.step(random_slates(rng, 8, sim.n_items))
        out.append((obs, reward, terminated, truncated, info[INFO_RESPONSE]))
    return out


def same(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(np.array_equal(a, b))


@pytest.mark.parametrize("sim_name", SIMS)
def test_seeded_determinism(sim_name: str, request: pytest.FixtureRequest) -> None:
    sim: Simulator = request.getfixturevalue(sim_name)
    first, again, other = run_steps(sim, 7), run_steps(sim, 7), run_steps(sim, 8)
    assert same(first, again)
    assert not same(first, other)


def test_observations_are_not_views_of_env_state(gt_sim: Simulator) -> None:
    """A returned observation must not change when the env steps or resets later."""
    env = SlateEnv(gt_sim, 4, env_config(gt_sim), seed=0)
    obs, _ = env.reset(seed=0)
    kept = {k: v.copy() for k, v in obs.items()}
    env.step(random_slates(np.random.default_rng(0), 4, gt_sim.n_items))
    env.reset(seed=1)
    assert same(obs, kept)


# ------------------------------------------------------------------ leave model
def test_step_cost_only_leaves_at_step_two(gt_sim: Simulator) -> None:
    # patience 1.0 - 0.5 = 0.5 after step 1, 0.0 after step 2 -> terminated
    leave = LeaveConfig(initial_patience=1.0, step_cost=0.5, quality_cost=0.0)
    env = SlateEnv(gt_sim, 16, env_config(gt_sim, leave=leave), seed=0)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _session in range(3):
        _, _, terminated, truncated, info = env.step(random_slates(rng, 16, gt_sim.n_items))
        assert not terminated.any() and not truncated.any()
        np.testing.assert_allclose(info[INFO_PATIENCE], 0.5)
        _, _, terminated, truncated, _ = env.step(random_slates(rng, 16, gt_sim.n_items))
        assert terminated.all() and not truncated.any()
        _, reward, terminated, truncated, _ = env.step(random_slates(rng, 16, gt_sim.n_items))
        # the reset step: the next session's two steps follow in the next round
        assert not terminated.any() and not truncated.any() and (reward == 0).all()


@pytest.mark.parametrize("patience", [1.0, 2.5, 3.0, 4.2])
@pytest.mark.parametrize("no_response", ["hopeless_user", "all_positions_invalid"])
def test_quality_cost_leaves_at_ceil_patience(
    gt_sim: Simulator, patience: float, no_response: str
) -> None:
    # q = 0 every step: patience falls by quality_cost·(1 - 0) = 1 a step
    leave = LeaveConfig(initial_patience=patience, step_cost=0.0, quality_cost=1.0)
    sim = hopeless(gt_sim) if no_response == "hopeless_user" else gt_sim
    env = SlateEnv(sim, 6, env_config(sim, leave=leave, max_steps=20), seed=0)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    leave_step = math.ceil(patience)
    for step in range(1, leave_step + 1):
        slates = random_slates(rng, 6, sim.n_items)
        if no_response == "all_positions_invalid":
            slates[:] = 0
        _, reward, terminated, truncated, info = env.step(slates)
        assert (info[INFO_RESPONSE] == 0).all() and (reward == 0).all()
        np.testing.assert_allclose(info[INFO_PATIENCE], patience - step, atol=1e-5)
        assert terminated.all() == (step == leave_step) and terminated.any() == terminated.all()
        assert not truncated.any()


def test_full_response_costs_only_step_cost(gt_sim: Simulator) -> None:
    # q = 1 every step: patience falls by step_cost only, 1.0 -> 0 after 4 steps of 0.25
    sim = eager(gt_sim)
    leave = LeaveConfig(initial_patience=1.0, step_cost=0.25, quality_cost=1.0)
    env = SlateEnv(sim, 4, env_config(sim, leave=leave), seed=0)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for step in range(1, 5):
        _, reward, terminated, _, info = env.step(random_slates(rng, 4, sim.n_items))
        assert (info[INFO_RESPONSE] == 1).all() and (reward == 1).all()
        assert terminated.all() == (step == 4) and terminated.any() == terminated.all()


def test_truncated_at_max_steps(gt_sim: Simulator) -> None:
    leave = LeaveConfig(initial_patience=1e6, step_cost=0.1, quality_cost=1.0)
    env = SlateEnv(gt_sim, 4, env_config(gt_sim, leave=leave, max_steps=7), seed=0)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for step in range(1, 8):
        _, _, terminated, truncated, _ = env.step(random_slates(rng, 4, gt_sim.n_items))
        assert not terminated.any()
        assert truncated.all() == (step == 7) and truncated.any() == truncated.all()


# -------------------------------------------------------------- NEXT_STEP reset
def assert_initial_obs(
    sim: Simulator, env: SlateEnv, obs: dict[str, np.ndarray], rows: Any
) -> None:
    users = env.users.numpy()[rows]
    np.testing.assert_array_equal(obs[OBS_USER][rows, 0], users)
    np.testing.assert_array_equal(obs[OBS_HISTORY_ITEMS][rows], sim.history_items(H)[users])
    np.testing.assert_array_equal(obs[OBS_HISTORY_FEEDBACK][rows], sim.history_feedback(H)[users])


def test_next_step_autoreset_ignores_action(gt_sim: Simulator) -> None:
    leave = LeaveConfig(initial_patience=1.0, step_cost=0.5, quality_cost=0.0)
    config = env_config(gt_sim, leave=leave, invalid_action="raise")
    env = SlateEnv(gt_sim, 5, config, seed=0)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    env.step(random_slates(rng, 5, gt_sim.n_items))
    _, _, terminated, _, _ = env.step(random_slates(rng, 5, gt_sim.n_items))
    assert terminated.all()
    garbage = np.full((5, K), -7)
    garbage[:, 1] = gt_sim.n_items + 99
    obs, reward, terminated, truncated, info = env.step(garbage)  # no InvalidActionError
    assert (reward == 0).all() and not terminated.any() and not truncated.any()
    assert not info[INFO_SLATE_VALID].any() and (info[INFO_RESPONSE] == 0).all()
    np.testing.assert_allclose(info[INFO_PATIENCE], 1.0)
    assert_initial_obs(gt_sim, env, obs, slice(None))
    with pytest.raises(InvalidActionError):  # the new session is live: garbage is an error again
        env.step(garbage)


def test_autoreset_of_some_envs(gt_sim: Simulator) -> None:
    """Sessions end at different steps; only the finished rows reset and ignore their action."""
    leave = LeaveConfig(initial_patience=2.0, step_cost=0.1, quality_cost=1.0)
    config = env_config(gt_sim, leave=leave, invalid_action="raise")
    n_envs = 8
    env = SlateEnv(gt_sim, n_envs, config, seed=3)
    env.reset(seed=3)
    rng = np.random.default_rng(3)
    done = np.zeros(n_envs, dtype=bool)
    n_resets, mixed = 0, 0
    for _ in range(40):
        slates = random_slates(rng, n_envs, gt_sim.n_items)
        slates[done] = -1  # garbage where the step is a reset step
        before = env.users.numpy().copy()
        obs, reward, terminated, truncated, info = env.step(slates)
        assert (reward[done] == 0).all() and not (terminated | truncated)[done].any()
        assert not info[INFO_SLATE_VALID][done].any()
        assert_initial_obs(gt_sim, env, obs, done)
        np.testing.assert_array_equal(env.users.numpy()[~done], before[~done])  # same session
        assert info[INFO_SLATE_VALID][~done].all()
        n_resets += int(done.sum())
        mixed += int(0 < done.sum() < n_envs)
        done = terminated | truncated
    assert n_resets > 20 and mixed > 5  # the test exercised partial resets


def test_single_user_env_needs_reset_after_done(gt_sim: Simulator) -> None:
    leave = LeaveConfig(initial_patience=1.0, step_cost=1.0, quality_cost=0.0)
    env = SingleUserSlateEnv(gt_sim, env_config(gt_sim, leave=leave), seed=0)
    env.reset(seed=0)
    _, _, terminated, truncated, _ = env.step(np.arange(1, K + 1))
    assert terminated and not truncated
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.arange(1, K + 1))


# -------------------------------------------------------------- invalid actions
def live_env(sim: Simulator, n_envs: int = 3, **overrides: Any) -> tuple[SlateEnv, np.ndarray]:
    env = SlateEnv(sim, n_envs, env_config(sim, **overrides), seed=0)
    env.reset(seed=0)
    return env, random_slates(np.random.default_rng(0), n_envs, sim.n_items)


@pytest.mark.parametrize("bad_id", ["too_large", "zero", "negative"])
def test_raise_on_out_of_range_id(gt_sim: Simulator, bad_id: str) -> None:
    env, slates = live_env(gt_sim, invalid_action="raise")
    value = {"too_large": gt_sim.n_items + 1, "zero": 0, "negative": -3}[bad_id]
    slates[1, 2] = value
    with pytest.raises(
        InvalidActionError, match=rf"env 1, slate position 2: item id {value} is out of range"
    ):
        env.step(slates)


def test_raise_on_repeated_item(gt_sim: Simulator) -> None:
    env, slates = live_env(gt_sim, invalid_action="raise")
    slates[2, 3] = slates[2, 1]  # the second occurrence is the invalid one
    expected = rf"env 2, slate position 3: item id {slates[2, 1]} is a repeated item"
    with pytest.raises(InvalidActionError, match=expected):
        env.step(slates)


@pytest.mark.parametrize("shape", [(3, K + 1), (2, K), (K,), (3, K, 1)])
def test_wrong_action_shape(gt_sim: Simulator, shape: tuple[int, ...]) -> None:
    env, _ = live_env(gt_sim)
    with pytest.raises(InvalidActionError, match=re.escape(f"got {shape}")):
        env.step(np.ones(shape, dtype=np.int64))


@pytest.mark.parametrize("shape", [(K + 2,), (K - 1,), (1, K)])
def test_single_user_wrong_action_shape(gt_sim: Simulator, shape: tuple[int, ...]) -> None:
    env = SingleUserSlateEnv(gt_sim, env_config(gt_sim), seed=0)
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match="shape"):
        env.step(np.arange(1, 1 + int(np.prod(shape))).reshape(shape))


def test_mask_mode_scores_valid_positions_only(learned_sim: Simulator) -> None:
    sim = learned_sim
    n_envs = 64
    env = SlateEnv(sim, n_envs, env_config(sim, invalid_action="mask"), seed=0)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    weights = np.array([1.0, 2.0])  # click, purchase
    assert sim.feedback_names == ("click", "purchase")
    for _ in range(3):
        slates = random_slates(rng, n_envs, sim.n_items)
        slates[0::4, 0] = 0  # out of range
        slates[1::4, 4] = sim.n_items + 1  # out of range
        slates[2::4, 3] = slates[2::4, 2]  # repeated
        slates[3::8, :] = -1  # nothing valid
        expected_valid = (slates >= 1) & (slates <= sim.n_items)
        expected_valid[2::4, 3] = False
        _, reward, terminated, truncated, info = env.step(slates)
        valid, response = info[INFO_SLATE_VALID], info[INFO_RESPONSE]
        np.testing.assert_array_equal(valid, expected_valid)
        assert (response[~valid] == 0).all()
        n_valid = valid.sum(1)
        mean = np.where(n_valid > 0, (response @ weights).sum(1) / np.maximum(n_valid, 1), 0.0)
        np.testing.assert_allclose(reward, mean, rtol=1e-6)
        assert (reward[3::8] == 0).all()
        assert response[valid].sum() > 0  # the check saw real responses
        if (terminated | truncated).any():
            break


# --------------------------------------------------------------------- rewards
def test_reward_mean_and_sum_follow_response_and_weights(learned_sim: Simulator) -> None:
    sim = learned_sim
    weights = {"click": 0.5, "purchase": 3.0}
    n_envs = 32
    envs = {
        agg: SlateEnv(
            sim, n_envs, env_config(sim, reward_weights=weights, reward_aggregate=agg), seed=5
        )
        for agg in ("mean", "sum")
    }
    for env in envs.values():
        env.reset(seed=5)
    rng = np.random.default_rng(5)
    w = np.array([weights["click"], weights["purchase"]])
    for _ in range(5):
        slates = random_slates(rng, n_envs, sim.n_items)
        slates[::3, 1] = 0  # some masked positions: mean divides by the valid count
        out = {agg: env.step(slates) for agg, env in envs.items()}
        resp_mean, resp_sum = out["mean"][4][INFO_RESPONSE], out["sum"][4][INFO_RESPONSE]
        np.testing.assert_array_equal(resp_mean, resp_sum)  # the aggregate never changes sampling
        n_valid = out["sum"][4][INFO_SLATE_VALID].sum(1)
        per_item = resp_sum @ w  # (B, K)
        np.testing.assert_allclose(out["sum"][1], per_item.sum(1), rtol=1e-6)
        np.testing.assert_allclose(out["mean"][1], per_item.sum(1) / n_valid, rtol=1e-6)
        np.testing.assert_allclose(out["mean"][1] * n_valid, out["sum"][1], rtol=1e-6)


def test_unweighted_feedback_earns_nothing(learned_sim: Simulator) -> None:
    env = SlateEnv(
        learned_sim, 32, env_config(learned_sim, reward_weights={"purchase": 1.0}), seed=0
    )
    env.reset(seed=0)
    _, reward, _, _, info = env.step(
        random_slates(np.random.default_rng(0), 32, learned_sim.n_items)
    )
    np.testing.assert_allclose(reward, info[INFO_RESPONSE][..., 1].mean(1), rtol=1e-6)


# --------------------------------------------------------------------- history
def expected_history(
    prev_items: np.ndarray,
    prev_fb: np.ndarray,
    slate: np.ndarray,
    response: np.ndarray,
    valid: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Right-aligned: the previous non-padding entries then the valid shown items."""
    keep = prev_items > 0
    items = np.concatenate([prev_items[keep], slate[valid]])
    fb = np.concatenate([prev_fb[keep], response[valid]])
    pad = max(H - len(items), 0)
    items = np.concatenate([np.zeros(pad, np.int64), items])[-H:]
    fb = np.concatenate([np.zeros((pad, fb.shape[1]), np.float32), fb])[-H:]
    return items, fb


@pytest.mark.parametrize("sim_name", SIMS)
def test_history_appends_valid_shown_items(sim_name: str, request: pytest.FixtureRequest) -> None:
    sim: Simulator = request.getfixturevalue(sim_name)
    leave = LeaveConfig(initial_patience=1e6)
    n_envs = 6
    env = SlateEnv(sim, n_envs, env_config(sim, leave=leave), seed=0)
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(4):
        slates = random_slates(rng, n_envs, sim.n_items)
        slates[1, 0] = 0
        slates[2, 2:] = slates[2, 1]  # three repeats
        new, _, _, _, info = env.step(slates)
        valid, response = info[INFO_SLATE_VALID], info[INFO_RESPONSE]
        for b in range(n_envs):
            n = int(valid[b].sum())
            np.testing.assert_array_equal(new[OBS_HISTORY_ITEMS][b, H - n :], slates[b][valid[b]])
            np.testing.assert_array_equal(
                new[OBS_HISTORY_FEEDBACK][b, H - n :], response[b][valid[b]]
            )
            items, fb = expected_history(
                obs[OBS_HISTORY_ITEMS][b],
                obs[OBS_HISTORY_FEEDBACK][b],
                slates[b],
                response[b],
                valid[b],
            )
            np.testing.assert_array_equal(new[OBS_HISTORY_ITEMS][b], items)
            np.testing.assert_array_equal(new[OBS_HISTORY_FEEDBACK][b], fb)
        obs = new


def test_history_of_new_user_is_left_padded(gt_sim: Simulator) -> None:
    sim = replace(
        gt_sim,
        last_items=np.zeros_like(gt_sim.last_items),
        last_feedback=np.zeros_like(gt_sim.last_feedback),
    )
    env = SlateEnv(sim, 1, env_config(sim, leave=LeaveConfig(initial_patience=1e6)), seed=0)
    obs, _ = env.reset(seed=0)
    assert (obs[OBS_HISTORY_ITEMS] == 0).all()
    slate = np.array([[7, 0, 9, 9, 3]])  # valid: 7, 9, 3
    obs, _, _, _, info = env.step(slate)
    np.testing.assert_array_equal(obs[OBS_HISTORY_ITEMS][0], [0] * (H - 3) + [7, 9, 3])
    fb = obs[OBS_HISTORY_FEEDBACK][0]
    assert (fb[: H - 3] == 0).all()
    np.testing.assert_array_equal(fb[H - 3 :], info[INFO_RESPONSE][0][[0, 2, 4]])
    obs, _, _, _, _ = env.step(np.array([[1, 2, 3, 4, 5]]))
    obs, _, _, _, _ = env.step(np.array([[11, 12, 13, 14, 15]]))
    np.testing.assert_array_equal(obs[OBS_HISTORY_ITEMS][0], [*range(1, 6), *range(11, 16)])


# ------------------------------------------------------------ reference policies
def test_policy_ordering_on_ground_truth() -> None:
    """Observed (300 users, seeds 0-3): oracle ≈ 16.6, popular ≈ 4.7, random ≈ 1.95 total
    reward; depth 19.3 / 9.1 / 6.7. Asserted with wide margins."""
    spec = load_env_spec(ENVS / "synthetic.yaml")
    sim = in_memory_simulator(spec.simulator)
    train = in_memory_simulator(spec.simulator, "train")
    res = {
        name: rollout(sim, make(train), 300, spec.env, seed=0).summary(sim.n_items)
        for name, make in POLICIES.items()
    }
    oracle, popular, random = (res[n]["total_reward"] for n in ("oracle", "popular", "random"))
    assert oracle >= popular + 5.0
    assert popular >= random + 1.5
    assert res["oracle"]["depth"] > res["popular"]["depth"] > res["random"]["depth"]
    assert res["random"]["coverage"] > res["popular"]["coverage"]


def test_rollout_is_seeded(gt_sim: Simulator) -> None:
    config = tiny_ground_truth_spec().env
    a = rollout(gt_sim, POLICIES["random"](), 50, config, seed=1)
    b = rollout(gt_sim, POLICIES["random"](), 50, config, seed=1)
    np.testing.assert_array_equal(a.total_reward, b.total_reward)
    np.testing.assert_array_equal(a.depth, b.depth)


def test_oracle_on_learned_sim_beats_random(learned_sim: Simulator) -> None:
    config = env_config(learned_sim)
    oracle = rollout(learned_sim, POLICIES["oracle"](), 100, config, seed=0)
    random = rollout(learned_sim, POLICIES["random"](), 100, config, seed=0)
    assert oracle.total_reward.mean() > random.total_reward.mean()


# ----------------------------------------------------------------------- device
def test_learned_backend_on_cpu(learned_sim: Simulator) -> None:
    env = SlateEnv(learned_sim, 4, env_config(learned_sim), device="cpu", seed=0)
    env.reset(seed=0)
    assert env.user_state.device.type == "cpu"
    _, reward, _, _, _ = env.step(random_slates(np.random.default_rng(0), 4, learned_sim.n_items))
    assert np.isfinite(reward).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_learned_backend_cpu_and_cuda_agree(learned_sim: Simulator) -> None:
    users = torch.as_tensor(learned_sim.population[:16])
    slates = torch.as_tensor(random_slates(np.random.default_rng(0), 16, learned_sim.n_items))
    logits = {}
    for device in ("cpu", "cuda"):
        backend = learned_sim.make_backend(device)
        u, s = users.to(device), slates.to(device)
        logits[device] = backend.logits(backend.initial_state(u), u, s).cpu()
    torch.testing.assert_close(logits["cuda"], logits["cpu"], atol=1e-4, rtol=1e-4)
    env = SlateEnv(learned_sim, 4, env_config(learned_sim), device="cuda", seed=0)
    env.reset(seed=0)
    _, reward, _, _, _ = env.step(random_slates(np.random.default_rng(0), 4, learned_sim.n_items))
    assert np.isfinite(reward).all()
