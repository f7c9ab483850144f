"""Policy state encoders and their config (plain torch, no RLlib).

The state ``s_t`` every policy of rayrec acts on, from what the env observes:

- :class:`StateEncoder` — the slate env's observation (history of item ids and their
  per-item feedback, the user id): ``s = SASRec(E(x_1..x_H) + W_y y_1..H, mask) + e_u``
  (Kang & McAuley, ICDM 2018, as HAC/KuaiSim use it; the SASRec deviations are
  :class:`~rayrec.models.encoders.SASRecEncoder`'s). The item embedding E is either
  passed in — HAC's item kernel Φ, shared between the state and the action head — or
  owned by the encoder (``n_items``), for a policy whose action is not an item.
- :class:`FlatStateEncoder` — a flat vector observation through an MLP.

Both are configured by one frozen :class:`StateEncoderConfig` that checks its own
fields. :func:`acting` turns dropout off while a policy acts.

Shapes: B batch, H history length, F feedback types, O flat observation width,
d state width.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise

import torch
from torch import nn

from rayrec.errors import InputError
from rayrec.models.checks import check_bool, check_int, check_number, check_widths, shared_fields
from rayrec.models.encoders import SASRecEncoder, fast_dropout


@contextmanager
def acting(module: nn.Module) -> Iterator[None]:
    """Dropout off while a module acts (the HAC reference code left it on in rollouts);
    the module's train/eval mode is restored afterwards.

    Example:
        >>> net = nn.Dropout(0.5)
        >>> with acting(net):
        ...     net.training
        False
        >>> net.training
        True
    """
    was = module.training
    if not was:  # already in eval mode (train() walks every submodule: ~0.7 ms)
        yield
        return
    module.train(False)
    try:
        yield
    finally:
        module.train(True)


@dataclass(frozen=True)
class StateEncoderConfig:
    """Sizes of a policy state encoder; every field is checked on construction.

    Attributes:
        state_dim: d, the state width (32, the HAC reference code's).
        n_layers / n_heads / ffn_dim: SASRec's transformer (2, 4, 64); ``state_dim``
            must be a multiple of ``n_heads``.
        dropout: in [0, 1) (0.1); SASRec's attention / FFN dropout, and after each
            hidden layer of the flat encoder.
        use_user_id: add a user-id embedding e_u to the state (True).
        flat_hidden: hidden widths of :class:`FlatStateEncoder`'s MLP ([64]).

    Raises:
        InputError: naming the field (``model.<field>``) and the value.
    """

    state_dim: int = 32
    n_layers: int = 2
    n_heads: int = 4
    ffn_dim: int = 64
    dropout: float = 0.1
    use_user_id: bool = True
    flat_hidden: tuple[int, ...] = (64,)

    @classmethod
    def of(cls, settings: object) -> StateEncoderConfig:
        """The encoder fields of a model config that carries them by the same names
        (fields it lacks keep their defaults)."""
        return cls(**shared_fields(cls, settings))

    def __post_init__(self) -> None:
        check_int("model.state_dim", self.state_dim, low=1)
        check_int("model.n_layers", self.n_layers, low=1)
        check_int("model.n_heads", self.n_heads, low=1)
        if self.state_dim % self.n_heads:
            raise InputError(
                f"model.n_heads: expected a divisor of model.state_dim ({self.state_dim}),"
                f" got {self.n_heads!r}"
            )
        check_int("model.ffn_dim", self.ffn_dim, low=1)
        object.__setattr__(
            self,
            "dropout",
            check_number("model.dropout", self.dropout, low=0.0, high=1.0, high_open=True),
        )
        check_bool("model.use_user_id", self.use_user_id)
        object.__setattr__(self, "flat_hidden", check_widths("model.flat_hidden", self.flat_hidden))


class StateEncoder(nn.Module):
    """s = SASRec(E(items) + W_y·feedback, mask) + user embedding.

    Args:
        cfg: sizes.
        n_users: the largest user id (ids 0..n_users are embedded).
        n_feedback: F, feedback types per history entry.
        history: H, the history length.
        n_items: when given, the encoder owns its item embedding E over ids 0..n_items
            (0 = padding); otherwise E is passed to :meth:`forward` (HAC's kernel Φ).

    Shapes: items (B, H) long, feedback (B, H, F), users (B,) -> (B, d).

    Example:
        >>> enc = StateEncoder(StateEncoderConfig(state_dim=8, n_heads=2), 5, 1, 4, n_items=3)
        >>> enc(torch.ones(2, 4, dtype=torch.long), torch.zeros(2, 4, 1),
        ...     torch.zeros(2, dtype=torch.long)).shape
        torch.Size([2, 8])
    """

    def __init__(
        self,
        cfg: StateEncoderConfig,
        n_users: int,
        n_feedback: int,
        history: int,
        n_items: int | None = None,
    ) -> None:
        super().__init__()
        d = cfg.state_dim
        self.feedback = nn.Linear(n_feedback, d, bias=False)
        self.encoder = SASRecEncoder(
            d, history, cfg.n_layers, cfg.n_heads, cfg.ffn_dim, cfg.dropout
        )
        self.user = nn.Embedding(n_users + 1, d) if cfg.use_user_id else None
        self.items = nn.Embedding(n_items + 1, d, padding_idx=0) if n_items is not None else None

    def forward(
        self,
        items: torch.Tensor,
        feedback: torch.Tensor,
        users: torch.Tensor,
        item_embedding: nn.Embedding | None = None,
        dropout: bool | None = None,
    ) -> torch.Tensor:
        """``item_embedding``: E when the encoder owns none; ``dropout``: as
        :meth:`SASRecEncoder.forward` (default: in train mode)."""
        embed = item_embedding if item_embedding is not None else self.items
        if embed is None:
            raise ValueError("StateEncoder without n_items needs the item_embedding argument")
        tokens = embed(items) + self.feedback(feedback)  # (B, H, d)
        s = self.encoder(tokens, items > 0, dropout)  # (B, d)
        if self.user is not None:
            s = s + self.user(users)  # (B, d)
        return s


class FlatStateEncoder(nn.Module):
    """s = MLP(o): a flat observation vector through ReLU layers (dropout after each).

    Args:
        cfg: ``state_dim``, ``flat_hidden`` and ``dropout`` are used.
        obs_dim: O, the observation width.

    Shapes: obs (B, O) -> (B, d).

    Example:
        >>> FlatStateEncoder(StateEncoderConfig(state_dim=8), 3)(torch.zeros(2, 3)).shape
        torch.Size([2, 8])
    """

    def __init__(self, cfg: StateEncoderConfig, obs_dim: int) -> None:
        super().__init__()
        widths = [obs_dim, *cfg.flat_hidden, cfg.state_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(widths))
        self.dropout = cfg.dropout

    def forward(self, obs: torch.Tensor, dropout: bool | None = None) -> torch.Tensor:
        """``dropout``: drop out after hidden layers (default: in train mode)."""
        drop = self.training if dropout is None else dropout
        x = obs.float().flatten(1)  # (B, O)
        for layer in self.layers[:-1]:
            x = fast_dropout(torch.relu(layer(x)), self.dropout, drop)  # (B, h)
        return self.layers[-1](x)  # (B, d)
