"""The ``next_item`` protocol on the ``logged_sessions`` env kind: the SQN evaluation
(Xin et al., "Self-Supervised Reinforcement Learning for Recommender Systems", SIGIR
2020; ``../shared/specs/cal4rec.md``, "Metrics and protocol of evaluation").

**Every event of every held-out session is a target**, the first event of a session
included (its state is all padding, ``len_state`` 1). For each target the model scores
the whole item pool from the state before the event, and the target's rank is read off
those scores:

- **all N items are ranked, with no filtering** of the items already in the session
  (purchases are mostly of items clicked earlier in the session, and the SQN code does
  not filter either); a target that is an item of its own state counts like any other;
- **column 0 is padding and is never ranked**, whatever score it holds (the SQN
  reference code pads with item N; rayrec pads with 0, the same thing);
- **ties** are broken by item id, lower first — the stable descending sort of
  :mod:`rayrec.metrics.ranking`: the target's 1-based rank is
  ``1 + #{items with a higher score} + #{items with an equal score and a smaller id}``.
  A score of −inf ranks after every finite score; NaN scores are refused.

With one relevant item per target, ``HR@k = 1[rank ≤ k]`` and
``NDCG@k = 1[rank ≤ k] / log2(rank + 1)``. Both are averaged separately over the
**click targets** (events with ``is_buy`` false) and the **purchase targets**
(``is_buy`` true), for k in :data:`KS`: ``click_hr@5``, ``click_ndcg@5``, …,
``purchase_ndcg@20``. ``total@20`` is the sum of the four @20 numbers (click HR, click
NDCG, purchase HR, purchase NDCG; the papers' "Total"). On data with no purchase
target (click-only logs) the purchase metrics are NaN — a table shows "—" there — and
``total@20`` is the sum of the click ones; likewise the click metrics on data with only
purchases. :attr:`EvalResult.evaluated` counts every target; its ``data`` line states
the click and purchase counts.

Ranks are counted, not sorted: per batch of targets, ``(scores > target_score)`` and
``(scores == target_score)`` over the (b, N) block, with no top-k selection and no
Python loop over rows.

Entry points, arrays first:

- :func:`evaluate_targets`: a *scorer* ((states (b, L), len_state (b,)) → scores
  (b, N + 1)) over arrays of states, targets and purchase flags;
- :func:`evaluate_next_item`: a scorer over a part of a :class:`SessionData`;
- :func:`evaluate_module`: the protocol's module evaluator — a trained module's
  ``item_scores`` (the CE head's logits) over the env's ``eval_part``;
- :func:`evaluate_item_scores`: one score vector for every target (a state-free
  ranking such as most-popular), ranked once, not per target;
- :func:`reference_results`: most-popular (train-part event counts) on the same part.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from rayrec.data.sessions import PART_TEST, PARTS, SessionData
from rayrec.errors import InputError
from rayrec.evaluation.result import EvalResult
from rayrec.metrics.next_item import (
    KS,
    NextItemSums,
    check_is_buy,
    check_scores,
    check_targets,
    checked_ranks,
    metric_names,
    sums_from_ranks,
)

NAME = "next_item"
#: the part a module is evaluated on unless its env_config's ``eval_part`` says otherwise
DEFAULT_PART = PART_TEST
#: the env_config key naming the evaluated part (``valid`` for checkpoint selection)
EVAL_PART_KEY = "eval_part"
#: targets scored at once
EVAL_BATCH = 1024
#: (states (b, L) int64, len_state (b,) int64) -> scores (b, N + 1); column 0 (padding)
#: is never ranked
Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]


#: the protocol's metrics (Tune's ``eval_<m>`` columns)
METRICS: tuple[str, ...] = metric_names()
#: the metric a table or searcher ranks by
HEADLINE = "total@20"
#: what a one-screen summary shows: the @10 and @20 metrics and the total
SHOWN: tuple[str, ...] = tuple(m for m in METRICS if m.endswith(("@10", "@20")))
#: the reference rows (:func:`reference_results`)
REFERENCES: tuple[str, ...] = ("most_popular",)


# ------------------------------------------------------------------ evaluations
def _describe(data: str, sums: NextItemSums) -> str:
    n_click, n_buy = (int(c) for c in sums.count)
    counts = f"{n_click} click and {n_buy} purchase targets"
    return f"{data} ({counts})" if data else counts


def _result(sums: NextItemSums, data: str) -> EvalResult:
    if not sums.targets:
        raise InputError(f"next_item: no target to evaluate{f' in {data}' if data else ''}")
    return EvalResult(
        protocol=NAME, metrics=sums.metrics(), evaluated=sums.targets, data=_describe(data, sums)
    )


def _accumulate(
    batches: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]],
    ks: Sequence[int],
    n_items: int | None,
) -> NextItemSums:
    """Sums over ``(scores (b, N + 1), targets (b,), is_buy (b,))`` batches; every
    batch must have the first one's N (or ``n_items``)."""
    total = NextItemSums.zeros(ks)
    for scores, targets, is_buy in batches:
        ranked = check_scores(scores, len(targets), n_items)  # (b, N)
        n_items = ranked.shape[1]
        ranks = checked_ranks(ranked, check_targets(targets, n_items))  # (b,)
        total.add(sums_from_ranks(ranks, is_buy, total.ks))
    return total


