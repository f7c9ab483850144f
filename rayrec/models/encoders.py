"""History encoders shared by user simulators and policies (plain torch, no RLlib).

Every encoder maps a left-padded sequence of token vectors and its validity mask to
one state vector, and is **padding invariant**: values at masked positions never
change the output (tested). Histories may be entirely empty (a new user).

- :class:`MaskedGRUEncoder` — a GRU cell whose state is carried through masked
  positions unchanged. Its :meth:`~MaskedGRUEncoder.step` updates a cached state
  with one new token, which is what makes the simulator cheap to step: one cell
  update per user-step instead of re-encoding the window (ANCHORS.md: ~500k vs
  ~5k user-steps/s on 2 cores).
- :class:`SASRecEncoder` — the self-attentive encoder of Kang & McAuley, "Self-
  Attentive Sequential Recommendation" (ICDM 2018), as used by HAC/KuaiSim.
  Deviation: instead of reading the last position (undefined for an empty,
  fully padded history), a learned query token is appended after the history and
  its output is the state; padded keys are masked (the HAC reference code forgot
  the mask). Its forward is written out (same parameters as
  ``nn.TransformerEncoder``, pre-norm) so that the last layer computes only the query
  row — the state never reads the other rows — and dropout draws 15-bit masks
  (:func:`fast_dropout`); in eval mode it equals ``nn.TransformerEncoder`` to float
  precision (tested), at about half the cost on CPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

#: :func:`fast_dropout` draws keep-masks as 15-bit integers: p is applied in steps of
#: 1/32768 (0.1 -> 3277/32768 = 0.100006).
_DROP_LEVELS = 1 << 15


def fast_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Inverted dropout with masks from 15-bit random integers.

    Same distribution as ``F.dropout`` up to p's rounding to a multiple of 1/32768, from
    torch's global generator (seeded runs stay reproducible), several times cheaper on
    CPU: ``F.dropout`` draws one double per element (12 ms for a 64 × 4 × 51 × 51
    attention map on one core here); this splits each 31-bit draw into two 15-bit
    values and turns them into a float mask of 0 and 1/(1 − p) with integer
    arithmetic, so that forward and backward are each one float × float product
    (a float × bool product, the obvious form, costs ~6x more: the bool is cast per
    element). Falls back to ``F.dropout`` off the CPU, where the generator is not the
    bottleneck.

    Shapes: x (...) -> (...).
    """
    if not training or p <= 0.0:
        return x
    if p >= 1.0:
        return torch.zeros_like(x)
    if x.device.type != "cpu":
        return F.dropout(x, p, training=True)
    return x * _keep_mask(x.shape, p, x.dtype)


