"""The HAC RLModule in torch: SASRec state, hyper-actor, item kernel, critic(s), targets.

Liu et al., "Exploration and Regularization of the Latent Action Space in
Recommendation" (WWW 2023); ``../shared/specs/hac.md``.

- State ``s_t = StateEnc(Φ(x_1..x_H) + W_y y_1..H, u)``: a SASRec encoder over the
  observed history of item ids and feedback (padding masked), plus a user-id
  embedding. The history items are embedded with the item kernel Φ itself.
- Hyper-action ``Z_t = tanh(MLP(s_t))`` of width d + 1 (the last entry is a bias);
  the tanh bound is ours (`tanh_hyper_action`; the reference code clips its noise to ±1
  but not Z).
- Item kernel ``Φ(i) = [e_i; 1]``: trainable item embeddings; ``score(i|Z) = Φ(i)ᵀZ``
  over the whole pool in one matrix product; the effect action is the top-K.
- Inverse pooling ``Ẑ(a) = mean_{i∈a} Φ(i)``; critic ``Q(s, Z) = MLP([s; Z])``.
- Targets: encoder, actor and critic(s), soft-updated by the learner (τ).

Deviations from the reference code: dropout is off while acting (the reference
left it on during rollouts); exploration noise is zero-mean Gaussian by default
(``noise_type="uniform"`` gives the code's non-negative uniform noise clipped to ±1);
padding is masked in the encoder.

Shapes: B batch, H history length, F feedback types, K slate size, I items,
d state/item width, z = d + 1 hyper-action width.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import gymnasium as gym
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.utils import make_target_network
from ray.rllib.core.rl_module.apis import TargetNetworkAPI
from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule
from torch import nn

from rayrec.algorithms.hac.default_hac_rl_module import HACModelConfig
from rayrec.algorithms.keys import (
    ALIGNED_HYPER_ACTION,
    HYPER_ACTION,
    HYPER_ACTION_POLICY,
    INFERRED_HYPER_ACTION,
    Q_INFERRED,
    Q_INFERRED_TWIN,
    Q_NEXT_TARGET,
    Q_POLICY,
    SLATE_LOGITS,
    STATE,
)
from rayrec.environments.keys import OBS_HISTORY_FEEDBACK, OBS_HISTORY_ITEMS, OBS_USER
from rayrec.models.encoders import MLP, SASRecEncoder


@contextmanager
def acting(module: nn.Module) -> Iterator[None]:
    """Dropout off while a module acts (the reference code left it on in rollouts);
    the module's train/eval mode is restored afterwards."""
    was = module.training
    if not was:  # already in eval mode (train() walks every submodule: ~0.7 ms)
        yield
        return
    module.train(False)
    try:
        yield
    finally:
        module.train(True)


class StateEncoder(nn.Module):
    """s = SASRec(Φ(items) + W_y·feedback, mask) + user embedding.

    Shapes: history items (B, H) long, feedback (B, H, F), users (B,) -> (B, d).
    """

    def __init__(self, cfg: HACModelConfig, n_users: int, n_feedback: int, history: int) -> None:
        super().__init__()
        d = cfg.state_dim
        self.feedback = nn.Linear(n_feedback, d, bias=False)
        self.encoder = SASRecEncoder(
            d, history, cfg.n_layers, cfg.n_heads, cfg.ffn_dim, cfg.dropout
        )
        self.user = nn.Embedding(n_users + 1, d) if cfg.use_user_id else None

    def forward(
        self,
        kernel: nn.Embedding,
        items: torch.Tensor,
        feedback: torch.Tensor,
        users: torch.Tensor,
        dropout: bool | None = None,
    ) -> torch.Tensor:
        """``dropout``: as :meth:`SASRecEncoder.forward` (default: in train mode)."""
        tokens = kernel(items) + self.feedback(feedback)  # (B, H, d)
        s = self.encoder(tokens, items > 0, dropout)  # (B, d)
        if self.user is not None:
            s = s + self.user(users)  # (B, d)
        return s


