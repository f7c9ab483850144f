"""The topn env kind: batched steps against a slow per-user reference, the reward rule,
masks, episode ends, seeding, no leakage of the test part, final observations and the
specs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

from rayrec.data.topn import TopNData
from rayrec.environments import env_config_for, load_env_spec, read_kind
from rayrec.environments.keys import (
    INFO_HIT,
    INFO_RECOMMENDED,
    INFO_USER,
    OBS_ACTION_MASK,
    OBS_LONG_ITEMS,
    OBS_SHORT_ITEMS,
    OBS_USER_FEATURES,
)
from rayrec.environments.spec import PACKAGED_SPECS, env_creator_name
from rayrec.environments.topn import (
    SingleUserTopNEnv,
    TopNConfig,
    TopNEnv,
    TopNSpec,
    final_observations,
    load_topn_data,
    make_env,
)
from rayrec.errors import InputError
from tests.data.movielens_fixtures import write_folds
from tests.data.test_rating_walk import write_ml1m_fixture, write_ml100k_fixture
from tests.data.test_topn import N_ITEMS, Row, topn_data, topn_rows

Obs = dict[str, np.ndarray]
CONFIG = TopNConfig(short_window=4, long_window=3, initial_items=3, episode_length=6)


class Reference:
    """One user's episode, one record at a time (the slow per-user reference)."""

    def __init__(self, data: TopNData, config: TopNConfig, k: int) -> None:
        self.data, self.config, self.k = data, config, k
        lo, hi = int(data.train_offsets[k]), int(data.train_offsets[k + 1])
        items, ratings = data.train_items[lo:hi].tolist(), data.train_ratings[lo:hi].tolist()
        self.train = list(zip(items, ratings, strict=True))
        seed = self.train[: config.initial_items]
        self.consumed = [item for item, _ in seed]
        self.liked = [item for item, r in seed if r >= config.like_threshold]
        self.recommended: set[int] = set()

    def allowed(self, item: int) -> bool:
        return item != 0 and item not in self.recommended and item not in self.consumed

    def rating(self, item: int) -> float | None:
        """The item's latest train rating, or None."""
        found = [r for i, r in self.train if i == item]
        return found[-1] if found else None

    def step(self, item: int) -> float:
        reward = 0.0
        rating = self.rating(item)
        if self.allowed(item) and rating is not None and rating >= self.config.like_threshold:
            reward = rating / self.config.rating_scale[1]
            self.consumed.append(item)
            self.liked.append(item)
        self.recommended.add(item)
        return reward

    def obs(self) -> Obs:
        def padded(items: list[int], n: int) -> np.ndarray:
            last = items[-n:]
            return np.array([0] * (n - len(last)) + last, dtype=np.int64)

        mask = np.array([self.allowed(i) for i in range(self.data.n_items + 1)])
        return {
            OBS_USER_FEATURES: self.data.user_features[self.k],
            OBS_LONG_ITEMS: padded(self.liked, self.config.long_window),
            OBS_SHORT_ITEMS: padded(self.consumed, self.config.short_window),
            OBS_ACTION_MASK: mask,
        }

    def any_allowed(self) -> bool:
        return any(self.allowed(i) for i in range(self.data.n_items + 1))


def assert_obs_equal(a: Obs, b: Obs) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def row(obs: Obs, b: int) -> Obs:
    return {k: v[b] for k, v in obs.items()}


def mixed_policy(data: TopNData, seed: int = 0) -> Callable[[TopNEnv, Obs], np.ndarray]:
    """Per sub-env: a train item of its user (hits and repeats), an allowed item, or a
    masked one (padding or a consumed item), drawn with a seeded rng."""
    rng = np.random.default_rng(seed)

    def act(env: TopNEnv, obs: Obs) -> np.ndarray:
        out = np.zeros(env.num_envs, dtype=np.int64)
        for b, k in enumerate(env.users):
            u = rng.random()
            if u < 0.5:
                out[b] = rng.choice(data.user_train_items(int(k)))
            elif u < 0.85 and obs[OBS_ACTION_MASK][b].any():  # none after an episode end
                out[b] = rng.choice(np.flatnonzero(obs[OBS_ACTION_MASK][b]))
            else:
                out[b] = rng.choice(np.r_[0, obs[OBS_SHORT_ITEMS][b]])
        return out

    return act


