"""The user-response model: per-item, per-behaviour feedback logits for a slate.

In the spirit of KuaiSim's user-response model (Zhao et al., NeurIPS 2023 D&B):
a history encoder over the user's past exposure slates, a user encoding (id
embedding + categorical features), and one head per feedback type scoring each
slate item against the state. Deviations from the reference code, on purpose:

- the model outputs **logits**; probabilities are ``sigmoid(logits)`` exactly once
  (the reference applies the sigmoid twice, squeezing probabilities into 0.5–0.73,
  and feeds probabilities to a BCE-with-logits loss);
- padded history positions are **masked** (the reference attends to padding);
- one history token per past *slate* (pooled item embeddings, split by feedback),
  so the simulator can update a user's state with one recurrent step per
  interaction (``encoder: gru``, the default) instead of re-encoding the window;
  ``encoder: sasrec`` gives the transformer variant for comparison.

Shapes: B users, L history slates, M items per history slate, K scored items,
F feedback types, d model width.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rayrec.metrics.classification import auc, log_loss
from rayrec.models.encoders import MLP, build_encoder
from rayrec.simulator.slates import SlateData

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResponseModelConfig:
    """Architecture of :class:`UserResponseModel`.

    Attributes:
        n_users / n_items: id spaces (ids 1..n; 0 is padding).
        feedback_names: the F feedback types, one head each.
        dim: model width d.
        encoder: ``gru`` (incremental, fast to simulate) or ``sasrec``.
        history_slates: history window L in slates.
        user_feature_sizes: cardinality of each categorical user feature.
        n_layers / n_heads / ffn_dim / dropout: ``sasrec`` sizes (dropout also
            applies to the state MLP).
    """

    n_users: int
    n_items: int
    feedback_names: tuple[str, ...]
    dim: int = 32
    encoder: str = "gru"
    history_slates: int = 10
    user_feature_sizes: tuple[int, ...] = ()
    n_layers: int = 2
    n_heads: int = 4
    ffn_dim: int = 64
    dropout: float = 0.1


class UserResponseModel(nn.Module):
    """Scores slate items for each feedback type given a user and their history.

    Args:
        config: sizes (see :class:`ResponseModelConfig`).

    Shapes:
        users (B,), user_feats (B, n_uf) long, hist_items (B, L, M) long (0 = pad),
        hist_feedback (B, L, M, F), items (B, K) -> logits (B, K, F).

    Example:
        >>> cfg = ResponseModelConfig(n_users=3, n_items=5, feedback_names=("click",), dim=8)
        >>> m = UserResponseModel(cfg)
        >>> m(torch.tensor([1]), torch.zeros(1, 0, dtype=torch.long),
        ...   torch.zeros(1, 10, 2, dtype=torch.long), torch.zeros(1, 10, 2, 1),
        ...   torch.tensor([[1, 2, 3]])).shape
        torch.Size([1, 3, 1])
    """

    def __init__(self, config: ResponseModelConfig) -> None:
        super().__init__()
        self.config = config
        d, n_fb = config.dim, len(config.feedback_names)
        self.item_emb = nn.Embedding(config.n_items + 1, d, padding_idx=0)
        self.user_emb = nn.Embedding(config.n_users + 1, d)
        self.feature_embs = nn.ModuleList(nn.Embedding(n, d) for n in config.user_feature_sizes)
        self.token_all = nn.Linear(d, d)
        self.token_pos = nn.Linear(n_fb * d, d, bias=False)
        self.token_rate = nn.Linear(n_fb, d, bias=False)
        self.encoder = build_encoder(
            config.encoder,
            d,
            config.history_slates,
            **(
                {
                    "n_layers": config.n_layers,
                    "n_heads": config.n_heads,
                    "ffn_dim": config.ffn_dim,
                    "dropout": config.dropout,
                }
                if config.encoder == "sasrec"
                else {}
            ),
        )
        self.state_mlp = MLP(2 * d, [2 * d], d, dropout=config.dropout)
        self.heads = nn.Linear(d, n_fb * d)
        self.item_bias = nn.Embedding(config.n_items + 1, n_fb)
        self.bias = nn.Parameter(torch.zeros(n_fb))
        nn.init.normal_(self.item_emb.weight, std=0.1)
        nn.init.normal_(self.user_emb.weight, std=0.1)
        nn.init.zeros_(self.item_bias.weight)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    @property
    def incremental(self) -> bool:
        return bool(getattr(self.encoder, "incremental", False))

    def slate_tokens(
        self, items: torch.Tensor, feedback: torch.Tensor, e: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pool each slate into one token.

        items (..., M), feedback (..., M, F) -> token (..., d), valid (...) bool.
        """
        mask = (items > 0).unsqueeze(-1).float()  # (..., M, 1)
        if e is None:
            e = self.item_emb(items)  # (..., M, d)
        n = mask.sum(-2)  # (..., 1)
        mean_all = (e * mask).sum(-2) / n.clamp(min=1.0)  # (..., d)
        fb = feedback * mask  # (..., M, F)
        n_pos = fb.sum(-2)  # (..., F)
        mean_pos = (fb.transpose(-1, -2) @ e) / n_pos.clamp(min=1.0).unsqueeze(-1)  # (..., F, d)
        rate = n_pos / n.clamp(min=1.0)  # (..., F)
        token = (
            self.token_all(mean_all) + self.token_pos(mean_pos.flatten(-2)) + self.token_rate(rate)
        )  # (..., d)
        return token, n.squeeze(-1) > 0

    def encode_history(self, hist_items: torch.Tensor, hist_feedback: torch.Tensor) -> torch.Tensor:
        """hist_items (B, L, M), hist_feedback (B, L, M, F) -> history state (B, d)."""
        tokens, valid = self.slate_tokens(hist_items, hist_feedback)  # (B, L, d), (B, L)
        return self.encoder(tokens, valid)  # (B, d)

    def user_state(
        self, history: torch.Tensor, users: torch.Tensor, user_feats: torch.Tensor
    ) -> torch.Tensor:
        """Combine history state (B, d) with the user encoding -> state (B, d)."""
        u = self.user_emb(users)  # (B, d)
        for j, emb in enumerate(self.feature_embs):
            u = u + emb(user_feats[:, j])  # (B, d)
        return self.state_mlp(torch.cat([history, u], dim=-1))  # (B, d)

    def score(
        self, state: torch.Tensor, items: torch.Tensor, e: torch.Tensor | None = None
    ) -> torch.Tensor:
        """state (B, d), items (B, K) -> logits (B, K, F); ``e`` = item_emb(items) if known."""
        n_fb = len(self.config.feedback_names)
        w = self.heads(state).view(state.shape[0], n_fb, -1)  # (B, F, d)
        if e is None:
            e = self.item_emb(items)  # (B, K, d)
        return torch.bmm(e, w.transpose(1, 2)) + self.item_bias(items) + self.bias  # (B, K, F)

    def forward(
        self,
        users: torch.Tensor,
        user_feats: torch.Tensor,
        hist_items: torch.Tensor,
        hist_feedback: torch.Tensor,
        items: torch.Tensor,
    ) -> torch.Tensor:
        history = self.encode_history(hist_items, hist_feedback)  # (B, d)
        state = self.user_state(history, users, user_feats)  # (B, d)
        return self.score(state, items)  # (B, K, F)