def evaluate_targets(
    scorer: Scorer,
    states: np.ndarray,
    len_state: np.ndarray,
    targets: np.ndarray,
    is_buy: np.ndarray,
    *,
    ks: Sequence[int] = KS,
    batch: int = EVAL_BATCH,
    data: str = "",
) -> EvalResult:
    """The protocol's metrics of ``scorer`` over targets given as arrays.

    Args:
        scorer: (states (b, L), len_state (b,)) -> scores (b, N + 1), the same N for
            every batch; column 0 (padding) is never ranked.
        states: (R, L) the state before each target (0 = padding).
        len_state: (R,) the states' lengths (>= 1; 1 for a session's first event).
        targets: (R,) the target item ids, 1..N.
        is_buy: (R,) whether each target is a purchase (else a click).
        ks: the cut-offs.
        batch: targets scored at once.
        data: what the targets are, in words (the result's ``data`` adds the counts).

    Returns:
        :func:`metric_names` means (NaN for a kind with no target); ``evaluated`` = R.

    Raises:
        InputError: arrays of different lengths, a target outside 1..N, scores of the
            wrong shape or with NaN, or no target.
    """
    states = np.asarray(states)
    len_state = np.asarray(len_state)
    targets = check_targets(targets, None)
    is_buy = check_is_buy(is_buy, len(targets))
    if states.ndim != 2 or len(states) != len(targets) or len_state.shape != (len(targets),):
        raise InputError(
            f"next_item: expected states (R, L) and len_state (R,) with R = {len(targets)}"
            f" targets, got states {states.shape} and len_state {len_state.shape}"
        )
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise InputError(f"next_item: batch: expected an integer >= 1, got {batch!r}")

    def batches() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        for start in range(0, len(targets), batch):
            sl = slice(start, start + batch)
            yield scorer(states[sl], len_state[sl]), targets[sl], is_buy[sl]

    return _result(_accumulate(batches(), ks, None), data)


def evaluate_item_scores(
    scores: np.ndarray,
    targets: np.ndarray,
    is_buy: np.ndarray,
    *,
    ks: Sequence[int] = KS,
    data: str = "",
) -> EvalResult:
    """The protocol's metrics of one score vector (N + 1,) used for every target (a
    ranking that ignores the state, e.g. most-popular): the items are ranked once, by a
    stable sort of ``-score`` (the same tie rule), and each target's rank looked up —
    the same numbers as :func:`evaluate_targets` with that row for every target."""
    scores = np.asarray(scores)
    if scores.ndim != 1:
        raise InputError(f"next_item: scores: expected a 1-D (N + 1,) vector, got {scores.shape}")
    ranked = check_scores(scores[None, :], 1, None)[0]  # (N,)
    n_items = len(ranked)
    targets = check_targets(targets, n_items)
    is_buy = check_is_buy(is_buy, len(targets))
    key = -ranked.astype(np.float64)  # (N,) ascending = best first
    order = np.argsort(key, kind="stable")  # (N,) item column, best first
    rank_of = np.empty(n_items, dtype=np.int64)  # (N,) rank of item j + 1
    rank_of[order] = np.arange(1, n_items + 1)
    sums = sums_from_ranks(rank_of[targets - 1], is_buy, ks)
    return _result(sums, data)


def _part_label(data: SessionData, part: str) -> str:
    """``test part of <dataset> (every event of S sessions)``."""
    name = data.description.get("dataset") or "logged sessions"
    return f"{part} part of {name}, every event of {len(data.sessions(part))} sessions"


def _check_part(part: str, where: str) -> str:
    if part not in PARTS:
        raise InputError(f"{where}: expected one of {', '.join(PARTS)}, got {part!r}")
    return part


