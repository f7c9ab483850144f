"""Logged sessions (:mod:`rayrec.data.sessions`): SQN's rules on generated files in the
original formats, the replay rows by hand, the seeded split, and the refusals."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rayrec.data.datasets import load_dataset
from rayrec.data.schema import build_log
from rayrec.data.sessions import (
    ACTION,
    BATCH_KEYS,
    IS_BUY,
    IS_DONE,
    LEN_NEXT_STATE,
    LEN_STATE,
    NEXT_STATE,
    PART_TEST,
    PART_TRAIN,
    PART_VALID,
    REWARD,
    STATE,
    SessionData,
    SessionSettings,
    build_session_data,
)
from rayrec.data.splits import random_session
from rayrec.environments import load_env_spec
from rayrec.errors import InputError
from tests.data.movielens_fixtures import write_ml1m

# ---------------------------------------------------------------- SQN RetailRocket
# events.csv (ms): v1 views 10 11 12 15, adds 11 to the cart, buys it (transaction 7);
# v2 views 15 twice and buys it (3 rows, 2 once the transaction is dropped); v3's rows
# are out of time order in the file; v4 views 12 12 14.
EVENTS = """timestamp,visitorid,event,itemid,transactionid
1000,1,view,10,
2000,1,view,11,
3000,1,view,12,
4000,1,view,15,
5000,1,addtocart,11,
6000,1,transaction,11,7
1000,2,view,15,
2000,2,view,15,
3000,2,transaction,15,8
10000,3,view,11,
30000,3,view,10,
20000,3,view,13,
40000,3,addtocart,10,
1000,4,view,12,
2000,4,view,12,
3000,4,view,14,
"""


def sqn_settings() -> SessionSettings:
    spec = load_env_spec("retailrocket_sqn_sessions")
    return spec.sessions  # type: ignore[no-any-return]


def test_retailrocket_sqn_rules_on_events_csv(tmp_path: Path) -> None:
    (tmp_path / "events.csv").write_text(EVENTS)
    log = load_dataset("retailrocket", tmp_path)
    data = build_session_data(log, sqn_settings())
    # transactions dropped (v2 then has 2 events: dropped); sessions > 2 events, then
    # items > 2 events once: 13, 14 (1 event) and 15 (1 event once v2 is gone) dropped,
    # leaving v4 with 2 events (kept: the session filter does not run again);
    # raw items 10, 11, 12 -> 1, 2, 3; v3 sorted by time: 11, (13), 10, 10 (cart)
    assert data.n_items == 3
    assert data.items.tolist() == [1, 2, 3, 2, 2, 1, 1, 3, 3]
    assert data.is_buy.tolist() == [0, 0, 0, 1, 0, 0, 1, 0, 0]
    assert data.session_start.tolist() == [0, 4, 7, 9]
    assert log.items["raw_item_id"].to_numpy()[data.log_items - 1].tolist() == [10, 11, 12]
    desc = data.description
    assert desc["dataset"] == "retailrocket"
    assert desc["source_files"] == ["events.csv"]
    assert desc["filtering"]["rows_dropped_purchase"] == 2
    assert desc["filtering"]["sessions_after_session_filter"] == 3
    assert desc["parts"]["all"] == {
        "sessions": 3,
        "events": 9,
        "items": 3,
        "clicks": 7,
        "purchases": 2,
    }
    assert desc["purchase_reward_fires"]


def test_items_then_sessions_would_differ(tmp_path: Path) -> None:
    """The order is stated: with the item filter off, item 15 stays (v1's view)."""
    (tmp_path / "events.csv").write_text(EVENTS)
    log = load_dataset("retailrocket", tmp_path)
    data = build_session_data(log, replace(sqn_settings(), min_item_events=0))
    assert data.n_items == 6  # 10 11 12 13 14 15
    assert data.n_sessions == 3


# ---------------------------------------------------------------- replay rows
def tiny(padding: str = "end") -> SessionData:
    """Sessions [5, 6, 7] and [8, 9 (buy)], L = 2."""
    return SessionData(
        n_items=9,
        items=np.array([5, 6, 7, 8, 9]),
        is_buy=np.array([False, False, False, False, True]),
        session_start=np.array([0, 3, 5]),
        session_part=np.array([0, 2], dtype=np.int8),
        state_length=2,
        padding=padding,
        click_reward=0.2,
        purchase_reward=1.0,
        has_purchases=True,
        description={},
    )


def test_replay_rows_end_padding() -> None:
    b = tiny().batch(np.arange(5))
    assert set(b) == set(BATCH_KEYS)
    assert b[STATE].tolist() == [[0, 0], [5, 0], [5, 6], [0, 0], [8, 0]]
    assert b[LEN_STATE].tolist() == [1, 1, 2, 1, 1]
    assert b[ACTION].tolist() == [5, 6, 7, 8, 9]
    assert b[NEXT_STATE].tolist() == [[5, 0], [5, 6], [6, 7], [8, 0], [8, 9]]
    assert b[LEN_NEXT_STATE].tolist() == [1, 2, 2, 1, 2]
    assert b[IS_DONE].tolist() == [False, False, True, False, True]
    assert b[IS_BUY].tolist() == [False, False, False, False, True]
    assert b[REWARD].tolist() == pytest.approx([0.2, 0.2, 0.2, 0.2, 1.0])
    assert b[REWARD].dtype == np.float32 and b[STATE].dtype == np.int64


def test_replay_rows_left_padding() -> None:
    b = tiny("left").batch(np.array([2, 0, 1, 4]))
    assert b[STATE].tolist() == [[5, 6], [0, 0], [0, 5], [0, 8]]
    assert b[LEN_STATE].tolist() == [2, 1, 1, 1]
    assert b[NEXT_STATE].tolist() == [[6, 7], [0, 5], [5, 6], [8, 9]]


def test_rows_states_and_popularity() -> None:
    data = tiny()
    assert data.rows(PART_TRAIN).tolist() == [0, 1, 2]
    assert data.rows(PART_TEST).tolist() == [3, 4]
    assert data.rows(PART_VALID).tolist() == []
    state, n = data.states(np.array([2]), after=True)
    assert state.tolist() == [[6, 7]] and n.tolist() == [2]
    assert data.popularity().tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 0, 0]


