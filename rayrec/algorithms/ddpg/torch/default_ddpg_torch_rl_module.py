"""The DDPG RLModule in torch: state encoder, actor, critic(s), targets, action head.

Lillicrap et al. (ICLR 2016), TD3's twin critic and target smoothing (Fujimoto et al.,
ICML 2018); the slate head is the HAC paper's (Liu et al., WWW 2023,
``../shared/specs/hac.md``), whose DDPG baseline acts in HAC's hyper-action space.

- State ``s_t``: :mod:`rayrec.models.state` — SASRec over the slate env's observed
  history (``StateEncoder``) or an MLP over a flat Box observation
  (``FlatStateEncoder``).
- Actor ``z = π(s)``, critic ``Q(s, z) = MLP([s; z])`` (a twin with ``twin_q``; with
  ``critic_bilinear``, ours, ``+ (W s)ᵀ z``: a state-dependent ∂Q/∂z).
- Action head, by action space:

  - **slate** ``MultiDiscrete([I] * K)``: the item kernel ``Φ(i) = [e_i; 1]``;
    ``z = Z = tanh(MLP(s))`` of width d + 1 (the tanh is ours, ``tanh_hyper_action``);
    the slate is the top-K of ``score(i | Z) = Φ(i)ᵀZ`` over the whole pool (one matrix
    product); a replayed slate enters the critic as ``Ẑ(a) = mean_{i∈a} Φ(i)``. The
    history items are embedded with Φ too. DDPG never trains Φ; its forward_train also
    gives the inputs of HAC's two extra terms (``Ẑ(top-K(Z))`` and ``Φ(a_i)ᵀZ``)
    without gradient, so that DDPG's alignment gap and score fit are logged next to
    HAC's (:mod:`rayrec.algorithms.hac` trains them: ``trains_slate_head``).
  - **Box** (finite bounds): ``z = tanh(MLP(s)) ∈ [-1, 1]^n`` and the action
    ``a = low + (z + 1)(high − low) / 2``; a replayed action enters the critic as
    ``ẑ(a) = 2(a − low)/(high − low) − 1``. Exploration and target noise are added to z
    and clipped to [-1, 1] (the action stays in its bounds).

- Targets: encoder, actor and critic(s), soft-updated by the learner (τ).

Deviations from the HAC reference code: dropout is off while acting (the reference
left it on during rollouts); exploration noise is zero-mean Gaussian by default
(``noise_type="uniform"`` gives the code's non-negative uniform noise clipped to ±1);
padding is masked in the encoder.

Shapes: B batch, H history length, F feedback types, K slate size, I items,
d state/item width, z latent-action width (d + 1 for slates, n for a Box of n entries).
"""

from __future__ import annotations

import math
from typing import Any, cast

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.utils import make_target_network
from ray.rllib.core.rl_module.apis import TargetNetworkAPI
from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule
from torch import nn

from rayrec.algorithms.ddpg.ddpg import DDPGModelConfig
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
from rayrec.models.encoders import MLP, StateActionCritic
from rayrec.models.state import FlatStateEncoder, StateEncoder, acting