def evaluate_next_item(
    scorer: Scorer,
    data: SessionData,
    part: str,
    *,
    ks: Sequence[int] = KS,
    batch: int = EVAL_BATCH,
) -> EvalResult:
    """The protocol's metrics of ``scorer`` over every event of ``data``'s ``part``
    sessions (``train``, ``valid`` or ``test``), states built batch by batch
    (:meth:`SessionData.states`).

    Raises:
        InputError: an unknown part, a part with no event, or scores of the wrong shape
            (``data.n_items + 1`` columns) or with NaN.
    """
    _check_part(part, "next_item: part")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise InputError(f"next_item: batch: expected an integer >= 1, got {batch!r}")
    rows = np.asarray(data.rows(part))  # (R,) event indices

    def batches() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]  # (b,)
            states, len_state = data.states(chunk)  # (b, L), (b,)
            yield scorer(states, len_state), data.items[chunk], data.is_buy[chunk]

    sums = _accumulate(batches(), ks, int(data.n_items))
    label = _part_label(data, part)
    return _result(sums, label)


# ------------------------------------------------------------------ modules and references
@contextmanager
def _eval_mode(module: Any) -> Iterator[None]:
    """``module`` in eval mode (no dropout) for the block, its mode restored after."""
    was_training = bool(getattr(module, "training", False))
    if hasattr(module, "eval"):
        module.eval()
    try:
        yield
    finally:
        if hasattr(module, "train"):
            module.train(was_training)


def module_scorer(module: Any) -> Scorer:
    """The scorer of a module with ``item_scores(state (B, L) long, len_state (B,)
    long) -> (B, N + 1)`` (the CE head's logits), run under ``torch.no_grad()`` on the
    module's device (the caller sets eval mode: :func:`evaluate_module`)."""
    if not hasattr(module, "item_scores"):
        raise InputError(
            f"next_item: expected a module with item_scores(state, len_state),"
            f" got {type(module).__name__}"
        )
    import torch

    params = list(module.parameters()) if hasattr(module, "parameters") else []
    device = params[0].device if params else torch.device("cpu")

    def scorer(states: np.ndarray, len_state: np.ndarray) -> np.ndarray:
        state_t = torch.as_tensor(states, dtype=torch.long, device=device)  # (b, L)
        len_t = torch.as_tensor(len_state, dtype=torch.long, device=device)  # (b,)
        with torch.no_grad():
            logits = module.item_scores(state_t, len_t)  # (b, N + 1)
        out: np.ndarray = logits.detach().float().cpu().numpy()
        return out

    return scorer


def eval_part(env_config: Mapping[str, Any]) -> str:
    """The part an env_config's evaluation reads: its ``eval_part`` (``valid`` for
    checkpoint selection), default ``test``."""
    where = f"env_config {EVAL_PART_KEY}"
    return _check_part(str(env_config.get(EVAL_PART_KEY, DEFAULT_PART)), where)


def evaluate_module(
    module: Any, env_config: Mapping[str, Any], *, users: int, seed: int
) -> EvalResult:
    """The protocol's module evaluator: ``module.item_scores`` in eval mode over every
    event of the env's :func:`eval_part` sessions, next to :data:`REFERENCES` on the
    same targets. ``users`` and ``seed`` are unused: every held-out event is evaluated,
    in a fixed order, and nothing is sampled."""
    from rayrec.environments.sessions import session_data_for

    part = eval_part(env_config)
    data = session_data_for(env_config)
    with _eval_mode(module):
        result = evaluate_next_item(module_scorer(module), data, part)
    return EvalResult(
        protocol=NAME,
        metrics=result.metrics,
        references=reference_results(env_config, users=users, seed=seed),
        evaluated=result.evaluated,
        data=result.data,
    )


def reference_results(
    env_config: Mapping[str, Any], *, users: int, seed: int = 1
) -> dict[str, dict[str, float]]:
    """Most-popular (the train part's event counts, :meth:`SessionData.popularity`)
    on the env's :func:`eval_part` targets (``users`` and ``seed`` unused: nothing is
    sampled)."""
    from rayrec.environments.sessions import session_data_for

    del users, seed
    part = eval_part(env_config)
    data = session_data_for(env_config)
    rows = np.asarray(data.rows(part))
    popularity = np.asarray(data.popularity(), dtype=np.float64)  # (N + 1,)
    result = evaluate_item_scores(popularity, data.items[rows], data.is_buy[rows])
    return {"most_popular": result.metrics}