# ---------------------------------------------------------------- split
def session_log(n_sessions: int = 50, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, 8, size=n_sessions)
    return pd.DataFrame(
        {
            "sid": np.repeat(np.arange(100, 100 + n_sessions), lengths),
            "uid": np.repeat(np.arange(n_sessions) % 7, lengths),
            "iid": rng.integers(1, 30, size=int(lengths.sum())),
            "ts": np.arange(int(lengths.sum()), dtype=np.float64),
            "purchase": (rng.random(int(lengths.sum())) < 0.2).astype(np.float32),
        }
    )


def test_split_is_seeded_disjoint_and_mirrors_random_session() -> None:
    rows = session_log()
    log = build_log(
        "t",
        rows,
        raw_user="uid",
        raw_item="iid",
        timestamp="ts",
        raw_session="sid",
        feedback={"purchase": "purchase"},
    )
    settings = SessionSettings(min_item_events=0)
    a = build_session_data(log, settings)
    b = build_session_data(log, settings)
    c = build_session_data(log, replace(settings, seed=1))
    assert np.array_equal(a.session_part, b.session_part)
    assert not np.array_equal(a.session_part, c.session_part)
    assert np.bincount(a.session_part).tolist() == [40, 5, 5]
    parts = [set(a.rows(p).tolist()) for p in (PART_TRAIN, PART_VALID, PART_TEST)]
    assert sum(map(len, parts)) == a.n_events == len(rows)
    assert set.union(*parts) == set(range(a.n_events))
    # the same sessions as splits.random_session with the same seed (sessions in the
    # log's session order: dense session id k is our session k - 1)
    split = random_session(log, (0.8, 0.1, 0.1), seed=0)
    session = log.interactions["session"].to_numpy()
    for code, mask in enumerate((split.train, split.valid, split.test)):
        assert mask is not None
        theirs = np.unique(session[mask]) - 1
        assert np.array_equal(theirs, np.flatnonzero(a.session_part == code))