class DefaultDDPGTorchRLModule(TorchRLModule, TargetNetworkAPI):
    """DDPG's policy and critic(s), for slate or Box action spaces (module docstring).

    Outputs: inference / exploration ``actions`` (a slate (B, K) of item ids, or
    (B, *shape) inside a Box) and ``hyper_action`` z (B, z); train: the keys of
    :mod:`rayrec.algorithms.keys` that the learner reads.

    Example (a 1-d rating action from a 3-d observation)::

        module = DefaultDDPGTorchRLModule(
            observation_space=Box(-1, 1, (3,)),
            action_space=Box(0.0, 1.0, (1,)),
            model_config={"state_dim": 8, "actor_hidden": [16], "critic_hidden": [16]},
        )
        module.forward_inference({"obs": torch.zeros(2, 3)})["actions"]  # (2, 1) in [0, 1]
    """

    cfg: DDPGModelConfig
    state_encoder: StateEncoder | FlatStateEncoder

    #: whether Ẑ(top-K(Z)) and Φ(a_i)ᵀZ carry gradients: DDPG only logs HAC's L_Hyper
    #: and L_BCE as diagnostics (no gradient); HAC's module trains Φ and π with them
    trains_slate_head: bool = False

    def setup(self) -> None:
        cfg = DDPGModelConfig.from_model_config(cast(dict[str, Any], self.model_config or {}))
        self.cfg = cfg
        act = self.action_space
        if isinstance(act, gym.spaces.MultiDiscrete):
            self._setup_slate(cfg, act)
        elif isinstance(act, gym.spaces.Box):
            self._setup_box(cfg, act)
        else:
            raise ValueError(
                f"DDPG needs a MultiDiscrete slate or a bounded Box action space, got {act}"
            )
        d = cfg.state_dim
        self.critic = StateActionCritic(d, self.z_dim, cfg.critic_hidden, cfg.critic_bilinear)
        self.critic_twin = (
            StateActionCritic(d, self.z_dim, cfg.critic_hidden, cfg.critic_bilinear)
            if cfg.twin_q
            else None
        )

    def _setup_slate(self, cfg: DDPGModelConfig, act: gym.spaces.MultiDiscrete) -> None:
        """Φ, the history encoder (over Φ) and the hyper-actor, created in this order
        (the torch RNG draws of every seeded run depend on it)."""
        obs = self.observation_space
        if not isinstance(obs, gym.spaces.Dict) or OBS_HISTORY_ITEMS not in obs.spaces:
            raise ValueError(f"a slate action space needs the slate env's observations, got {obs}")
        self.is_slate = True
        self.n_items = int(act.nvec[0])
        self.slate_size = len(act.nvec)
        d = cfg.state_dim
        self.z_dim = d + 1
        # Item kernel Φ: row 0 is padding (never recommended).
        self.kernel = nn.Embedding(self.n_items + 1, d, padding_idx=0)
        nn.init.normal_(self.kernel.weight, std=cfg.kernel_init_std)
        with torch.no_grad():
            self.kernel.weight[0].zero_()
        self.state_encoder = self._history_encoder(cfg, obs, n_items=None)
        # Z = tanh(MLP(s)): bounded, so the critic is never asked to extrapolate far
        # (tanh_hyper_action=False: Z = MLP(s), the reference code's form).
        bound = [nn.Tanh()] if cfg.tanh_hyper_action else []
        self.actor = nn.Sequential(MLP(d, cfg.actor_hidden, self.z_dim), *bound)

    def _setup_box(self, cfg: DDPGModelConfig, act: gym.spaces.Box) -> None:
        """The state encoder of the observation space and a tanh actor for the Box."""
        if not (np.isfinite(act.low).all() and np.isfinite(act.high).all()):
            raise ValueError(f"DDPG needs finite bounds on a Box action space, got {act}")
        self.is_slate = False
        self.action_shape = tuple(act.shape)
        self.z_dim = math.prod(self.action_shape)
        self.register_buffer("action_low", torch.as_tensor(act.low, dtype=torch.float32))
        self.register_buffer("action_high", torch.as_tensor(act.high, dtype=torch.float32))
        obs = self.observation_space
        encoder: StateEncoder | FlatStateEncoder
        if isinstance(obs, gym.spaces.Dict) and OBS_HISTORY_ITEMS in obs.spaces:
            n_items = int(cast(gym.spaces.Box, obs[OBS_HISTORY_ITEMS]).high.max())
            encoder = self._history_encoder(cfg, obs, n_items=n_items)
        elif isinstance(obs, gym.spaces.Box):
            encoder = FlatStateEncoder(cfg.encoder_config(), math.prod(obs.shape))
        else:
            raise ValueError(
                "DDPG encodes a flat Box observation or the slate env's history "
                f"observation, got {obs}"
            )
        self.state_encoder = encoder
        self.actor = nn.Sequential(MLP(cfg.state_dim, cfg.actor_hidden, self.z_dim), nn.Tanh())

    @staticmethod
    def _history_encoder(
        cfg: DDPGModelConfig, obs: gym.spaces.Dict, n_items: int | None
    ) -> StateEncoder:
        n_users = int(cast(gym.spaces.Box, obs[OBS_USER]).high.max())
        history, n_feedback = cast(tuple[int, int], obs[OBS_HISTORY_FEEDBACK].shape)
        return StateEncoder(cfg.encoder_config(), n_users, n_feedback, history, n_items)

    # ------------------------------------------------------------ target nets
    def make_target_networks(self) -> None:
        self.target_state_encoder = make_target_network(self.state_encoder)
        self.target_actor = make_target_network(self.actor)
        self.target_critic = make_target_network(self.critic)
        if self.critic_twin is not None:
            self.target_critic_twin = make_target_network(self.critic_twin)

    def get_target_network_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        pairs: list[tuple[nn.Module, nn.Module]] = [
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
        dropout = self.cfg.target_dropout and self.target_state_encoder.training
        s = self._encode_with(self.target_state_encoder, batch[Columns.NEXT_OBS], dropout)  # (B, d)
        z = self.target_actor(s)  # (B, z)
        if self.cfg.target_noise > 0:
            eps = (torch.randn_like(z) * self.cfg.target_noise).clamp(
                -self.cfg.target_noise_clip, self.cfg.target_noise_clip
            )
            z = z + eps  # (B, z)
            if not self.is_slate:
                z = z.clamp(-1.0, 1.0)  # the smoothed target action stays in the Box
        sz = torch.cat([s, z], dim=-1)  # (B, d + z)
        q = self.target_critic(sz).squeeze(-1)  # (B,)
        if self.critic_twin is not None:
            q = torch.min(q, self.target_critic_twin(sz).squeeze(-1))
        return {Q_NEXT_TARGET: q}

    # ---------------------------------------------------------------- pieces
    def _encode_with(self, encoder: nn.Module, obs: Any, dropout: bool | None = None) -> Any:
        """(B, d): ``encoder`` (the main or the target one) applied to observations."""
        if isinstance(encoder, FlatStateEncoder):
            return encoder(obs, dropout=dropout)
        embedding = self.kernel if self.is_slate else None  # slates: history through Φ
        return encoder(
            obs[OBS_HISTORY_ITEMS],
            obs[OBS_HISTORY_FEEDBACK],
            obs[OBS_USER][:, 0],
            item_embedding=embedding,
            dropout=dropout,
        )

    def encode(self, obs: Any) -> torch.Tensor:
        """(B, d) the state s_t."""
        return cast(torch.Tensor, self._encode_with(self.state_encoder, obs))

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

    def to_action(self, z: torch.Tensor) -> torch.Tensor:
        """The env action of a latent action: the top-K slate (B, K), or
        low + (z + 1)(high − low)/2 in the Box (B, *shape)."""
        if self.is_slate:
            return self.top_k(z)
        low, high = self.action_low.flatten(), self.action_high.flatten()  # (z,)
        a = low + (z + 1.0) * (high - low) / 2.0  # (B, z)
        return a.reshape(-1, *self.action_shape)  # (B, *shape)

    def from_action(self, actions: torch.Tensor) -> torch.Tensor:
        """ẑ(a), the critic's input for a replayed action: Ẑ(a) = mean Φ(a) for a slate
        (B, K), 2(a − low)/(high − low) − 1 for a Box action (B, *shape); -> (B, z)."""
        if self.is_slate:
            return self.inverse_pool(actions.long())  # (B, z)
        low, high = self.action_low.flatten(), self.action_high.flatten()  # (z,)
        a = actions.float().reshape(actions.shape[0], -1)  # (B, z)
        return 2.0 * (a - low) / (high - low) - 1.0  # (B, z)

    def q_value(self, s: torch.Tensor, z: torch.Tensor, twin: bool = False) -> torch.Tensor:
        """Q(s, z): (B, d), (B, z) -> (B,)."""
        net = self.critic_twin if twin else self.critic
        assert net is not None
        return net(torch.cat([s, z], dim=-1)).squeeze(-1)  # (B,)

    def explore_noise(self, z: torch.Tensor) -> torch.Tensor:
        """Exploration on z: N(0, σ²) (default) or the HAC code's uniform [0, σ) clipped
        to ±1; a Box's z is clipped back to [-1, 1]."""
        sigma = self.cfg.exploration_noise
        if sigma <= 0:
            return z
        if self.cfg.noise_type == "uniform":
            z = z + (torch.rand_like(z) * sigma).clamp(-1.0, 1.0)  # (B, z)
        else:
            z = z + torch.randn_like(z) * sigma  # (B, z)
        return z if self.is_slate else z.clamp(-1.0, 1.0)

    # --------------------------------------------------------------- forwards
    def _forward_inference(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        with acting(self):
            z = self.actor(self.encode(batch[Columns.OBS]))  # (B, z)
            return {Columns.ACTIONS: self.to_action(z), HYPER_ACTION: z}

    def _forward_exploration(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        with acting(self):
            z = self.explore_noise(self.actor(self.encode(batch[Columns.OBS])))  # (B, z)
            return {Columns.ACTIONS: self.to_action(z), HYPER_ACTION: z}

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Everything the loss blocks need (see ``DDPGTorchLearner``).

        The order of the operations is kept as it was when HAC was the family root:
        autograd sums a tensor's gradient contributions in the order the graph was built,
        and seeded runs reproduce to the last bit only with the same order.
        """
        s = self.encode(batch[Columns.OBS])  # (B, d)
        z = self.actor(s)  # (B, z)
        actions = batch[Columns.ACTIONS]  # (B, K) slates or (B, *shape) Box actions
        z_hat = self.from_action(actions)  # (B, z)
        s_c, z_hat_c = s.detach(), z_hat.detach()  # the TD loss trains the critic only
        out: dict[str, Any] = {
            STATE: s,
            HYPER_ACTION_POLICY: z,
            INFERRED_HYPER_ACTION: z_hat,
        }
        if self.is_slate:
            with self._slate_head_grad():
                # Ẑ(top-K(Z)), the effect action's hyper-action (top-K of a detached Z)
                out[ALIGNED_HYPER_ACTION] = self.inverse_pool(self.top_k(z.detach()))
        out[Q_INFERRED] = self.q_value(s_c, z_hat_c)  # (B,)
        # L_QMax reaches the encoder through π(s) and, by default (the reference code's
        # form), through the critic's state input too: it can then raise Q by moving
        # every user's s towards the same high-value state (qmax_through_state=False:
        # the deterministic policy gradient, through the action only).
        s_q = s if self.cfg.qmax_through_state else s_c
        out[Q_POLICY] = self.q_value(s_q, z)  # (B,)
        if self.is_slate:
            with self._slate_head_grad():
                slates = actions.long()  # (B, K)
                out[SLATE_LOGITS] = (self.item_kernel(slates) * z.unsqueeze(1)).sum(-1)  # (B, K)
        if self.critic_twin is not None:
            out[Q_INFERRED_TWIN] = self.q_value(s_c, z_hat_c, twin=True)
        if Columns.NEXT_OBS in batch:
            with torch.no_grad():
                out.update(self.forward_target(batch))
        return out

    def _slate_head_grad(self) -> torch.autograd.grad_mode.set_grad_enabled:
        """Gradients through the slate head's extra outputs only when the module trains
        them (and gradients are on at all)."""
        return torch.set_grad_enabled(self.trains_slate_head and torch.is_grad_enabled())

    def greedy_action(self, obs: Any) -> torch.Tensor:
        """The greedy action for raw observations (evaluation helper): a slate (B, K)
        or a Box action (B, *shape)."""
        with torch.no_grad():
            out = self._forward_inference({Columns.OBS: obs})
        return cast(torch.Tensor, out[Columns.ACTIONS])
