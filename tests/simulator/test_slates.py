"""Exposure slates: ``chunk`` and ``log`` constructions, history indexing, last exposures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rayrec.data.schema import InteractionLog, build_log
from rayrec.data.synthetic import SyntheticConfig, generate
from rayrec.errors import InputError
from rayrec.simulator.simulator import last_exposures, population_from_slates
from rayrec.simulator.slates import FeedbackRule, SlateConfig, SlateData, build_slates

# ------------------------------------------------------------------ hand log
# User "a" rates 13 movies at t = 1000, 1010, ..., raw ids 113, 112, ..., 101 (so
# dense ids 13, 12, ..., 1 in time order); user "b" rates 4 movies whose file order
# is not their time order, with a time tie at t = 60 (file order breaks it) and one
# missing rating. Dense items: 101..113 -> 1..13, 201..204 -> 14..17.
RATINGS_A = [5, 3, 4, 1, 2, 4, 5, 3.9, 4, 2, 1, 5, 3]
HAND_ROWS = pd.DataFrame(
    {
        "u": ["a"] * 13 + ["b"] * 4,
        "i": [113 - k for k in range(13)] + [201, 203, 202, 204],
        "t": [1000.0 + 10 * k for k in range(13)] + [50.0, 60.0, 60.0, 40.0],
        "r": [*RATINGS_A, 4.0, np.nan, 1.0, 5.0],
    }
)
RULES = {"click": FeedbackRule("rating", 1.0), "like": FeedbackRule("rating", 4.0)}
CLICK = {"click": FeedbackRule("click")}


def hand_log() -> InteractionLog:
    return build_log(
        "hand", HAND_ROWS, raw_user="u", raw_item="i", timestamp="t", feedback={"rating": "r"}
    )


def logged_slates(rows: pd.DataFrame, *, position: bool = True) -> SlateData:
    """``log`` slates of rows with columns u, i, t, slate, (pos), c."""
    log = build_log(
        "logged",
        rows,
        raw_user="u",
        raw_item="i",
        timestamp="t",
        slate="slate",
        position="pos" if position else None,
        feedback={"click": "c"},
    )
    return build_slates(log, SlateConfig(construction="log", feedback=CLICK))


def chunk(seed: int = 0, negative_ratio: float = 1.0, size: int = 5) -> SlateData:
    config = SlateConfig(
        construction="chunk", size=size, negative_ratio=negative_ratio, feedback=RULES, seed=seed
    )
    return build_slates(hand_log(), config)


def user_items(log: InteractionLog, user: int) -> set[int]:
    df = log.interactions
    return set(df.loc[df["user"] == user, "item"].tolist())


# ------------------------------------------------------------ chunk: layout
def test_chunk_slate_count_order_and_positives() -> None:
    s = chunk()
    # a: 13 ratings -> chunks of 5, 5, 3; b: 4 ratings -> one chunk of 4.
    assert len(s) == 4
    assert s.items.shape == (4, 5 + 5)  # size positives + ceil(1.0 * 5) negatives
    np.testing.assert_array_equal(s.user, [1, 1, 1, 2])
    np.testing.assert_array_equal(s.time, [1000.0, 1050.0, 1100.0, 40.0])  # first item's time
    positives = s.items[:, :5]
    np.testing.assert_array_equal(
        positives,
        [
            [13, 12, 11, 10, 9],
            [8, 7, 6, 5, 4],
            [3, 2, 1, 0, 0],
            [17, 14, 16, 15, 0],  # time order; the t = 60 tie kept in file order (203, 202)
        ],
    )
    assert s.feedback_names == ("click", "like")
    assert (s.n_users, s.n_items) == (2, 17)
    np.testing.assert_array_equal(s.mask.sum(axis=1), [10, 10, 8, 9])


def test_chunk_feedback_rules() -> None:
    """click = rated (rating >= 1), like = rating >= 4 (3.9 is not); missing -> 0."""
    s = chunk()
    click, like = s.feedback[:, :5, 0], s.feedback[:, :5, 1]
    np.testing.assert_array_equal(
        click, [[1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 0, 1, 0]]
    )
    np.testing.assert_array_equal(
        like, [[1, 0, 1, 0, 0], [1, 1, 0, 1, 0], [0, 1, 0, 0, 0], [1, 1, 0, 0, 0]]
    )
    assert s.feedback.dtype == np.float32


@pytest.mark.parametrize("seed", range(12))
def test_chunk_negatives_are_unseen_items_with_zero_feedback(seed: int) -> None:
    """Seed 0 exhausted the 20 rejection rounds before the exact fallback existed."""
    s = chunk(seed)
    log = hand_log()
    negatives = s.items[:, 5:]
    assert np.all((negatives >= 1) & (negatives <= s.n_items))
    for j in range(len(s)):
        assert not set(negatives[j].tolist()) & user_items(log, int(s.user[j]))
    assert np.all(s.feedback[:, 5:] == 0)
    # User a saw 13 of 17 items: its negatives can only be b's four items.
    assert set(negatives[s.user == 1].ravel().tolist()) <= {14, 15, 16, 17}


def test_chunk_user_who_saw_every_item_gets_padding_negatives() -> None:
    rows = pd.DataFrame({"u": ["a"] * 3, "i": [1, 2, 3], "t": [1.0, 2.0, 3.0], "r": [5.0] * 3})
    log = build_log(
        "all", rows, raw_user="u", raw_item="i", timestamp="t", feedback={"rating": "r"}
    )
    s = build_slates(log, SlateConfig(size=2, negative_ratio=1.0, feedback=RULES))
    np.testing.assert_array_equal(s.items, [[1, 2, 0, 0], [3, 0, 0, 0]])


def test_chunk_is_deterministic_in_seed() -> None:
    a, b, c = chunk(seed=3), chunk(seed=3), chunk(seed=4)
    for name in ("items", "feedback", "user", "time"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.items[:, :5], c.items[:, :5])  # positives do not move
    assert not np.array_equal(a.items[:, 5:], c.items[:, 5:])


@pytest.mark.parametrize(("ratio", "n_neg"), [(0.0, 0), (0.5, 3), (2.0, 10)])
def test_chunk_negative_ratio_sets_negative_columns(ratio: float, n_neg: int) -> None:
    assert chunk(negative_ratio=ratio).items.shape == (4, 5 + n_neg)


def test_chunk_without_timestamps_uses_log_order() -> None:
    log = build_log("nots", HAND_ROWS, raw_user="u", raw_item="i", feedback={"rating": "r"})
    s = build_slates(log, SlateConfig(size=5, negative_ratio=0.0, feedback=RULES))
    np.testing.assert_array_equal(s.items[3], [14, 16, 15, 17, 0])  # b in file order
    np.testing.assert_array_equal(s.time, [0.0, 5.0, 10.0, 13.0])


# ------------------------------------------------------------- bad configs
def test_missing_feedback_column_is_named() -> None:
    config = SlateConfig(feedback={"long_view": FeedbackRule("watch_ratio", 2.0)})
    with pytest.raises(InputError, match=r"'long_view'.*no column 'watch_ratio'.*rating"):
        build_slates(hand_log(), config)


def test_empty_feedback_rules_rejected() -> None:
    with pytest.raises(InputError, match="'feedback'"):
        build_slates(hand_log(), SlateConfig())


def test_bad_construction_and_size_rejected() -> None:
    bad = SlateConfig(construction="window", feedback=RULES)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"'construction'.*'window'"):
        build_slates(hand_log(), bad)
    with pytest.raises(InputError, match="'size' must be >= 1, got 0"):
        build_slates(hand_log(), SlateConfig(size=0, feedback=RULES))


def test_log_construction_needs_slate_column() -> None:
    config = SlateConfig(construction="log", feedback=RULES)
    with pytest.raises(InputError, match=r"hand: .*needs a 'slate' column.*'chunk'"):
        build_slates(hand_log(), config)


# --------------------------------------------------------- log construction
def test_log_construction_on_hand_slates() -> None:
    """Slate ids group rows; positions place them; slates sort by (user, time)."""
    rows = pd.DataFrame(
        {
            "u": ["x", "x", "x", "y", "y", "x"],
            "i": [10, 11, 12, 10, 13, 14],
            "t": [20.0, 20.0, 5.0, 7.0, 7.0, 5.0],
            "slate": [900, 900, 100, 500, 500, 100],
            "pos": [2, 0, 1, 0, 1, 0],
            "c": [1.0, 0.0, 0.0, 0.0, 1.0, 1.0],
        }
    )
    s = logged_slates(rows)
    # Dense items 10..14 -> 1..5. Slate 100 (t=5): pos0 item 14, pos1 item 12;
    # slate 900 (t=20): pos0 item 11, pos2 item 10; slate 500 (user y): 10, 13.
    np.testing.assert_array_equal(s.items, [[5, 3, 0], [2, 0, 1], [1, 4, 0]])
    np.testing.assert_array_equal(s.feedback[..., 0], [[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    np.testing.assert_array_equal(s.user, [1, 1, 2])
    np.testing.assert_array_equal(s.time, [5.0, 20.0, 7.0])


def test_log_construction_without_position_uses_row_order() -> None:
    rows = pd.DataFrame(
        {"u": [1, 1, 1], "i": [3, 1, 2], "t": [0.0, 0.0, 0.0], "slate": [0, 0, 0], "c": [1, 0, 0]}
    )
    s = logged_slates(rows, position=False)
    np.testing.assert_array_equal(s.items, [[3, 1, 2]])
    np.testing.assert_array_equal(s.feedback[..., 0], [[1, 0, 0]])


def test_log_construction_on_synthetic_log() -> None:
    data = generate(SyntheticConfig(seed=1, n_users=30, n_items=40, slate_size=4))
    df = data.log.interactions
    rules = {"click": FeedbackRule("click"), "like": FeedbackRule("rating", 4.0)}
    s = build_slates(data.log, SlateConfig(construction="log", feedback=rules))
    assert len(s) == df["slate"].nunique()
    assert s.items.shape[1] == 4 and s.mask.all()  # no negatives are added
    assert np.all(np.diff(s.user) >= 0)
    same_user = np.diff(s.user) == 0
    assert np.all(np.diff(s.time)[same_user] >= 0)
    for j in (0, len(s) // 2, len(s) - 1):  # a few slates against the raw rows
        rows = df[(df["user"] == s.user[j]) & (df["timestamp"] == s.time[j])]
        rows = rows.sort_values("position")
        np.testing.assert_array_equal(s.items[j], rows["item"])
        np.testing.assert_array_equal(s.feedback[j, :, 0], rows["click"])
        np.testing.assert_array_equal(s.feedback[j, :, 1], (rows["rating"].fillna(0) >= 4))


# ------------------------------------------------------------ SlateData views
def test_rank_history_and_last_slates_on_hand_example() -> None:
    s = chunk()  # users [1, 1, 1, 2]
    np.testing.assert_array_equal(s.rank_in_user(), [0, 1, 2, 0])
    np.testing.assert_array_equal(s.history_index(2), [[-1, -1], [-1, 0], [0, 1], [-1, -1]])
    np.testing.assert_array_equal(s.history_index(1), [[-1], [0], [1], [-1]])
    np.testing.assert_array_equal(s.last_slates(2), [[-1, -1], [1, 2], [-1, 3]])
    np.testing.assert_array_equal(s.last_slates(4), [[-1] * 4, [-1, 0, 1, 2], [-1, -1, -1, 3]])


def test_last_slates_of_user_without_slates() -> None:
    s = chunk().select(np.array([True, True, True, False]))  # user 2 has no slate left
    np.testing.assert_array_equal(s.last_slates(1), [[-1], [2], [-1]])
    assert s.n_users == 2


def test_time_cut() -> None:
    s = chunk()  # slate times 1000, 1050, 1100, 40
    assert s.time_cut(0.5) == 1025.0
    assert s.time_cut(0.0) == 40.0
    assert s.time_cut(1.0) == 1100.0
    assert s.select(np.zeros(4, dtype=bool)).time_cut(0.5) == 0.0


def test_population_from_slates() -> None:
    users, counts = population_from_slates(chunk())
    np.testing.assert_array_equal(users, [1, 2])
    np.testing.assert_array_equal(counts, [3.0, 1.0])


# ------------------------------------------------------------ last_exposures
def _reference_last(s: SlateData, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Straightforward per-user version: valid items in slate order, last ``length``."""
    items = np.zeros((s.n_users + 1, length), dtype=np.int64)
    fb = np.zeros((s.n_users + 1, length, s.feedback.shape[2]), dtype=np.float32)
    for u in range(1, s.n_users + 1):
        rows = s.user == u
        valid = s.mask[rows]
        seq, seq_fb = s.items[rows][valid][-length:], s.feedback[rows][valid][-length:]
        if len(seq):
            items[u, length - len(seq) :] = seq
            fb[u, length - len(seq) :] = seq_fb
    return items, fb


