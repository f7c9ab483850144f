"""build_log / encode_ids: dense ids in sorted raw order, row order, extra column dtypes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rayrec.data.schema import RATING, TIMESTAMP, build_log, encode_ids, row_order


def reference_encode(raw: pd.Series, universe: list[object] | None = None) -> np.ndarray:
    """The original definition: sorted unique raw ids, looked up row by row."""
    uniq: pd.Index = pd.Index(pd.unique(raw.dropna()))
    if universe is not None:
        uniq = uniq.union(pd.Index(universe))
    return (uniq.sort_values().get_indexer(pd.Index(raw)) + 1).astype(np.int64)


@pytest.mark.parametrize(
    "raw",
    [
        pd.Series([30, 10, 20, 10, 30, 5]),
        pd.Series([3.5, np.nan, 1.0, 3.5]),
        pd.Series(["b", "a", "c", "a"], dtype="str"),
        pd.Series(["b", "a", "c", "a"], dtype=object),
        pd.Series(np.random.default_rng(0).integers(0, 10**12, 5000)),  # sparse: hashed
        pd.Series(np.random.default_rng(0).integers(0, 3000, 5000)),  # dense: table
        pd.Series(np.array([-128, 127, 0, -128], dtype=np.int8)),
        pd.Series(np.array([3, 1, 3, 2**64 - 1], dtype=np.uint64)),
        pd.Series(np.array([3, 1, 3], dtype=np.uint16)),
        pd.Series([2**62, 5, 2**62, -(2**63)]),
        pd.Series([7, 7, 7]),
        pd.Series([4, None, 2], dtype="Int64"),
        pd.Series([], dtype=np.int64),
    ],
)
def test_encode_ids_matches_sorted_lookup(raw: pd.Series) -> None:
    dense, uniq = encode_ids(raw)
    np.testing.assert_array_equal(dense, reference_encode(raw))
    assert uniq.dtype == pd.Index(pd.unique(raw.dropna())).dtype
    assert dense.dtype == np.int64
    assert uniq.is_monotonic_increasing and uniq.is_unique
    ok = dense > 0
    assert (uniq[dense[ok] - 1] == raw[ok].to_numpy()).all()  # position k is dense id k + 1
    assert (dense > 0).tolist() == raw.notna().tolist()


def test_encode_ids_with_a_universe() -> None:
    raw = pd.Series([30, 10, np.nan, 30])
    dense, uniq = encode_ids(raw, universe=[20, 40, 10])
    assert uniq.tolist() == [10, 20, 30, 40]
    assert dense.tolist() == [3, 1, 0, 3]
    np.testing.assert_array_equal(dense, reference_encode(raw, [20, 40, 10]))


def test_row_order_matches_a_stable_sort() -> None:
    rng = np.random.default_rng(1)
    for n, n_keys in [(1000, 5), (20000, 70000), (20000, 2**40)]:
        keys = rng.integers(0, n_keys, n)
        times = rng.integers(0, 20, n).astype(float)
        times[rng.random(n) < 0.1] = np.nan
        frame = pd.DataFrame({"k": keys, "t": times, "o": np.arange(n)})
        by_time = frame.sort_values(["k", "t", "o"], kind="stable", na_position="last")
        np.testing.assert_array_equal(row_order(keys, times), by_time.index.to_numpy())
        by_key = frame.sort_values(["k", "o"], kind="stable")
        np.testing.assert_array_equal(row_order(keys), by_key.index.to_numpy())
    assert row_order(np.zeros(0, dtype=np.int64)).tolist() == []


def test_extra_columns_keep_their_dtype_and_follow_the_rows() -> None:
    rows = pd.DataFrame(
        {
            "u": [2, 1, 2, 1, 3, 3],
            "i": [5, 6, 5, 7, 5, 6],
            "t": [3.0, 2.0, 1.0, 1.0, 9.0, 8.0],
            "r": [1.0, 2.0, 3.0, 4.0, 5.0, 1.0],
            "text": pd.array(list("abcdef"), dtype="string[pyarrow]"),
            "name": pd.array(list("ABCDEF"), dtype="str"),
            "label": pd.Categorical(list("xyxyxy")),
            "count": pd.array([1, None, 3, 4, None, 6], dtype="Int64"),
            "flag": np.array([1, 0, 1, 0, 1, 0], dtype=np.int8),
        },
        index=range(100, 106),  # not 0..5: extras must follow the row position
    )
    log = build_log(
        "t",
        rows,
        raw_user="u",
        raw_item="i",
        timestamp="t",
        feedback={RATING: "r"},
        extra=("text", "name", "label", "count", "flag"),
    )
    df = log.interactions
    for col in ("text", "name", "label", "count", "flag"):
        assert df[col].dtype == rows[col].dtype, col
    # order: user 1 (t 1, 2), user 2 (t 1, 3), user 3 (t 8, 9)
    assert df[TIMESTAMP].tolist() == [1.0, 2.0, 1.0, 3.0, 8.0, 9.0]
    assert df["text"].tolist() == ["d", "b", "c", "a", "f", "e"]
    assert df["name"].tolist() == ["D", "B", "C", "A", "F", "E"]
    assert df["label"].tolist() == ["y", "y", "x", "x", "y", "x"]
    assert df["count"].tolist() == [4, pd.NA, 3, 1, 6, pd.NA]
    assert df["flag"].tolist() == [0, 0, 1, 1, 0, 1]
    assert isinstance(df.index, pd.RangeIndex)
