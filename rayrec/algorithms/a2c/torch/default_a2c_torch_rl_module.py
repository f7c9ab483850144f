"""The A2C RLModule in torch: the SASRec state, a Plackett–Luce slate policy, V(s).

The HAC paper's A2C baseline (``../shared/specs/hac.md``, "Baselines": policy gradient
in the effect-action space, categorical over the pool, same state encoder):

- State ``s = StateEnc(Φ(x_1..x_H) + W_y y_1..H, u)``: the shared
  :class:`~rayrec.models.state.StateEncoder` (SASRec over the observed history,
  padding masked, plus a user embedding; HAC's), with the history items embedded by
  the item kernel Φ.
- Scores ``score(i | s) = Φ(i)ᵀ Z(s)``, ``Z(s) = MLP(s)``, over the whole pool in one
  matrix product: the policy's logits.
- Policy: Plackett–Luce over the pool — K distinct items drawn without replacement,
  each position a softmax over the items not chosen yet
  (:class:`~rayrec.algorithms.a2c.torch.plackett_luce.TorchPlackettLuce`). Exploring
  samples a slate (Gumbel-top-K); acting greedily takes the top-K scores.
- Value ``V(s) = MLP(s)``, sharing the encoder with the policy (one optimizer, as
  A2C usually does; ``vf_loss_coeff`` weighs it).

Deviations from HAC's module: Φ(i) = e_i without HAC's constant bias entry (a
per-state constant cancels in the softmax); Z is not tanh-bounded (there is no
critic of Z to protect). From the HAC/KuaiSim A2C code: the slate is sampled
without replacement and its exact log-probability used (that code scores K draws
with replacement); see ``../README.md``.

Shapes: B batch, H history length, F feedback types, K slate size, I items, d width.
"""

from __future__ import annotations

from typing import Any, cast

import gymnasium as gym
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import ValueFunctionAPI
from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule
from torch import nn

from rayrec.algorithms.a2c.a2c import A2CModelConfig
from rayrec.algorithms.a2c.torch.plackett_luce import TorchPlackettLuce, plackett_luce_cls
from rayrec.environments.keys import OBS_HISTORY_FEEDBACK, OBS_HISTORY_ITEMS, OBS_USER
from rayrec.models.encoders import MLP
from rayrec.models.state import StateEncoder, acting


class DefaultA2CTorchRLModule(TorchRLModule, ValueFunctionAPI):
    """Plackett–Luce slate policy + value head over the shared state encoder.

    Outputs: inference ``actions`` (B, K) top-K ids and ``action_dist_inputs`` (B, I);
    exploration adds ``action_logp`` (B,) of the sampled slate; train gives
    ``action_dist_inputs`` (B, I) and ``embeddings`` (B, d) for ``compute_values``.

    Example (spaces of a 3-item pool, slates of 2, history of 4)::

        spaces = gym.spaces.Dict({"user": Box(0, 5, (1,), int64),
                                  "history_items": Box(0, 3, (4,), int64),
                                  "history_feedback": Box(0, 1, (4, 1))})
        module = DefaultA2CTorchRLModule(
            observation_space=spaces,
            action_space=MultiDiscrete([3, 3], start=[1, 1]),
            model_config={"state_dim": 8, "n_heads": 2},
        )
        module.forward_inference({"obs": obs})["actions"]  # (B, 2) ids in 1..3
    """

    def setup(self) -> None:
        cfg = A2CModelConfig.from_model_config(cast(dict[str, Any], self.model_config or {}))
        self.cfg = cfg
        obs, act = self.observation_space, self.action_space
        if not isinstance(act, gym.spaces.MultiDiscrete):
            raise ValueError(f"A2C needs a MultiDiscrete slate action space, got {act}")
        if not isinstance(obs, gym.spaces.Dict) or OBS_HISTORY_ITEMS not in obs.spaces:
            raise ValueError(f"A2C needs the slate env's Dict observations, got {obs}")
        self.slate_dist_cls: type[TorchPlackettLuce] = plackett_luce_cls(act)
        self.n_items = int(act.nvec[0])
        self.slate_size = len(act.nvec)
        n_users = int(cast(gym.spaces.Box, obs[OBS_USER]).high.max())
        history, n_feedback = cast(tuple[int, int], obs[OBS_HISTORY_FEEDBACK].shape)
        d = cfg.state_dim
        # Item kernel Φ: row 0 is padding (never recommended); rows 1..I are item ids.
        self.kernel = nn.Embedding(self.n_items + 1, d, padding_idx=0)
        nn.init.normal_(self.kernel.weight, std=cfg.kernel_init_std)
        with torch.no_grad():
            self.kernel.weight[0].zero_()
        self.state_encoder = StateEncoder(cfg.encoder_config(), n_users, n_feedback, history)
        self.policy = MLP(d, cfg.policy_hidden, d)  # Z(s)
        self.value = MLP(d, cfg.value_hidden, 1)  # V(s)

    # ---------------------------------------------------------------- pieces
    def encode(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, d) the state s."""
        return self.state_encoder(
            obs[OBS_HISTORY_ITEMS],
            obs[OBS_HISTORY_FEEDBACK],
            obs[OBS_USER][:, 0],
            item_embedding=self.kernel,
        )

    def pool_logits(self, s: torch.Tensor) -> torch.Tensor:
        """score(i | s) = Φ(i)ᵀ Z(s) for item ids 1..I: (B, d) -> (B, I)."""
        z = self.policy(s)  # (B, d)
        return z @ self.kernel.weight[1:].T  # (B, I)

    def compute_values(
        self, batch: dict[str, Any], embeddings: torch.Tensor | None = None
    ) -> torch.Tensor:
        """V(s), (B,); ``embeddings`` is the state from ``forward_train`` when given."""
        s = self.encode(batch[Columns.OBS]) if embeddings is None else embeddings  # (B, d)
        return self.value(s).squeeze(-1)  # (B,)

    # --------------------------------------------------------------- forwards
    def _forward_inference(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        with acting(self):
            logits = self.pool_logits(self.encode(batch[Columns.OBS]))  # (B, I)
        greedy = self.slate_dist_cls.from_logits(logits).to_deterministic()
        return {Columns.ACTIONS: greedy.sample(), Columns.ACTION_DIST_INPUTS: logits}

    def _forward_exploration(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        with acting(self):
            logits = self.pool_logits(self.encode(batch[Columns.OBS]))  # (B, I)
        dist = self.slate_dist_cls.from_logits(logits)
        slates = dist.sample()  # (B, K) item ids
        return {
            Columns.ACTIONS: slates,
            Columns.ACTION_LOGP: dist.logp(slates),  # (B,) behaviour log-prob for PPO's ratio
            Columns.ACTION_DIST_INPUTS: logits,
        }

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        s = self.encode(batch[Columns.OBS])  # (B, d)
        return {Columns.ACTION_DIST_INPUTS: self.pool_logits(s), Columns.EMBEDDINGS: s}

    # ------------------------------------------------------ distribution API
    def get_inference_action_dist_cls(self) -> type[TorchPlackettLuce]:
        return self.slate_dist_cls

    def get_exploration_action_dist_cls(self) -> type[TorchPlackettLuce]:
        return self.slate_dist_cls

    def get_train_action_dist_cls(self) -> type[TorchPlackettLuce]:
        return self.slate_dist_cls