@pytest.mark.parametrize("length", [1, 7, 12, 40])
def test_last_exposures_right_aligns_latest_items(length: int) -> None:
    s = chunk()
    items, fb = last_exposures(s, length)
    assert items.shape == (3, length) and fb.shape == (3, length, 2)
    ref_items, ref_fb = _reference_last(s, length)
    np.testing.assert_array_equal(items, ref_items)
    np.testing.assert_array_equal(fb, ref_fb)


def test_last_exposures_hand_values() -> None:
    s = chunk(negative_ratio=0.0)  # positives only
    items, fb = last_exposures(s, 6)
    np.testing.assert_array_equal(items, [[0] * 6, [6, 5, 4, 3, 2, 1], [0, 0, 17, 14, 16, 15]])
    # like of a's last six ratings (3.9, 4, 2, 1, 5, 3) and b's (5, 4, nan, 1)
    np.testing.assert_array_equal(fb[..., 1], [[0] * 6, [0, 1, 0, 0, 1, 0], [0, 0, 1, 1, 0, 0]])


def test_last_exposures_with_partly_padded_logged_slates() -> None:
    # One full slate of 3 items, then four single-item slates: M = 3.
    rows = pd.DataFrame(
        {
            "u": [1] * 7,
            "i": [1, 2, 3, 4, 5, 6, 7],
            "t": [0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0],
            "slate": [0, 0, 0, 1, 2, 3, 4],
            "pos": [0, 1, 2, 0, 0, 0, 0],
            "c": [1.0] * 7,
        }
    )
    s = logged_slates(rows)
    items, _ = last_exposures(s, 3)  # ceil(3 / M) + 1 = 2 slates would hold only 6, 7
    np.testing.assert_array_equal(items[1], [5, 6, 7])
    for length in (1, 5, 9):
        np.testing.assert_array_equal(last_exposures(s, length)[0], _reference_last(s, length)[0])
