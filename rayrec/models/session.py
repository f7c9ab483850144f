"""Session state encoders of the SQN family: GRU, NextItNet and SASRec (plain torch, no Ray).

The state encoders ``s_t = Enc(e_{t-L..t-1})`` shared by CAL4Rec, SQN/SAC and plain CE
(``../shared/specs/cal4rec.md``, "Model"), written after the SQN authors' released code
(Xin et al., "Self-Supervised Reinforcement Learning for Recommender Systems", SIGIR
2020). Each encoder owns the item table ``E`` (``N + 1`` rows, ``d`` wide) and maps a
state of the previous ``<= L`` items to one ``d``-wide vector:

``forward(state (B, L) int64, len_state (B,) int64) -> (B, d)``

Item ids are ``1 .. N`` and **0 is padding** (the reference pads with item ``N``; we map
it to 0 — the same thing). Two layouts of a state:

- ``padding="end"`` (the reference's, the default): the items first, then padding; the
  output is the encoder's output at position ``len_state − 1``. The first event of a
  session has an all-padding state with ``len_state = 1`` (its output is the encoder's
  output on one padded position: a learned constant, or zero for NextItNet, as in the
  reference).
- ``padding="left"``: padding first, the newest item in column ``L − 1``; ``len_state``
  is not read. Each row is rotated (one gather) so that its items come first and is
  then read as end padding at ``#items − 1``: the output after the newest item, i.e. the
  output "at ``L − 1``" with the leading padding skipped. A left-padded state therefore
  gives exactly the output of the same items end-padded, for every backbone (tested).

Every encoder is causal (the output after item ``t`` reads items ``<= t`` only) and
padding invariant in eval mode: with end padding nothing after ``len_state − 1`` is read;
with left padding the amount of leading padding (the state's width, ``<= L``) and the
padded values do not matter, and the same holds for end padding's trailing columns. A
state may be narrower than ``state_length`` (positions are counted from the first item).

Backbones (:data:`BACKBONES`), defaults from the spec:

- ``gru`` — GRU4Rec-style (Hidasi et al., ICLR 2016) as in the SQN code: one GRU layer,
  hidden ``d`` (64), the state after ``len_state`` items (the GRU output at
  ``len_state − 1``; TF's ``dynamic_rnn(sequence_length=len_state)``). Deviations:
  torch's GRU initialisation (TF1's ``GRUCell`` uses Glorot kernels and gate bias 1);
  the padding row of ``E`` is zero (the reference's pad item ``N`` is a trained row).
- ``nextitnet`` — Yuan et al., "A Simple Convolutional Generative Network for Next Item
  Recommendation" (WSDM 2019), exactly as the SQN code builds it: embeddings times the
  non-padding mask, then 6 residual blocks with dilations ``[1, 2, 1, 2, 1, 2]``, each
  ``x + ReLU(LN(conv_{2d}(ReLU(LN(conv_d(x))))))`` with causal (left-zero-padded)
  dilated 1-D convolutions of kernel 3 and ``d = 64`` channels (12 conv layers), layer
  norm with ε = 1e-8, weights ~ truncated N(0, 0.02), zero biases; the block output is
  multiplied by the mask again. Receptive field ``1 + (k − 1)·Σ 3·d_i = 55`` positions.
  No dropout in the reference (``dropout`` default 0; if set, on the input embeddings).
- ``sasrec`` — Kang & McAuley (ICDM 2018) as in the SQN code: item embeddings (not
  scaled by √d, as in SQN) plus learned positions ``0 .. L − 1`` counted from the first
  item (TF ``tf.range``), dropout 0.1, masked; 1 block, 1 head, causal self-attention
  over item positions, FFN 64, final layer norm. The blocks are
  :class:`~rayrec.models.sequential.CausalSASRecEncoder`'s (pre-norm
  ``nn.TransformerEncoderLayer`` parameters, 15-bit dropout). Deviations from Kang's
  TF code (shared with :mod:`rayrec.models.sequential`): keys are layer-normed too, the
  residual stream is the un-normalised one and attention has an output projection;
  padded keys are masked by the validity mask (Kang: by a zero key sum); the position
  table has one unused row (the parent's query slot).

Embeddings: ``E ~ N(0, 0.01)`` as in the SQN code (``tf.random_normal(..., 0.01)``),
row 0 zero and kept zero (``padding_idx=0``).

:func:`build_session_encoder` builds one by name from its frozen config
(:class:`GRUSessionConfig`, :class:`NextItNetSessionConfig`,
:class:`SASRecSessionConfig`), each validating itself with
:class:`~rayrec.errors.InputError` naming ``model.<field>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from rayrec.errors import InputError
from rayrec.models.checks import check_choice, check_int, check_number
from rayrec.models.encoders import fast_dropout
from rayrec.models.sequential import PADDING, CausalSASRecEncoder

#: the backbone names, in the order of the spec's tables
BACKBONES: tuple[str, ...] = ("gru", "nextitnet", "sasrec")
#: the state layouts: items then padding (the reference's) or padding then items
PADDINGS: tuple[str, ...] = ("end", "left")
#: the std of the item (and position) embeddings' normal initialisation (SQN code)
EMBEDDING_INIT_STD = 0.01


@dataclass(frozen=True)
class SessionEncoderConfig:
    """The fields every backbone has.

    Attributes:
        n_items: N, item ids ``1 .. N`` (0 = padding).
        dim: d, the item embedding and state width (64).
        state_length: L, the longest state (10).
        padding: ``"end"`` (items then padding, read at ``len_state − 1``; the
            reference's) or ``"left"`` (padding then items).
        dropout: in [0, 1); where each backbone applies it is in the module doc.

    Raises:
        InputError: naming the field (``model.<field>``) and the value.
    """

    backbone: ClassVar[str] = ""
    n_items: int
    dim: int = 64
    state_length: int = 10
    padding: str = "end"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        check_int("model.n_items", self.n_items, low=1)
        check_int("model.dim", self.dim, low=1)
        check_int("model.state_length", self.state_length, low=1)
        check_choice("model.padding", self.padding, PADDINGS)
        dropout = check_number("model.dropout", self.dropout, low=0.0, high=1.0, high_open=True)
        object.__setattr__(self, "dropout", dropout)


@dataclass(frozen=True)
class GRUSessionConfig(SessionEncoderConfig):
    """GRU backbone (spec: 1 layer, hidden 64 = ``dim``; no dropout in the SQN code).

    Attributes:
        n_layers: stacked GRU layers (1).
    """

    backbone: ClassVar[str] = "gru"
    n_layers: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("model.n_layers", self.n_layers, low=1)


@dataclass(frozen=True)
class NextItNetSessionConfig(SessionEncoderConfig):
    """NextItNet backbone (spec / SQN code: dilations [1, 2, 1, 2, 1, 2], kernel 3,
    ``dim`` = 64 channels, no dropout).

    Attributes:
        dilations: one residual block per entry ``d``: convolutions of dilation ``d``
            then ``2d``.
        kernel_size: k, the convolutions' width.
    """

    backbone: ClassVar[str] = "nextitnet"
    dilations: tuple[int, ...] = (1, 2, 1, 2, 1, 2)
    kernel_size: int = 3

    def __post_init__(self) -> None:
        super().__post_init__()
        value = self.dilations
        ok = (
            isinstance(value, Sequence)
            and not isinstance(value, str)
            and len(value) > 0
            and all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in value)
        )
        if not ok:
            raise InputError(
                f"model.dilations: expected a non-empty list of integers >= 1, got {value!r}"
            )
        object.__setattr__(self, "dilations", tuple(int(d) for d in value))
        check_int("model.kernel_size", self.kernel_size, low=1)

    @property
    def receptive_field(self) -> int:
        """How many positions (the current one included) the output at a position reads:
        ``1 + (k − 1)·Σ_i (d_i + 2 d_i)`` (55 by default)."""
        return 1 + (self.kernel_size - 1) * sum(3 * d for d in self.dilations)


@dataclass(frozen=True)
class SASRecSessionConfig(SessionEncoderConfig):
    """SASRec backbone (spec: 1 block, 1 head, dropout 0.1, FFN 64).

    Attributes:
        n_layers / n_heads: self-attention blocks and heads (``dim`` a multiple of
            ``n_heads``).
        ffn_dim: the blocks' feed-forward width.
    """

    backbone: ClassVar[str] = "sasrec"
    dropout: float = 0.1
    n_layers: int = 1
    n_heads: int = 1
    ffn_dim: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("model.n_layers", self.n_layers, low=1)
        check_int("model.n_heads", self.n_heads, low=1)
        if self.dim % self.n_heads:
            raise InputError(
                f"model.n_heads: expected a divisor of model.dim ({self.dim}), got {self.n_heads!r}"
            )
        check_int("model.ffn_dim", self.ffn_dim, low=1)


SessionConfig = GRUSessionConfig | NextItNetSessionConfig | SASRecSessionConfig


class SessionEncoder(nn.Module):
    """What the backbones share: the item table, the layout, the read-out (module doc).

    Subclasses implement :meth:`sequence_output` on end-padded states.

    Args:
        config: the backbone's config.

    Shapes: state (B, W) int64 with W <= L, len_state (B,) int64 -> (B, d).
    """

    def __init__(self, config: SessionConfig) -> None:
        super().__init__()
        self.config = config
        self.n_items = config.n_items
        self.dim = config.dim
        self.state_length = config.state_length
        self.padding = config.padding
        self.item_embedding = nn.Embedding(config.n_items + 1, config.dim, padding_idx=PADDING)
        nn.init.normal_(self.item_embedding.weight, std=EMBEDDING_INIT_STD)
        with torch.no_grad():
            self.item_embedding.weight[PADDING].zero_()

    def sequence_output(self, items: torch.Tensor) -> torch.Tensor:
        """(B, W) end-padded items -> (B, W, d): the output after each position, from
        the positions up to it only (causal); rows at padded positions are finite."""
        raise NotImplementedError

    def end_padded(
        self, state: torch.Tensor, len_state: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The state in the end-padded layout and the position to read:
        (B, W), (B,) -> (B, W) items first, (B,) index in ``0 .. W − 1``."""
        if state.dim() != 2:
            raise ValueError(f"state: expected a (B, L) tensor, got shape {tuple(state.shape)}")
        width = state.shape[1]
        if not 1 <= width <= self.state_length:
            raise ValueError(
                f"state: width {width} is not in 1 .. state_length {self.state_length}"
            )
        if self.padding == "end":
            if len_state.shape != state.shape[:1]:
                raise ValueError(
                    f"len_state: expected shape {tuple(state.shape[:1])},"
                    f" got {tuple(len_state.shape)}"
                )
            return state, len_state.long() - 1
        count = (state != PADDING).sum(dim=1)  # (B,) items in each row
        shift = (width - count).unsqueeze(1)  # (B, 1) leading padded positions
        cols = torch.arange(width, device=state.device)  # (W,)
        items = state.gather(1, (cols + shift) % width)  # (B, W) items first
        return items, (count - 1).clamp(min=0)  # (B,) all-padding rows read position 0

    def forward(self, state: torch.Tensor, len_state: torch.Tensor) -> torch.Tensor:
        items, last = self.end_padded(state, len_state)  # (B, W), (B,)
        out = self.sequence_output(items)  # (B, W, d)
        index = last.view(-1, 1, 1).expand(-1, 1, out.shape[-1])  # (B, 1, d)
        return out.gather(1, index).squeeze(1)  # (B, d)


class GRUSessionEncoder(SessionEncoder):
    """GRU backbone (module doc).

    Example:
        >>> enc = build_session_encoder("gru", 10, dim=8, state_length=4)
        >>> enc(torch.tensor([[3, 4, 0, 0]]), torch.tensor([2])).shape
        torch.Size([1, 8])
    """

    def __init__(self, config: GRUSessionConfig) -> None:
        super().__init__(config)
        self.gru = nn.GRU(config.dim, config.dim, num_layers=config.n_layers, batch_first=True)

    def sequence_output(self, items: torch.Tensor) -> torch.Tensor:
        x = self.item_embedding(items)  # (B, W, d)
        x = fast_dropout(x, self.config.dropout, self.training)  # (B, W, d)
        out, _ = self.gru(x)  # (B, W, d) the state after each position
        return out


class CausalConv1d(nn.Conv1d):
    """A dilated 1-D convolution over the time axis of a (B, W, C) tensor, zero-padded
    on the left by ``(k − 1)·dilation`` so that position ``t`` reads ``t − (k−1)·dilation
    .. t`` only (the NextItNet code's ``conv1d(causal=True)``).

    Shapes: (B, W, C_in) -> (B, W, C_out).

    Example:
        >>> CausalConv1d(4, 4, 3, dilation=2)(torch.zeros(2, 5, 4)).shape
        torch.Size([2, 5, 4])
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int):
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation)
        self.left = (kernel_size - 1) * dilation
        nn.init.trunc_normal_(self.weight, std=0.02, a=-0.04, b=0.04)  # TF truncated normal
        assert self.bias is not None  # Conv1d's default bias=True
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.pad(x.transpose(1, 2), (self.left, 0))  # (B, C_in, left + W)
        return super().forward(y).transpose(1, 2)  # (B, W, C_out)


class NextItNetBlock(nn.Module):
    """One residual block: ``x + ReLU(LN(conv_{2d}(ReLU(LN(conv_d(x))))))``.

    Args:
        channels: C (= d).
        dilation: d; the second convolution's is 2d.
        kernel_size: k.

    Shapes: (B, W, C) -> (B, W, C).

    Example:
        >>> NextItNetBlock(4, 2, 3)(torch.zeros(2, 5, 4)).shape
        torch.Size([2, 5, 4])
    """

    def __init__(self, channels: int, dilation: int, kernel_size: int) -> None:
        super().__init__()
        self.conv1 = CausalConv1d(channels, channels, kernel_size, dilation)
        self.norm1 = nn.LayerNorm(channels, eps=1e-8)  # the reference's ε
        self.conv2 = CausalConv1d(channels, channels, kernel_size, 2 * dilation)
        self.norm2 = nn.LayerNorm(channels, eps=1e-8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.norm1(self.conv1(x)))  # (B, W, C)
        h = F.relu(self.norm2(self.conv2(h)))  # (B, W, C)
        return x + h  # (B, W, C)


class NextItNetSessionEncoder(SessionEncoder):
    """NextItNet backbone (module doc).

    Example:
        >>> enc = build_session_encoder("nextitnet", 10, dim=8, state_length=4)
        >>> enc(torch.tensor([[3, 4, 0, 0]]), torch.tensor([2])).shape
        torch.Size([1, 8])
    """

    def __init__(self, config: NextItNetSessionConfig) -> None:
        super().__init__(config)
        self.blocks = nn.ModuleList(
            NextItNetBlock(config.dim, d, config.kernel_size) for d in config.dilations
        )

    def sequence_output(self, items: torch.Tensor) -> torch.Tensor:
        keep = (items != PADDING).unsqueeze(-1).to(self.item_embedding.weight.dtype)  # (B, W, 1)
        x = self.item_embedding(items) * keep  # (B, W, d) context_embedding *= mask
        x = fast_dropout(x, self.config.dropout, self.training)  # (B, W, d) ours, off by default
        for block in self.blocks:
            x = block(x) * keep  # (B, W, d) dilate_output *= mask
        return x


class _SessionSASRecBlocks(CausalSASRecEncoder):
    """:class:`CausalSASRecEncoder` with positions ``0 .. W − 1`` counted from the first
    column (the SQN code's ``tf.range``; the parent right-aligns them). States reach it
    end-padded, so position 0 is always the oldest item of the window."""

    def _inputs(
        self, tokens: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        pos = torch.arange(tokens.shape[1], device=tokens.device)  # (W,)
        x = tokens + self.position(pos)  # (B, W, d)
        return x * mask.unsqueeze(-1), mask  # (B, W, d) seq *= mask


class SASRecSessionEncoder(SessionEncoder):
    """SASRec backbone (module doc).

    Example:
        >>> enc = build_session_encoder("sasrec", 10, dim=8, state_length=4)
        >>> enc(torch.tensor([[3, 4, 0, 0]]), torch.tensor([2])).shape
        torch.Size([1, 8])
    """

    def __init__(self, config: SASRecSessionConfig) -> None:
        super().__init__(config)
        self.blocks = _SessionSASRecBlocks(
            config.dim,
            config.state_length,
            config.n_layers,
            config.n_heads,
            config.ffn_dim,
            config.dropout,
        )
        nn.init.normal_(self.blocks.position.weight, std=EMBEDDING_INIT_STD)

    def sequence_output(self, items: torch.Tensor) -> torch.Tensor:
        mask = items != PADDING  # (B, W)
        return self.blocks(self.item_embedding(items), mask)  # (B, W, d)


_BACKBONES: dict[str, tuple[type[SessionConfig], type[SessionEncoder]]] = {
    "gru": (GRUSessionConfig, GRUSessionEncoder),
    "nextitnet": (NextItNetSessionConfig, NextItNetSessionEncoder),
    "sasrec": (SASRecSessionConfig, SASRecSessionEncoder),
}
assert tuple(_BACKBONES) == BACKBONES


def build_session_encoder(
    backbone: str,
    n_items: int,
    *,
    dim: int = 64,
    state_length: int = 10,
    padding: str = "end",
    dropout: float | None = None,
    **fields_: Any,
) -> SessionEncoder:
    """The session encoder ``backbone`` over items ``1 .. n_items``.

    Args:
        backbone: one of :data:`BACKBONES`.
        n_items: N.
        dim / state_length / padding: as :class:`SessionEncoderConfig`'s.
        dropout: ``None``: the backbone's default (SQN code: 0.1 for SASRec, none for
            GRU and NextItNet).
        fields_: the backbone's own config fields (``n_layers``, ``dilations``, ...).

    Raises:
        InputError: an unknown backbone, a field the backbone does not have, or a bad
            value, naming it (``model.<field>``) and what was expected.

    Example:
        >>> enc = build_session_encoder("sasrec", 100, dim=16)
        >>> enc(torch.zeros(3, 10, dtype=torch.long), torch.ones(3, dtype=torch.long)).shape
        torch.Size([3, 16])
    """
    check_choice("model.backbone", backbone, BACKBONES)
    config_cls, encoder_cls = _BACKBONES[backbone]
    own = {f.name for f in fields(config_cls)} - {f.name for f in fields(SessionEncoderConfig)}
    unknown = sorted(set(fields_) - own)
    if unknown:
        raise InputError(
            f"model.{unknown[0]}: expected a field of the {backbone!r} session encoder"
            f" ({', '.join(sorted(own))}), got an unknown field"
        )
    given = dict(fields_, dim=dim, state_length=state_length, padding=padding)
    if dropout is not None:
        given["dropout"] = dropout
    config = config_cls(n_items=n_items, **given)
    return encoder_cls(config)
