"""The rating_walk env kind: leakage, the walk's coverage, window contents against a slow
per-user reference, rewards, test_history, batching and the spec."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from gymnasium.utils.env_checker import check_env

from rayrec.data.rating_walk import RatingRecords, build_rating_records
from rayrec.data.schema import build_log
from rayrec.environments import env_config_for, load_env_spec, read_kind
from rayrec.environments.keys import (
    INFO_POSITION,
    INFO_PREDICTED,
    INFO_RATING,
    INFO_SCORED,
    INFO_USER,
    OBS_CURRENT,
    OBS_CURRENT_ITEM,
    OBS_NEW_RECORDS,
    OBS_RECORD_ITEMS,
    OBS_RECORD_MASK,
    OBS_RECORDS,
    OBS_USER,
)
from rayrec.environments.rating_walk import (
    RatingWalkEnv,
    RatingWalkSpec,
    SingleUserRatingWalkEnv,
    WalkConfig,
    load_walk_records,
    make_env,
)
from rayrec.environments.spec import env_creator_name
from rayrec.errors import InputError
from tests.data.movielens_fixtures import write_folds
from tests.data.test_rating_walk import write_ml1m_fixture, write_ml100k_fixture

Obs = dict[str, np.ndarray]
#: records per user: some shorter than m, some whose train part is shorter than m
LENGTHS = (12, 30, 4, 9, 2, 17, 7, 25, 1, 11)


def make_records(m: int = 3, lengths: tuple[int, ...] = LENGTHS, seed: int = 0) -> RatingRecords:
    """Records whose ratings are all distinct and inside (1, 5) (normalised in (0, 1))."""
    rng = np.random.default_rng(seed)
    n = sum(lengths)
    users = np.repeat(np.arange(1, len(lengths) + 1), lengths)
    rows = pd.DataFrame(
        {
            "u": users,
            "i": rng.integers(1, 15, n),
            "r": 1.0 + 4.0 * (rng.permutation(n) + 1) / (n + 2),
            "t": rng.permutation(n) * 10.0,
        }
    )
    user_table = pd.DataFrame(
        {
            "gender": rng.choice(["F", "M"], len(lengths)),
            "age": rng.integers(18, 60, len(lengths)),
            "occupation": rng.integers(0, 4, len(lengths)),
        },
        index=np.arange(1, len(lengths) + 1),
    )
    genres = ["Drama", "Comedy|Drama", "Action", "Horror|Comedy", "Western"]
    items = pd.DataFrame({"genres": [genres[k % 5] for k in range(14)]}, index=np.arange(1, 15))
    log = build_log(
        "walk",
        rows,
        raw_user="u",
        raw_item="i",
        timestamp="t",
        feedback={"rating": "r"},
        user_features=user_table,
        item_features=items,
    )
    return build_rating_records(log, short_window=m)


def reference_obs(
    rec: RatingRecords, user: int, t: int, window: int, first: bool, shown: np.ndarray
) -> Obs:
    """The observation of ``user`` (dense id) predicting position ``t``, one record at a
    time (the slow per-user reference)."""
    k = int(np.flatnonzero(rec.user_ids == user)[0])
    base = int(rec.offsets[k])
    f = rec.n_features
    records = np.zeros((window, f + 1), dtype=np.float32)
    items = np.zeros(window, dtype=np.int64)
    mask = np.zeros(window, dtype=np.float32)
    for j in range(window):
        pos = t - window + j
        if pos >= 0:
            records[j, :f] = rec.features[base + pos]
            records[j, f] = shown[base + pos]
            items[j] = rec.items[base + pos]
            mask[j] = 1.0
    end = base + (int(rec.lengths[k]))
    has_current = base + t < end
    return {
        OBS_USER: np.array([user]),
        OBS_RECORDS: records,
        OBS_RECORD_ITEMS: items,
        OBS_RECORD_MASK: mask,
        OBS_NEW_RECORDS: np.array([min(t, window) if first else 1]),
        OBS_CURRENT: rec.features[base + t] if has_current else np.zeros(f, np.float32),
        OBS_CURRENT_ITEM: np.array([rec.items[base + t] if has_current else 0]),
    }


def policy(obs: Obs) -> np.ndarray:
    """A deterministic action from the observation alone: (B, 1)."""
    r = obs[OBS_RECORDS][..., -1]  # (B, W)
    mask = obs[OBS_RECORD_MASK]
    mean = (r * mask).sum(-1) / np.maximum(mask.sum(-1), 1)
    return (0.7 * mean + 0.3 * obs[OBS_CURRENT][:, -1] % 1.0).astype(np.float32)[:, None]


Step = tuple[Obs, Obs, float, dict[str, Any]]


def walk(
    env: RatingWalkEnv, steps: int | None = None, act: Callable[[Obs], np.ndarray] = policy
) -> list[tuple[int, Obs, Obs, float, dict[str, Any], bool]]:
    """Run ``env`` (to ``done``, or ``steps`` steps); per sub-env and predicted record:
    (slot, observation before, observation after, reward, info, terminated)."""
    obs, _ = env.reset()
    out = []
    n = 0
    while (steps is None and not env.done) or (steps is not None and n < steps):
        action = act(obs)
        nxt, reward, term, trunc, info = env.step(action)
        assert not trunc.any()
        for b in np.flatnonzero(info[INFO_PREDICTED]):
            before = {k: v[b] for k, v in obs.items()}
            after = {k: v[b] for k, v in nxt.items()}
            one = {k: v[b] for k, v in info.items()}
            one["action"] = float(np.clip(action[b, 0], 0, 1))
            out.append((int(b), before, after, float(reward[b]), one, bool(term[b])))
        obs = nxt
        n += 1
    return out


def by_user(
    steps: list[tuple[int, Obs, Obs, float, dict[str, Any], bool]],
) -> dict[int, list[tuple[Obs, float, dict[str, Any]]]]:
    out: dict[int, list[tuple[Obs, float, dict[str, Any]]]] = defaultdict(list)
    for _, before, _, reward, info, _ in steps:
        out[int(info[INFO_USER])].append((before, reward, info))
    return out


def assert_obs_equal(a: Obs, b: Obs) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-7, err_msg=key)


# ------------------------------------------------------------------ no leakage
@pytest.mark.parametrize("part", ["train", "eval"])
def test_the_current_rating_is_never_observed(part: str) -> None:
    rec = make_records()
    env = RatingWalkEnv(rec, 4, WalkConfig(short_window=3, window=6), part=part, seed=1)
    steps = walk(env, steps=60 if part == "train" else None)
    assert steps
    for _, before, _, _, info, _ in steps:
        seen = set(before[OBS_RECORDS][:, -1].tolist()) | set(before[OBS_CURRENT].tolist())
        assert info[INFO_RATING] not in seen


def test_the_train_env_never_shows_a_test_rating() -> None:
    rec = make_records()
    env = RatingWalkEnv(rec, 3, WalkConfig(short_window=3, window=8), part="train", seed=0)
    train_ratings = set(rec.normalised[~rec.is_test].tolist())
    seen: set[float] = set()
    for _, before, after, _, info, _ in walk(env, steps=200):
        for o in (before, after):
            seen |= set(o[OBS_RECORDS][o[OBS_RECORD_MASK] > 0, -1].tolist())
        assert info[INFO_RATING] in train_ratings
        assert info[INFO_POSITION] < rec.n_train[np.flatnonzero(rec.user_ids == info[INFO_USER])[0]]
    assert seen and seen <= train_ratings
    assert not env._ratings[rec.is_test].any()  # the train env holds no test rating at all


# --------------------------------------------------------------- walk coverage
def test_eval_walk_scores_each_scored_test_record_once() -> None:
    rec = make_records(m=3)
    env = RatingWalkEnv(rec, 4, WalkConfig(short_window=3, window=5), part="eval")
    steps = walk(env)
    scored = [(int(i[INFO_USER]), int(i[INFO_POSITION])) for *_, i, _ in steps if i[INFO_SCORED]]
    expected = list(
        zip(rec.users[rec.scored].tolist(), rec.position[rec.scored].tolist(), strict=True)
    )
    assert sorted(scored) == sorted(expected) and len(set(scored)) == len(scored)
    # every record from m to the end of each walked user is predicted, in time order
    users = by_user(steps)
    assert sorted(users) == env.walk_users.tolist()
    for user, records in users.items():
        k = int(np.flatnonzero(rec.user_ids == user)[0])
        assert [int(i[INFO_POSITION]) for *_, i in records] == list(range(3, int(rec.lengths[k])))
    assert env.done
    obs, reward, term, _, info = env.step(np.zeros((4, 1), np.float32))  # idle no-ops
    assert not info[INFO_PREDICTED].any() and not reward.any() and not term.any()
    assert not obs[OBS_RECORD_MASK].any() and not obs[OBS_USER].any()


def test_train_episodes_cover_the_train_part_and_users_cycle() -> None:
    rec = make_records(m=3)
    env = RatingWalkEnv(rec, 2, WalkConfig(short_window=3, window=5), part="train", seed=3)
    expected = {int(u) for u, n in zip(rec.user_ids, rec.n_train, strict=True) if n > 3}
    assert set(env.walk_users.tolist()) == expected
    episodes: dict[int, list[list[int]]] = defaultdict(list)
    current: dict[int, list[int]] = defaultdict(list)
    for slot, _, _, _, info, term in walk(env, steps=400):
        current[slot].append(int(info[INFO_POSITION]))
        if term:
            episodes[int(info[INFO_USER])].append(current.pop(slot))
    assert set(episodes) == expected
    for user, eps in episodes.items():
        k = int(np.flatnonzero(rec.user_ids == user)[0])
        assert all(ep == list(range(3, int(rec.n_train[k]))) for ep in eps)
    assert min(len(e) for e in episodes.values()) >= 2  # more than one pass


# ------------------------------------------------------------ window contents
@pytest.mark.parametrize(("part", "m", "w"), [("train", 3, 3), ("eval", 3, 8), ("eval", 5, 16)])
def test_observations_equal_the_slow_reference(part: str, m: int, w: int) -> None:
    rec = make_records(m=m)
    env = RatingWalkEnv(rec, 5, WalkConfig(short_window=m, window=w), part=part, seed=2)
    first_seen: set[tuple[int, int]] = set()
    for slot, before, after, _, info, term in walk(env, steps=150 if part == "train" else None):
        user, t = int(info[INFO_USER]), int(info[INFO_POSITION])
        first = t == m
        assert_obs_equal(before, reference_obs(rec, user, t, w, first, rec.normalised))
        assert int(before[OBS_NEW_RECORDS][0]) == (m if first else 1)  # min(m, W) = m
        if term:  # the final observation: full window, no current record
            k = int(np.flatnonzero(rec.user_ids == user)[0])
            end = int(rec.n_train[k] if part == "train" else rec.lengths[k])
            ref = reference_obs(rec, user, end, w, False, rec.normalised)
            ref[OBS_CURRENT] = np.zeros(rec.n_features, np.float32)
            ref[OBS_CURRENT_ITEM] = np.array([0])
            assert_obs_equal(after, ref)
        first_seen.add((slot, user))
    assert first_seen


# --------------------------------------------------------------------- rewards
@pytest.mark.parametrize(
    ("form", "fn"),
    [
        ("abs", lambda p, r: 1 - abs(p - r)),
        ("neg_abs", lambda p, r: -abs(p - r)),
        ("neg_square", lambda p, r: -((p - r) ** 2)),
    ],
)
def test_reward_forms_by_hand(form: str, fn: Callable[[float, float], float]) -> None:
    rec = make_records(m=3)
    env = RatingWalkEnv(rec, 3, WalkConfig(short_window=3, window=4, reward=form), part="eval")  # type: ignore[arg-type]
    env.reset()
    actions = np.array([[0.2], [1.7], [-0.4]], dtype=np.float32)  # clipped to [0, 1]
    _, reward, _, _, info = env.step(actions)
    users = env.walk_users[:3]
    for b, user in enumerate(users):
        k = int(np.flatnonzero(rec.user_ids == user)[0])
        real = float(rec.normalised[rec.offsets[k] + 3])
        assert info[INFO_RATING][b] == pytest.approx(real)
        pred = min(max(float(actions[b, 0]), 0.0), 1.0)
        assert reward[b] == pytest.approx(fn(pred, real), abs=1e-6)


# ---------------------------------------------------------------- test history
def test_predicted_test_history_puts_the_actions_into_later_observations() -> None:
    rec = make_records(m=3)
    config = WalkConfig(short_window=3, window=30, test_history="predicted")
    env = RatingWalkEnv(rec, 3, config, part="eval")
    steps = walk(env)
    actions: dict[tuple[int, int], float] = {}
    checked = 0
    for _, before, _, _, info, _ in steps:
        user, t = int(info[INFO_USER]), int(info[INFO_POSITION])
        k = int(np.flatnonzero(rec.user_ids == user)[0])
        base = int(rec.offsets[k])
        for j, pos in enumerate(range(t - 30, t)):
            if pos < 0:
                continue
            shown = before[OBS_RECORDS][j, -1]
            if rec.is_test[base + pos] and pos >= 3:
                assert shown == pytest.approx(actions[(user, pos)])
                checked += 1
            else:
                assert shown == rec.normalised[base + pos]
        actions[(user, t)] = info["action"]
    assert checked > 10
    # the observed protocol shows the true ratings on the same walk
    same = walk(RatingWalkEnv(rec, 3, replace(config, test_history="observed"), part="eval"))
    for (*_, info, _), (_, before, *_rest) in zip(steps, same, strict=True):
        assert info[INFO_USER] == _rest[2][INFO_USER]
        user, t = int(info[INFO_USER]), int(info[INFO_POSITION])
        assert_obs_equal(before, reference_obs(rec, user, t, 30, t == 3, rec.normalised))


# --------------------------------------------------------------------- batching
def first_episodes(
    steps: list[tuple[int, Obs, Obs, float, dict[str, Any], bool]],
) -> dict[int, list[tuple[Obs, float, dict[str, Any]]]]:
    """Each user's first complete episode (a user may run in two sub-envs at once)."""
    running: dict[int, list[tuple[Obs, float, dict[str, Any]]]] = defaultdict(list)
    out: dict[int, list[tuple[Obs, float, dict[str, Any]]]] = {}
    for slot, before, _, reward, info, term in steps:
        running[slot].append((before, reward, info))
        if term:
            episode = running.pop(slot)
            out.setdefault(int(info[INFO_USER]), episode)
    return out