# --------------------------------------------------------------------- metrics
def popularity_scores(train: SlateData, smoothing: float = 10.0) -> np.ndarray:
    """(I + 1, F) smoothed positive rate per item and behaviour, from training slates."""
    items = train.items.reshape(-1)
    fb = train.feedback.reshape(-1, len(train.feedback_names))
    keep = items > 0
    exposures = np.bincount(items[keep], minlength=train.n_items + 1).astype(np.float64)
    global_rate = fb[keep].mean(axis=0) if keep.any() else np.zeros(fb.shape[1])
    out = np.zeros((train.n_items + 1, fb.shape[1]))
    for b in range(fb.shape[1]):
        pos = np.bincount(items[keep], weights=fb[keep, b], minlength=train.n_items + 1)
        out[:, b] = (pos + smoothing * global_rate[b]) / (exposures + smoothing)
    return out


def evaluate_scores(data: SlateData, probs: np.ndarray) -> dict[str, dict[str, float]]:
    """AUC and log-loss per feedback type over the valid items of ``data``.

    Args:
        probs: (S, M, F) predicted probabilities aligned with ``data.items``.
    """
    mask = data.mask
    out: dict[str, dict[str, float]] = {}
    for b, name in enumerate(data.feedback_names):
        y = data.feedback[..., b][mask]
        p = probs[..., b][mask]
        out[name] = {"auc": auc(y, p), "logloss": log_loss(y, p), "positive_rate": float(y.mean())}
    return out


