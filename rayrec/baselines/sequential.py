"""Training the sequential baselines (SASRec, GRU4Rec, STAMP) for top-N tables.

The models are :mod:`rayrec.models.sequential`'s; this module trains them with
cross-entropy over the full item pool and turns a fitted model into a *scorer*: a
callable from ``(b,)`` user indices ``k`` to ``(b, n_items + 1)`` float32 scores
(column 0, padding, ``-inf``; higher is better; train items are excluded by the
evaluation, not here).

Training (:func:`fit_next_item`):

- **Targets**: every position ``t ≥ 1`` of every training sequence predicts item
  ``s_t`` from its prefix, at most ``max_len`` items long. Sequences are cut into
  left-padded windows of ``max_len`` inputs that end ``stride`` targets apart from the
  end of the sequence backwards; each window trains the targets it holds that no later
  window holds with more context, so every target counts once per epoch. With
  ``stride = max_len`` (the default) windows do not overlap and one pass of the
  causal model trains up to ``max_len`` targets, a target seeing the part of its prefix
  inside its window (1 .. ``max_len`` items); ``stride = 1`` is RecBole's augmentation
  (each target sees its full ``max_len``-item prefix, one window per target, about
  ``max_len`` times the cost per epoch).
- **Loss**: ``L = − Σ_t log softmax(h_t · E)[s_t] / T`` over the claimed targets of a
  batch, ``h_t`` the model's representation after position ``t - 1``, ``E`` the item
  table (shared input / output embeddings). Adam, lr 1e-3, 256 windows a batch.
- **Checkpoint selection**: after each epoch the model scores the validation targets
  (one item per user, from the training sequence before it) by a full-pool ranking
  metric (``valid_metric``, NDCG@10 by default; history items excluded or not, as the
  caller says); the best epoch's weights are kept, and training stops after
  ``patience`` epochs without improvement.
- **Determinism**: torch's generator is seeded inside :func:`torch.random.fork_rng`
  (the caller's generator is left as it was), the window order is drawn from a seeded
  numpy generator, and torch runs on ``threads`` threads (restored afterwards): a seed
  gives the same weights and scores (tested).

:func:`fit_sequential` applies this to a :class:`~rayrec.data.topn.TopNData`: the
sequences are each user's train part in time order; the **validation target is each
user's last train item** (ours: the paper gives no validation split), held out of
training and never taken from the test part; a user with one train item trains
nothing and has no validation target. The scorer reads the user's whole train part
(the validation item included): the state after the train part.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rayrec.data.topn import TopNData
from rayrec.errors import InputError
from rayrec.metrics.ranking import RANKING_METRICS, ranking_metrics
from rayrec.models.sequential import (
    PADDING,
    NextItemModel,
    build_sequential_model,
)

log = logging.getLogger(__name__)

#: the baselines this module trains, in table order
SEQUENTIAL_BASELINES: tuple[str, ...] = ("sasrec", "gru4rec", "stamp")

#: a scorer: (b,) user indices -> (b, n_items + 1) scores
Scorer = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class SequentialTrainConfig:
    """How a sequential baseline is trained (module doc).

    Attributes:
        epochs: the most epochs.
        lr: Adam's learning rate.
        batch_size: windows per batch.
        max_len: L, the longest prefix a target sees (and the model's max length).
        stride: targets between window ends (1 .. L; None: L).
        patience: epochs without a better validation score before stopping.
        valid_metric: the selection metric, ``<metric>@<k>`` of
            :func:`rayrec.metrics.ranking.ranking_metrics` (e.g. ``ndcg@10``).
        eval_batch_size: sequences per scoring pass.
        threads: torch threads while training.

    Raises:
        InputError: a value outside its range, naming the field.
    """

    epochs: int = 50
    lr: float = 1e-3
    batch_size: int = 256
    max_len: int = 50
    stride: int | None = None
    patience: int = 5
    valid_metric: str = "ndcg@10"
    eval_batch_size: int = 1024
    threads: int = 1

    def __post_init__(self) -> None:
        for key in ("epochs", "batch_size", "max_len", "patience", "eval_batch_size", "threads"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"sequential: {key}: expected a positive integer, got {value!r}")
        ok = isinstance(self.lr, int | float) and not isinstance(self.lr, bool)
        if not ok or not 0.0 < float(self.lr) < 1.0:
            raise InputError(f"sequential: lr: expected a number in (0, 1), got {self.lr!r}")
        if self.stride is not None and (
            isinstance(self.stride, bool)
            or not isinstance(self.stride, int)
            or not 1 <= self.stride <= self.max_len
        ):
            raise InputError(
                f"sequential: stride: expected an integer in [1, max_len = {self.max_len}]"
                f" or null, got {self.stride!r}"
            )
        metric, _, k = self.valid_metric.partition("@")
        if metric not in RANKING_METRICS or not k.isdigit() or int(k) < 1:
            raise InputError(
                f"sequential: valid_metric: expected '<metric>@<k>' with a metric of"
                f" {list(RANKING_METRICS)}, got {self.valid_metric!r}"
            )

    @property
    def window_stride(self) -> int:
        return self.max_len if self.stride is None else self.stride


@dataclass(frozen=True)
class Windows:
    """Training windows (module doc): W rows of L.

    Attributes:
        inputs: (W, L) int64 left-padded inputs.
        targets: (W, L) int64 the item each position predicts (0 where none).
        claimed: (W, L) bool the targets this window trains.
    """

    inputs: np.ndarray
    targets: np.ndarray
    claimed: np.ndarray

    @property
    def n_targets(self) -> int:
        return int(self.claimed.sum())


def make_windows(sequences: Sequence[np.ndarray], max_len: int, stride: int) -> Windows:
    """The training windows of ``sequences`` (module doc).

    A window ending at target ``e`` holds inputs ``s[e − L .. e − 1]`` (left-padded) and
    targets ``s[e − L + 1 .. e]``; ends run ``n − 1, n − 1 − stride, ...`` down to 1, and a
    window claims the targets ``t > e − stride`` (all of them in the earliest window).
    Every target ``1 .. n − 1`` of every sequence is claimed exactly once.
    """
    inputs: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    claimed: list[np.ndarray] = []
    offsets = np.arange(max_len)  # (L,)
    for seq in sequences:
        seq = np.asarray(seq, dtype=np.int64)
        n = len(seq)
        if n < 2:
            continue
        ends = np.arange(n - 1, 0, -stride)  # (W_u,) last target of each window
        target_pos = ends[:, None] - max_len + 1 + offsets  # (W_u, L)
        valid = target_pos >= 1  # (W_u, L) the position holds a target
        safe = np.where(valid, target_pos, 1)
        inputs.append(np.where(valid, seq[safe - 1], PADDING))
        targets.append(np.where(valid, seq[safe], PADDING))
        earliest = (ends - stride < 1)[:, None]  # (W_u, 1)
        claimed.append(valid & ((target_pos > (ends - stride)[:, None]) | earliest))
    if not inputs:
        empty = np.zeros((0, max_len), dtype=np.int64)
        return Windows(empty, empty.copy(), empty.astype(bool))
    return Windows(np.concatenate(inputs), np.concatenate(targets), np.concatenate(claimed))


def left_padded(sequences: Sequence[np.ndarray], max_len: int) -> np.ndarray:
    """(N, L) int64: the last ``max_len`` items of each sequence, left-padded."""
    out = np.zeros((len(sequences), max_len), dtype=np.int64)
    for row, seq in enumerate(sequences):
        tail = np.asarray(seq, dtype=np.int64)[-max_len:]
        if len(tail):
            out[row, max_len - len(tail) :] = tail
    return out


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@torch.no_grad()
def score_padded(model: NextItemModel, inputs: np.ndarray, batch_size: int) -> np.ndarray:
    """(N, L) left-padded sequences -> (N, I + 1) float32 next-item scores (eval mode;
    the model's mode is restored)."""
    was_training = model.training
    model.eval()
    out = np.empty((len(inputs), model.n_items + 1), dtype=np.float32)
    for lo in range(0, len(inputs), batch_size):
        batch = torch.from_numpy(inputs[lo : lo + batch_size])  # (b, L)
        out[lo : lo + batch_size] = model.logits(batch).numpy()  # (b, I + 1)
    model.train(was_training)
    return out


@dataclass
class FittedSequential:
    """A trained next-item model and how it was trained.

    Attributes:
        name: the model's registry name.
        model: the model with the selected epoch's weights, in eval mode.
        config: the training settings.
        seed: the seed.
        best_epoch: the selected epoch (1-based; 0: no validation target, the last).
        history: per epoch, ``epoch``, ``loss`` (mean over targets), ``valid`` (the
            selection metric, NaN without validation targets) and ``seconds``.
        n_targets: training targets per epoch.
    """

    name: str
    model: NextItemModel
    config: SequentialTrainConfig
    seed: int
    best_epoch: int
    history: list[dict[str, float]] = field(default_factory=list)
    n_targets: int = 0

    def score_sequences(self, sequences: Sequence[np.ndarray]) -> np.ndarray:
        """(N,) item sequences (time order; only the last ``max_len`` items are read) ->
        (N, I + 1) float32 next-item scores, column 0 ``-inf``."""
        inputs = left_padded(sequences, self.config.max_len)
        with _torch_threads(self.config.threads):
            return score_padded(self.model, inputs, self.config.eval_batch_size)


def validation_score(
    scores: np.ndarray,
    targets: np.ndarray,
    history: Sequence[np.ndarray] | None,
    metric: str,
) -> float:
    """The mean ``metric`` (``ndcg@10``, ...) of one held-out item per row over the full
    pool: scores (N, I + 1), targets (N,) item ids; ``history``: per row, items excluded
    from its ranking (None: none but padding)."""
    _, _, k = metric.partition("@")
    n, width = scores.shape
    relevant = np.zeros((n, width), dtype=bool)
    relevant[np.arange(n), targets] = True
    exclude = np.zeros((n, width), dtype=bool)
    exclude[:, PADDING] = True
    if history is not None:
        rows = np.repeat(np.arange(n), [len(h) for h in history])
        exclude[rows, np.concatenate([np.asarray(h, dtype=np.int64) for h in history])] = True
    return ranking_metrics(scores, relevant, ks=(int(k),), exclude=exclude)[metric]


def fit_next_item(
    name: str,
    train_sequences: Sequence[np.ndarray],
    valid_items: np.ndarray,
    n_items: int,
    *,
    seed: int = 0,
    config: SequentialTrainConfig | None = None,
    model: Mapping[str, Any] | None = None,
    exclude_history: bool = True,
) -> FittedSequential:
    """Train model ``name`` on ``train_sequences`` with checkpoint selection on
    ``valid_items`` (module doc).

    Args:
        name: ``sasrec``, ``gru4rec`` or ``stamp``.
        train_sequences: per user, the training items in time order.
        valid_items: (U,) per user the held-out item that follows its training
            sequence, 0 for a user without one.
        n_items: I, item ids ``1 .. I``.
        seed: seeds the weights, the dropout and the window order.
        config: the training settings (default :class:`SequentialTrainConfig`).
        model: the model's config fields to override (``max_len`` comes from
            ``config``).
        exclude_history: rank a validation item without the user's training items.

    Raises:
        InputError: an unknown model, a bad setting, or arrays that do not match.
    """
    config = config or SequentialTrainConfig()
    valid_items = np.asarray(valid_items, dtype=np.int64)
    if valid_items.shape != (len(train_sequences),):
        raise InputError(
            f"sequential: valid_items: expected shape ({len(train_sequences)},) (one per"
            f" sequence), got {valid_items.shape}"
        )
    overrides = dict(model or {})
    if "max_len" in overrides:
        raise InputError(
            "sequential: model.max_len: expected it in the training config, got it in model"
        )
    windows = make_windows(train_sequences, config.max_len, config.window_stride)
    with_valid = np.flatnonzero(valid_items > 0)
    valid_inputs = left_padded([train_sequences[int(u)] for u in with_valid], config.max_len)
    valid_history = [train_sequences[int(u)] for u in with_valid] if exclude_history else None
    rng = np.random.default_rng(seed)
    with torch.random.fork_rng(devices=[]), _torch_threads(config.threads):
        torch.manual_seed(seed)
        net = build_sequential_model(name, n_items, max_len=config.max_len, **overrides)
        optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
        fitted = FittedSequential(
            name=name,
            model=net,
            config=config,
            seed=seed,
            best_epoch=0,
            n_targets=windows.n_targets,
        )
        best_score, best_state, waited = -np.inf, copy.deepcopy(net.state_dict()), 0
        for epoch in range(1, config.epochs + 1):
            start = time.perf_counter()
            loss = _train_epoch(net, optimizer, windows, config, rng)
            score = float("nan")
            if len(with_valid):
                scores = score_padded(net, valid_inputs, config.eval_batch_size)
                score = validation_score(
                    scores, valid_items[with_valid], valid_history, config.valid_metric
                )
            seconds = time.perf_counter() - start
            fitted.history.append(
                {"epoch": float(epoch), "loss": loss, "valid": score, "seconds": seconds}
            )
            log.info(
                "%s epoch %d: loss %.4f, valid %s %.4f (%.1f s)",
                name,
                epoch,
                loss,
                config.valid_metric,
                score,
                seconds,
            )
            if not len(with_valid):
                best_state, fitted.best_epoch = copy.deepcopy(net.state_dict()), 0
                continue
            if score > best_score:
                best_score, waited = score, 0
                best_state, fitted.best_epoch = copy.deepcopy(net.state_dict()), epoch
            else:
                waited += 1
                if waited >= config.patience:
                    break
        net.load_state_dict(best_state)
        net.eval()
    return fitted


def _train_epoch(
    net: NextItemModel,
    optimizer: torch.optim.Optimizer,
    windows: Windows,
    config: SequentialTrainConfig,
    rng: np.random.Generator,
) -> float:
    """One pass over the windows in a seeded random order; the mean loss per target."""
    net.train()
    order = rng.permutation(len(windows.inputs))
    total, count = 0.0, 0
    last_only = config.window_stride == 1  # each window claims only its last target
    for lo in range(0, len(order), config.batch_size):
        rows = order[lo : lo + config.batch_size]
        inputs = torch.from_numpy(windows.inputs[rows])  # (B, L)
        targets = torch.from_numpy(windows.targets[rows])  # (B, L)
        claimed = torch.from_numpy(windows.claimed[rows])  # (B, L)
        if last_only:
            h = net(inputs)  # (B, d) the representation after the last input
            y = targets[:, -1]  # (B,)
        else:
            h = net.sequence_output(inputs)[claimed]  # (T, d) claimed positions only
            y = targets[claimed]  # (T,)
        # L = −(1/T) Σ_t log softmax(h_t Eᵀ)[s_t]   (cross-entropy over the full pool)
        loss = F.cross_entropy(net.score(h), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(y)
        count += len(y)
    return total / max(count, 1)


class SequentialScorer:
    """A fitted model scoring users from their whole train part (module doc).

    Args:
        fitted: the trained model.
        inputs: (U, L) left-padded last ``max_len`` train items per user index.

    Call: (b,) user indices -> (b, n_items + 1) float32 scores, column 0 ``-inf``.
    """

    def __init__(self, fitted: FittedSequential, inputs: np.ndarray) -> None:
        self.fitted = fitted
        self.inputs = inputs

    @property
    def name(self) -> str:
        return self.fitted.name

    def __call__(self, users: np.ndarray) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        with _torch_threads(self.fitted.config.threads):
            return score_padded(
                self.fitted.model, self.inputs[users], self.fitted.config.eval_batch_size
            )


def topn_validation_split(data: TopNData) -> tuple[list[np.ndarray], np.ndarray]:
    """Per user index, the train sequence less its last item, and that item (0 for a
    user with one train item, whose sequence stays whole): the validation split of
    :func:`fit_sequential`, drawn from the train part only."""
    sequences: list[np.ndarray] = []
    valid = np.zeros(data.n_users, dtype=np.int64)
    for k in range(data.n_users):
        items = data.user_train_items(k)
        if len(items) >= 2:
            sequences.append(items[:-1])
            valid[k] = items[-1]
        else:
            sequences.append(items)
    return sequences, valid


def fit_sequential(
    name: str,
    data: TopNData,
    *,
    seed: int = 0,
    epochs: int = 50,
    patience: int = 5,
    lr: float = 1e-3,
    batch_size: int = 256,
    max_len: int = 50,
    stride: int | None = None,
    threads: int = 1,
    model: Mapping[str, Any] | None = None,
) -> SequentialScorer:
    """Train the sequential baseline ``name`` on ``data``'s train part (module doc) and
    return its scorer over user indices.

    Raises:
        InputError: an unknown name or a bad setting.
    """
    if name not in SEQUENTIAL_BASELINES:
        raise InputError(
            f"sequential: name: expected one of {list(SEQUENTIAL_BASELINES)}, got {name!r}"
        )
    config = SequentialTrainConfig(
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        max_len=max_len,
        stride=stride,
        patience=patience,
        threads=threads,
    )
    sequences, valid = topn_validation_split(data)
    fitted = fit_next_item(
        name, sequences, valid, data.n_items, seed=seed, config=config, model=model
    )
    whole = [data.user_train_items(k) for k in range(data.n_users)]
    return SequentialScorer(fitted, left_padded(whole, max_len))