def _keep_mask(shape: torch.Size, p: float, dtype: torch.dtype) -> torch.Tensor:
    """A dropout mask: 1/(1 − p) where a 15-bit draw is >= round(p·2^15), else 0."""
    n = math.prod(shape)
    words = torch.empty((n + 1) // 2, dtype=torch.int32).random_()  # uniform on [0, 2^31)
    bits = words.view(torch.int16)[:n].view(shape) & (_DROP_LEVELS - 1)  # 15 uniform bits
    # bits - threshold is negative exactly for a dropped element: >> 15 gives -1 there and
    # 0 elsewhere; + 1 gives the 0/1 keep indicator, still in int16.
    keep = (bits.sub_(round(p * _DROP_LEVELS)) >> 15).add_(1)
    return keep.to(dtype).mul_(1.0 / (1.0 - p))


class MLP(nn.Module):
    """A feed-forward stack.

    Args:
        in_dim: input width.
        hidden: widths of the hidden layers.
        out_dim: output width.
        dropout: dropout after each hidden activation.

    Shapes: (..., in_dim) -> (..., out_dim).

    Example:
        >>> MLP(8, [16], 4)(torch.zeros(2, 8)).shape
        torch.Size([2, 4])
    """

    def __init__(
        self, in_dim: int, hidden: Sequence[int], out_dim: int, dropout: float = 0.0
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (..., out_dim)


class StateActionCritic(MLP):
    """Q(s, z) = MLP([s; z]) (+ (W s)ᵀ z with ``bilinear``) on the concatenated input.

    The bilinear term (ours, off by default) gives the critic a state-dependent
    gradient in z from the first update: a plain MLP on ``[s; z]`` can fit the value of
    a slate as ``f(s) + g(z)``, whose ∂Q/∂z is the same for every user, so a policy
    trained by Q-max drifts to one hyper-action for everybody. W starts at zero (the
    critic starts as the plain MLP and draws nothing more from the torch RNG).

    Args:
        state_dim: d, the width of s (the first d input columns).
        action_dim: the width of z (the remaining columns).
        hidden: the MLP's hidden widths.
        bilinear: add ``(W s)ᵀ z``.

    Shapes: (B, d + z) -> (B, 1).

    Example:
        >>> q = StateActionCritic(3, 2, [8], bilinear=True)
        >>> q(torch.zeros(4, 5)).shape
        torch.Size([4, 1])
    """

    def __init__(
        self, state_dim: int, action_dim: int, hidden: Sequence[int], bilinear: bool = False
    ) -> None:
        super().__init__(state_dim + action_dim, hidden, 1)
        self.state_dim = state_dim
        self.bilinear = nn.Parameter(torch.zeros(action_dim, state_dim)) if bilinear else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.net(x)  # (B, 1)
        if self.bilinear is None:
            return q
        s, z = x[..., : self.state_dim], x[..., self.state_dim :]  # (B, d), (B, z)
        return q + ((s @ self.bilinear.T) * z).sum(-1, keepdim=True)  # (B, 1)


class MaskedGRUEncoder(nn.Module):
    """GRU over a masked sequence; masked steps leave the state unchanged.

    Args:
        dim: token and state width d.

    Shapes: tokens (B, L, d), mask (B, L) bool -> (B, d).

    Example:
        >>> enc = MaskedGRUEncoder(4)
        >>> enc(torch.zeros(2, 3, 4), torch.ones(2, 3, dtype=torch.bool)).shape
        torch.Size([2, 4])
    """

    incremental = True

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.cell = nn.GRUCell(dim, dim)

    def initial_state(self, batch: int, device: torch.device | None = None) -> torch.Tensor:
        return torch.zeros(batch, self.dim, device=device)  # (B, d)

    def step(
        self, state: torch.Tensor, token: torch.Tensor, valid: torch.Tensor | None = None
    ) -> torch.Tensor:
        """One update: state (B, d), token (B, d), valid (B,) bool -> (B, d)."""
        new = self.cell(token, state)  # (B, d)
        if valid is None:
            return new
        return torch.where(valid.unsqueeze(-1), new, state)  # (B, d)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        state = self.initial_state(tokens.shape[0], tokens.device)  # (B, d)
        for t in range(tokens.shape[1]):
            state = self.step(state, tokens[:, t], mask[:, t])  # (B, d)
        return state


class SASRecEncoder(nn.Module):
    """Transformer encoder over a masked history, read out through a query token.

    Args:
        dim: token width d (``d_model``).
        max_len: longest history L (learned positional embeddings).
        n_layers / n_heads / ffn_dim / dropout: transformer sizes (HAC code defaults:
            2 layers, 4 heads, FFN 64, dropout 0.1; dim 32).

    Shapes: tokens (B, L, d), mask (B, L) bool -> (B, d).

    Example:
        >>> enc = SASRecEncoder(8, max_len=5, n_heads=2)
        >>> enc(torch.zeros(2, 5, 8), torch.zeros(2, 5, dtype=torch.bool)).shape
        torch.Size([2, 8])
    """

    incremental = False

    def __init__(
        self,
        dim: int,
        max_len: int,
        n_layers: int = 2,
        n_heads: int = 4,
        ffn_dim: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.max_len = max_len
        self.position = nn.Embedding(max_len + 1, dim)
        self.query = nn.Parameter(torch.randn(dim) * 0.02)
        layer = nn.TransformerEncoderLayer(
            dim, n_heads, ffn_dim, dropout, batch_first=True, norm_first=True
        )
        self.layers = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def _inputs(
        self, tokens: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The layer input — history then the query token, positions added, padding
        zeroed — and its validity (the query is never masked): (B, L+1, d), (B, L+1)."""
        b, length, _ = tokens.shape
        if length > self.max_len:
            raise ValueError(f"history length {length} exceeds max_len {self.max_len}")
        # Right-align positions so the newest token always has the same position id.
        pos = torch.arange(self.max_len - length, self.max_len + 1, device=tokens.device)  # (L+1,)
        query = self.query.expand(b, 1, self.dim)  # (B, 1, d)
        x = torch.cat([tokens, query], dim=1) + self.position(pos)  # (B, L+1, d)
        keep = torch.cat([mask, mask.new_ones(b, 1)], dim=1)  # (B, L+1)
        return x * keep.unsqueeze(-1), keep

    def forward(
        self, tokens: torch.Tensor, mask: torch.Tensor, dropout: bool | None = None
    ) -> torch.Tensor:
        """``dropout``: apply dropout (default: in train mode). A caller that wants one
        pass without dropout says so here instead of toggling the module's mode (``train``
        walks every submodule, twice per call)."""
        drop = self.training if dropout is None else dropout
        x, keep = self._inputs(tokens, mask)  # (B, L+1, d), (B, L+1)
        bias = x.new_zeros(keep.shape[0], 1, 1, keep.shape[1]).masked_fill(
            ~keep[:, None, None, :], float("-inf")
        )  # (B, 1, 1, L+1) additive key mask
        layers = cast(nn.ModuleList, self.layers.layers)
        for i, layer in enumerate(layers):
            last = i == len(layers) - 1
            x = self._layer(cast(nn.TransformerEncoderLayer, layer), x, bias, last, drop)
        return self.norm(x[:, -1])  # (B, d)

    def forward_reference(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The same function through ``nn.TransformerEncoder`` (every row, every layer):
        what :meth:`forward` is tested against."""
        x, keep = self._inputs(tokens, mask)
        return self.norm(self.layers(x, src_key_padding_mask=~keep)[:, -1])

    def _layer(
        self,
        layer: nn.TransformerEncoderLayer,
        x: torch.Tensor,
        bias: torch.Tensor,
        last: bool,
        drop: bool,
    ) -> torch.Tensor:
        """One pre-norm layer: x + Drop(MHA(LN(x))), then + Drop(FFN(LN(x))).

        ``last``: only the query (final) row is computed — keys and values still come
        from every row; ``drop``: dropout on. Shapes: x (B, T, d), bias (B, 1, 1, T) ->
        (B, T or 1, d).
        """
        attn = layer.self_attn
        b, t, d = x.shape
        h = attn.num_heads
        dh = d // h
        y = layer.norm1(x)
        q, k, v = F.linear(y, attn.in_proj_weight, attn.in_proj_bias).split(d, dim=-1)  # (B, T, d)
        if last:
            q, x = q[:, -1:], x[:, -1:]  # (B, 1, d)
        q = q.reshape(b, -1, h, dh).transpose(1, 2) * (1.0 / math.sqrt(dh))  # (B, h, Tq, dh)
        k = k.reshape(b, t, h, dh).transpose(1, 2)  # (B, h, T, dh)
        v = v.reshape(b, t, h, dh).transpose(1, 2)  # (B, h, T, dh)
        # The key mask is broadcast onto the scores (expanding it to the scores' shape
        # for baddbmm cost a full copy of the attention map).
        scores = torch.matmul(q, k.transpose(-1, -2)) + bias  # (B, h, Tq, T)
        weights = fast_dropout(scores.softmax(dim=-1), attn.dropout, drop)
        out = torch.matmul(weights, v)  # (B, h, Tq, dh)
        out = out.transpose(1, 2).reshape(b, -1, d)  # (B, Tq, d)
        p = layer.dropout1.p
        x = x + fast_dropout(attn.out_proj(out), p, drop)
        hidden = fast_dropout(
            F.relu(layer.linear1(layer.norm2(x))), layer.dropout.p, drop
        )  # (B, Tq, ffn)
        return x + fast_dropout(layer.linear2(hidden), layer.dropout2.p, drop)


ENCODERS: dict[str, Callable[..., nn.Module]] = {
    "gru": lambda dim, max_len, **kw: MaskedGRUEncoder(dim),
    "sasrec": lambda dim, max_len, **kw: SASRecEncoder(dim, max_len, **kw),
}


def build_encoder(kind: str, dim: int, max_len: int, **kwargs: int | float) -> nn.Module:
    """Build a history encoder by name (``gru`` or ``sasrec``).

    Raises:
        ValueError: naming the accepted kinds.
    """
    try:
        factory = ENCODERS[kind]
    except KeyError:
        raise ValueError(f"unknown encoder '{kind}'; expected one of {sorted(ENCODERS)}") from None
    return factory(dim, max_len, **kwargs)