def test_max_sessions_sample_is_seeded() -> None:
    rows = session_log(40)
    log = build_log(
        "t",
        rows,
        raw_user="uid",
        raw_item="iid",
        timestamp="ts",
        raw_session="sid",
        feedback={"purchase": "purchase"},
    )
    settings = SessionSettings(min_item_events=0, max_sessions=10)
    a = build_session_data(log, settings)
    b = build_session_data(log, settings)
    assert a.n_sessions == 10
    assert np.array_equal(a.items, b.items)
    assert a.n_items == len(np.unique(a.items)) and a.items.min() == 1


# ---------------------------------------------------------------- ML-1M
ML1M_RATINGS = [
    # user 1: three ratings within a day, then two more ratings after a two-day gap
    (1, 1, 5, 1_000_000),
    (1, 2, 3, 1_000_100),
    (1, 3, 4, 1_050_000),
    (1, 1, 2, 1_050_000 + 2 * 86_400),
    (1, 2, 4, 1_050_000 + 2 * 86_400 + 5),
    # user 2: four ratings, each gap exactly one day (not more: one session)
    (2, 3, 1, 2_000_000),
    (2, 2, 5, 2_086_400),
    (2, 1, 4, 2_172_800),
    (2, 3, 3, 2_259_200),
]


def write_ratings(root: Path) -> Path:
    text = "".join(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in ML1M_RATINGS)
    return write_ml1m(root, ratings=text)


def test_ml1m_gap_sessions_and_rating_purchases(tmp_path: Path) -> None:
    log = load_dataset("ml-1m", write_ratings(tmp_path))
    spec = load_env_spec("ml1m_sessions")
    settings = replace(spec.sessions, min_item_events=0)
    data = build_session_data(log, settings, note=spec.dataset.note)
    # user 1's last two ratings form a 2-event session: dropped; user 2 is one session
    assert data.session_start.tolist() == [0, 3, 7]
    assert data.items.tolist() == [1, 2, 3, 3, 2, 1, 3]
    assert data.is_buy.tolist() == [True, False, True, False, True, True, False]
    assert data.description["note"].startswith("ML-1M, users 1-2999")
    assert data.description["filtering"]["sessions_formed"] == 3
    with pytest.raises(InputError, match=r"sessions\.session: ml-1m has no session column"):
        build_session_data(log, replace(settings, session="log"))


# ---------------------------------------------------------------- YOOCHOOSE RC15
CLICKS = """1,2014-04-07T10:00:00.000Z,500,0
1,2014-04-07T10:01:00.000Z,501,0
1,2014-04-07T10:02:00.000Z,502,0
2,2014-04-07T11:00:00.000Z,500,0
2,2014-04-07T11:01:00.000Z,503,0
3,2014-04-07T12:00:00.000Z,504,0
3,2014-04-07T12:01:00.000Z,500,0
3,2014-04-07T12:02:00.000Z,501,0
"""
BUYS = """1,2014-04-07T10:01:30.000Z,501,100,1
2,2014-04-07T11:05:00.000Z,503,100,1
"""


