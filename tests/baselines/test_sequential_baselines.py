"""Training SASRec, GRU4Rec and STAMP as top-N baselines: windows, learning, determinism,
no test-part leakage, the padding column."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rayrec.baselines.sequential import (
    SEQUENTIAL_BASELINES,
    SequentialTrainConfig,
    fit_next_item,
    fit_sequential,
    left_padded,
    make_windows,
    topn_validation_split,
)
from rayrec.data.schema import build_log
from rayrec.data.topn import TopNData, build_topn_data
from rayrec.errors import InputError
from rayrec.models.sequential import SEQUENTIAL_MODELS

N_ITEMS = 30
N_USERS = 60
LENGTH = 20  # 16 train (15 + 1 validation), 4 test
#: small models for the tests (the defaults are RecBole's ML-1M sizes)
SMALL: dict[str, dict[str, Any]] = {
    "sasrec": {"hidden": 32, "dropout": 0.1, "ffn_dim": 32},
    "gru4rec": {"embedding": 32, "hidden": 32, "dropout": 0.1},
    "stamp": {"embedding": 32},
}
#: (epochs, lr) of the learning test (STAMP's N(0, 0.002) initialisation starts slower)
LEARN: dict[str, tuple[int, float]] = {
    "sasrec": (40, 1e-2),
    "gru4rec": (40, 1e-2),
    "stamp": (60, 3e-2),
}


def successor_log(seed: int = 0, test_shift: int = 0) -> pd.DataFrame:
    """Rows (u, i, r, t): each user walks a fixed 30-cycle of items from a random start,
    so the next item is a deterministic function of the previous one. ``test_shift``
    replaces each test-part item (the last 4 of a user) by another item."""
    rng = np.random.default_rng(seed)
    cycle = rng.permutation(N_ITEMS) + 1  # item cycle[j] is followed by cycle[j + 1]
    rows = []
    for u in range(N_USERS):
        start = int(rng.integers(N_ITEMS))
        for t in range(LENGTH):
            item = int(cycle[(start + t) % N_ITEMS])
            if t >= LENGTH - 4 and test_shift:
                item = (item - 1 + test_shift) % N_ITEMS + 1
            rows.append((u + 1, item, int(rng.integers(1, 6)), 1_000_000 + 100 * u + t))
    return pd.DataFrame(rows, columns=["u", "i", "r", "t"])


def topn(rows: pd.DataFrame) -> TopNData:
    log = build_log(
        "succ", rows, raw_user="u", raw_item="i", timestamp="t", feedback={"rating": "r"}
    )
    return build_topn_data(log)


@pytest.fixture(scope="module")
def data() -> TopNData:
    return topn(successor_log())


def _next_item_accuracy(scores: np.ndarray, data: TopNData) -> float:
    """Share of users whose top-scored item, train items excluded (as the evaluation
    excludes them), is their first test item (the successor of the last train item)."""
    scores = scores.copy()
    for k, seen in enumerate(data.train_seen()):
        scores[k, seen] = -np.inf
    first_test = np.array(
        [
            data.records.items[data.records.offsets[k] + data.records.n_train[k]]
            for k in range(data.n_users)
        ]
    )
    return float((scores.argmax(axis=1) == first_test).mean())


def test_registry() -> None:
    assert SEQUENTIAL_BASELINES == ("sasrec", "gru4rec", "stamp")
    assert set(SEQUENTIAL_BASELINES) == set(SEQUENTIAL_MODELS)


def test_windows_claim_every_target_once() -> None:
    seqs = [np.arange(1, 12), np.array([5]), np.array([3, 4])]
    for max_len in (3, 4, 10):
        for stride in range(1, max_len + 1):
            w = make_windows(seqs, max_len, stride)
            claimed = sorted(w.targets[w.claimed].tolist())
            assert claimed == sorted([*range(2, 12), 4]), (max_len, stride)
            # each target's input is its predecessor (the sequences count up by one),
            # with padding only on the left
            held = w.targets > 0
            assert (w.targets[held] == w.inputs[held] + 1).all() and (w.inputs[~held] == 0).all()
            started = np.maximum.accumulate(w.inputs > 0, axis=1)
            assert ((w.inputs > 0) == started).all()
    # stride 1: each window claims one target, seeing its full max_len prefix
    w = make_windows([np.arange(1, 12)], 4, 1)
    assert (w.claimed.sum(axis=1) == 1).all() and w.claimed[:, -1].all()
    np.testing.assert_array_equal(w.inputs[0], [7, 8, 9, 10])
    assert left_padded([np.array([1, 2]), np.arange(1, 7)], 4).tolist() == [
        [0, 0, 1, 2],
        [3, 4, 5, 6],
    ]


def test_validation_is_the_last_train_item(data: TopNData) -> None:
    seqs, valid = topn_validation_split(data)
    for k in range(data.n_users):
        train = data.user_train_items(k)
        np.testing.assert_array_equal(seqs[k], train[:-1])
        assert valid[k] == train[-1]


@pytest.mark.parametrize("name", SEQUENTIAL_BASELINES)
def test_each_model_learns_the_successor(name: str, data: TopNData, single_thread: None) -> None:
    start = time.perf_counter()
    epochs, lr = LEARN[name]
    scorer = fit_sequential(
        name, data, epochs=epochs, patience=epochs, max_len=10, lr=lr, model=SMALL[name]
    )
    seconds = time.perf_counter() - start
    scores = scorer(np.arange(data.n_users))
    assert scores.shape == (data.n_users, N_ITEMS + 1) and scores.dtype == np.float32
    # chance is 1/30; a learned successor map gets nearly every user right
    accuracy = _next_item_accuracy(scores, data)
    assert accuracy >= 0.9, (name, accuracy, scorer.fitted.history[-1])
    assert seconds < 30, seconds


@pytest.mark.parametrize("name", SEQUENTIAL_BASELINES)
def test_same_seed_same_scores(name: str, data: TopNData, single_thread: None) -> None:
    kw: dict[str, Any] = {"epochs": 2, "max_len": 10, "model": SMALL[name]}
    users = np.arange(data.n_users)
    a = fit_sequential(name, data, seed=3, **kw)(users)
    b = fit_sequential(name, data, seed=3, **kw)(users)
    c = fit_sequential(name, data, seed=4, **kw)(users)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("name", SEQUENTIAL_BASELINES)
def test_test_part_is_never_read(name: str, data: TopNData, single_thread: None) -> None:
    edited = topn(successor_log(test_shift=7))
    assert edited.n_items == data.n_items
    assert [a.tolist() for a in edited.test_relevant()] != [
        a.tolist() for a in data.test_relevant()
    ]
    np.testing.assert_array_equal(edited.train_items, data.train_items)
    kw: dict[str, Any] = {"epochs": 3, "max_len": 10, "model": SMALL[name]}
    users = np.arange(data.n_users)
    np.testing.assert_array_equal(
        fit_sequential(name, data, **kw)(users), fit_sequential(name, edited, **kw)(users)
    )


@pytest.mark.parametrize("name", SEQUENTIAL_BASELINES)
def test_padding_column_is_never_ranked(name: str, data: TopNData, single_thread: None) -> None:
    scores = fit_sequential(name, data, epochs=1, max_len=10, model=SMALL[name])(
        np.arange(data.n_users)
    )
    assert np.isneginf(scores[:, 0]).all() and np.isfinite(scores[:, 1:]).all()
    top = np.argsort(-scores, axis=1, kind="stable")[:, :N_ITEMS]
    assert (top != 0).all()


def test_early_stopping_keeps_the_best_epoch(data: TopNData, single_thread: None) -> None:
    seqs, valid = topn_validation_split(data)
    config = SequentialTrainConfig(epochs=30, patience=2, max_len=10, lr=0.05)
    fitted = fit_next_item(
        "gru4rec", seqs, valid, data.n_items, config=config, model=SMALL["gru4rec"]
    )
    scores = [h["valid"] for h in fitted.history]
    assert fitted.best_epoch == int(np.argmax(scores)) + 1
    assert len(scores) == 30 or len(scores) - fitted.best_epoch == 2


def test_bad_settings_are_refused(data: TopNData) -> None:
    with pytest.raises(InputError, match=r"^sequential: name: expected one of"):
        fit_sequential("caser", data)
    with pytest.raises(
        InputError, match=r"^sequential: epochs: expected a positive integer, got 0"
    ):
        fit_sequential("sasrec", data, epochs=0)
    with pytest.raises(
        InputError, match=r"^sequential: stride: expected an integer in \[1, max_len"
    ):
        SequentialTrainConfig(stride=51)
    with pytest.raises(InputError, match=r"^sequential: valid_metric"):
        SequentialTrainConfig(valid_metric="auc")
    with pytest.raises(InputError, match=r"^sequential: model.max_len"):
        fit_sequential("stamp", data, model={"max_len": 5})
