"""DDPG-LA's user-interest state encoder (plain torch, no RLlib).

DDPG-LA (the seed paper in ``../shared/specs/ddpg_la.md``) predicts a user's rating of
each record from the records before it. Its state is ``s = [long; short]``:

- **long** — :class:`RLSTMCell`, an LSTM whose cell state passes an enhancement unit
  ``f_E(c) = sign(c)·|c|^p`` after each update (p = 1: a plain LSTM), run over the
  user's whole history. The recurrent state is *carried* between steps: one cell step
  per new record while acting, never re-encoding the history.
- **short** — :class:`TSelfAttention`, self-attention over the last m records read out
  with position weights that favour later records (the plain module sums the rows).

Deviation (ours): :class:`InterestEncoder` appends a third part, ``current``, a linear
projection of the features of the record whose rating is predicted. Without it the
state holds only the past, so the predicted rating could not depend on the movie being
rated. An optional learned item-id embedding (``item_embedding_dim > 0``, ours; 0 = the
paper's features only) joins each record's features before its projection.

Training a carried recurrent state from single replayed transitions (ours, after R2D2's
stored state, Kapturowski et al., ICLR 2019, with a window instead of burn-in): the
state is a ring of the last L + 1 ``(h, c)`` pairs. Acting (``rewind=0``) runs the cell
over the new records from ``ring[:, 0]``; training (``rewind=L``) re-runs it with
gradient over the last L consumed records plus the new ones, starting from the state
stored L records back — truncated BPTT over L records whose start state may be stale
(computed by older weights), as R2D2's stored state is.

Shapes: B batch, W window (past records kept in an observation), F record features
(the rating column excluded), r record width, H LSTM width, d attention width (d_k = d_v),
m short window, L train window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import torch
import torch.nn.functional as F
from torch import nn

from rayrec.errors import InputError
from rayrec.models.checks import check_choice, check_int, check_number, shared_fields
from rayrec.models.variants import VARIANT_LABELS, VARIANTS

#: Position weights of the T-self-attention read-out (``sum`` is the plain module's).
POSITION_WEIGHTS: Final[tuple[str, ...]] = ("linear", "softmax")
_READOUTS: Final[tuple[str, ...]] = ("linear", "softmax", "sum")


def enhance(c: torch.Tensor, p: float, eps: float) -> torch.Tensor:
    """The cell-state enhancement unit ``f_E(c) = sign(c)·|c|^p``, smoothed at 0.

    Computed as ``c·(c² + ε²)^((p−1)/2)``: odd, 0 at 0, within a factor
    ``(1 + ε²/c²)^((p−1)/2)`` of ``sign(c)·|c|^p`` (|c| = 10ε: 0.25% low at p = 0.5),
    and with a finite slope ``ε^(p−1)`` at 0 where ``|c|^p`` has an infinite one
    (ε = 1e-3, p = 0.5: 31.6). ``p = 1`` returns ``c`` itself (a plain LSTM).

    Example:
        >>> enhance(torch.tensor([-0.25, 0.0, 0.25]), 0.5, 1e-3)
        tensor([-0.5000,  0.0000,  0.5000])
    """
    if p == 1.0:
        return c
    return c * (c * c + eps * eps).pow((p - 1.0) / 2.0)  # (..., H)


class RLSTMCell(nn.Module):
    """An LSTM cell with the cell-state enhancement unit (the paper's RLSTM).

    ``C_t = f_t ⊙ C_{t−1} + i_t ⊙ C̃_t``; ``C_t ← f_E(C_t)``; ``h_t = o_t ⊙ tanh(C_t)``,
    with :func:`enhance` as ``f_E``; the enhanced ``C_t`` is the carried cell state.
    Parameters, their layout (gates i, f, g, o) and initialisation are
    ``nn.LSTMCell``'s, so ``p = 1`` equals ``nn.LSTMCell`` / ``nn.LSTM`` (tested). The
    four gates come from one matmul per step; :meth:`input_gates` projects a whole
    sequence's inputs at once.

    Args:
        input_dim: I, the input width.
        hidden_dim: H, the state width.
        p: the enhancement exponent in (0, 1] (1: no enhancement).
        eps: ε of :func:`enhance`'s smoothing at 0.

    Shapes: x (B, I), (h, c) (B, H) each -> (h, c) (B, H) each.

    Example:
        >>> cell = RLSTMCell(3, 4)
        >>> h, c = cell(torch.zeros(2, 3), (torch.zeros(2, 4), torch.zeros(2, 4)))
        >>> h.shape, c.shape
        (torch.Size([2, 4]), torch.Size([2, 4]))
    """

    def __init__(self, input_dim: int, hidden_dim: int, p: float = 0.5, eps: float = 1e-3) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.hidden_dim = hidden_dim
        self.p = p
        self.eps = eps
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_dim, input_dim))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_dim, hidden_dim))
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_dim))
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``nn.LSTMCell``'s initialisation: every parameter U(−1/√H, 1/√H)."""
        bound = 1.0 / math.sqrt(self.hidden_dim)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def input_gates(self, x: torch.Tensor) -> torch.Tensor:
        """The input's share of the gate pre-activations, both biases included:
        x (..., I) -> (..., 4H)."""
        return F.linear(x, self.weight_ih, self.bias_ih + self.bias_hh)  # (..., 4H)

    def step(
        self, x_gates: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One update from :meth:`input_gates`' output: x_gates (B, 4H), h, c (B, H)."""
        gates = torch.addmm(x_gates, h, self.weight_hh.t())  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=-1)  # (B, H) each
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # (B, H)
        c = enhance(c, self.p, self.eps)  # (B, H)  C_t ← f_E(C_t)
        h = torch.sigmoid(o) * torch.tanh(c)  # (B, H)
        return h, c

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One update: x (B, I), state = (h, c), each (B, H)."""
        h, c = state
        return self.step(self.input_gates(x), h, c)


class TSelfAttention(nn.Module):
    """Self-attention over a few records, read out with position weights (T-self-attention).

    ``Z = softmax(Q Kᵀ / √d) V`` with ``Q, K, V = X W_Q, X W_K, X W_V`` (no biases), then
    ``short = Σ_i w_i Z_i`` over the real records, position i = 1 for the oldest:

    - ``linear``: ``w_i = i / Σ_j j`` (ours, the default of the T version);
    - ``softmax``: ``w_i = softmax(β·i)``;
    - ``sum``: ``w_i = 1`` (the plain self-attention of the ablation).

    Padding neither attends nor is attended; with k < m real records the positions are
    1..k and the weights renormalise over them. No real record: ``short = 0``.

    Args:
        input_dim: r, a record's width.
        attention_dim: d = d_k = d_v.
        weights: ``linear``, ``softmax`` or ``sum``.
        beta: β of the ``softmax`` weights.

    Shapes: x (B, m, r), mask (B, m) (bool, or float with 1 = real) -> (B, d).

    Example:
        >>> att = TSelfAttention(3, 2)
        >>> att(torch.zeros(4, 5, 3), torch.ones(4, 5)).shape
        torch.Size([4, 2])
    """

    def __init__(
        self, input_dim: int, attention_dim: int, weights: str = "linear", beta: float = 1.0
    ) -> None:
        super().__init__()
        if weights not in _READOUTS:
            raise ValueError(f"weights: expected one of {_READOUTS}, got {weights!r}")
        self.attention_dim = attention_dim
        self.weights = weights
        self.beta = beta
        self.qkv = nn.Linear(input_dim, 3 * attention_dim, bias=False)  # [W_Q; W_K; W_V]

    def position_weights(
        self, mask: torch.Tensor, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        """w (B, m) from the real-record mask (B, m) bool; 0 at padding."""
        real = mask.to(dtype)  # (B, m)
        if self.weights == "sum":
            return real
        position = torch.cumsum(real, dim=1) * real  # (B, m)  1..k over real records
        if self.weights == "linear":
            return position / position.sum(1, keepdim=True).clamp(min=1.0)  # (B, m)
        logits = (self.beta * position).masked_fill(~mask, torch.finfo(real.dtype).min)
        return torch.softmax(logits, dim=1) * real  # (B, m)  0 for an all-padding row

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        real = mask > 0.5 if mask.dtype != torch.bool else mask  # (B, m)
        q, k, v = self.qkv(x).chunk(3, dim=-1)  # (B, m, d) each
        scores = q @ k.transpose(1, 2) / math.sqrt(self.attention_dim)  # (B, m, m)
        scores = scores.masked_fill(~real[:, None, :], torch.finfo(scores.dtype).min)
        z = torch.softmax(scores, dim=-1) @ v  # (B, m, d)
        w = self.position_weights(real, z.dtype)  # (B, m)
        return (w.unsqueeze(-1) * z).sum(1)  # (B, d)


@dataclass(frozen=True)
class InterestEncoderConfig:
    """DDPG-LA's state encoder; every field is checked on construction.

    Attributes:
        variant: which modules the state holds (``rlstm+t_attention``, the full
            DDPG-LA): one of :data:`VARIANTS`; ``lstm`` variants use p = 1, plain
            ``attention`` variants the ``sum`` read-out. :data:`VARIANT_LABELS` names
            them as the paper does.
        record_dim: r, the width a record (and the current record) is projected to (32).
        hidden_dim: H, the (R)LSTM's width (32).
        attention_dim: d_k = d_v of the self-attention (32).
        enhancement_p: p of ``f_E(c) = sign(c)|c|^p`` in (0, 1] (0.5, ours).
        enhancement_eps: ε > 0 smoothing ``|c|^p`` at 0 (1e-3, ours; see :func:`enhance`).
        short_window: m, records the attention reads (5, the paper's).
        position_weights: the T read-out, ``linear`` (ours, default) or ``softmax``.
        softmax_beta: β of the ``softmax`` weights (1.0, ours).
        train_window: L, consumed records re-run with gradient in training (8, ours);
            the env's window must hold at least L + 1 records.
        item_embedding_dim: width of a learned item-id embedding joined to each record's
            features (0 = the paper's features only, the default; ours).

    Raises:
        InputError: naming the field (``model.<field>``) and the value.
    """

    variant: str = "rlstm+t_attention"
    record_dim: int = 32
    hidden_dim: int = 32
    attention_dim: int = 32
    enhancement_p: float = 0.5
    enhancement_eps: float = 1e-3
    short_window: int = 5
    position_weights: str = "linear"
    softmax_beta: float = 1.0
    train_window: int = 8
    item_embedding_dim: int = 0

    @classmethod
    def of(cls, settings: object) -> InterestEncoderConfig:
        """The encoder fields of a model config that carries them by the same names
        (fields it lacks keep their defaults)."""
        return cls(**shared_fields(cls, settings))

    def __post_init__(self) -> None:
        check_choice("model.variant", self.variant, VARIANTS)
        check_int("model.record_dim", self.record_dim, low=1)
        check_int("model.hidden_dim", self.hidden_dim, low=1)
        check_int("model.attention_dim", self.attention_dim, low=1)
        p = check_number(
            "model.enhancement_p", self.enhancement_p, low=0.0, high=1.0, low_open=True
        )
        object.__setattr__(self, "enhancement_p", p)
        eps = check_number("model.enhancement_eps", self.enhancement_eps, low=0.0, low_open=True)
        object.__setattr__(self, "enhancement_eps", eps)
        object.__setattr__(
            self, "softmax_beta", check_number("model.softmax_beta", self.softmax_beta)
        )
        check_int("model.short_window", self.short_window, low=1)
        check_choice("model.position_weights", self.position_weights, POSITION_WEIGHTS)
        check_int("model.train_window", self.train_window, low=1)
        check_int("model.item_embedding_dim", self.item_embedding_dim, low=0)

    @property
    def paper_label(self) -> str:
        """The variant as the paper names it (``DDPG-LA``, ``DDPG+LSTM``, ...)."""
        return VARIANT_LABELS[self.variant]

    @property
    def long_term(self) -> str | None:
        """``rlstm``, ``lstm``, or None when the state has no long-term part."""
        head = self.variant.split("+")[0]
        return head if head in ("rlstm", "lstm") else None

    @property
    def short_term(self) -> str | None:
        """``t_attention``, ``attention``, or None when the state has no short-term part."""
        tail = self.variant.split("+")[-1]
        return tail if tail in ("t_attention", "attention") else None


class InterestEncoder(nn.Module):
    """DDPG-LA's state ``s = [long; short; current]`` over a carried recurrent state.

    - ``long`` (H): the (R)LSTM's h after every consumed record (variants with ``lstm``).
    - ``short`` (d): (T-)self-attention over the window's last m records (variants with
      ``attention``).
    - ``current`` (r): a linear projection of the current record's features (ours: without
      it the predicted rating could not depend on the movie being rated).

    Every record (features with its normalised rating as the last column, plus the
    optional item embedding) is projected linearly to width r before both modules.

    The carried state is a ring ``(B, L+1, 2, H)`` of ``(h, c)`` pairs: ``ring[:, j]``
    is the state j consumed records before the latest (zeros where fewer were consumed;
    the state after no record is zeros). A variant without an LSTM carries a dummy
    ``(B, 1, 2, 1)`` ring that passes through unchanged, so every variant is stateful
    the same way (:attr:`state_shape`).

    Args:
        cfg: the variant and sizes.
        n_features: F, a record's features without its rating.
        n_items: the largest item id (ids 0..n_items; 0 = padding).
        window: W, the past records an observation holds (>= m; >= L + 1 with an LSTM).

    Raises:
        InputError: the window is shorter than ``model.short_window`` or
            ``model.train_window`` + 1 needs.

    Example:
        >>> enc = InterestEncoder(InterestEncoderConfig(train_window=2), 3, 10, window=5)
        >>> B, W = 2, 5
        >>> out, state = enc(torch.zeros(B, W, 4), torch.ones(B, W, dtype=torch.long),
        ...     torch.ones(B, W), torch.full((B,), 5), torch.zeros(B, 3),
        ...     torch.ones(B, dtype=torch.long), enc.initial_state(B))
        >>> out.shape, state.shape, enc.out_dim
        (torch.Size([2, 96]), torch.Size([2, 3, 2, 32]), 96)
    """

    def __init__(
        self, cfg: InterestEncoderConfig, n_features: int, n_items: int, window: int
    ) -> None:
        super().__init__()
        if cfg.short_term is not None and window < cfg.short_window:
            raise InputError(
                f"model.short_window: expected an integer <= the env's window ({window}),"
                f" got {cfg.short_window!r}"
            )
        if cfg.long_term is not None and window < cfg.train_window + 1:
            raise InputError(
                f"model.train_window: expected an integer <= the env's window - 1"
                f" ({window - 1}), got {cfg.train_window!r}"
            )
        self.cfg = cfg
        self.window = window
        e = cfg.item_embedding_dim
        self.items = nn.Embedding(n_items + 1, e, padding_idx=0) if e > 0 else None
        self.record = nn.Linear(n_features + 1 + e, cfg.record_dim)
        self.current = nn.Linear(n_features + e, cfg.record_dim)
        self.long: RLSTMCell | None = None
        if cfg.long_term is not None:
            p = cfg.enhancement_p if cfg.long_term == "rlstm" else 1.0
            self.long = RLSTMCell(cfg.record_dim, cfg.hidden_dim, p, cfg.enhancement_eps)
        self.short: TSelfAttention | None = None
        if cfg.short_term is not None:
            readout = cfg.position_weights if cfg.short_term == "t_attention" else "sum"
            self.short = TSelfAttention(
                cfg.record_dim, cfg.attention_dim, readout, cfg.softmax_beta
            )

    @property
    def out_dim(self) -> int:
        """The state width: H (with an LSTM) + d (with attention) + r."""
        width = self.cfg.record_dim
        width += self.cfg.hidden_dim if self.long is not None else 0
        width += self.cfg.attention_dim if self.short is not None else 0
        return width

    @property
    def state_shape(self) -> tuple[int, int, int]:
        """The carried state's shape per row: (L + 1, 2, H), or (1, 2, 1) without an LSTM."""
        if self.long is None:
            return (1, 2, 1)
        return (self.cfg.train_window + 1, 2, self.cfg.hidden_dim)

    def initial_state(self, batch: int, device: torch.device | None = None) -> torch.Tensor:
        """The state before any record: zeros (B, *state_shape)."""
        return torch.zeros(batch, *self.state_shape, device=device)  # (B, L+1, 2, H)

    def project_records(self, records: torch.Tensor, record_items: torch.Tensor) -> torch.Tensor:
        """Records (B, W, F+1) and their item ids (B, W) -> (B, W, r)."""
        if self.items is not None:
            records = torch.cat([records, self.items(record_items.long())], dim=-1)  # (B, W, F+1+e)
        return self.record(records)  # (B, W, r)

    def forward(
        self,
        records: torch.Tensor,
        record_items: torch.Tensor,
        record_mask: torch.Tensor,
        new: torch.Tensor,
        current: torch.Tensor,
        current_item: torch.Tensor,
        state: torch.Tensor,
        rewind: int = 0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The state vector and the carried state after the window's new records.

        Args:
            records: (B, W, F+1) the last W past records, oldest first, left-padded;
                the last column is the normalised rating.
            record_items: (B, W) long item ids (0 = padding).
            record_mask: (B, W) 1 = real record (real records right-aligned).
            new: (B,) long, how many of the newest records ``state`` has not consumed.
            current: (B, F) the features of the record whose rating is predicted.
            current_item: (B,) long, its item id.
            state: (B, *state_shape) the carried ring.
            rewind: consumed records to re-run with gradient, in [0, L]: 0 when acting
                (only the new records), L in training (truncated BPTT over L records from
                the state stored L records back). Rows that consumed fewer rewind fewer.

        Returns:
            (B, out_dim) the state ``[long; short; current]`` and (B, *state_shape) the
            ring after the new records (the input ring unchanged without an LSTM).

        Raises:
            ValueError: ``rewind`` outside [0, L], or ``new`` above a row's real records.
        """
        real = record_mask > 0.5  # (B, W)
        x = self.project_records(records, record_items)  # (B, W, r)
        parts: list[torch.Tensor] = []
        state_out = state
        if self.long is not None:
            h, state_out = self._long_term(x, real, new, state, rewind)  # (B, H), ring
            parts.append(h)
        if self.short is not None:
            m = self.cfg.short_window
            parts.append(self.short(x[:, -m:], real[:, -m:]))  # (B, d)
        now = current
        if self.items is not None:
            now = torch.cat([current, self.items(current_item.long())], dim=-1)  # (B, F+e)
        parts.append(self.current(now))  # (B, r)
        return torch.cat(parts, dim=-1), state_out  # (B, out_dim)

    def start_slot(self, real: torch.Tensor, new: torch.Tensor, rewind: int) -> torch.Tensor:
        """(B,) the ring slot a re-encoding starts from: ``a = min(rewind, consumed)``, the
        state ``a`` consumed records back (``consumed`` = real records in the window −
        ``new``), capped to the ring (a variant without an LSTM carries one slot).

        real (B,) the number of real records in the window, new (B,) -> (B,) long. For
        the *next* observation's slot pass ``new = 0``: every record is consumed then."""
        consumed = real.long() - new.long()  # (B,)
        return consumed.clamp(min=0, max=min(rewind, self.state_shape[0] - 1))  # (B,)

    def _long_term(
        self,
        x: torch.Tensor,
        real: torch.Tensor,
        new: torch.Tensor,
        ring: torch.Tensor,
        rewind: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The cell over each row's last a + new records from ring[:, a], right-aligned.

        x (B, W, r), real (B, W) bool, new (B,), ring (B, L+1, 2, H) -> h (B, H) and the
        ring shifted by ``new`` with the new states pushed in. One host sync per call
        reads the loop length max(a + new) and the ``new`` check.
        """
        assert self.long is not None
        cell = self.long
        big_l = self.cfg.train_window
        if not 0 <= rewind <= big_l:
            raise ValueError(f"rewind: expected an integer in [0, {big_l}], got {rewind!r}")
        batch, hidden = ring.shape[0], ring.shape[-1]
        new = new.to(device=x.device, dtype=torch.long)  # (B,)
        count = real.sum(1)  # (B,)
        consumed = count - new  # (B,)
        a = self.start_slot(count, new, rewind)  # (B,)
        n = a + new  # (B,)  cell steps per row
        longest, overdrawn = torch.stack([n.max(), (consumed < 0).sum()]).tolist()
        if overdrawn:
            raise ValueError("new: expected at most the row's real records in the window")
        rows = torch.arange(batch, device=x.device)  # (B,)
        start = ring[rows, a]  # (B, 2, H)
        h, c = start[:, 0], start[:, 1]  # (B, H) each
        steps = int(longest)
        x_gates = cell.input_gates(x[:, x.shape[1] - steps :])  # (B, T, 4H)
        first = steps - n  # (B,)  the loop step at which a row starts
        states: list[torch.Tensor] = []
        for t in range(steps):
            h_t, c_t = cell.step(x_gates[:, t], h, c)  # (B, H) each
            active = (first <= t).unsqueeze(-1)  # (B, 1)
            h = torch.where(active, h_t, h)  # (B, H)
            c = torch.where(active, c_t, c)  # (B, H)
            states.append(torch.stack([h, c], dim=1))  # (B, 2, H)
        slots = big_l + 1
        fresh = ring.new_zeros(batch, slots, 2, hidden)  # (B, L+1, 2, H)
        if states:
            newest_first = torch.stack(states[::-1][:slots], dim=1)  # (B, min(T, L+1), 2, H)
            fresh = torch.cat([newest_first, fresh[:, newest_first.shape[1] :]], dim=1)
        j = torch.arange(slots, device=x.device)  # (L+1,)
        back = (j.unsqueeze(0) - new.unsqueeze(1)).clamp(0, big_l)  # (B, L+1)
        kept = ring.gather(1, back[:, :, None, None].expand(-1, -1, 2, hidden))  # (B, L+1, 2, H)
        from_loop = (j.unsqueeze(0) < n.unsqueeze(1))[:, :, None, None]  # (B, L+1, 1, 1)
        return h, torch.where(from_loop, fresh, kept)  # (B, H), (B, L+1, 2, H)