def run_against_reference(env: TopNEnv, steps: int, seed: int = 0) -> dict[str, int]:
    """Step ``env`` with the mixed policy; check every sub-env's observations, rewards
    and episode ends against a :class:`Reference` of its user."""
    data, config = env.data, env.config
    act = mixed_policy(data, seed)
    obs, _ = env.reset()
    refs = [Reference(data, config, int(k)) for k in env.users]
    for b, ref in enumerate(refs):
        assert_obs_equal(row(obs, b), ref.obs())
    counts = {"hits": 0, "misses": 0, "masked": 0, "episodes": 0, "truncated": 0}
    t = np.zeros(env.num_envs, dtype=int)
    for _ in range(steps):
        action = act(env, obs)
        obs, reward, term, trunc, info = env.step(action)
        for b in range(env.num_envs):
            if not info[INFO_RECOMMENDED][b]:  # the step that starts the next user
                assert reward[b] == 0 and not term[b] and not trunc[b]
                refs[b] = Reference(data, config, int(env.users[b]))
                t[b] = 0
                counts["episodes"] += 1
            else:
                ref = refs[b]
                a = int(action[b])
                counts["masked"] += not ref.allowed(a)
                expected = ref.step(a)
                t[b] += 1
                assert reward[b] == pytest.approx(expected)
                assert info[INFO_HIT][b] == (expected > 0)
                assert info[INFO_USER][b] == data.user_ids[ref.k]
                counts["hits" if expected > 0 else "misses"] += 1
                assert term[b] == (not ref.any_allowed())
                assert trunc[b] == (not term[b] and t[b] >= config.episode_length)
                counts["truncated"] += bool(trunc[b])
            assert_obs_equal(row(obs, b), refs[b].obs())
    return counts


# ------------------------------------------------------------- the contract
def test_spaces_and_check_env() -> None:
    data = topn_data()
    env = TopNEnv(data, 3, CONFIG, seed=0)
    single = env.single_observation_space
    assert isinstance(single, spaces.Dict)
    assert single[OBS_USER_FEATURES].shape == (data.user_features.shape[1],)
    assert single[OBS_LONG_ITEMS].shape == (3,) and single[OBS_SHORT_ITEMS].shape == (4,)
    assert single[OBS_ACTION_MASK].shape == (N_ITEMS + 1,)
    assert env.single_action_space == spaces.Discrete(N_ITEMS + 1)
    obs, _ = env.reset()
    assert env.observation_space.contains(obs)
    assert obs[OBS_ACTION_MASK].dtype == np.bool_ and obs[OBS_LONG_ITEMS].dtype == np.int64
    check_env(SingleUserTopNEnv(data, CONFIG), skip_render_check=True)