def test_yoochoose_rc15_counts_clicks_only(tmp_path: Path) -> None:
    (tmp_path / "yoochoose-clicks.dat").write_text(CLICKS)
    (tmp_path / "yoochoose-buys.dat").write_text(BUYS)
    log = load_dataset("yoochoose", tmp_path)
    settings = replace(load_env_spec("yoochoose_sessions").sessions, max_sessions=None)
    data = build_session_data(log, settings)
    # session 2 has 2 clicks and a buy: dropped (buys are not counted); no item filter
    assert data.session_start.tolist() == [0, 4, 7]
    assert data.items.tolist() == [1, 2, 2, 3, 4, 1, 2]  # 500 501 501(buy) 502 | 504 500 501
    assert data.is_buy.tolist() == [False, False, True, False, False, False, False]
    assert data.n_items == 4


# ---------------------------------------------------------------- COTREC sessions
def test_retailrocket_session_text_merges_test_pairs(tmp_path: Path) -> None:
    (tmp_path / "all_train_seq.sessions.txt").write_text("1 2 3\n2 3 4 2\n3 3\n")
    # test session [4, 1, 2, 3] as its augmented pairs, then test session [2, 2, 4]
    pairs = "prefix_items\ttarget_item\n4 1 2\t3\n4 1\t2\n2 2\t4\n"
    (tmp_path / "test.pairs.tsv").write_text(pairs)
    log = load_dataset("retailrocket-sessions", tmp_path)
    settings = load_env_spec("retailrocket_sessions").sessions
    data = build_session_data(log, replace(settings, min_item_events=0))
    assert data.session_start.tolist() == [0, 3, 7, 11, 14]  # "3 3" dropped
    assert data.items.tolist() == [1, 2, 3, 2, 3, 4, 2, 4, 1, 2, 3, 2, 2, 4]
    assert not data.has_purchases and not data.is_buy.any()
    assert data.description["filtering"]["test_sessions_merged"] == 2
    assert "never fires" in data.description["purchases_note"]
    dropped = build_session_data(log, replace(settings, min_item_events=0, prefix_pairs="drop"))
    assert dropped.n_sessions == 2
    kept = build_session_data(log, replace(settings, min_item_events=0, prefix_pairs="keep"))
    assert kept.n_sessions == 5


# ---------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("state_length", 0, "integer >= 1"),
        ("padding", "middle", "'end', 'left'"),
        ("session", "visitor", "'log', 'user'"),
        ("session_gap_s", -1.0, "positive number"),
        ("purchase", "rating >> 4", "'<column>>=<number>'"),
        ("min_session_events", -1, "integer >= 0"),
        ("max_sessions", 0, ">= 1 or null"),
        ("fractions", (0.8, 0.1, 0.2), "summing to 1"),
        ("fractions", (0.8, 0.2), "[train, valid, test]"),
        ("click_reward", float("nan"), "finite"),
    ],
)
def test_bad_settings_name_the_field(field: str, value: object, words: str) -> None:
    settings = replace(SessionSettings(), **{field: value})
    with pytest.raises(InputError, match=rf"spec\.yaml: sessions\.{field}: .*") as err:
        settings.check("spec.yaml: sessions")
    assert words in str(err.value)


def test_rules_the_log_cannot_serve_are_refused(tmp_path: Path) -> None:
    (tmp_path / "events.csv").write_text(EVENTS)
    log = load_dataset("retailrocket", tmp_path)
    base = sqn_settings()
    with pytest.raises(InputError, match=r"sessions\.purchase: retailrocket has no column 'rat"):
        build_session_data(log, replace(base, purchase="rating>=4"))
    with pytest.raises(InputError, match=r"sessions\.drop_feedback: .*'click'"):
        build_session_data(log, replace(base, drop_feedback=("click",)))
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "all_train_seq.sessions.txt").write_text("1 2 3\n")
    text_log = load_dataset("retailrocket-sessions", tmp_path / "s")
    with pytest.raises(InputError, match=r"sessions\.session_gap_s: .* no timestamps"):
        build_session_data(text_log, SessionSettings(purchase="none", session_gap_s=60.0))
    with pytest.raises(InputError, match=r"sessions: no session .* left"):
        build_session_data(text_log, SessionSettings(purchase="none", min_session_events=5))