class DefaultHACTorchRLModule(TorchRLModule, TargetNetworkAPI):
    """HAC policy + critic. See module docstring for the maths."""

    def setup(self) -> None:
        cfg = HACModelConfig.from_model_config(cast(dict[str, Any], self.model_config or {}))
        self.cfg = cfg
        obs, act = self.observation_space, self.action_space
        if not isinstance(act, gym.spaces.MultiDiscrete):
            raise ValueError(f"HAC needs a MultiDiscrete slate action space, got {act}")
        if not isinstance(obs, gym.spaces.Dict) or OBS_HISTORY_ITEMS not in obs.spaces:
            raise ValueError(f"HAC needs the slate env's Dict observations, got {obs}")
        self.n_items = int(act.nvec[0])
        self.slate_size = len(act.nvec)
        n_users = int(cast(gym.spaces.Box, obs[OBS_USER]).high.max())
        history, n_feedback = cast(tuple[int, int], obs[OBS_HISTORY_FEEDBACK].shape)
        d = cfg.state_dim
        self.z_dim = d + 1
        # Item kernel Φ: row 0 is padding (never recommended).
        self.kernel = nn.Embedding(self.n_items + 1, d, padding_idx=0)
        nn.init.normal_(self.kernel.weight, std=cfg.kernel_init_std)
        with torch.no_grad():
            self.kernel.weight[0].zero_()
        self.state_encoder = StateEncoder(cfg, n_users, n_feedback, history)
        # Z = tanh(MLP(s)): bounded, so the critic is never asked to extrapolate far
        # (tanh_hyper_action=False: Z = MLP(s), the reference code's form).
        bound = [nn.Tanh()] if cfg.tanh_hyper_action else []
        self.actor = nn.Sequential(MLP(d, cfg.actor_hidden, self.z_dim), *bound)
        self.critic = MLP(d + self.z_dim, cfg.critic_hidden, 1)
        self.critic_twin = MLP(d + self.z_dim, cfg.critic_hidden, 1) if cfg.twin_q else None

    # ------------------------------------------------------------ target nets
    def make_target_networks(self) -> None:
        self.target_state_encoder = make_target_network(self.state_encoder)
        self.target_actor = make_target_network(self.actor)
        self.target_critic = make_target_network(self.critic)
        if self.critic_twin is not None:
            self.target_critic_twin = make_target_network(self.critic_twin)

    def get_target_network_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        pairs = [
            (self.state_encoder, self.target_state_encoder),
            (self.actor, self.target_actor),
            (self.critic, self.target_critic),
        ]
        if self.critic_twin is not None:
            pairs.append((self.critic_twin, self.target_critic_twin))
        return pairs

    def forward_target(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Q'(s', π'(s')) for the next observations (min over twins), with TD3's
        target smoothing noise when ``target_noise`` > 0. The target encoder runs
        without dropout unless ``target_dropout``."""
        obs = batch[Columns.NEXT_OBS]
        s = self.target_state_encoder(
            self.kernel,
            obs[OBS_HISTORY_ITEMS],
            obs[OBS_HISTORY_FEEDBACK],
            obs[OBS_USER][:, 0],
            dropout=self.cfg.target_dropout and self.target_state_encoder.training,
        )  # (B, d)
        z = self.target_actor(s)  # (B, z)
        if self.cfg.target_noise > 0:
            eps = (torch.randn_like(z) * self.cfg.target_noise).clamp(
                -self.cfg.target_noise_clip, self.cfg.target_noise_clip
            )
            z = z + eps
        sz = torch.cat([s, z], dim=-1)  # (B, d + z)
        q = self.target_critic(sz).squeeze(-1)  # (B,)
        if self.critic_twin is not None:
            q = torch.min(q, self.target_critic_twin(sz).squeeze(-1))
        return {Q_NEXT_TARGET: q}

    # ---------------------------------------------------------------- pieces
    def encode(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, d) the state s_t."""
        return self.state_encoder(
            self.kernel, obs[OBS_HISTORY_ITEMS], obs[OBS_HISTORY_FEEDBACK], obs[OBS_USER][:, 0]
        )

    def item_kernel(self, items: torch.Tensor) -> torch.Tensor:
        """Φ(i) = [e_i; 1]: items (...,) -> (..., z)."""
        e = self.kernel(items)  # (..., d)
        return torch.cat([e, torch.ones_like(e[..., :1])], dim=-1)  # (..., z)

    def pool_scores(self, z: torch.Tensor) -> torch.Tensor:
        """score(i | Z) = Φ(i)ᵀ Z for every item i in 1..I: (B, z) -> (B, I)."""
        e = self.kernel.weight[1:]  # (I, d)
        return z[:, :-1] @ e.T + z[:, -1:]  # (B, I)

    def top_k(self, z: torch.Tensor) -> torch.Tensor:
        """The effect action: the K best items per row, as item ids: (B, z) -> (B, K)."""
        return self.pool_scores(z).topk(self.slate_size, dim=1).indices + 1  # (B, K)

    def inverse_pool(self, slates: torch.Tensor) -> torch.Tensor:
        """Ẑ(a) = mean_{i∈a} Φ(i): slates (B, K) -> (B, z)."""
        return self.item_kernel(slates).mean(dim=1)  # (B, z)

    def q_value(self, s: torch.Tensor, z: torch.Tensor, twin: bool = False) -> torch.Tensor:
        net = self.critic_twin if twin else self.critic
        assert net is not None
        return net(torch.cat([s, z], dim=-1)).squeeze(-1)  # (B,)

    def explore_noise(self, z: torch.Tensor) -> torch.Tensor:
        """Exploration on Z: N(0, σ²) (default) or the code's uniform [0, σ) clipped to ±1."""
        sigma = self.cfg.exploration_noise
        if sigma <= 0:
            return z
        if self.cfg.noise_type == "uniform":
            return z + (torch.rand_like(z) * sigma).clamp(-1.0, 1.0)
        return z + torch.randn_like(z) * sigma

    # --------------------------------------------------------------- forwards
    def _forward_inference(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        with acting(self):
            z = self.actor(self.encode(batch[Columns.OBS]))  # (B, z)
            return {Columns.ACTIONS: self.top_k(z), HYPER_ACTION: z}

    def _forward_exploration(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        with acting(self):
            z = self.explore_noise(self.actor(self.encode(batch[Columns.OBS])))  # (B, z)
            return {Columns.ACTIONS: self.top_k(z), HYPER_ACTION: z}

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Everything the four loss blocks need (see ``HACTorchLearner``)."""
        s = self.encode(batch[Columns.OBS])  # (B, d)
        z = self.actor(s)  # (B, z)
        slates = batch[Columns.ACTIONS].long()  # (B, K)
        z_hat = self.inverse_pool(slates)  # (B, z)
        s_c, z_hat_c = s.detach(), z_hat.detach()  # the TD loss trains the critic only
        out: dict[str, Any] = {
            STATE: s,
            HYPER_ACTION_POLICY: z,
            INFERRED_HYPER_ACTION: z_hat,
            ALIGNED_HYPER_ACTION: self.inverse_pool(self.top_k(z.detach())),
            Q_INFERRED: self.q_value(s_c, z_hat_c),
            Q_POLICY: self.q_value(s, z),
            SLATE_LOGITS: (self.item_kernel(slates) * z.unsqueeze(1)).sum(-1),  # (B, K)
        }
        if self.critic_twin is not None:
            out[Q_INFERRED_TWIN] = self.q_value(s_c, z_hat_c, twin=True)
        if Columns.NEXT_OBS in batch:
            with torch.no_grad():
                out.update(self.forward_target(batch))
        return out

    def greedy_slate(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, K) the greedy slate for raw observations (evaluation helper)."""
        with torch.no_grad():
            out = self._forward_inference({Columns.OBS: obs})
        return out[Columns.ACTIONS]