@pytest.mark.parametrize("num_envs", [1, 5])
def test_batched_steps_equal_the_slow_reference(num_envs: int) -> None:
    env = TopNEnv(topn_data(), num_envs, CONFIG, seed=3)
    counts = run_against_reference(env, 300 // num_envs)
    assert counts["hits"] > 10 and counts["misses"] > 10 and counts["masked"] > 10
    assert counts["episodes"] > 5 and counts["truncated"] > 5


def test_long_window_keeps_the_most_recent_liked_items() -> None:
    config = TopNConfig(short_window=2, long_window=2, initial_items=8, episode_length=3)
    data = topn_data()
    seeds = [Reference(data, config, k).liked for k in range(data.n_users)]
    assert max(len(s) for s in seeds) > config.long_window  # some seed holds more than L
    env = TopNEnv(data, 4, config, seed=1)
    counts = run_against_reference(env, 60, seed=2)
    assert counts["hits"] > 0


# --------------------------------------------------------------- the reward
def liked_unconsumed(data: TopNData, k: int, config: TopNConfig) -> tuple[int, float]:
    """A liked train item of user k outside its seed (first such), with its rating."""
    ref = Reference(data, config, k)
    for item, rating in ref.train[config.initial_items :]:
        if ref.allowed(item) and ref.rating(item) == rating and rating >= 4:
            return item, rating
    raise AssertionError("fixture has no such item")


def test_a_liked_train_item_earns_rating_over_5_and_joins_the_state() -> None:
    data = topn_data()
    env = TopNEnv(data, 1, CONFIG, seed=0)
    obs, _ = env.reset()
    k = int(env.users[0])
    item, rating = liked_unconsumed(data, k, CONFIG)
    nxt, reward, *_ = env.step(np.array([item]))
    assert reward[0] == pytest.approx(rating / 5.0)
    assert nxt[OBS_SHORT_ITEMS][0, -1] == item and nxt[OBS_LONG_ITEMS][0, -1] == item
    assert (nxt[OBS_SHORT_ITEMS][0, :-1] == obs[OBS_SHORT_ITEMS][0, 1:]).all()
    assert not nxt[OBS_ACTION_MASK][0, item]
    _, again, *_ = env.step(np.array([item]))  # recommended again: masked, no reward
    assert again[0] == 0


def test_a_miss_earns_nothing_and_leaves_the_state() -> None:
    data = topn_data()
    env = TopNEnv(data, 1, CONFIG, seed=0)
    obs, _ = env.reset()
    k = int(env.users[0])
    ref = Reference(data, CONFIG, k)
    miss = next(
        i
        for i in range(1, N_ITEMS + 1)
        if ref.allowed(i) and (ref.rating(i) is None or ref.rating(i) < 4)  # type: ignore[operator]
    )
    nxt, reward, _, _, info = env.step(np.array([miss]))
    assert reward[0] == 0 and not info[INFO_HIT][0]
    for key in (OBS_SHORT_ITEMS, OBS_LONG_ITEMS, OBS_USER_FEATURES):
        np.testing.assert_array_equal(nxt[key], obs[key])
    changed = obs[OBS_ACTION_MASK] != nxt[OBS_ACTION_MASK]
    assert changed.sum() == 1 and changed[0, miss]  # only the recommended item is masked


def test_masks_cover_padding_consumed_and_recommended_items() -> None:
    data = topn_data()
    env = TopNEnv(data, 4, CONFIG, seed=0)
    obs, _ = env.reset()
    act = mixed_policy(data)
    recommended: list[set[int]] = [set() for _ in range(4)]
    for _ in range(40):
        mask = obs[OBS_ACTION_MASK]
        assert not mask[:, 0].any()  # padding is never allowed
        for b in range(4):
            consumed = set(obs[OBS_SHORT_ITEMS][b].tolist()) - {0}
            assert not mask[b, sorted(consumed | recommended[b])].any()
        action = act(env, obs)
        obs, _, _, _, info = env.step(action)
        for b in range(4):
            if info[INFO_RECOMMENDED][b]:
                recommended[b].add(int(action[b]))
            else:
                recommended[b] = set()
    with pytest.raises(ValueError, match="item ids in 0"):
        env.step(np.array([0, 1, 2, N_ITEMS + 1]))


# ------------------------------------------------------------ episode ends
def test_episodes_are_truncated_at_episode_length() -> None:
    env = TopNEnv(topn_data(), 2, CONFIG, seed=0)
    env.reset()
    for t in range(1, CONFIG.episode_length + 1):
        _, _, term, trunc, info = env.step(np.zeros(2, dtype=np.int64))  # padding: a miss
        assert info[INFO_RECOMMENDED].all() and not term.any()
        assert trunc.all() == (t == CONFIG.episode_length)
    _, reward, term, trunc, info = env.step(np.ones(2, dtype=np.int64))  # starts new users
    assert not info[INFO_RECOMMENDED].any() and not reward.any() and not (term | trunc).any()


def test_an_episode_ends_when_no_item_is_left() -> None:
    config = TopNConfig(short_window=4, long_window=3, initial_items=3, episode_length=100)
    env = TopNEnv(topn_data(), 1, config, seed=0)
    obs, _ = env.reset()
    allowed = np.flatnonzero(obs[OBS_ACTION_MASK][0])
    for n, item in enumerate(allowed, start=1):
        _, _, term, trunc, _ = env.step(np.array([item]))
        assert term[0] == (n == len(allowed)) and not trunc[0]


def test_episode_users_have_a_liked_train_item_after_the_seed() -> None:
    rows: list[Row] = [(1, i, 5.0, i) for i in range(1, 11)]  # 8 train: 3 seed + 5 liked
    rows += [(2, i, 2.0 if i > 3 else 5.0, i) for i in range(1, 11)]  # nothing left to like
    rows += [(3, 1, 5.0, 1)]  # one record: the seed is the whole train part
    env = TopNEnv(topn_data(rows), 1, CONFIG)
    assert env.episode_users.tolist() == [0]
    with pytest.raises(InputError, match="no user has a liked train rating after its first 3"):
        TopNEnv(topn_data(rows[10:]), 1, CONFIG)


# ------------------------------------------------------------------ seeding
def trajectory(env: TopNEnv, seed: int | None, steps: int = 40) -> list[Any]:
    obs, _ = env.reset(seed=seed)
    act = mixed_policy(env.data, 7)
    out: list[Any] = [obs]
    for _ in range(steps):
        out.append(env.step(act(env, obs)))
        obs = out[-1][0]
    return out


def assert_same(a: list[Any], b: list[Any]) -> None:
    for x, y in zip(a, b, strict=True):
        for p, q in zip(
            x if isinstance(x, tuple) else (x,), y if isinstance(y, tuple) else (y,), strict=True
        ):
            if isinstance(p, dict):
                assert p.keys() == q.keys()
                for key in p:
                    np.testing.assert_array_equal(p[key], q[key])
            else:
                np.testing.assert_array_equal(p, q)


def test_the_seed_fixes_the_user_order() -> None:
    data = topn_data()
    assert_same(
        trajectory(TopNEnv(data, 3, CONFIG, seed=4), None),
        trajectory(TopNEnv(data, 3, CONFIG, seed=4), None),
    )
    env = TopNEnv(data, 3, CONFIG, seed=4)
    assert_same(trajectory(env, 9), trajectory(env, 9))  # reset(seed=...) starts over
    orders = {
        tuple(TopNEnv(data, 3, CONFIG, seed=s).reset()[0][OBS_USER_FEATURES][:, -1])
        for s in range(6)
    }
    assert len(orders) > 1


# ------------------------------------------------------------------ leakage
def test_editing_the_test_part_changes_nothing_in_the_env() -> None:
    rows = topn_rows()
    data = topn_data(rows)
    edited: list[Row] = []
    for user, records in sorted({r[0]: [x for x in rows if x[0] == r[0]] for r in rows}.items()):
        records = sorted(records, key=lambda r: r[3])
        n_train = int(np.floor(0.8 * len(records)))
        edited += records[:n_train]
        # every test rating 5, every test item moved: all liked, all different
        edited += [(u, i % N_ITEMS + 1, 5.0, t) for u, i, _, t in records[n_train:]]
        assert user
    other = topn_data(edited)
    assert not all(
        np.array_equal(a, b)
        for a, b in zip(data.test_relevant(), other.test_relevant(), strict=True)
    )
    assert_same(
        trajectory(TopNEnv(data, 4, CONFIG, seed=2), None, 80),
        trajectory(TopNEnv(other, 4, CONFIG, seed=2), None, 80),
    )


def test_no_test_only_item_is_ever_rewarded() -> None:
    data = topn_data()
    env = TopNEnv(data, 1, CONFIG, seed=0)
    test_only = [
        np.setdiff1d(r, s)
        for r, s in zip(data.test_relevant("liked"), data.train_seen(), strict=True)
    ]
    assert sum(len(t) for t in test_only) > 0
    env.reset()
    for _ in range(60):
        k = int(env.users[0])
        items = test_only[k]
        action = np.array([items[0] if len(items) else 0])
        _, reward, _, _, info = env.step(action)
        assert reward[0] == 0 and not info[INFO_HIT][0]


# ------------------------------------------------------- final observations
def test_final_observations_hold_the_whole_train_part() -> None:
    data = topn_data()
    config = TopNConfig(short_window=4, long_window=3)
    users = np.array([3, 0, 6, 4])
    obs = final_observations(data, config, users)
    for b, k in enumerate(users):
        ref = Reference(
            data, TopNConfig(short_window=4, long_window=3, initial_items=10**6), int(k)
        )
        expected = ref.obs()
        assert_obs_equal(row(obs, b), expected)
        train = set(data.user_train_items(int(k)).tolist())
        assert set(np.flatnonzero(~obs[OBS_ACTION_MASK][b]).tolist()) == train | {0}


# -------------------------------------------------------------------- specs
def spec_data(**topn: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((PACKAGED_SPECS / "ml1m_topn.yaml").read_text())
    data["topn"].update(topn)
    return data


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "topn.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("name", ["ml1m_topn", "ml100k_topn"])
def test_packaged_specs_load_by_name(name: str) -> None:
    assert read_kind(name) == "topn"
    spec = load_env_spec(name)
    assert isinstance(spec, TopNSpec) and spec.name == name and spec.kind == "topn"
    assert spec.dataset.name == {"ml1m_topn": "ml-1m", "ml100k_topn": "ml-100k"}[name]
    assert spec.topn == TopNConfig()  # the spec's defaults are the documented ones
    assert env_creator_name("topn") == "rayrec-topn"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"like_threshold": 6}, "topn.like_threshold: expected a rating in [1, 5], got 6"),
        ({"short_window": 0}, "topn.short_window: expected an integer >= 1, got 0"),
        ({"long_window": 0}, "topn.long_window: expected an integer >= 1, got 0"),
        ({"initial_items": -1}, "topn.initial_items: expected an integer >= 0, got -1"),
        ({"episode_length": 0}, "topn.episode_length: expected an integer >= 1, got 0"),
        ({"train_fraction": 0}, "topn.train_fraction: expected a number in (0, 1), got 0"),
        ({"relevance": "all"}, "topn.relevance: expected one of 'rated', 'liked'"),
        ({"rating_scale": [5, 1]}, "topn.rating_scale: expected [low, high] with low < high"),
        ({"seed": "zero"}, "topn.seed: expected an integer"),
        ({"windw": 3}, "topn: unknown key 'windw'"),
    ],
)
def test_bad_values_name_file_and_key(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    path = write(tmp_path, spec_data(**change))
    with pytest.raises(InputError) as err:
        load_env_spec(path)
    assert str(err.value).startswith(f"{path}: {message}"), str(err.value)


def test_spec_errors_name_file_and_key(tmp_path: Path) -> None:
    data = spec_data()
    data["walk"] = {}
    with pytest.raises(InputError, match=rf"^{tmp_path}/topn\.yaml: unknown key 'walk'"):
        load_env_spec(write(tmp_path, data))
    data = spec_data()
    data["dataset"]["name"] = "nosuch"
    with pytest.raises(InputError, match=rf"^{tmp_path}/topn\.yaml: dataset\.name: expected"):
        load_env_spec(write(tmp_path, data))


def test_env_config_resolves_the_data_and_makes_envs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = write(tmp_path, spec_data(initial_items=2, short_window=3, long_window=4))
    with pytest.raises(InputError, match=rf"^{spec}: dataset\.path: .*--data-dir"):
        env_config_for(spec, part="train")
    root = tmp_path / "data"
    write_ml1m_fixture(root / "movielens-1m")
    monkeypatch.setenv("RAYREC_DATA", str(root))
    config = env_config_for(spec, part="train", seed=4)
    assert config["dataset"] == {"name": "ml-1m", "path": str((root / "movielens-1m").resolve())}
    assert config["kind"] == "topn" and config["seed"] == 4
    monkeypatch.delenv("RAYREC_DATA")
    other = env_config_for(spec, str(root / "movielens-1m"))  # --data-dir wins
    assert other["dataset"]["path"] == config["dataset"]["path"]
    env = make_env({**config, "num_envs": 3})
    assert isinstance(env, TopNEnv) and env.num_envs == 3
    assert isinstance(make_env(config), SingleUserTopNEnv)
    assert load_topn_data(spec, root / "movielens-1m") is env.data  # loaded once per process
    obs, _ = env.reset()
    assert env.observation_space.contains(obs)
    run_against_reference(env, 20)


def test_ml100k_spec_runs_on_the_fixture(tmp_path: Path) -> None:
    root = write_ml100k_fixture(tmp_path / "ml100k")
    data = spec_data(initial_items=2)
    data["dataset"] = {"name": "ml-100k", "path": str(root)}
    spec = write(tmp_path, data)
    config = env_config_for(spec, part="train", seed=0)
    env = make_env({**config, "num_envs": 2})
    assert isinstance(env, TopNEnv) and env.data.n_users == 3
    run_against_reference(env, 30)
    assert env_config_for("ml100k_topn", str(root))["dataset"]["name"] == "ml-100k"


def test_a_dataset_without_timestamps_is_refused_before_ray(tmp_path: Path) -> None:
    data = spec_data()
    data["dataset"] = {"name": "ml-1m-folds", "path": str(write_folds(tmp_path / "folds"))}
    path = write(tmp_path, data)
    with pytest.raises(InputError, match=rf"^{path}: dataset: .*timestamps"):
        env_config_for(path)