# --------------------------------------------------------------------- training
@dataclass(frozen=True)
class TrainConfig:
    """Optimisation of the response model.

    Attributes:
        epochs: maximum epochs.
        batch_size: slates per batch (window training of non-incremental encoders).
        sequence_batch_users: users per batch (sequence training of incremental encoders).
        tbptt_slates: truncated back-propagation length in slates (sequence training).
        lr / weight_decay: Adam settings.
        behaviour_weights: weight of each feedback type's BCE (default 1 each).
        valid_fraction: the latest share of slates (by time) held out for validation.
        early_stopping: epochs without improvement of the mean validation AUC.
        seed: initialisation and shuffling seed.
        device: ``cpu`` or ``cuda``.
    """

    epochs: int = 10
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-5
    behaviour_weights: dict[str, float] = field(default_factory=dict)
    valid_fraction: float = 0.1
    early_stopping: int = 2
    sequence_batch_users: int = 32
    tbptt_slates: int = 64
    seed: int = 0
    device: str = "cpu"


@dataclass
class TrainResult:
    model: UserResponseModel
    metrics: dict[str, Any]
    history: list[dict[str, Any]]


class _Windows:
    """Gathers fixed history windows for slate indices (used by non-incremental encoders)."""

    def __init__(self, data: SlateData, user_feats: np.ndarray, length: int, device: str) -> None:
        pad_items = np.zeros((1, data.items.shape[1]), dtype=np.int64)
        pad_fb = np.zeros((1, *data.feedback.shape[1:]), dtype=np.float32)
        self.items = torch.as_tensor(np.concatenate([data.items, pad_items]), device=device)
        self.feedback = torch.as_tensor(np.concatenate([data.feedback, pad_fb]), device=device)
        hist = data.history_index(length)
        hist[hist < 0] = len(data)
        self.hist = torch.as_tensor(hist, device=device)  # (S, L)
        self.user = torch.as_tensor(data.user, device=device)
        self.user_feats = torch.as_tensor(user_feats, device=device)

    def __call__(self, idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
        h = self.hist[idx]  # (B, L)
        users = self.user[idx]  # (B,)
        return (
            users,
            self.user_feats[users],  # (B, n_uf)
            self.items[h],  # (B, L, M)
            self.feedback[h],  # (B, L, M, F)
            self.items[idx],  # (B, M)
            self.feedback[idx],  # (B, M, F)
        )


class _Sequences:
    """Each user's whole slate sequence, right-padded, for incremental encoders.

    The state before slate t is the encoder run over slates 0..t-1 of the same user
    — exactly the state the simulator carries while stepping that user.
    """

    def __init__(self, data: SlateData, user_feats: np.ndarray, device: str) -> None:
        self.device = device
        n = len(data)
        self.starts = np.r_[0, np.flatnonzero(np.diff(data.user)) + 1] if n else np.zeros(0, int)
        self.lengths = np.diff(np.r_[self.starts, n]).astype(np.int64)
        self.users = data.user[self.starts] if n else np.zeros(0, np.int64)
        pad_items = np.zeros((1, data.items.shape[1]), dtype=np.int64)
        pad_fb = np.zeros((1, *data.feedback.shape[1:]), dtype=np.float32)
        self.pad = n
        self.items = torch.as_tensor(np.concatenate([data.items, pad_items]), device=device)
        self.feedback = torch.as_tensor(np.concatenate([data.feedback, pad_fb]), device=device)
        self.user_feats = torch.as_tensor(user_feats, device=device)

    def batches(self, batch_users: int, rng: np.random.Generator | None) -> list[np.ndarray]:
        """Groups of user rows of similar length (little padding), shuffled if ``rng``."""
        order = np.argsort(self.lengths, kind="stable")
        groups = [order[i : i + batch_users] for i in range(0, len(order), batch_users)]
        if rng is not None:
            rng.shuffle(groups)
        return groups

    def slate_index(self, rows: np.ndarray) -> np.ndarray:
        """(B, T) slate indices of the users in ``rows``, right-padded with the pad row."""
        t_max = int(self.lengths[rows].max())
        offsets = np.arange(t_max)[None, :]  # (1, T)
        idx = self.starts[rows][:, None] + offsets  # (B, T)
        return np.where(offsets < self.lengths[rows][:, None], idx, self.pad)


def _run_sequences(
    model: UserResponseModel,
    seq: _Sequences,
    rows: np.ndarray,
    chunk: int,
    on_chunk: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], None],
) -> torch.Tensor:
    """Step the encoder through the users' sequences chunk by chunk (truncated BPTT).

    ``on_chunk(logits (B, Tc, M, F), slate_idx (B, Tc), items (B, Tc, M))`` receives
    the predictions for each chunk; the carried state is detached between chunks.
    Returns the final history states (B, d).
    """
    idx_np = seq.slate_index(rows)  # (B, T)
    users = torch.as_tensor(seq.users[rows], device=seq.device)  # (B,)
    feats = seq.user_feats[users]  # (B, n_uf)
    encoder = model.encoder
    h = encoder.initial_state(len(rows), seq.device)  # type: ignore[operator]
    for c0 in range(0, idx_np.shape[1], chunk):
        idx = torch.as_tensor(idx_np[:, c0 : c0 + chunk], device=seq.device)  # (B, Tc)
        items = seq.items[idx]  # (B, Tc, M)
        tokens, valid = model.slate_tokens(items, seq.feedback[idx])  # (B, Tc, d), (B, Tc)
        before = []
        for t in range(idx.shape[1]):
            before.append(h)
            h = encoder.step(h, tokens[:, t], valid[:, t])  # type: ignore[operator]
        hist = torch.stack(before, dim=1)  # (B, Tc, d)
        b, tc, d = hist.shape
        state = model.user_state(
            hist.reshape(b * tc, d),
            users.repeat_interleave(tc),
            feats.repeat_interleave(tc, dim=0),
        )  # (B*Tc, d)
        logits = model.score(state, items.reshape(b * tc, -1))  # (B*Tc, M, F)
        on_chunk(logits.view(b, tc, *logits.shape[1:]), idx, items)
        h = h.detach()
    return h


