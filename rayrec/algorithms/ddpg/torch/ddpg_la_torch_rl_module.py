"""DDPG-LA's RLModule in torch: interest encoder(s), rating actor, critic, targets.

Over the ``rating_walk`` env's observation (:mod:`rayrec.environments.rating_walk`):
the encoder (:class:`~rayrec.models.interest.InterestEncoder`) turns the user's past
records, the newest of them not yet consumed, and the record to rate into
``s = [long; short; current]``; the actor gives ``z = tanh(MLP(s)) ∈ [-1, 1]`` and the
env receives the rating ``a = (z + 1) / 2`` (DDPG's Box head); the critic is
``Q(s_c, z) = MLP([s_c; z])`` with ``s_c`` from its own encoder (``critic_encoder =
separate``, ours) or the actor's, detached (``shared``).

**Carried state.** The module is stateful in RLlib's sense: its state is, per encoder,
the ring of the last L + 1 recurrent (h, c) pairs (``L = train_window``). While acting,
the env runner passes the previous state in and stores the new one in the episode;
each step feeds only the newest record(s) to the cell — the history is never re-encoded.

**Training from replay** (stored state with a re-encoded window, as R2D2 stores
recurrent states): with each acting step the module also emits, per encoder, the state
``a`` records before the newest consumed one (``a = min(L, records consumed)``) for the
observation and for the next one (:data:`RECURRENT_START`, :data:`NEXT_RECURRENT_START`);
the replay stores them with the transition. ``forward_train`` re-runs the cell with the
current weights over those ``a`` records plus the step's new records, from the stored
state, so the LSTM's weights get gradients through up to L + 1 steps; the stored state
itself is as stale as the transition.

Shapes: B batch, W window, F record features, L train window, H recurrent width,
E encoders carried (1 or 2).
"""

from __future__ import annotations

from typing import Any, cast

import gymnasium as gym
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.utils import make_target_network
from torch import nn

from rayrec.algorithms.ddpg.ddpg_la import DDPGLAModelConfig
from rayrec.algorithms.ddpg.torch.default_ddpg_torch_rl_module import DefaultDDPGTorchRLModule
from rayrec.algorithms.keys import (
    HYPER_ACTION,
    HYPER_ACTION_POLICY,
    INFERRED_HYPER_ACTION,
    NEXT_RECURRENT_START,
    Q_INFERRED,
    Q_NEXT_TARGET,
    Q_POLICY,
    RECURRENT_START,
    STATE,
)
from rayrec.environments.keys import (
    OBS_CURRENT,
    OBS_CURRENT_ITEM,
    OBS_NEW_RECORDS,
    OBS_RECORD_ITEMS,
    OBS_RECORD_MASK,
    OBS_RECORDS,
)
from rayrec.models.encoders import MLP, StateActionCritic
from rayrec.models.interest import InterestEncoder
from rayrec.models.state import acting

#: the keys of the carried state, one ring per encoder
ACTOR_RING = "actor"
CRITIC_RING = "critic"


