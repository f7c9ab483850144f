"""Next-item sequence models: SASRec, GRU4Rec and STAMP (plain torch, no Ray).

The sequential baselines of LSRWRL's table (``../shared/specs/lsrwrl.md``), written here
instead of taken from RecBole (which pins ``ray<=2.6.3`` and breaks on numpy 2). Every
model reads item ids ``1 .. I`` (0 = padding) as a **left-padded** ``(B, L)`` int64
sequence (zeros only before the first item, the newest item in the last column) and
gives

- ``forward(items) -> (B, d)``: the representation of the whole sequence (the state
  after its last item);
- ``sequence_output(items) -> (B, L, d)``: the representation after each position,
  computed from the items up to it only (causal), which trains every position of a
  window in one pass; rows at padded positions are finite and meaningless;
- ``logits(items) -> (B, I + 1)``: the representation times the item embedding table
  (input and output embeddings are shared, as in RecBole), the padding column ``-inf``.

Every model is padding invariant: more left padding, or other values under it, do not
change the output (tested).

- :class:`SASRec` — Kang & McAuley, "Self-Attentive Sequential Recommendation" (ICDM
  2018): item embeddings scaled by √d plus learned positions, dropout, causal
  self-attention blocks (pre-norm, residual, dropout) and a final layer norm; the
  output at the last position. The blocks are :class:`~rayrec.models.encoders.SASRecEncoder`'s
  (the encoder of HAC's policy state), reused through :class:`CausalSASRecEncoder`:
  the same ``nn.TransformerEncoderLayer`` parameters, the same hand-written layer pass
  with its 15-bit dropout, the same right-aligned position table and final norm; what
  changes is the mask (causal instead of a query token reading the history).
  Deviations: keys are layer-normed too (``nn.TransformerEncoderLayer``'s pre-norm;
  Kang normalises only the queries) and the FFN is RecBole's 256 wide (Kang: d wide);
  RecBole's own SASRec is post-norm with GELU.
- :class:`GRU4Rec` — Hidasi et al., "Session-based Recommendations with Recurrent Neural
  Networks" (ICLR 2016), in RecBole's form: embedding, dropout, a GRU and a dense layer
  back to the embedding width; the output after the last item.
- :class:`STAMP` — Liu et al., "STAMP: Short-Term Attention/Memory Priority Model for
  Session-based Recommendation" (KDD 2018): attention weights
  ``α_i = W₀ σ(W₁ x_i + W₂ x_t + W₃ m_s + b_a)`` over the items with the last item
  ``x_t`` and the mean memory ``m_s``, ``m_a = Σ α_i x_i`` (RecBole adds ``m_s``:
  ``STAMPConfig.add_mean_memory``), ``h_s = tanh(W_s m_a + b_s)``,
  ``h_t = tanh(W_t x_t + b_t)`` and the trilinear score ``⟨h_s, h_t, x_j⟩`` =
  ``(h_s ⊙ h_t) · x_j``.

Configs are frozen dataclasses that validate themselves; the defaults are RecBole's
ML-1M ones. :func:`build_sequential_model` builds a model by name.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, ClassVar, cast

import torch
from torch import nn

from rayrec.errors import InputError
from rayrec.models.encoders import SASRecEncoder, fast_dropout

#: the item id of a padded position
PADDING = 0


def _check_positive(model: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{model}: {name}: expected a positive integer, got {value!r}")


def _check_dropout(model: str, name: str, value: Any) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not 0.0 <= float(value) < 1.0:
        raise InputError(f"{model}: {name}: expected a number in [0, 1), got {value!r}")


@dataclass(frozen=True)
class SASRecConfig:
    """SASRec's sizes (RecBole's ML-1M defaults).

    Attributes:
        n_items: I, item ids ``1 .. I``.
        hidden: d, embedding and model width.
        n_layers / n_heads: self-attention blocks and heads per block.
        ffn_dim: the blocks' feed-forward width.
        dropout: on the input embeddings, attention weights and every residual branch.
        max_len: L, the longest sequence (learned positions).

    Raises:
        InputError: a size that is not a positive integer, ``hidden`` not divisible by
            ``n_heads``, or a dropout outside [0, 1).
    """

    name: ClassVar[str] = "sasrec"
    n_items: int
    hidden: int = 64
    n_layers: int = 2
    n_heads: int = 2
    ffn_dim: int = 256
    dropout: float = 0.5
    max_len: int = 50

    def __post_init__(self) -> None:
        for key in ("n_items", "hidden", "n_layers", "n_heads", "ffn_dim", "max_len"):
            _check_positive(self.name, key, getattr(self, key))
        _check_dropout(self.name, "dropout", self.dropout)
        if self.hidden % self.n_heads:
            raise InputError(
                f"{self.name}: hidden: expected a multiple of n_heads ({self.n_heads}),"
                f" got {self.hidden}"
            )


@dataclass(frozen=True)
class GRU4RecConfig:
    """GRU4Rec's sizes (RecBole's ML-1M defaults).

    Attributes:
        n_items: I, item ids ``1 .. I``.
        embedding: E, the item embedding width (also the output width).
        hidden: H, the GRU state width.
        n_layers: stacked GRU layers.
        dropout: on the input embeddings.
        max_len: L, the longest sequence.

    Raises:
        InputError: a size that is not a positive integer or a dropout outside [0, 1).
    """

    name: ClassVar[str] = "gru4rec"
    n_items: int
    embedding: int = 64
    hidden: int = 128
    n_layers: int = 1
    dropout: float = 0.3
    max_len: int = 50

    def __post_init__(self) -> None:
        for key in ("n_items", "embedding", "hidden", "n_layers", "max_len"):
            _check_positive(self.name, key, getattr(self, key))
        _check_dropout(self.name, "dropout", self.dropout)


@dataclass(frozen=True)
class STAMPConfig:
    """STAMP's sizes (RecBole's ML-1M defaults).

    Attributes:
        n_items: I, item ids ``1 .. I``.
        embedding: d, the item embedding width (every layer is d wide).
        max_len: L, the longest sequence.
        add_mean_memory: ``m_a = Σ α_i x_i + m_s`` (RecBole) instead of the paper's
            ``Σ α_i x_i`` (ours: the paper's by default).

    Raises:
        InputError: a size that is not a positive integer.
    """

    name: ClassVar[str] = "stamp"
    n_items: int
    embedding: int = 64
    max_len: int = 50
    add_mean_memory: bool = False

    def __post_init__(self) -> None:
        for key in ("n_items", "embedding", "max_len"):
            _check_positive(self.name, key, getattr(self, key))
        if not isinstance(self.add_mean_memory, bool):
            raise InputError(
                f"{self.name}: add_mean_memory: expected true or false,"
                f" got {self.add_mean_memory!r}"
            )


SequentialConfig = SASRecConfig | GRU4RecConfig | STAMPConfig


class NextItemModel(nn.Module):
    """What the three models share: the item table, the shared-embedding scorer, the
    sequence checks. Subclasses implement :meth:`sequence_output` (and may override
    :meth:`forward` with a cheaper last-position pass).

    Args:
        n_items: I.
        dim: the width of the item embeddings and of the representation.
        max_len: L.
    """

    def __init__(self, n_items: int, dim: int, max_len: int) -> None:
        super().__init__()
        self.n_items = n_items
        self.dim = dim
        self.max_len = max_len
        self.item_embedding = nn.Embedding(n_items + 1, dim, padding_idx=PADDING)

    def _check(self, items: torch.Tensor) -> torch.Tensor:
        """The validity mask of a (B, L) sequence: (B, L) bool."""
        if items.dim() != 2:
            raise ValueError(f"items: expected a (B, L) tensor, got shape {tuple(items.shape)}")
        if items.shape[1] > self.max_len:
            raise ValueError(
                f"items: sequence length {items.shape[1]} exceeds max_len {self.max_len}"
            )
        return items != PADDING  # (B, L)

    def sequence_output(self, items: torch.Tensor) -> torch.Tensor:
        """(B, L) -> (B, L, d): the representation after each position (causal)."""
        raise NotImplementedError

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        """(B, L) -> (B, d): the representation after the last item."""
        return self.sequence_output(items)[:, -1]  # (B, d)

    def score(self, representation: torch.Tensor) -> torch.Tensor:
        """(..., d) -> (..., I + 1): dot products with every item embedding; column 0
        (padding) is ``-inf``."""
        logits = representation @ self.item_embedding.weight.T  # (..., I + 1)
        pad = torch.zeros_like(logits[..., :1]).fill_(float("-inf"))  # (..., 1)
        return torch.cat([pad, logits[..., 1:]], dim=-1)  # (..., I + 1)

    def logits(self, items: torch.Tensor) -> torch.Tensor:
        """(B, L) -> (B, I + 1): next-item scores of each sequence."""
        return self.score(self(items))  # (B, I + 1)


class CausalSASRecEncoder(SASRecEncoder):
    """:class:`SASRecEncoder`'s blocks under a causal mask, read at every position.

    The parent reads a history through an appended query token; SASRec reads the
    output at each item instead, position ``t`` attending to positions ``≤ t`` that
    hold an item. A padded position attends to itself only (left padding: it has no
    earlier item), so no softmax row is empty; no item position ever attends to one.
    Positions are right-aligned as in the parent: the newest item always has the
    same position id. The parent's query token is removed.

    Args:
        dim / max_len / n_layers / n_heads / ffn_dim / dropout: as the parent's;
            ``dropout`` also applies to the input tokens (Kang et al.).

    Shapes: tokens (B, L, d), mask (B, L) bool -> (B, L, d) (or (B, d): ``last_only``).

    Example:
        >>> enc = CausalSASRecEncoder(8, max_len=5, n_heads=2)
        >>> enc(torch.zeros(2, 5, 8), torch.ones(2, 5, dtype=torch.bool)).shape
        torch.Size([2, 5, 8])
    """

    def __init__(
        self,
        dim: int,
        max_len: int,
        n_layers: int = 2,
        n_heads: int = 2,
        ffn_dim: int = 256,
        dropout: float = 0.5,
    ) -> None:
        super().__init__(dim, max_len, n_layers, n_heads, ffn_dim, dropout)
        del self.query  # read at the items, not through a query token
        self.input_dropout = dropout

    def _inputs(
        self, tokens: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens plus right-aligned positions, padding zeroed: (B, L, d), (B, L)."""
        length = tokens.shape[1]
        if length > self.max_len:
            raise ValueError(f"history length {length} exceeds max_len {self.max_len}")
        pos = torch.arange(self.max_len - length, self.max_len, device=tokens.device)  # (L,)
        x = tokens + self.position(pos)  # (B, L, d)
        return x * mask.unsqueeze(-1), mask

    @staticmethod
    def attention_bias(mask: torch.Tensor) -> torch.Tensor:
        """(B, L) validity -> (B, 1, L, L) additive bias: 0 where query t may read key j
        (j ≤ t and j holds an item, or j = t), else ``-inf``."""
        length = mask.shape[1]
        eye = torch.eye(length, dtype=torch.bool, device=mask.device)  # (L, L)
        causal = eye.new_ones(length, length).tril()  # (L, L) key j <= query t
        allowed = (causal & mask[:, None, :]) | eye  # (B, L, L)
        bias = torch.zeros(allowed.shape, device=mask.device)  # (B, L, L)
        return bias.masked_fill(~allowed, float("-inf")).unsqueeze(1)  # (B, 1, L, L)

    def forward(
        self,
        tokens: torch.Tensor,
        mask: torch.Tensor,
        dropout: bool | None = None,
        last_only: bool = False,
    ) -> torch.Tensor:
        """``dropout``: as the parent's; ``last_only``: return only the last position,
        whose row alone the last layer then computes (the parent's saving)."""
        drop = self.training if dropout is None else dropout
        x, keep = self._inputs(tokens, mask)  # (B, L, d), (B, L)
        x = fast_dropout(x, self.input_dropout, drop)  # (B, L, d)
        bias = self.attention_bias(keep)  # (B, 1, L, L)
        layers = cast(nn.ModuleList, self.layers.layers)
        for i, layer in enumerate(layers):
            last = last_only and i == len(layers) - 1
            rows = bias[:, :, -1:] if last else bias  # (B, 1, L or 1, L)
            x = self._layer(cast(nn.TransformerEncoderLayer, layer), x, rows, last, drop)
        x = self.norm(x)  # (B, L or 1, d)
        return x[:, -1] if last_only else x

    def forward_reference(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The same function through ``nn.TransformerEncoder`` (eval mode; what
        :meth:`forward` is tested against): (B, L, d)."""
        x, keep = self._inputs(tokens, mask)  # (B, L, d), (B, L)
        bias = self.attention_bias(keep)  # (B, 1, L, L)
        b, length = keep.shape
        heads = cast(nn.TransformerEncoderLayer, self.layers.layers[0]).self_attn.num_heads
        attn_mask = bias.expand(b, heads, length, length).reshape(b * heads, length, length)
        return self.norm(self.layers(x, mask=attn_mask))  # (B, L, d)


class SASRec(NextItemModel):
    """SASRec next-item model (module doc).

    Args:
        config: :class:`SASRecConfig`.

    Shapes: items (B, L) int64 -> (B, d); logits (B, I + 1).

    Example:
        >>> m = SASRec(SASRecConfig(n_items=10, hidden=8, max_len=5))
        >>> m.logits(torch.tensor([[0, 0, 3, 4, 5]])).shape
        torch.Size([1, 11])
    """

    def __init__(self, config: SASRecConfig) -> None:
        super().__init__(config.n_items, config.hidden, config.max_len)
        self.config = config
        self.encoder = CausalSASRecEncoder(
            config.hidden,
            config.max_len,
            config.n_layers,
            config.n_heads,
            config.ffn_dim,
            config.dropout,
        )
        # RecBole's initialisation of the tables: N(0, 0.02) (the padding row stays 0)
        nn.init.normal_(self.item_embedding.weight, std=0.02)
        nn.init.normal_(self.encoder.position.weight, std=0.02)
        with torch.no_grad():
            self.item_embedding.weight[PADDING].zero_()
        self.scale = math.sqrt(config.hidden)

    def _tokens(self, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = self._check(items)  # (B, L)
        return self.item_embedding(items) * self.scale, mask  # (B, L, d) Kang: × √d

    def sequence_output(self, items: torch.Tensor) -> torch.Tensor:
        tokens, mask = self._tokens(items)  # (B, L, d), (B, L)
        return self.encoder(tokens, mask)  # (B, L, d)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        tokens, mask = self._tokens(items)  # (B, L, d), (B, L)
        return self.encoder(tokens, mask, last_only=True)  # (B, d)


class GRU4Rec(NextItemModel):
    """GRU4Rec next-item model (module doc).

    Left-padded rows are rotated so that each sequence starts at column 0 before the
    GRU (its state starts at zero on the first item, as RecBole's right-padded
    batches do) and rotated back after it: padding never enters the state of an item
    position.

    Args:
        config: :class:`GRU4RecConfig`.

    Shapes: items (B, L) int64 -> (B, E); logits (B, I + 1).

    Example:
        >>> m = GRU4Rec(GRU4RecConfig(n_items=10, embedding=8, hidden=16, max_len=5))
        >>> m(torch.tensor([[0, 0, 3, 4, 5]])).shape
        torch.Size([1, 8])
    """

    def __init__(self, config: GRU4RecConfig) -> None:
        super().__init__(config.n_items, config.embedding, config.max_len)
        self.config = config
        self.embedding_dropout = nn.Dropout(config.dropout)
        self.gru = nn.GRU(
            config.embedding, config.hidden, num_layers=config.n_layers, batch_first=True
        )
        self.dense = nn.Linear(config.hidden, config.embedding)
        # RecBole's initialisation: Xavier-normal items, Xavier-uniform GRU weights
        nn.init.xavier_normal_(self.item_embedding.weight)
        with torch.no_grad():
            self.item_embedding.weight[PADDING].zero_()
        for name, weight in self.gru.named_parameters():
            if name.startswith("weight"):
                nn.init.xavier_uniform_(weight)

    def sequence_output(self, items: torch.Tensor) -> torch.Tensor:
        mask = self._check(items)  # (B, L)
        length = items.shape[1]
        shift = length - mask.sum(dim=1, keepdim=True)  # (B, 1) leading padded positions
        cols = torch.arange(length, device=items.device)  # (L,)
        first = items.gather(1, (cols + shift) % length)  # (B, L) items from column 0
        x = self.embedding_dropout(self.item_embedding(first))  # (B, L, E)
        out, _ = self.gru(x)  # (B, L, H)
        out = self.dense(out)  # (B, L, E)
        back = ((cols - shift) % length).unsqueeze(-1).expand(-1, -1, self.dim)  # (B, L, E)
        return out.gather(1, back)  # (B, L, E) left-aligned again


class STAMP(NextItemModel):
    """STAMP next-item model (module doc).

    Args:
        config: :class:`STAMPConfig`.

    Shapes: items (B, L) int64 -> (B, d); logits (B, I + 1); attention (B, L).

    Example:
        >>> m = STAMP(STAMPConfig(n_items=10, embedding=8, max_len=5))
        >>> m.attention(torch.tensor([[0, 0, 3, 4, 5]])).shape
        torch.Size([1, 5])
    """

    def __init__(self, config: STAMPConfig) -> None:
        d = config.embedding
        super().__init__(config.n_items, d, config.max_len)
        self.config = config
        self.w1 = nn.Linear(d, d, bias=False)  # on each item x_i
        self.w2 = nn.Linear(d, d, bias=False)  # on the last item x_t
        self.w3 = nn.Linear(d, d, bias=False)  # on the mean memory m_s
        self.w0 = nn.Linear(d, 1, bias=False)
        self.b_a = nn.Parameter(torch.zeros(d))
        self.mlp_a = nn.Linear(d, d)  # W_s, b_s
        self.mlp_b = nn.Linear(d, d)  # W_t, b_t
        # RecBole's initialisation: N(0, 0.002) weights and embeddings, zero biases
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, std=0.002)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        with torch.no_grad():
            self.item_embedding.weight[PADDING].zero_()

    def _parts(
        self, items: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Item embeddings, validity, last item and mean memory: (B, L, d), (B, L),
        (B, d), (B, d)."""
        mask = self._check(items)  # (B, L)
        x = self.item_embedding(items) * mask.unsqueeze(-1)  # (B, L, d)
        x_t = x[:, -1]  # (B, d) the newest item (left padding)
        count = mask.sum(dim=1, keepdim=True).clamp(min=1)  # (B, 1)
        m_s = x.sum(dim=1) / count  # (B, d)
        return x, mask, x_t, m_s

    def attention(self, items: torch.Tensor) -> torch.Tensor:
        """(B, L) -> (B, L): α_i = W₀ σ(W₁ x_i + W₂ x_t + W₃ m_s + b_a), 0 on padding."""
        x, mask, x_t, m_s = self._parts(items)
        query = self.w2(x_t) + self.w3(m_s) + self.b_a  # (B, d)
        alpha = self.w0(torch.sigmoid(self.w1(x) + query.unsqueeze(1))).squeeze(-1)  # (B, L)
        return alpha * mask  # (B, L)

    def _readout(self, m_a: torch.Tensor, m_s: torch.Tensor, x_t: torch.Tensor) -> torch.Tensor:
        """h_s ⊙ h_t: (..., d) each -> (..., d)."""
        if self.config.add_mean_memory:
            m_a = m_a + m_s  # (..., d) RecBole's variant
        h_s = torch.tanh(self.mlp_a(m_a))  # (..., d)
        h_t = torch.tanh(self.mlp_b(x_t))  # (..., d)
        return h_s * h_t  # (..., d) ⟨h_s, h_t, x_j⟩ = (h_s ⊙ h_t) · x_j

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        x, _, x_t, m_s = self._parts(items)
        alpha = self.attention(items)  # (B, L)
        m_a = (alpha.unsqueeze(-1) * x).sum(dim=1)  # (B, d)
        return self._readout(m_a, m_s, x_t)  # (B, d)

    def sequence_output(self, items: torch.Tensor) -> torch.Tensor:
        mask = self._check(items)  # (B, L)
        x = self.item_embedding(items) * mask.unsqueeze(-1)  # (B, L, d)
        count = mask.cumsum(dim=1).clamp(min=1).unsqueeze(-1)  # (B, L, 1) items up to t
        m_s = x.cumsum(dim=1) / count  # (B, L, d) mean memory at each t
        query = self.w2(x) + self.w3(m_s) + self.b_a  # (B, L, d) with x_t = x[:, t]
        keys = self.w1(x)  # (B, L, d)
        alpha = self.w0(torch.sigmoid(keys.unsqueeze(1) + query.unsqueeze(2))).squeeze(-1)
        # alpha: (B, L_t, L_i); item i counts for position t when i <= t and i is an item
        length = items.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=items.device).tril()
        alpha = alpha * (causal & mask.unsqueeze(1))  # (B, L, L)
        m_a = alpha @ x  # (B, L, d)
        return self._readout(m_a, m_s, x)  # (B, L, d)


_MODELS: dict[str, tuple[type[SequentialConfig], Callable[[Any], NextItemModel]]] = {
    "sasrec": (SASRecConfig, SASRec),
    "gru4rec": (GRU4RecConfig, GRU4Rec),
    "stamp": (STAMPConfig, STAMP),
}
#: the registered model names
SEQUENTIAL_MODELS: tuple[str, ...] = tuple(_MODELS)


def build_sequential_model(name: str, n_items: int, **fields_: Any) -> NextItemModel:
    """The model ``name`` (``sasrec``, ``gru4rec``, ``stamp``) over ``n_items`` items,
    its config fields overridden by ``fields_``.

    Raises:
        InputError: an unknown name, an unknown field or an invalid value.
    """
    try:
        config_cls, model_cls = _MODELS[name]
    except KeyError:
        raise InputError(
            f"sequential model: name: expected one of {list(SEQUENTIAL_MODELS)}, got {name!r}"
        ) from None
    known = {f.name for f in fields(config_cls)} - {"n_items"}
    unknown = sorted(set(fields_) - known)
    if unknown:
        raise InputError(
            f"{name}: {unknown[0]}: expected one of {sorted(known)}, got an unknown field"
        )
    config = config_cls(n_items=n_items, **fields_)
    return model_cls(config)
