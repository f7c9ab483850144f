"""Top-N data (:mod:`rayrec.data.topn`): the per-user chronological split, the user
features, the relevant test sets, the train matrix and the like threshold."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from rayrec.data.schema import InteractionLog, build_log
from rayrec.data.topn import TopNData, build_topn_data
from rayrec.errors import InputError

#: (raw user, raw item, rating, timestamp)
Row = tuple[int, int, float, int]
N_ITEMS = 14


def topn_rows(lengths: Sequence[int] = (30, 12, 9, 17, 2, 25, 11), seed: int = 0) -> list[Row]:
    """Rows of users 1.., ratings 1–5; user 1's first 14 records rate every item once,
    so each item id is in some train part (a test-part edit keeps the item set)."""
    rng = np.random.default_rng(seed)
    rows: list[Row] = []
    for u, n in enumerate(lengths, start=1):
        for k in range(n):
            item = k + 1 if u == 1 and k < N_ITEMS else int(rng.integers(1, N_ITEMS + 1))
            rows.append((u, item, float(rng.integers(1, 6)), 1000 * u + 10 * k))
    return rows


def topn_log(rows: Sequence[Row], name: str = "topn") -> InteractionLog:
    """A rated, timestamped log with a users table (gender, age, occupation)."""
    frame = pd.DataFrame(rows, columns=["u", "i", "r", "t"]).sample(frac=1.0, random_state=1)
    users = sorted({r[0] for r in rows})
    user_table = pd.DataFrame(
        {
            "gender": ["F" if u % 2 else "M" for u in users],
            "age": [18 + 7 * u for u in users],
            "occupation": [u % 3 for u in users],
        },
        index=users,
    )
    genres = ["Drama", "Comedy|Drama", "Action", "Horror|Comedy", "Western"]
    items = sorted({r[1] for r in rows})
    item_table = pd.DataFrame({"genres": [genres[i % 5] for i in items]}, index=items)
    return build_log(
        name,
        frame,
        raw_user="u",
        raw_item="i",
        timestamp="t",
        feedback={"rating": "r"},
        user_features=user_table,
        item_features=item_table,
    )


def topn_data(rows: Sequence[Row] | None = None, **kwargs: float) -> TopNData:
    return build_topn_data(topn_log(topn_rows() if rows is None else rows), **kwargs)  # type: ignore[arg-type]


def by_user(rows: Sequence[Row]) -> dict[int, list[Row]]:
    out: dict[int, list[Row]] = {}
    for row in sorted(rows, key=lambda r: (r[0], r[3])):
        out.setdefault(row[0], []).append(row)
    return out


def test_split_is_per_user_chronological_80_20() -> None:
    rows = topn_rows()
    data = topn_data(rows)
    users = by_user(rows)
    assert data.n_users == len(users) and data.n_items == N_ITEMS
    for k, (raw, records) in enumerate(users.items()):
        assert data.user_ids[k] == k + 1  # dense ids follow the sorted raw ids
        n_train = int(np.floor(0.8 * len(records)))
        train = [r[1] for r in records[:n_train]]  # raw item ids are 1..14 as dense ids
        assert data.user_train_items(k).tolist() == train, raw
        lo, hi = data.train_offsets[k], data.train_offsets[k + 1]
        assert data.train_ratings[lo:hi].tolist() == [r[2] for r in records[:n_train]]
        assert data.train_liked[lo:hi].tolist() == [r[2] >= 4 for r in records[:n_train]]
        assert (data.train_users[lo:hi] == k).all()
        test = records[n_train:]
        assert data.test_relevant("rated")[k].tolist() == sorted({r[1] for r in test})
        assert data.test_relevant("liked")[k].tolist() == sorted({r[1] for r in test if r[2] >= 4})
        assert data.train_seen()[k].tolist() == sorted(set(train))


def test_user_features_are_gender_age_occupation_per_user() -> None:
    data = topn_data()
    names = data.user_feature_names
    assert data.user_features.shape == (data.n_users, len(names))
    assert data.user_features.dtype == np.float32
    assert {n.split("=")[0] for n in names} == {"gender", "age", "occupation"}
    gender = data.user_features[:, [names.index("gender=F"), names.index("gender=M")]]
    assert gender.tolist() == [[1.0, 0.0] if u % 2 else [0.0, 1.0] for u in data.user_ids]
    age = data.user_features[:, names.index("age")]
    assert age.min() == 0.0 and age.max() == 1.0 and np.all(np.diff(age) > 0)  # min-max
    assert not data.user_features.flags.writeable


def test_eval_users_need_a_train_record_and_a_relevant_test_item() -> None:
    rows = [(1, 1, 5.0, 1), (1, 2, 2.0, 2), (1, 3, 1.0, 3), (1, 4, 2.0, 4), (1, 5, 5.0, 5)]
    rows += [(2, 1, 5.0, 1), (2, 2, 5.0, 2), (2, 3, 5.0, 3), (2, 4, 5.0, 4), (2, 5, 2.0, 5)]
    rows += [(3, 4, 4.0, 1)]  # one record: kept whole in train, no test item
    data = topn_data(rows)
    assert data.records.n_train.tolist() == [4, 4, 1]
    assert data.eval_users("rated").tolist() == [0, 1]
    assert data.eval_users("liked").tolist() == [0]  # user 2's test rating is 2
    with pytest.raises(ValueError, match="relevance"):
        data.test_relevant("all")  # type: ignore[arg-type]


def test_train_matrix_is_binary_and_popularity_counts_ratings() -> None:
    rows = [(1, 1, 5.0, 1), (1, 1, 3.0, 2), (1, 2, 4.0, 3), (1, 3, 4.0, 4), (1, 4, 4.0, 5)]
    rows += [(2, 2, 1.0, 1), (2, 3, 1.0, 2), (2, 4, 1.0, 3)]
    data = topn_data(rows)
    m = data.train_matrix()
    assert m.shape == (2, 5) and m.dtype == np.float32
    # user 1 train = its first 4 records: item 1 twice (counted once), 2, 3
    assert m.toarray().tolist() == [[0, 1, 1, 1, 0], [0, 0, 1, 1, 0]]
    assert data.item_popularity().tolist() == [0, 2, 2, 2, 0]


@pytest.mark.parametrize("threshold", [0.5, 5.5])
def test_a_like_threshold_off_the_scale_names_the_key(threshold: float) -> None:
    with pytest.raises(InputError, match=r"^x\.yaml: topn\.like_threshold: expected a rating"):
        build_topn_data(topn_log(topn_rows()), like_threshold=threshold, where="x.yaml")


def test_a_log_without_timestamps_is_refused() -> None:
    frame = pd.DataFrame({"u": [1, 1], "i": [1, 2], "r": [4.0, 5.0]})
    log = build_log("flat", frame, raw_user="u", raw_item="i", feedback={"rating": "r"})
    with pytest.raises(InputError, match=r"^x\.yaml: dataset: .*timestamps"):
        build_topn_data(log, where="x.yaml")
