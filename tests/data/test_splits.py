"""Splits: partition invariants, chronology, exact counts, determinism, spec parsing."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rayrec.data.schema import SESSION, TIMESTAMP, USER, InteractionLog, build_log
from rayrec.data.splits import (
    SPLITS,
    Split,
    global_time,
    leave_last_k,
    make_split,
    parse_spec,
    per_user_ratio,
    random_session,
)
from rayrec.errors import InputError


def make_log(
    users: list[int],
    items: list[int],
    ts: list[float] | None = None,
    sessions: list[int] | None = None,
) -> InteractionLog:
    """A log from raw columns through the real normaliser (rows sorted by user, time)."""
    frame = pd.DataFrame({"u": users, "i": items, "r": np.ones(len(users))})
    if ts is not None:
        frame["t"] = ts
    if sessions is not None:
        frame["s"] = sessions
    return build_log(
        "toy",
        frame,
        raw_user="u",
        raw_item="i",
        feedback={"click": "r"},
        timestamp="t" if ts is not None else None,
        raw_session="s" if sessions is not None else None,
    )


def shuffled(log: InteractionLog, seed: int = 0) -> InteractionLog:
    """The same rows in a random order (as a subset or a session-ordered log may be)."""
    rows = log.interactions.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return replace(log, interactions=rows)


def random_log(
    n_rows: int = 400, n_users: int = 30, seed: int = 0, sessions: bool = True
) -> InteractionLog:
    rng = np.random.default_rng(seed)
    users = rng.integers(1, n_users + 1, n_rows).tolist()
    items = rng.integers(1, 50, n_rows).tolist()
    ts = rng.integers(0, 60, n_rows).astype(float).tolist()  # many ties on purpose
    sess = (rng.integers(1, n_rows // 4, n_rows)).tolist() if sessions else None
    return make_log(users, items, ts, sess)


ALL_SPECS = [
    "per_user_ratio:0.8",
    "per_user_ratio:0.8,0.1,0.1",
    "global_time:0.8",
    "global_time:0.7,0.15",
    "random_session:0.8,0.1,0.1",
    "random_session:0.5,0.5",
    "leave_last_k:1",
    "leave_last_k:2,1",
]


def assert_partition(split: Split, n_rows: int) -> None:
    masks = [split.mask(p) for p in split.parts]
    assert all(m.shape == (n_rows,) and m.dtype == bool for m in masks)
    total = np.sum(masks, axis=0)
    assert np.all(total == 1), "every row in exactly one part"


# ----------------------------------------------------------------- invariants
@pytest.mark.parametrize("spec", ALL_SPECS)
@pytest.mark.parametrize("order", ["sorted", "shuffled"])
def test_parts_disjoint_and_cover_all_rows(spec: str, order: str) -> None:
    log = random_log()
    if order == "shuffled":
        log = shuffled(log)
    split = make_split(log, spec)
    assert_partition(split, log.n_interactions)
    desc = split.describe()
    assert sum(desc["rows"].values()) == log.n_interactions
    assert set(desc["rows"]) == set(split.parts)
    views = split.views(log)
    assert sum(v.n_interactions for v in views.values()) == log.n_interactions
    for part, view in views.items():
        assert view.users is log.users and view.items is log.items  # ids unchanged
        assert view.name == f"toy:{part}"
        assert view.meta["split"]["part"] == part
        expected = log.interactions.loc[split.mask(part)].reset_index(drop=True)
        pd.testing.assert_frame_equal(view.interactions, expected)


def test_masks_are_read_only_and_indices_match() -> None:
    log = random_log()
    split = per_user_ratio(log)
    with pytest.raises(ValueError):
        split.train[0] = not split.train[0]
    np.testing.assert_array_equal(split.indices("test"), np.flatnonzero(split.test))
    with pytest.raises(KeyError, match="no part 'valid'"):
        split.mask("valid")


def test_view_of_another_log_is_refused() -> None:
    log = random_log()
    split = per_user_ratio(log)
    other = log.subset(np.arange(log.n_interactions) < 10)
    with pytest.raises(ValueError, match="made for"):
        split.view(other, "train")


# -------------------------------------------------------------- per_user_ratio
@pytest.mark.parametrize("ratios", [(0.8, 0.2), (0.8, 0.1, 0.1), (0.5, 0.5)])
def test_per_user_train_precedes_test_in_time(ratios: tuple[float, ...]) -> None:
    log = shuffled(random_log())
    split = per_user_ratio(log, ratios)
    df = log.interactions.assign(part="")
    for part in split.parts:
        df.loc[split.mask(part), "part"] = part
    later = {"train": ("valid", "test"), "valid": ("test",)}
    for _, rows in df.groupby(USER):
        for early, lates in later.items():
            early_ts = rows.loc[rows["part"] == early, TIMESTAMP]
            late_ts = rows.loc[rows["part"].isin(lates), TIMESTAMP]
            if len(early_ts) and len(late_ts):
                assert early_ts.max() <= late_ts.min()


def test_per_user_exact_counts_and_short_users() -> None:
    # user 1: 10 rows, user 2: 5 rows, user 3: 1 row (kept whole in train)
    users = [1] * 10 + [2] * 5 + [3]
    ts = [float(t) for t in range(10)] + [float(t) for t in range(5)] + [0.0]
    log = make_log(users, list(range(1, 17)), ts)
    split = per_user_ratio(log, (0.8, 0.2))
    df = log.interactions
    counts = {p: df.loc[split.mask(p), USER].value_counts().to_dict() for p in ("train", "test")}
    assert counts["train"] == {1: 8, 2: 4, 3: 1}
    assert counts["test"] == {1: 2, 2: 1}
    # the test rows are exactly each user's latest ones
    assert df.loc[split.test & (df[USER] == 1), TIMESTAMP].tolist() == [8.0, 9.0]
    assert split.describe()["users_kept_in_train"] == 1

    three = per_user_ratio(log, (0.8, 0.1, 0.1))
    assert df.loc[three.mask("valid"), USER].value_counts().to_dict() == {
        1: 1
    }  # floor(4.5) - 4 = 0
    assert df.loc[three.test, USER].value_counts().to_dict() == {1: 1, 2: 1}


def test_per_user_min_train() -> None:
    log = make_log([1] * 5 + [2] * 2, list(range(1, 8)), [float(t) for t in range(7)])
    split = per_user_ratio(log, 0.8, min_train=2)  # user 2: floor(1.6) = 1 < 2 → whole
    assert log.interactions.loc[split.test, USER].unique().tolist() == [1]
    assert per_user_ratio(log, 0.8).test.sum() == 2  # with min_train=1 user 2 splits 1/1


def test_per_user_ties_follow_log_order() -> None:
    log = make_log([1] * 5, [10, 11, 12, 13, 14], [5.0] * 5)  # all at the same second
    split = per_user_ratio(log, (0.6, 0.4))
    assert log.interactions.loc[split.test, "item"].tolist() == [4, 5]  # the last two in the log


def test_per_user_without_timestamps_uses_log_order() -> None:
    log = make_log([1, 1, 1, 1, 1, 2, 2], [5, 4, 3, 2, 1, 1, 2])
    assert not log.has_timestamps
    split = per_user_ratio(log, 0.8)
    df = log.interactions
    assert df.loc[split.test & (df[USER] == 1), "item"].tolist() == [1]  # raw item 1, last row
    notes = split.describe()["notes"]
    assert any("no timestamps" in n for n in notes)
    assert split.describe()["order"] == "log"


# ---------------------------------------------------------------- global_time
def test_global_cut_orders_all_parts() -> None:
    log = shuffled(random_log(seed=3))
    split = global_time(log, 0.7, 0.15)
    ts = log.interactions[TIMESTAMP].to_numpy()
    assert ts[split.train].max() < ts[split.valid].min()
    assert ts[split.valid].max() < ts[split.test].min()
    desc = split.describe()
    assert desc["cut_times"]["train_end"] == ts[split.valid].min()
    assert desc["time_range"]["train"][1] == ts[split.train].max()


def test_global_cut_is_the_interaction_quantile() -> None:
    # 10 rows at t = 0..9; the 0.8 quantile of interactions is t = 8: rows 0..7 train
    log = make_log([1, 2] * 5, list(range(1, 11)), [float(t) for t in range(10)])
    split = global_time(log, 0.8)
    ts = log.interactions[TIMESTAMP].to_numpy()
    assert sorted(ts[split.train].tolist()) == [float(t) for t in range(8)]
    assert split.describe()["cut_times"] == {"train_end": 8.0}
    # skewed times: quantile of interactions, not of the time span
    skew = make_log([1] * 10, list(range(1, 11)), [0.0, 1, 2, 3, 4, 5, 6, 7, 8, 1000])
    assert skew.interactions.loc[global_time(skew, 0.5).train, TIMESTAMP].max() == 4.0


def test_global_cut_ties_go_to_the_later_part() -> None:
    log = make_log([1] * 6, list(range(1, 7)), [1.0, 2.0, 3.0, 3.0, 3.0, 4.0])
    split = global_time(log, 0.5)  # sorted[3] = 3.0: every row at 3.0 is test
    assert split.train.sum() == 2
    assert log.interactions.loc[split.test, TIMESTAMP].min() == 3.0


def test_global_time_needs_timestamps() -> None:
    log = make_log([1, 1, 2], [1, 2, 3])
    with pytest.raises(InputError, match="needs timestamps"):
        global_time(log)
    partial = make_log([1, 1, 2], [1, 2, 3], [1.0, float("nan"), 3.0])
    with pytest.raises(InputError, match="1 of 3 rows"):
        global_time(partial)


# -------------------------------------------------------------- random_session
def test_sessions_never_cross_parts() -> None:
    log = shuffled(random_log(n_rows=1000))
    split = random_session(log, seed=7)
    part = np.argmax(np.stack([split.mask(p) for p in split.parts]), axis=0)  # (R,) part index
    per_session = pd.Series(part).groupby(log.interactions[SESSION].to_numpy()).nunique()
    assert per_session.max() == 1
    groups = split.describe()["groups"]
    n_sessions = log.interactions[SESSION].nunique()
    assert sum(groups.values()) == n_sessions
    assert groups["train"] == int(np.floor(0.8 * n_sessions + 1e-9))


def test_random_session_is_seeded() -> None:
    log = random_log(n_rows=1000)
    a, b = random_session(log, seed=1), random_session(log, seed=1)
    for part in a.parts:
        np.testing.assert_array_equal(a.mask(part), b.mask(part))
    c = random_session(log, seed=2)
    assert not np.array_equal(a.train, c.train)
    assert make_split(log, "random_session", seed=1).describe() == a.describe()


def test_random_session_falls_back_to_users() -> None:
    log = random_log(sessions=False)
    split = random_session(log, (0.5, 0.5), seed=0)
    df = log.interactions
    in_train = pd.Series(split.train).groupby(df[USER].to_numpy()).nunique()
    assert in_train.max() == 1  # no user crosses parts
    desc = split.describe()
    assert desc["group"] == "user"
    assert any("no 'session' column" in n for n in desc["notes"])


# --------------------------------------------------------------- leave_last_k
def test_leave_last_k_is_exact() -> None:
    # user 1: 5 rows (t 0..4), user 2: 2 rows, user 3: 1 row
    log = shuffled(make_log([1] * 5 + [2] * 2 + [3], list(range(1, 9)), [0, 1, 2, 3, 4, 0, 1, 0]))
    df = log.interactions

    def rows(mask: np.ndarray) -> set[tuple[int, float]]:
        return set(map(tuple, df.loc[mask, [USER, TIMESTAMP]].to_numpy().tolist()))

    split = leave_last_k(log, k=1)
    assert rows(split.test) == {(1, 4.0), (2, 1.0)}
    assert split.valid is None
    assert rows(split.train) == {(1, 0.0), (1, 1.0), (1, 2.0), (1, 3.0), (2, 0.0), (3, 0.0)}

    two = leave_last_k(log, k=2, valid_k=1)
    assert rows(two.test) == {(1, 3.0), (1, 4.0)}
    assert rows(two.mask("valid")) == {(1, 2.0)}  # users 2 and 3 have ≤ 3 rows: whole in train
    assert rows(two.train) == {(1, 0.0), (1, 1.0), (2, 0.0), (2, 1.0), (3, 0.0)}
    assert two.describe()["users_kept_in_train"] == 2


def test_leave_last_k_ties_follow_log_order() -> None:
    log = make_log([1, 1, 1], [7, 8, 9], [1.0, 1.0, 1.0])
    split = leave_last_k(log, k=1)
    assert log.interactions.loc[split.test, "item"].tolist() == [3]


# -------------------------------------------------------------------- specs
def test_parse_spec_forms() -> None:
    assert parse_spec("per_user_ratio:0.8") == ("per_user_ratio", {"ratios": (0.8,)})
    assert parse_spec("per_user_ratio:0.8,0.1,0.1")[1] == {"ratios": (0.8, 0.1, 0.1)}
    assert parse_spec("global_time:0.8,0.1")[1] == {"train_frac": 0.8, "valid_frac": 0.1}
    assert parse_spec("leave_last_k:2,1")[1] == {"k": 2, "valid_k": 1}
    assert parse_spec("random_session:0.8,0.1,0.1,seed=4")[1] == {
        "fractions": (0.8, 0.1, 0.1),
        "seed": 4,
    }
    assert parse_spec({"kind": "global_time", "train_frac": 0.8}) == (
        "global_time",
        {"train_frac": 0.8},
    )
    assert set(SPLITS) == {"per_user_ratio", "global_time", "random_session", "leave_last_k"}


def test_make_split_from_dict_equals_direct_call() -> None:
    log = random_log()
    a = make_split(log, {"kind": "per_user_ratio", "ratios": [0.8, 0.1, 0.1]})
    b = per_user_ratio(log, (0.8, 0.1, 0.1))
    for part in b.parts:
        np.testing.assert_array_equal(a.mask(part), b.mask(part))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("per_user_random:0.8", "unknown kind 'per_user_random'; expected one of"),
        ({"train_frac": 0.8}, "expected a 'kind' key"),
        ({"kind": "global_time", "train_fraction": 0.8}, "unknown key 'train_fraction'"),
        ("global_time:0.8,0.1,0.1", "at most 2 positional values"),
        ("global_time:1.5", "'train_frac': expected a number in (0, 1)"),
        ("global_time:0.8,0.3", "expected a sum below 1"),
        ("per_user_ratio:0.8,0.3", "'ratios': expected 2 or 3 positive fractions"),
        ("per_user_ratio:abc", "expected a number or key=value"),
        ("per_user_ratio:0.8,,0.1", "empty argument"),
        ("leave_last_k:0", "'k': expected an integer ≥ 1"),
        ("leave_last_k:k=1.5", "'k': expected an integer ≥ 1"),
        ("random_session:seed=-1", "'seed': expected an integer ≥ 0"),
        ({"kind": "random_session", "fractions": "0.8"}, "'fractions': expected 2 or 3"),
        (42, "expected a string or a mapping"),
    ],
)
def test_bad_specs_are_input_errors(spec: object, message: str) -> None:
    log = random_log()
    with pytest.raises(InputError, match=_escape(message)):
        make_split(log, spec)  # type: ignore[arg-type]


def _escape(text: str) -> str:
    import re

    return re.escape(text)


# ------------------------------------------------------------ property tests
@settings(max_examples=40, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.integers(1, 6), st.integers(1, 9), st.integers(0, 5), st.integers(1, 4)),
        min_size=1,
        max_size=60,
    ),
    spec=st.sampled_from(ALL_SPECS),
    seed=st.integers(0, 3),
)
def test_property_partition_and_order(
    data: list[tuple[int, int, int, int]], spec: str, seed: int
) -> None:
    users, items, ts, sess = (list(col) for col in zip(*data, strict=True))
    log = shuffled(make_log(users, items, [float(t) for t in ts], sess), seed=seed)
    split = make_split(log, spec, seed=seed)
    assert_partition(split, log.n_interactions)
    df = log.interactions
    t = df[TIMESTAMP].to_numpy()
    kind = spec.split(":")[0]
    if kind == "global_time" and split.train.any():
        later = ~split.train
        assert not later.any() or t[split.train].max() < t[later].min()
    if kind in ("per_user_ratio", "leave_last_k"):
        held = ~split.train
        for user in np.unique(df[USER].to_numpy()[held]):
            mine = df[USER].to_numpy() == user
            if (mine & split.train).any():
                assert t[mine & split.train].max() <= t[mine & held].min()
    if kind == "random_session":
        part = np.argmax(np.stack([split.mask(p) for p in split.parts]), axis=0)
        assert pd.Series(part).groupby(df[SESSION].to_numpy()).nunique().max() == 1


def test_large_log_is_fast_enough() -> None:
    """Vectorised: 300k rows, 20k users split by every kind without per-user loops."""
    rng = np.random.default_rng(0)
    n = 300_000
    frame = pd.DataFrame(
        {
            USER: rng.integers(1, 20_001, n),
            "item": rng.integers(1, 5_001, n),
            TIMESTAMP: rng.random(n) * 1e6,
            SESSION: rng.integers(1, 60_001, n),
            "click": np.ones(n, dtype=np.float32),
        }
    )
    log = InteractionLog(
        name="big",
        interactions=frame,
        feedback=("click",),
        users=pd.DataFrame(index=pd.RangeIndex(1, 20_001)),
        items=pd.DataFrame(index=pd.RangeIndex(1, 5_001)),
    )
    for spec in ALL_SPECS:
        assert_partition(make_split(log, spec), n)