@pytest.mark.parametrize("part", ["train", "eval"])
def test_batched_walks_equal_single_walks(part: str) -> None:
    rec = make_records(m=3)
    config = WalkConfig(short_window=3, window=6)
    one, seven = (
        first_episodes(
            walk(
                RatingWalkEnv(rec, b, config, part=part, seed=5),
                steps=600 // b if part == "train" else None,
            )
        )
        for b in (1, 7)
    )
    assert one.keys() == seven.keys()
    assert len(one) == len(RatingWalkEnv(rec, 1, config, part=part).walk_users)
    for user in one:
        assert len(one[user]) == len(seven[user])
        for (o1, r1, i1), (o7, r7, i7) in zip(one[user], seven[user], strict=True):
            assert_obs_equal(o1, o7)
            assert r1 == pytest.approx(r7) and i1[INFO_POSITION] == i7[INFO_POSITION]


def test_single_user_view_passes_check_env_and_walks_one_user() -> None:
    rec = make_records(m=3)
    env = SingleUserRatingWalkEnv(rec, WalkConfig(short_window=3, window=5), part="eval")
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs[OBS_NEW_RECORDS][0] == 3 and obs[OBS_RECORDS].shape == (5, rec.n_features + 1)
    user = int(obs[OBS_USER][0])
    done, n = False, 0
    while not done:
        obs, reward, done, truncated, info = env.step(np.array([0.5], np.float32))
        assert reward == pytest.approx(1 - abs(0.5 - info[INFO_RATING]))
        assert info[INFO_USER] == user and not truncated
        n += 1
    k = int(np.flatnonzero(rec.user_ids == user)[0])
    assert n == rec.lengths[k] - 3
    with pytest.raises(RuntimeError, match="finished episode"):
        env.step(np.array([0.5], np.float32))
    assert int(env.reset()[0][OBS_USER][0]) != user


