"""LSRWRL's state: DeepFM long-term interest + positional self-attention short-term
interest, and the Q-head over the whole item pool (``../shared/specs/lsrwrl.md``).

Inputs per user (the ``topn`` env's observation, batched)::

    user_features  (B, F_u)  float   gender one-hot | age (min-max) | occupation one-hot
    long_items     (B, L)    int64   liked items consumed so far, 0-padded on the left
    short_items    (B, n)    int64   the last n consumed items, 0-padded on the left

**Long-term interest** (:class:`DeepFMInterest`, Eq. 6–8). DeepFM's input is the sparse
vector ``x = [user features ; liked items / |liked|]``: each user feature and each item
is a feature i with a latent vector ``v_i ∈ R^k`` (the items' ``v`` is an embedding
table), so the mean-pooled embedding of the liked items is exactly the items' part of
``Σ v_i x_i``. DeepFM scores with ``w₀ + Σ w_i x_i + Σ_{i<j} ⟨v_i, v_j⟩ x_i x_j +
DNN``; to use it as an interest *vector* (ours, the spec's reading) we expose the
pooled second-order interaction vector and the DNN output::

    fm   = ½ [ (Σ_i v_i x_i)² − Σ_i (v_i x_i)² ]          (B, k)   Σ_{i<j} (v_i x_i) ⊙ (v_j x_j)
    dnn  = MLP([e_1; …; e_G; e_items])                     (B, h)   e_g = Σ_{i ∈ field g} v_i x_i
    long = [fm ; dnn]                                      (B, k + h)

The DNN reads the field embeddings (DeepFM shares them with the FM part): one per
user-feature block (``user_fields`` gives the blocks' widths, e.g. gender 2, age 1,
occupation 21) and the pooled liked items.

**Short-term interest** (:class:`PositionalSelfAttention`, Eq. 2–5): the last n items'
embeddings plus sinusoidal position encodings ``p_pos`` (Eq. 3, over the window's
slots 0..n−1), one scaled dot-product self-attention layer over the real (non-padded)
items, mean-pooled over them::

    X = E[short] + P                      (B, n, d)
    A = softmax(X W_Q (X W_K)ᵀ / √d) X W_V  (B, n, d)   keys: real items only
    short = mean over real rows of A       (B, d)       zeros when none is real

**Q-head** (:class:`LongShortQNetwork`), one matrix product over the whole pool
``(B, I + 1)`` (column 0 = padding):

- ``linear`` (the spec's "MLP from the state to one Q-value per item"):
  ``Q(s, ·) = MLP(s) W_out + b`` — item i's column ``W_out[:, i]`` learns only from
  transitions that recommended i;
- ``item_dot`` (ours): ``Q(s, i) = MLP(s) · E_i + b_i`` with ``E`` the short-term
  attention's item embeddings — an item also learns through every state whose history
  holds it, so items never recommended are scored by what their embeddings learned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from rayrec.errors import InputError
from rayrec.models.checks import check_choice, check_int, check_number, check_widths
from rayrec.models.encoders import MLP

#: the Q-head's forms (module doc)
Q_HEADS: tuple[str, ...] = ("linear", "item_dot")


@dataclass(frozen=True)
class LongShortConfig:
    """Sizes of the LSRWRL state encoder and Q-head (fields checked on construction).

    Attributes:
        n_items: I; item ids run 1..I, 0 is padding.
        user_fields: widths of the consecutive user-feature blocks (their sum is F_u;
            empty: no user features).
        fm_dim: k, the FM latent size (ours: the paper gives none).
        dnn_hidden: DeepFM's DNN widths; its last is h (ours).
        attention_dim: d of the short-term item embeddings and attention (ours).
        short_window: n, the short-term items (the paper's 20).
        q_hidden: the Q-network's hidden widths before the pool-wide output (ours).
        q_head: ``linear`` (the spec's) or ``item_dot`` (ours; module doc).
        dropout: on the DNN's and the Q-MLP's hidden layers.
    """

    n_items: int
    user_fields: tuple[int, ...] = ()
    fm_dim: int = 32
    dnn_hidden: tuple[int, ...] = (64, 32)
    attention_dim: int = 32
    short_window: int = 20
    q_hidden: tuple[int, ...] = (128,)
    q_head: str = "linear"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        check_int("model.n_items", self.n_items, low=1)
        check_choice("model.q_head", self.q_head, Q_HEADS)
        fields = tuple(check_int("model.user_fields", w, low=1) for w in self.user_fields)
        object.__setattr__(self, "user_fields", fields)
        check_int("model.fm_dim", self.fm_dim, low=1)
        dnn = check_widths("model.dnn_hidden", self.dnn_hidden)
        if not dnn:
            raise InputError(f"model.dnn_hidden: expected at least one width, got {dnn!r}")
        object.__setattr__(self, "dnn_hidden", dnn)
        check_int("model.attention_dim", self.attention_dim, low=1)
        check_int("model.short_window", self.short_window, low=1)
        object.__setattr__(self, "q_hidden", check_widths("model.q_hidden", self.q_hidden))
        object.__setattr__(
            self,
            "dropout",
            check_number("model.dropout", self.dropout, low=0.0, high=1.0, high_open=True),
        )

    @property
    def n_user_features(self) -> int:
        return sum(self.user_fields)

    @property
    def long_dim(self) -> int:
        return self.fm_dim + self.dnn_hidden[-1]

    @property
    def state_dim(self) -> int:
        return self.long_dim + self.attention_dim


def fm_interaction(terms: torch.Tensor) -> torch.Tensor:
    """The pooled second-order FM vector ``½[(Σ_i t_i)² − Σ_i t_i²]`` of the terms
    ``t_i = v_i x_i``: (..., n, k) -> (..., k), equal to ``Σ_{i<j} t_i ⊙ t_j``."""
    total = terms.sum(dim=-2)  # (..., k)
    return 0.5 * (total * total - (terms * terms).sum(dim=-2))  # (..., k)


def sinusoidal_positions(n: int, dim: int) -> torch.Tensor:
    """(n, dim) Eq. 3: ``p[pos, 2i] = sin(pos / 10000^{2i/d})``, ``p[pos, 2i+1] = cos(·)``."""
    pos = torch.arange(n, dtype=torch.float32).unsqueeze(1)  # (n, 1)
    i = torch.arange(0, dim, 2, dtype=torch.float32)  # (ceil(d/2),)
    angle = pos / torch.pow(10000.0, i / dim)  # (n, ceil(d/2))
    p = torch.zeros(n, dim)
    p[:, 0::2] = torch.sin(angle)
    p[:, 1::2] = torch.cos(angle[:, : dim // 2])
    return p


class DeepFMInterest(nn.Module):
    """The long-term interest vector ``[fm ; dnn]`` (module doc), (B, k + h)."""

    def __init__(self, cfg: LongShortConfig) -> None:
        super().__init__()
        self.user_fields = cfg.user_fields
        k = cfg.fm_dim
        # v_i of each user feature (one row per feature) and of each item (row 0: padding)
        self.user_v = nn.Parameter(torch.randn(cfg.n_user_features, k) * 0.1)
        self.item_v = nn.Embedding(cfg.n_items + 1, k, padding_idx=0)
        nn.init.normal_(self.item_v.weight, std=0.1)
        with torch.no_grad():
            self.item_v.weight[0].zero_()
        n_fields = len(cfg.user_fields) + 1
        *inner, h = cfg.dnn_hidden
        self.dnn = nn.Sequential(MLP(n_fields * k, inner, h, dropout=cfg.dropout), nn.ReLU())

    def forward(self, user_features: torch.Tensor, long_items: torch.Tensor) -> torch.Tensor:
        """user_features (B, F_u), long_items (B, L) -> (B, k + h).

        The FM vector is computed from the two sums ``Σ v_i x_i`` and ``Σ (v_i x_i)²``
        (:func:`fm_interaction`'s identity) without stacking the terms: padding's row of
        ``item_v`` is zero, so padded slots add nothing to either sum.
        """
        count = (long_items > 0).sum(dim=1, keepdim=True).clamp(min=1).float()  # (B, 1)
        e = self.item_v(long_items)  # (B, L, k) zero rows at padding
        item_sum = e.sum(dim=1) / count  # (B, k) Σ v_j x_j, x_j = 1 / |liked|
        item_sq = (e * e).sum(dim=1) / (count * count)  # (B, k) Σ (v_j x_j)²
        user_terms = user_features.unsqueeze(-1) * self.user_v  # (B, F_u, k)
        total = user_terms.sum(dim=1) + item_sum  # (B, k)
        squares = (user_terms * user_terms).sum(dim=1) + item_sq  # (B, k)
        fm = 0.5 * (total * total - squares)  # (B, k)
        fields = torch.split(user_terms, list(self.user_fields), dim=1)  # G × (B, w, k)
        field_emb = [f.sum(dim=1) for f in fields] + [item_sum]  # (G + 1) × (B, k)
        dnn = self.dnn(torch.cat(field_emb, dim=-1))  # (B, h)
        return torch.cat([fm, dnn], dim=-1)  # (B, k + h)


class PositionalSelfAttention(nn.Module):
    """The short-term interest (module doc), (B, d)."""

    def __init__(self, cfg: LongShortConfig) -> None:
        super().__init__()
        d = cfg.attention_dim
        self.item_emb = nn.Embedding(cfg.n_items + 1, d, padding_idx=0)
        nn.init.normal_(self.item_emb.weight, std=0.1)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()
        self.w_q = nn.Linear(d, d, bias=False)
        self.w_k = nn.Linear(d, d, bias=False)
        self.w_v = nn.Linear(d, d, bias=False)
        self.scale = 1.0 / math.sqrt(d)
        self.register_buffer("positions", sinusoidal_positions(cfg.short_window, d))

    def forward(self, short_items: torch.Tensor) -> torch.Tensor:
        """short_items (B, n) -> (B, d)."""
        real = short_items > 0  # (B, n)
        x = self.item_emb(short_items) + self.positions  # (B, n, d)
        q, k, v = self.w_q(x), self.w_k(x), self.w_v(x)  # 3 × (B, n, d)
        scores = torch.einsum("bid,bjd->bij", q, k) * self.scale  # (B, n, n)
        scores = scores.masked_fill(~real.unsqueeze(1), float("-inf"))  # padded keys out
        weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)  # (B, n, n) no real key: 0
        att = weights @ v  # (B, n, d)
        m = real.unsqueeze(-1).float()  # (B, n, 1)
        return (att * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)  # (B, d)


class LongShortEncoder(nn.Module):
    """``s = [long ; short]`` (B, k + h + d)."""

    def __init__(self, cfg: LongShortConfig) -> None:
        super().__init__()
        self.long = DeepFMInterest(cfg)
        self.short = PositionalSelfAttention(cfg)

    def forward(
        self, user_features: torch.Tensor, long_items: torch.Tensor, short_items: torch.Tensor
    ) -> torch.Tensor:
        return torch.cat(
            [self.long(user_features, long_items), self.short(short_items)], dim=-1
        )  # (B, k + h + d)


class LongShortQNetwork(nn.Module):
    """``Q(s, ·)`` over the whole pool: the encoder, an MLP and one product with the pool
    (``q_head``: an output layer, or the item embeddings and a bias per item)."""

    def __init__(self, cfg: LongShortConfig) -> None:
        super().__init__()
        self.encoder = LongShortEncoder(cfg)
        self.item_dot = cfg.q_head == "item_dot"
        if self.item_dot:
            # MLP(s) in the item-embedding space, then one (d, I + 1) product with E
            self.q = MLP(cfg.state_dim, cfg.q_hidden, cfg.attention_dim, dropout=cfg.dropout)
            self.item_bias = nn.Parameter(torch.zeros(cfg.n_items + 1))
        else:
            # hidden layers, then one (h, I + 1) product for the whole pool
            self.q = MLP(cfg.state_dim, cfg.q_hidden, cfg.n_items + 1, dropout=cfg.dropout)

    def forward(
        self, user_features: torch.Tensor, long_items: torch.Tensor, short_items: torch.Tensor
    ) -> torch.Tensor:
        """-> (B, I + 1) Q-values (column 0, padding, is for the caller to mask)."""
        s = self.encoder(user_features, long_items, short_items)  # (B, state_dim)
        if not self.item_dot:
            return self.q(s)  # (B, I + 1)
        items = self.encoder.short.item_emb.weight  # (I + 1, d)
        return self.q(s) @ items.T + self.item_bias  # (B, I + 1)
