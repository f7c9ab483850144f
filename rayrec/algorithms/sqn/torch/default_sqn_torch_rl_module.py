"""The RLModule of the logged-session learners: session encoders with a CE head and,
for SQN / SAC, a Q head — two complete networks, as the SQN authors' code keeps.

Over the ``logged_sessions`` env's observation (:mod:`rayrec.environments.sessions`)::

    state (B, L) the previous ≤ L items (0 = padding), len_state (B, 1)
    s = Enc(state, len_state)                 (B, d)   rayrec.models.session
    CE head:  W_ce s + b_ce                   (B, N + 1)   recommendations and metrics
    Q head:   W_q s + b_q                     (B, N + 1)   SQN / SAC only

Column 0 is the padding item: :meth:`item_scores` gives it −∞, so it is never ranked
or recommended. Recommendations and every metric use network 0's CE head (SQN's
reference evaluates its first network; the second only gives targets half the time).
"""

from __future__ import annotations

from typing import Any, cast

import gymnasium as gym
import torch
import torch.nn.functional as F
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule
from torch import nn

from rayrec.algorithms.sqn.sqn import SessionModelConfig
from rayrec.data.sessions import LEN_STATE, STATE
from rayrec.models.session import SessionEncoder, build_session_encoder


class SessionNetwork(nn.Module):
    """One complete network: encoder, CE head and (optionally) Q head.

    Args:
        encoder: the state encoder (owns the item embedding).
        q_head: whether the network has a Q head.

    Example:
        >>> from rayrec.models.session import build_session_encoder
        >>> net = SessionNetwork(build_session_encoder("gru", 5, dim=8), q_head=True)
        >>> s = net(torch.tensor([[1, 2, 0]]), torch.tensor([2]))
        >>> net.ce_head(s).shape
        torch.Size([1, 6])
    """

    def __init__(self, encoder: SessionEncoder, *, q_head: bool) -> None:
        super().__init__()
        self.encoder = encoder
        n_out = encoder.n_items + 1
        self.ce_head = nn.Linear(encoder.dim, n_out)
        self.q_head = nn.Linear(encoder.dim, n_out) if q_head else None

    def forward(self, state: torch.Tensor, len_state: torch.Tensor) -> torch.Tensor:
        """(B, L) items, (B,) lengths -> (B, d) the state."""
        return cast(torch.Tensor, self.encoder(state, len_state))


def mask_padding(scores: torch.Tensor) -> torch.Tensor:
    """(B, N + 1) scores with column 0 (the padding item) set to −∞."""
    return scores.index_fill(-1, torch.zeros(1, dtype=torch.long, device=scores.device), -torch.inf)


def item_cross_entropy(
    logits: torch.Tensor, action: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """−log softmax over items 1..N (padding column 0 left out) of the logged ``action``.

    Args:
        logits: (B, N + 1) a CE head's output.
        action: (B,) item ids in 1..N.

    The same as the cross-entropy of :func:`mask_padding`'s scores, without copying the
    (B, N + 1) logits (≈ 19 ms of a 37k-item update on one thread).
    """
    return F.cross_entropy(logits[:, 1:], action - 1, reduction=reduction)


def state_inputs(obs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """The observation's ``(state (B, L) long, len_state (B,) long)``."""
    state = obs[STATE].long()  # (B, L)
    len_state = obs[LEN_STATE].long().reshape(state.shape[0])  # (B,)
    return state, len_state


class DefaultSQNTorchRLModule(TorchRLModule):
    """``networks[0]`` (and ``networks[1]`` for SQN / SAC); greedy acting by the CE head.

    ``model_config`` keys: :class:`~rayrec.algorithms.sqn.sqn.SessionModelConfig`'s
    fields, plus (filled by the config) ``backbone``, ``padding``, ``n_networks`` and
    ``q_head``.
    """

    networks: nn.ModuleList

    def setup(self) -> None:
        mc = cast(dict[str, Any], self.model_config or {})
        cfg = SessionModelConfig.from_model_config(mc)
        obs, act = self.observation_space, self.action_space
        if not isinstance(obs, gym.spaces.Dict) or not {STATE, LEN_STATE} <= set(obs.spaces):
            raise ValueError(
                f"logged-session learners need the logged_sessions env's observations"
                f" ({STATE}, {LEN_STATE}), got {obs}"
            )
        if not isinstance(act, gym.spaces.Discrete):
            raise ValueError(f"one item per step: a Discrete action space, got {act}")
        n_items = int(act.n) - 1
        state_length = int(cast(gym.spaces.Box, obs[STATE]).shape[0])
        self.networks = nn.ModuleList(
            SessionNetwork(
                build_session_encoder(
                    str(mc.get("backbone", "sasrec")),
                    n_items,
                    dim=cfg.dim,
                    state_length=state_length,
                    padding=str(mc.get("padding", "end")),
                    dropout=cfg.dropout,
                ),
                q_head=bool(mc.get("q_head", False)),
            )
            for _ in range(int(mc.get("n_networks", 1)))
        )

    def item_scores(self, state: torch.Tensor, len_state: torch.Tensor) -> torch.Tensor:
        """(B, L), (B,) -> (B, N + 1) network 0's CE logits, padding column −∞."""
        net = cast(SessionNetwork, self.networks[0])
        return mask_padding(net.ce_head(net(state, len_state)))  # (B, N + 1)

    def _forward_inference(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        state, len_state = state_inputs(batch[Columns.OBS])
        return {Columns.ACTIONS: self.item_scores(state, len_state).argmax(-1)}  # (B,)

    def _forward_exploration(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # offline: the env is only replayed, never explored
        return self._forward_inference(batch)

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # the learners run the networks themselves (which network is trained depends on
        # the update: SQN's coin flip); nothing to precompute
        return {}