# ------------------------------------------------------------------------ specs
def spec_data(**walk: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(load_env_spec_text())
    data["walk"].update(walk)
    return data


def load_env_spec_text() -> str:
    from rayrec.environments.spec import PACKAGED_SPECS

    return (PACKAGED_SPECS / "ml1m_rating.yaml").read_text()


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "walk.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("name", ["ml1m_rating", "ml100k_rating"])
def test_packaged_specs_load_by_name(name: str) -> None:
    assert read_kind(name) == "rating_walk"
    spec = load_env_spec(name)
    assert isinstance(spec, RatingWalkSpec) and spec.name == name and spec.kind == "rating_walk"
    assert spec.dataset.name == {"ml1m_rating": "ml-1m", "ml100k_rating": "ml-100k"}[name]
    assert spec.walk == WalkConfig()  # the spec's defaults are the documented ones
    assert env_creator_name("rating_walk") == "rayrec-rating_walk"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"window": 3}, "walk.window: expected an integer >= short_window (5), got 3"),
        ({"short_window": 0}, "walk.short_window: expected an integer >= 1, got 0"),
        ({"train_fraction": 1.0}, "walk.train_fraction: expected a number in (0, 1), got 1.0"),
        ({"reward": "square"}, "walk.reward: expected one of 'abs', 'neg_abs', 'neg_square'"),
        ({"test_history": True}, "walk.test_history: expected one of 'observed', 'predicted'"),
        ({"rating_scale": [5, 1]}, "walk.rating_scale: expected [low, high] with low < high"),
        ({"rating_scale": [1, 3, 5]}, "walk.rating_scale: expected [low, high]"),
        ({"seed": "zero"}, "walk.seed: expected an integer"),
        ({"windw": 3}, "walk: unknown key 'windw'"),
    ],
)
def test_walk_errors_name_file_and_key(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    path = write(tmp_path, spec_data(**change))
    with pytest.raises(InputError) as err:
        load_env_spec(path)
    assert str(err.value).startswith(f"{path}: {message}"), str(err.value)


def test_spec_errors_name_file_and_key(tmp_path: Path) -> None:
    data = spec_data()
    data["env"] = {}
    with pytest.raises(InputError, match=rf"^{tmp_path}/walk\.yaml: unknown key 'env'"):
        load_env_spec(write(tmp_path, data))
    data = spec_data()
    data["dataset"]["name"] = "nosuch"
    with pytest.raises(InputError, match=rf"^{tmp_path}/walk\.yaml: dataset\.name: expected"):
        load_env_spec(write(tmp_path, data))
    data = spec_data()
    del data["name"]
    with pytest.raises(InputError, match=rf"^{tmp_path}/walk\.yaml: missing required key 'name'"):
        load_env_spec(write(tmp_path, data))


# ------------------------------------------------------------- data and config
def test_env_config_resolves_the_data_and_makes_envs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = write(tmp_path, spec_data())
    with pytest.raises(InputError, match=rf"^{spec}: dataset\.path: .*--data-dir"):
        env_config_for(spec, part="train")
    root = tmp_path / "data"
    write_ml1m_fixture(root / "movielens-1m")
    monkeypatch.setenv("RAYREC_DATA", str(root))
    config = env_config_for(spec, part="eval", seed=4)
    assert config["dataset"] == {"name": "ml-1m", "path": str((root / "movielens-1m").resolve())}
    assert config["kind"] == "rating_walk" and config["part"] == "eval" and config["seed"] == 4
    monkeypatch.delenv("RAYREC_DATA")
    # --data-dir wins over the environment and the spec
    other = env_config_for(spec, str(root / "movielens-1m"), part="train")
    assert other["dataset"]["path"] == config["dataset"]["path"]
    env = make_env({**config, "num_envs": 3})
    assert isinstance(env, RatingWalkEnv) and env.num_envs == 3 and env.part == "eval"
    single = make_env(config)
    assert isinstance(single, SingleUserRatingWalkEnv)
    records = load_walk_records(spec, root / "movielens-1m")
    assert records is env.records  # loaded once per process
    obs, _ = env.reset()
    assert env.observation_space.contains(obs)


def test_ml100k_spec_walks_the_fixture(tmp_path: Path) -> None:
    root = write_ml100k_fixture(tmp_path / "ml100k")
    config = env_config_for("ml100k_rating", str(root), part="train", seed=0)
    env = make_env({**config, "num_envs": 2})
    assert isinstance(env, RatingWalkEnv)
    steps = walk(env, steps=20)
    assert steps and all(0.0 <= s[4][INFO_RATING] <= 1.0 for s in steps)


def test_a_dataset_without_timestamps_is_refused_before_ray(tmp_path: Path) -> None:
    data = spec_data()
    data["dataset"] = {"name": "ml-1m-folds", "path": str(write_folds(tmp_path / "folds"))}
    path = write(tmp_path, data)
    with pytest.raises(InputError, match=rf"^{path}: dataset: .*timestamps"):
        env_config_for(path)
