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
  the mask).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn


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

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, length, _ = tokens.shape
        if length > self.max_len:
            raise ValueError(f"history length {length} exceeds max_len {self.max_len}")
        # Right-align positions so the newest token always has the same position id.
        pos = torch.arange(self.max_len - length, self.max_len + 1, device=tokens.device)  # (L+1,)
        query = self.query.expand(b, 1, self.dim)  # (B, 1, d)
        x = torch.cat([tokens, query], dim=1) + self.position(pos)  # (B, L+1, d)
        x = x * torch.cat([mask, mask.new_ones(b, 1)], dim=1).unsqueeze(-1)  # zero padding
        pad = torch.cat([~mask, mask.new_zeros(b, 1)], dim=1)  # (B, L+1) True = ignore
        out = self.layers(x, src_key_padding_mask=pad)  # (B, L+1, d)
        return self.norm(out[:, -1])  # (B, d)


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
