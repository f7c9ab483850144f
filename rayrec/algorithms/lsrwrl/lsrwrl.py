"""LSRWRL: DQN over DeepFM long-term and self-attention short-term interest, top-N.

The third seed method (``../shared/specs/lsrwrl.md``). RLlib's DQN (new API stack) as
it is — its loop, episode replay, double-Q loss and target sync — with one RLModule of
ours (:mod:`rayrec.algorithms.lsrwrl.torch.lsrwrl_torch_rl_module`): the state
``s = [long ; short]`` of :mod:`rayrec.models.long_short` and a Q-head scoring the whole
item pool; items the ``topn`` env masks (recommended in this episode, or consumed) get
Q = −∞, so they are never the argmax and never an exploration draw. On the ``topn``
env kind (:mod:`rayrec.environments.topn`): one item per step; reward = rating / 5 when
the user's train ratings hold the item and liked it, which then joins the state.

Defaults are the paper's: double DQN, the target network copied every 50 sampled
steps, uniform replay, ε-greedy with exploitation probability 0.9 (ε = 0.1), γ = 0.9,
lr 0.01, batch 128; its 1,000 training episodes are the budget
(``episode_length × 1000`` env steps: ``rayrec train lsrwrl --stop-timesteps``). Ours
(fields): replay capacity 50,000, learning after 1,000 steps, one update of 128 per 4
sampled steps (``training_intensity`` 32: one per step, 128, took ~100 ms a step on one
CPU thread on ML-1M — 35 min for the paper's budget), RLlib's Huber TD loss, no
gradient clip.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ray.rllib.algorithms.dqn import DQN, DQNConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from rayrec.algorithms.lsrwrl.replay import SEEDED_EPISODE_REPLAY_BUFFER
from rayrec.models.checks import check_int, check_number, check_widths
from rayrec.models.long_short import LongShortConfig


@dataclass(frozen=True)
class LSRWRLModelConfig:
    """The Q-network's sizes (``rayrec train lsrwrl --config model.<field>=value``);
    :class:`~rayrec.models.long_short.LongShortConfig` documents each. The item pool,
    the short window n and the user features come from the env's spaces; each user
    feature is its own DeepFM field (ours: the obs carries no block structure; one
    field per one-hot column spans what per-block fields span)."""

    fm_dim: int = 32
    dnn_hidden: tuple[int, ...] = (64, 32)
    attention_dim: int = 32
    q_hidden: tuple[int, ...] = (128,)
    q_head: str = "linear"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        check_int("model.fm_dim", self.fm_dim, low=1)
        check_int("model.attention_dim", self.attention_dim, low=1)
        for name in ("dnn_hidden", "q_hidden"):
            object.__setattr__(self, name, check_widths(f"model.{name}", getattr(self, name)))
        check_number("model.dropout", self.dropout, low=0.0, high=1.0, high_open=True)
        self.network(n_items=1, n_user_features=1, short_window=1)  # the network's checks

    def network(self, *, n_items: int, n_user_features: int, short_window: int) -> LongShortConfig:
        """The network's config for an env's item pool, user features and window."""
        return LongShortConfig(
            n_items=n_items,
            user_fields=(1,) * n_user_features,
            fm_dim=self.fm_dim,
            dnn_hidden=self.dnn_hidden,
            attention_dim=self.attention_dim,
            short_window=short_window,
            q_hidden=self.q_hidden,
            q_head=self.q_head,
            dropout=self.dropout,
        )

    @classmethod
    def from_model_config(cls, model_config: dict[str, Any]) -> LSRWRLModelConfig:
        """The fields of an RLlib ``model_config`` dict (other keys ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in model_config.items() if k in known})


class LSRWRLConfig(DQNConfig):
    """RLlib's ``DQNConfig`` with LSRWRL's module and the paper's settings (module doc).

    Training fields are DQN's (``config.training(...)``): ``gamma``, ``lr``,
    ``train_batch_size_per_learner``, ``target_network_update_freq``, ``tau`` (1.0: the
    target is a copy), ``double_q``, ``epsilon``, ``replay_buffer_config``,
    ``num_steps_sampled_before_learning_starts``, ``training_intensity``,
    ``td_error_loss_fn``, ``grad_clip``.
    """

    #: the dataclass of this algorithm's ``model_config`` keys (checked by ``rayrec``)
    model_config_class: Any = LSRWRLModelConfig

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or LSRWRL)
        # the paper's settings
        self.double_q = True
        self.dueling = False
        self.num_atoms = 1
        self.noisy = False
        self.n_step = 1
        self.gamma = 0.9
        self.lr = 0.01
        self.train_batch_size_per_learner = 128
        self.target_network_update_freq = 50
        self.tau = 1.0
        # exploitation probability 0.9, as a schedule [[t, ε], ...] (RLlib's form; a
        # decaying one, e.g. [[0, 1.0], [10000, 0.1]], is ``--config epsilon=...``)
        self.epsilon = [[0, 0.1]]
        # ours
        self.replay_buffer_config = {"type": SEEDED_EPISODE_REPLAY_BUFFER, "capacity": 50_000}
        self.num_steps_sampled_before_learning_starts = 1000
        self.training_intensity = 32.0
        self.grad_clip = None

    def validate(self) -> None:
        super().validate()
        if self.dueling or self.num_atoms != 1 or self.noisy:
            self._value_error(
                "LSRWRL config: dueling, distributional (num_atoms > 1) and noisy nets are"
                " not offered (the paper's Q-network is a plain MLP head)"
            )
        LSRWRLModelConfig.from_model_config(self.model_config)

    def get_default_rl_module_spec(self) -> RLModuleSpec:
        from rayrec.algorithms.lsrwrl.torch.lsrwrl_torch_rl_module import LSRWRLTorchRLModule

        return RLModuleSpec(module_class=LSRWRLTorchRLModule)


class LSRWRL(DQN):
    """RLlib's DQN loop with :class:`LSRWRLConfig`."""

    @classmethod
    def get_default_config(cls) -> LSRWRLConfig:
        return LSRWRLConfig()
