"""Response backends: what a :class:`~rayrec.environments.slate.SlateEnv` asks about users.

A backend holds the batched user state and answers three questions with tensor
ops for B users at once: the initial state of drawn users, the per-item per-
behaviour logits of a slate, and the state after the user's response.

- :class:`LearnedBackend` wraps a trained :class:`UserResponseModel` with an
  incremental encoder: a user's state is the encoder state over their history,
  updated with one recurrent step per slate.
- :class:`GroundTruthBackend` uses a synthetic log's true click model, so the
  oracle policy is known exactly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import torch

from rayrec.data.synthetic import GroundTruth
from rayrec.simulator.response import UserResponseModel


class ResponseBackend(ABC):
    """Batched user response. Shapes: users (B,), slates (B, K), feedback (B, K, F)."""

    feedback_names: tuple[str, ...]
    n_users: int
    n_items: int
    device: torch.device

    @abstractmethod
    def initial_state(self, users: torch.Tensor) -> torch.Tensor:
        """(B,) -> state (B, S)."""

    @abstractmethod
    def logits(
        self, state: torch.Tensor, users: torch.Tensor, slates: torch.Tensor
    ) -> torch.Tensor:
        """-> (B, K, F) logits of each behaviour for each slate item."""

    @abstractmethod
    def update(
        self,
        state: torch.Tensor,
        users: torch.Tensor,
        slates: torch.Tensor,
        feedback: torch.Tensor,
    ) -> torch.Tensor:
        """-> state (B, S) after the user saw ``slates`` (0 = not shown) and responded."""

    @abstractmethod
    def item_vectors(self) -> torch.Tensor:
        """(I + 1, e) item representations, for the intra-slate similarity penalty."""


class LearnedBackend(ResponseBackend):
    """A trained response model with an incremental history encoder.

    Args:
        model: the response model (put in eval mode; never trained here).
        init_states: (U + 1, d) each user's history state at the end of the log.
        user_features: (U + 1, n_uf) categorical feature codes.
        device: where the tensors live.
    """

    def __init__(
        self,
        model: UserResponseModel,
        init_states: np.ndarray,
        user_features: np.ndarray,
        device: str | torch.device = "cpu",
    ) -> None:
        if not model.incremental:
            raise ValueError(
                f"the simulator steps users incrementally; encoder '{model.config.encoder}'"
                " re-encodes the whole window (use encoder 'gru' for environments)"
            )
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.feedback_names = model.config.feedback_names
        self.n_users = model.config.n_users
        self.n_items = model.config.n_items
        self.init_states = torch.as_tensor(init_states, device=self.device)
        self.user_features = torch.as_tensor(user_features, device=self.device)
        # The item embeddings of the slate just scored, reused by `update` (same step).
        self._slate_cache: tuple[torch.Tensor, torch.Tensor] | None = None

    @torch.inference_mode()
    def initial_state(self, users: torch.Tensor) -> torch.Tensor:
        return self.init_states[users].clone()  # (B, d)

    @torch.inference_mode()
    def logits(
        self, state: torch.Tensor, users: torch.Tensor, slates: torch.Tensor
    ) -> torch.Tensor:
        s = self.model.user_state(state, users, self.user_features[users])  # (B, d)
        e = self.model.item_emb(slates)  # (B, K, d)
        self._slate_cache = (slates, e)
        return self.model.score(s, slates, e)  # (B, K, F)

    @torch.inference_mode()
    def update(
        self,
        state: torch.Tensor,
        users: torch.Tensor,
        slates: torch.Tensor,
        feedback: torch.Tensor,
    ) -> torch.Tensor:
        cached = self._slate_cache
        e = cached[1] if cached is not None and cached[0] is slates else None
        self._slate_cache = None
        token, valid = self.model.slate_tokens(slates, feedback, e)  # (B, d), (B,)
        return self.model.encoder.step(state, token, valid)  # type: ignore[operator]

    def item_vectors(self) -> torch.Tensor:
        return self.model.item_emb.weight.detach()  # (I + 1, d)


class GroundTruthBackend(ResponseBackend):
    """The synthetic generator's true click model (static preferences, one behaviour)."""

    feedback_names = ("click",)

    def __init__(self, truth: GroundTruth, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.truth = truth
        self.user_factors = torch.as_tensor(
            truth.user_factors, dtype=torch.float32, device=self.device
        )
        self.item_factors = torch.as_tensor(
            truth.item_factors, dtype=torch.float32, device=self.device
        )
        self.item_bias = torch.as_tensor(truth.item_bias, dtype=torch.float32, device=self.device)
        self.n_users = len(truth.user_factors) - 1
        self.n_items = len(truth.item_factors) - 1

    def initial_state(self, users: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(users), 1, device=self.device)  # (B, 1): stateless

    def logits(
        self, state: torch.Tensor, users: torch.Tensor, slates: torch.Tensor
    ) -> torch.Tensor:
        u = self.user_factors[users]  # (B, d)
        v = self.item_factors[slates]  # (B, K, d)
        aff = torch.bmm(v, u.unsqueeze(-1)).squeeze(-1)  # (B, K)
        logit = self.truth.scale * aff + self.item_bias[slates] + self.truth.click_bias
        return logit.unsqueeze(-1)  # (B, K, 1)

    def update(
        self,
        state: torch.Tensor,
        users: torch.Tensor,
        slates: torch.Tensor,
        feedback: torch.Tensor,
    ) -> torch.Tensor:
        return state

    def item_vectors(self) -> torch.Tensor:
        return self.item_factors  # (I + 1, d)