def weighted_bce(
    logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Σ_b w_b · mean over valid items of BCE(logit_b, y_b).

    logits / targets (..., K, F), mask (..., K) bool, weights (F,) -> scalar.
    """
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")  # (..., K, F)
    m = mask.unsqueeze(-1).float()  # (..., K, 1)
    dims = tuple(range(bce.dim() - 1))
    per_behaviour = (bce * m).sum(dim=dims) / m.sum().clamp(min=1.0)  # (F,)
    return (weights * per_behaviour).sum()


@torch.no_grad()
def predict(
    model: UserResponseModel,
    data: SlateData,
    user_feats: np.ndarray,
    batch_size: int = 256,
    device: str = "cpu",
    chunk: int = 64,
) -> np.ndarray:
    """(S, M, F) probabilities for every slate of ``data``, given its earlier slates."""
    model.eval()
    out = np.zeros((len(data), *data.feedback.shape[1:]), dtype=np.float32)
    if len(data) == 0:
        return out
    if model.incremental:
        seq = _Sequences(data, user_feats, device)

        def keep(logits: torch.Tensor, idx: torch.Tensor, items: torch.Tensor) -> None:
            real = idx < seq.pad
            out[idx[real].cpu().numpy()] = torch.sigmoid(logits[real]).cpu().numpy()

        for rows in seq.batches(batch_size, None):
            _run_sequences(model, seq, rows, chunk, keep)
        return out
    windows = _Windows(data, user_feats, model.config.history_slates, device)
    for start in range(0, len(data), batch_size):
        idx = torch.arange(start, min(start + batch_size, len(data)), device=device)
        users, feats, h_items, h_fb, items, _ = windows(idx)
        out[start : start + len(idx)] = (
            torch.sigmoid(model(users, feats, h_items, h_fb, items)).cpu().numpy()
        )
    return out


@torch.no_grad()
def history_states(
    model: UserResponseModel, data: SlateData, user_feats: np.ndarray, device: str = "cpu"
) -> np.ndarray:
    """(U + 1, d) each user's history state after all their slates (incremental encoders)."""
    model.eval()
    out = np.zeros((data.n_users + 1, model.config.dim), dtype=np.float32)
    seq = _Sequences(data, user_feats, device)
    for rows in seq.batches(512, None):
        h = _run_sequences(model, seq, rows, 64, lambda *_: None)
        out[seq.users[rows]] = h.cpu().numpy()
    return out


def _optimizer_step(
    opt: torch.optim.Optimizer, loss: torch.Tensor, epoch: int, losses: list[float]
) -> None:
    """One guarded update: a non-finite loss stops training with a clear error."""
    if not torch.isfinite(loss):
        raise FloatingPointError(f"response model loss is {loss.item()} at epoch {epoch}")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    losses.append(float(loss.detach()))


def train_response_model(
    data: SlateData,
    user_feats: np.ndarray,
    model_config: ResponseModelConfig,
    config: TrainConfig,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Fit the model on the earlier slates, early-stop on the latest ``valid_fraction``.

    Returns the best model (by mean validation AUC), its validation metrics next to
    the popularity baseline's, and per-epoch history.
    """
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    cut = data.time_cut(1.0 - config.valid_fraction)
    valid_mask = data.time >= cut if config.valid_fraction > 0 else np.zeros(len(data), bool)
    train_idx = np.flatnonzero(~valid_mask)
    valid_idx = np.flatnonzero(valid_mask)
    model = UserResponseModel(model_config).to(config.device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    weights = torch.tensor(
        [config.behaviour_weights.get(n, 1.0) for n in data.feedback_names],
        device=config.device,
    )
    is_train = torch.as_tensor(~valid_mask, device=config.device)
    is_train = torch.cat([is_train, is_train.new_zeros(1)])  # pad row never trains
    valid_data = data.select(valid_mask)
    popularity = popularity_scores(data.select(~valid_mask))
    pop_probs = popularity[valid_data.items]  # (S_v, M, F)
    baseline = evaluate_scores(valid_data, pop_probs) if len(valid_idx) else {}
    seq = _Sequences(data, user_feats, config.device) if model.incremental else None
    windows = (
        None
        if model.incremental
        else _Windows(data, user_feats, model_config.history_slates, config.device)
    )
    best_state: dict[str, Any] | None = None
    best_score, stale, history = -np.inf, 0, []
    for epoch in range(1, config.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        losses: list[float] = []

        if seq is not None:

            def train_chunk(
                logits: torch.Tensor,
                idx: torch.Tensor,
                items: torch.Tensor,
                epoch: int = epoch,
                losses: list[float] = losses,
            ) -> None:
                mask = (items > 0) & is_train[idx].unsqueeze(-1)  # (B, Tc, M)
                if mask.any():
                    _optimizer_step(
                        opt, weighted_bce(logits, seq.feedback[idx], mask, weights), epoch, losses
                    )

            for rows in seq.batches(config.sequence_batch_users, rng):
                _run_sequences(model, seq, rows, config.tbptt_slates, train_chunk)
        else:
            assert windows is not None
            perm = rng.permutation(train_idx)
            for start in range(0, len(perm), config.batch_size):
                idx = torch.as_tensor(perm[start : start + config.batch_size], device=config.device)
                users, feats, h_items, h_fb, items, targets = windows(idx)
                logits = model(users, feats, h_items, h_fb, items)  # (B, M, F)
                _optimizer_step(
                    opt, weighted_bce(logits, targets, items > 0, weights), epoch, losses
                )
        total, n_batches = sum(losses), len(losses)
        entry: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": total / max(n_batches, 1),
            "seconds": time.perf_counter() - t0,
        }
        if len(valid_idx):
            probs = predict(model, data, user_feats, device=config.device)[valid_mask]
            entry["valid"] = evaluate_scores(valid_data, probs)
            score = float(np.nanmean([m["auc"] for m in entry["valid"].values()]))
            entry["valid_mean_auc"] = score
        else:
            score = -entry["train_loss"]
        history.append(entry)
        if progress is not None:
            progress(entry)
        log.info("epoch %d: %s", epoch, entry)
        if score > best_score:
            best_score, stale = score, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if stale >= config.early_stopping:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    best = max(history, key=lambda e: e.get("valid_mean_auc", -e["train_loss"]))
    metrics = {
        "best_epoch": best["epoch"],
        "valid": best.get("valid", {}),
        "popularity_baseline": baseline,
        "n_train_slates": len(train_idx),
        "n_valid_slates": len(valid_idx),
        "valid_time_cut": cut,
        "train_config": asdict(config),
    }
    model.eval()
    return TrainResult(model=model, metrics=metrics, history=history)
