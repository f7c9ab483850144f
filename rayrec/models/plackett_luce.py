"""Plackett–Luce distribution over slates: K distinct items drawn without replacement.

Plackett (1975), Luce (1959). Given one logit ``θ_i`` per item of a pool of I items,
the probability of the ordered slate ``a = (a_1, …, a_K)`` is

    P(a) = Π_k exp(θ_{a_k}) / Σ_{j ∉ {a_1..a_{k-1}}} exp(θ_j)

i.e. position k is a softmax over the items not chosen yet. Sampling is the
Gumbel-top-K trick (Kool, van Hoof & Welling, ICML 2019): add i.i.d. Gumbel(0, 1)
noise to the logits and take the K largest, in order — one tensor op for the whole
batch, no Python loop over positions. The most likely slate is the top-K of the
logits.

Entropy and KL: the slate entropy is a sum over permutations (intractable for a
pool of hundreds of items). :meth:`PlackettLuce.entropy` is the exact entropy of the
**first position**, the softmax over the whole pool, ``H(a_1)``; it is a lower bound
of the slate entropy (``H(a) = H(a_1) + H(a_2..K | a_1) ≥ H(a_1)``), deterministic
and differentiable, and is what the HAC/KuaiSim A2C code regularises (the entropy of
its softmax over the pool). Likewise :meth:`PlackettLuce.kl_first_position` is the
exact KL of the first positions, a lower bound of the slate KL (data processing).

Plain torch; the RLlib wrapper is
:class:`rayrec.algorithms.a2c.torch.plackett_luce.TorchPlackettLuce`.

Shapes: ``...`` batch, I items, K slate size. Values are **indices** 0..I-1 into the
logits' last axis.

Example:
    >>> d = PlackettLuce(torch.tensor([[2.0, 1.0, 0.0]]), slate_size=2)
    >>> d.sample().shape
    torch.Size([1, 2])
    >>> round(float(d.log_prob(torch.tensor([[0, 1]]))), 4)  # log(e²/Σ · e¹/(e¹+e⁰))
    -0.7209
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import Categorical, Distribution, constraints


class PlackettLuce(Distribution):
    """Ordered slates of ``slate_size`` distinct indices under Plackett–Luce.

    Args:
        logits: (..., I) unnormalised item log-weights θ (finite).
        slate_size: K, 1 ≤ K ≤ I.

    Shapes: batch_shape = logits.shape[:-1], event_shape = (K,).
    """

    arg_constraints = {"logits": constraints.real_vector}  # noqa: RUF012 (torch's API)
    has_rsample = False

    def __init__(
        self, logits: torch.Tensor, slate_size: int, validate_args: bool | None = False
    ) -> None:
        if logits.dim() < 1:
            raise ValueError("PlackettLuce: logits need an item axis, got a scalar")
        n_items = logits.shape[-1]
        if not 1 <= slate_size <= n_items:
            raise ValueError(
                f"PlackettLuce: slate_size must be in [1, {n_items}] (the pool), got {slate_size}"
            )
        self.logits = logits  # (..., I)
        self.slate_size = int(slate_size)
        super().__init__(
            batch_shape=logits.shape[:-1],
            event_shape=torch.Size([self.slate_size]),
            validate_args=validate_args,
        )

    @property
    def n_items(self) -> int:
        return int(self.logits.shape[-1])

    @constraints.dependent_property(is_discrete=True, event_dim=1)
    def support(self) -> constraints.Constraint:
        return constraints.independent(constraints.integer_interval(0, self.n_items - 1), 1)

    def expand(
        self, batch_shape: torch.Size | list[int] | tuple[int, ...], _instance: Any = None
    ) -> PlackettLuce:
        logits = self.logits.expand(*batch_shape, self.n_items)  # (*batch, I)
        return PlackettLuce(logits, self.slate_size, validate_args=False)

    @torch.no_grad()
    def sample(self, sample_shape: torch.Size | list[int] | tuple[int, ...] = ()) -> torch.Tensor:
        """Gumbel-top-K: (*sample_shape, ..., K) int64 indices, in sampled order."""
        shape = torch.Size(sample_shape) + self.logits.shape  # (*S, ..., I)
        u = torch.rand(shape, dtype=self.logits.dtype, device=self.logits.device)
        tiny = torch.finfo(self.logits.dtype).tiny
        gumbel = -torch.log(-torch.log(u.clamp(min=tiny)))  # (*S, ..., I) Gumbel(0, 1)
        keys = self.logits.expand(shape) + gumbel  # (*S, ..., I)
        return keys.topk(self.slate_size, dim=-1).indices  # (*S, ..., K) sorted by key

    @property
    def mode(self) -> torch.Tensor:
        """The most likely slate: the top-K logits in decreasing order, (..., K)."""
        return self.logits.topk(self.slate_size, dim=-1).indices  # (..., K)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """log P(a) = Σ_k [θ_{a_k} − logsumexp_{j ∉ a_<k} θ_j].

        value (*S, ..., K) int indices (distinct per slate) -> (*S, ...).
        """
        value = value.long()
        if value.shape[-1] != self.slate_size:
            raise ValueError(
                f"PlackettLuce.log_prob: slates of {self.slate_size} items expected, "
                f"got shape {tuple(value.shape)}"
            )
        logits = self.logits.expand(*value.shape[:-1], self.n_items)  # (*S, ..., I)
        chosen = logits.gather(-1, value)  # (*S, ..., K) θ_{a_k}
        # taken[..., k, i] = item i was chosen before position k (exclusive cumsum).
        one_hot = torch.nn.functional.one_hot(value, self.n_items)  # (*S, ..., K, I)
        taken = (one_hot.cumsum(dim=-2) - one_hot) > 0  # (*S, ..., K, I)
        remaining = logits.unsqueeze(-2).masked_fill(taken, float("-inf"))  # (*S, ..., K, I)
        log_norm = remaining.logsumexp(dim=-1)  # (*S, ..., K)
        return (chosen - log_norm).sum(dim=-1)  # (*S, ...)

    def entropy(self) -> torch.Tensor:
        """H(a_1): the exact entropy of the first position (a lower bound, see module doc).

        -> (...,)
        """
        return Categorical(logits=self.logits).entropy()  # (...,)

    def kl_first_position(self, other: PlackettLuce) -> torch.Tensor:
        """KL(P(a_1) ‖ Q(a_1)) of the first positions (a lower bound of the slate KL).

        -> (...,)
        """
        log_p = self.logits.log_softmax(dim=-1)  # (..., I)
        log_q = other.logits.log_softmax(dim=-1)  # (..., I)
        return (log_p.exp() * (log_p - log_q)).sum(dim=-1)  # (...,)
