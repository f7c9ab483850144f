"""The Plackett–Luce slate distribution as an RLlib ``TorchDistribution``.

Wraps :class:`rayrec.models.plackett_luce.PlackettLuce` so that RLlib's PPO learner
can use it like any action distribution: ``from_logits(ACTION_DIST_INPUTS)``,
``logp(actions)`` for the likelihood ratio, ``entropy()`` for the bonus, ``kl()``,
``sample()`` and ``to_deterministic()`` (the top-K slate).

Actions are item **ids** of the slate env's ``MultiDiscrete([I] * K, start=1)``
space: the logits have one column per item id ``first_id .. first_id + I − 1`` and
``first_id`` is added to / removed from the sampled indices. The slate size K and
``first_id`` are not in the logits, so the module hands RLlib a partial class with
them bound (:func:`plackett_luce_cls`).

Entropy and KL are those of the first slate position (exact lower bounds of the
slate's; see :mod:`rayrec.models.plackett_luce` for why).
"""

from __future__ import annotations

from typing import Any, cast

import gymnasium as gym
import torch
from ray.rllib.core.distribution.distribution import Distribution
from ray.rllib.core.distribution.torch.torch_distribution import (
    TorchDeterministic,
    TorchDistribution,
)
from ray.rllib.utils.typing import TensorType

from rayrec.models.plackett_luce import PlackettLuce


class TorchPlackettLuce(TorchDistribution):
    """Slates of ``slate_size`` distinct item ids sampled without replacement.

    Args:
        logits: (B, I) item scores; column j is item id ``first_id + j``.
        slate_size: K.
        first_id: the id of column 0 (the action space's ``start``, 1 for SlateEnv).

    Shapes: sample (B, K) int64 ids; logp (B, K) ids -> (B,); entropy -> (B,).
    """

    def __init__(self, logits: torch.Tensor, slate_size: int, first_id: int = 0) -> None:
        self.logits = logits  # (B, I)
        self.slate_size = int(slate_size)
        self.first_id = int(first_id)
        super().__init__(logits=logits, slate_size=slate_size)

    def _get_torch_distribution(self, logits: torch.Tensor, slate_size: int) -> PlackettLuce:
        return PlackettLuce(logits, slate_size)

    @property
    def pl(self) -> PlackettLuce:
        return cast(PlackettLuce, self._dist)

    def logp(self, value: TensorType, **kwargs: Any) -> torch.Tensor:
        """log P(slate): value (B, K) item ids -> (B,)."""
        return self.pl.log_prob(torch.as_tensor(value).long() - self.first_id)  # (B,)

    def sample(
        self,
        *,
        sample_shape: tuple[int, ...] | None = None,
        return_logp: bool = False,
        **kwargs: Any,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Gumbel-top-K slates, (*sample_shape, B, K) item ids (and their log P)."""
        shape = torch.Size(sample_shape) if sample_shape is not None else torch.Size()
        slates = self.pl.sample(shape) + self.first_id  # (*S, B, K)
        return (slates, self.logp(slates)) if return_logp else slates

    def rsample(
        self,
        *,
        sample_shape: tuple[int, ...] | None = None,
        return_logp: bool = False,
        **kwargs: Any,
    ) -> torch.Tensor:
        raise NotImplementedError("a slate of item ids has no reparameterised sample")

    def entropy(self, **kwargs: Any) -> torch.Tensor:
        """H(first position), (B,) — see the module docstring."""
        return self.pl.entropy()  # (B,)

    def kl(self, other: Distribution, **kwargs: Any) -> torch.Tensor:
        """KL of the first positions, (B,) — see the module docstring."""
        if not isinstance(other, TorchPlackettLuce):
            raise TypeError(f"KL between TorchPlackettLuce and {type(other).__name__}")
        return self.pl.kl_first_position(other.pl)  # (B,)

    def to_deterministic(self) -> TorchDeterministic:
        """The most likely slate: the top-K item ids, (B, K)."""
        return TorchDeterministic(loc=self.pl.mode + self.first_id)

    @staticmethod
    def required_input_dim(space: gym.Space, **kwargs: Any) -> int:
        """One logit per item of a slate space ``MultiDiscrete([I] * K)``."""
        if not isinstance(space, gym.spaces.MultiDiscrete) or len(set(space.nvec.tolist())) != 1:
            raise ValueError(f"TorchPlackettLuce needs MultiDiscrete([I] * K), got {space}")
        return int(space.nvec[0])

    @classmethod
    def from_logits(cls, logits: TensorType, **kwargs: Any) -> TorchPlackettLuce:
        return cls(logits=torch.as_tensor(logits), **kwargs)


def plackett_luce_cls(space: gym.spaces.MultiDiscrete) -> type[TorchPlackettLuce]:
    """``TorchPlackettLuce`` with K and ``first_id`` bound for a slate action space.

    RLlib calls ``cls.from_logits(logits)`` with the logits alone; this binds the rest
    (what RLlib's ``Distribution.get_partial_dist_cls`` does, typed).
    """
    nvec, start = space.nvec.tolist(), space.start.tolist()
    if len(set(nvec)) != 1 or len(set(start)) != 1:
        raise ValueError(f"a slate space has one pool for every position, got {space}")
    slate_size, first_id = len(nvec), int(start[0])

    class SlatePlackettLuce(TorchPlackettLuce):
        @classmethod
        def from_logits(cls, logits: TensorType, **kwargs: Any) -> TorchPlackettLuce:
            return TorchPlackettLuce(
                torch.as_tensor(logits), slate_size=slate_size, first_id=first_id, **kwargs
            )

    return SlatePlackettLuce