class EncodedCritic(nn.Module):
    """Q(s_c, z) with s_c from the critic's own interest encoder.

    Shapes: z (B, 1) -> (B,); the encoder's inputs as :class:`InterestEncoder`'s.
    """

    def __init__(self, encoder: InterestEncoder, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = StateActionCritic(encoder.out_dim, 1, hidden)

    def forward(self, s: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([s, z], dim=-1)).squeeze(-1)  # (B,)


class DDPGLATorchRLModule(DefaultDDPGTorchRLModule):
    """DDPG-LA's policy and critic (module docstring).

    Outputs: inference / exploration ``actions`` (B, 1) in [0, 1], ``hyper_action`` z,
    the state rings (``state_out``) and the replay's recurrent starts; train: the keys
    DDPG's learner reads.
    """

    cfg: DDPGLAModelConfig  # type: ignore[assignment]
    state_encoder: InterestEncoder  # type: ignore[assignment]
    critic: Any  # EncodedCritic (its own encoder) or StateActionCritic (shared state)
    target_state_encoder: Any
    target_critic: Any

    def setup(self) -> None:
        cfg = DDPGLAModelConfig.from_model_config(cast(dict[str, Any], self.model_config or {}))
        self.cfg = cfg
        obs, act = self.observation_space, self.action_space
        if not isinstance(obs, gym.spaces.Dict) or OBS_RECORDS not in obs.spaces:
            raise ValueError(f"DDPG-LA needs the rating_walk env's observations, got {obs}")
        if not isinstance(act, gym.spaces.Box) or act.shape != (1,):
            raise ValueError(f"DDPG-LA predicts one rating: a Box of shape (1,), got {act}")
        self.is_slate = False
        self.action_shape = (1,)
        self.z_dim = 1
        self.register_buffer("action_low", torch.as_tensor(act.low, dtype=torch.float32))
        self.register_buffer("action_high", torch.as_tensor(act.high, dtype=torch.float32))
        window, width = cast(tuple[int, int], obs[OBS_RECORDS].shape)
        n_items = int(cast(gym.spaces.Box, obs[OBS_RECORD_ITEMS]).high.max())
        enc = cfg.encoder_config()
        n_features = width - 1  # the last column is the rating

        def encoder() -> InterestEncoder:
            return InterestEncoder(enc, n_features, n_items, window)

        self.state_encoder = encoder()
        self.actor = nn.Sequential(MLP(self.state_encoder.out_dim, cfg.actor_hidden, 1), nn.Tanh())
        self.separate_critic = cfg.critic_encoder == "separate"
        if self.separate_critic:
            self.critic = EncodedCritic(encoder(), cfg.critic_hidden)
        else:
            self.critic = StateActionCritic(self.state_encoder.out_dim, 1, cfg.critic_hidden)
        self.critic_twin = None
        self.rewind = enc.train_window
        self.ring_slots = self.state_encoder.state_shape[0]

    # ----------------------------------------------------------- carried state
    def _rings(self) -> tuple[str, ...]:
        return (ACTOR_RING, CRITIC_RING) if self.separate_critic else (ACTOR_RING,)

    def get_initial_state(self) -> dict[str, Any]:
        """One zero ring per encoder (unbatched: RLlib batches it per episode)."""
        ring = self.state_encoder.initial_state(1)[0]  # (L + 1, 2, H)
        return {name: ring.clone() for name in self._rings()}

    def _encoders(self, target: bool = False) -> dict[str, InterestEncoder]:
        actor = self.target_state_encoder if target else self.state_encoder
        out: dict[str, InterestEncoder] = {ACTOR_RING: actor}
        if self.separate_critic:
            critic = self.target_critic if target else self.critic
            out[CRITIC_RING] = critic.encoder
        return out

    @staticmethod
    def _has_time_rank(obs: dict[str, Any]) -> bool:
        """Whether RLlib added a single-step time rank (B, 1, ...) to the observations."""
        return bool(torch.as_tensor(obs[OBS_RECORDS]).dim() == 4)  # (B, 1, W, F + 1)

    @classmethod
    def _inputs(cls, obs: dict[str, Any]) -> tuple[torch.Tensor, ...]:
        """The encoder's tensors from an observation batch (a single-step time rank,
        which RLlib adds for stateful modules while acting, is dropped)."""
        squeeze = cls._has_time_rank(obs)

        def get(key: str) -> torch.Tensor:
            value = torch.as_tensor(obs[key])
            return value.squeeze(1) if squeeze else value

        return (
            get(OBS_RECORDS).float(),  # (B, W, F + 1)
            get(OBS_RECORD_ITEMS).long(),  # (B, W)
            get(OBS_RECORD_MASK).float(),  # (B, W)
            get(OBS_NEW_RECORDS).long().reshape(-1),  # (B,)
            get(OBS_CURRENT).float(),  # (B, F)
            get(OBS_CURRENT_ITEM).long().reshape(-1),  # (B,)
        )

    def _starts(self, inputs: tuple[torch.Tensor, ...], after: bool) -> torch.Tensor:
        """(B,) the ring slot a replayed re-encoding starts from, for this observation
        (``after`` False) or for the next one (True: every record consumed by then);
        the encoder's own rule (:meth:`InterestEncoder.start_slot`)."""
        mask, new = inputs[2], inputs[3]
        real = mask.sum(dim=1)  # (B,)
        return self.state_encoder.start_slot(real, new * 0 if after else new, self.rewind)

    @staticmethod
    def _pick(ring: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
        """ring (B, L + 1, 2, H), at (B,) -> (B, 2, H)."""
        return ring[torch.arange(ring.shape[0], device=ring.device), at]

    @staticmethod
    def _place(start: torch.Tensor, at: torch.Tensor, slots: int) -> torch.Tensor:
        """A ring holding only ``start`` (B, 2, H) at position ``at`` (B,)."""
        ring = start.new_zeros(start.shape[0], slots, *start.shape[1:])  # (B, L + 1, 2, H)
        ring[torch.arange(start.shape[0], device=start.device), at] = start
        return ring

    def _act(self, batch: dict[str, Any], explore: bool) -> dict[str, Any]:
        inputs = self._inputs(batch[Columns.OBS])
        # without a carried state (a walk's first step) the initial one
        state_in = batch.get(Columns.STATE_IN) or self.initial_state_batch(len(inputs[0]))
        state_out: dict[str, torch.Tensor] = {}
        starts, next_starts = [], []
        a_now, a_next = self._starts(inputs, False), self._starts(inputs, True)
        s_actor = None
        with acting(self):
            for name, encoder in self._encoders().items():
                ring = torch.as_tensor(state_in[name]).float()  # (B, L + 1, 2, H)
                if name == ACTOR_RING or explore:
                    s, ring_out = encoder(*inputs, ring, rewind=0)
                    s_actor = s if name == ACTOR_RING else s_actor
                else:  # greedy acting (evaluation) needs no critic state: passed through
                    ring_out = ring
                state_out[name] = ring_out
                starts.append(self._pick(ring, a_now))
                next_starts.append(self._pick(ring_out, a_next))
            assert s_actor is not None
            z = self.actor(s_actor)  # (B, 1)
            if explore:
                z = self.explore_noise(z)
        out = {
            Columns.ACTIONS: self.to_action(z),  # (B, 1)
            HYPER_ACTION: z,  # (B, 1)
            RECURRENT_START: torch.stack(starts, dim=1),  # (B, E, 2, H)
            NEXT_RECURRENT_START: torch.stack(next_starts, dim=1),  # (B, E, 2, H)
        }
        if self._has_time_rank(batch[Columns.OBS]):
            # RLlib's env runner added a time rank of 1 for a stateful module and removes
            # it from every output but the state
            out = {k: v.unsqueeze(1) for k, v in out.items()}
        return {**out, Columns.STATE_OUT: state_out}

    # --------------------------------------------------------------- forwards
    def _forward_inference(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        with torch.no_grad():
            return self._act(batch, explore=False)

    def _forward_exploration(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        with torch.no_grad():
            return self._act(batch, explore=True)

    def _encode_replayed(
        self, obs: dict[str, Any], starts: torch.Tensor, target: bool
    ) -> dict[str, torch.Tensor]:
        """Each encoder's state for replayed observations, re-encoded over the window
        from the stored starts (B, E, 2, H): name -> (B, d). The start of an
        observation sits ``a = min(L, records consumed before it)`` records back, the
        position the acting step stored it from."""
        inputs = self._inputs(obs)
        at = self._starts(inputs, after=False)  # (B,)
        out = {}
        for i, (name, encoder) in enumerate(self._encoders(target).items()):
            ring = self._place(starts[:, i].float(), at, self.ring_slots)  # (B, L + 1, 2, H)
            out[name], _ = encoder(*inputs, ring, rewind=self.rewind)
        return out

    def forward_target(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Q'(s', π'(s')) from the target encoders over the next observations."""
        states = self._encode_replayed(
            batch[Columns.NEXT_OBS], batch[NEXT_RECURRENT_START], target=True
        )
        z = self.target_actor(states[ACTOR_RING])  # (B, 1)
        if self.separate_critic:
            q = self.target_critic(states[CRITIC_RING], z)  # (B,)
        else:
            q = self.target_critic(torch.cat([states[ACTOR_RING], z], dim=-1)).squeeze(-1)
        return {Q_NEXT_TARGET: q}

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """DDPG's training outputs: L_TD trains the critic (and its encoder), L_QMax the
        actor and its encoder through π(s) (the critic's input is detached)."""
        states = self._encode_replayed(batch[Columns.OBS], batch[RECURRENT_START], target=False)
        s = states[ACTOR_RING]  # (B, d)
        z = self.actor(s)  # (B, 1)
        z_hat = self.from_action(batch[Columns.ACTIONS]).detach()  # (B, 1)
        if self.separate_critic:
            critic = self.critic
            s_c = states[CRITIC_RING]  # (B, d_c), trained by L_TD
            q_inferred = critic(s_c, z_hat)  # (B,)
            q_policy = critic(s_c.detach(), z)  # (B,)
        else:
            q_inferred = self.q_value(s.detach(), z_hat)
            q_policy = self.q_value(s.detach(), z)
        out: dict[str, Any] = {
            STATE: s,
            HYPER_ACTION_POLICY: z,
            INFERRED_HYPER_ACTION: z_hat,
            Q_INFERRED: q_inferred,
            Q_POLICY: q_policy,
        }
        if Columns.NEXT_OBS in batch:
            with torch.no_grad():
                out.update(self.forward_target(batch))
        return out

    # ------------------------------------------------------------ target nets
    def make_target_networks(self) -> None:
        self.target_state_encoder = make_target_network(self.state_encoder)
        self.target_actor = make_target_network(self.actor)
        self.target_critic = make_target_network(self.critic)

    def initial_state_batch(self, batch: int) -> dict[str, torch.Tensor]:
        """The initial carried state for ``batch`` rows (evaluation helper)."""
        ring = self.state_encoder.initial_state(batch)  # (B, L + 1, 2, H)
        return {name: ring.clone() for name in self._rings()}
