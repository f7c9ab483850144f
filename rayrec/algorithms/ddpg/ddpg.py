"""DDPG and TD3 over the hyper-action space, the HAC paper's baselines.

- **DDPG** = HAC without alignment and supervision (λ_h = 0, β = 0): actor and critic
  in the hyper-action space; the item kernel Φ stays at its initialisation.
- **TD3** = DDPG + twin critics (min of the two targets), target policy smoothing
  (clipped Gaussian noise on Z'), and delayed actor and target-network updates (every
  2nd step; `delay_target_updates=False` moves the targets every step).

Both reuse HAC's module, learner and training step unchanged: they are presets.
"""

from __future__ import annotations

from rayrec.algorithms.hac.hac import HAC, HACConfig


class DDPGConfig(HACConfig):
    """HAC with ``hyper_actor_coef=0`` and ``bce_coef=0``."""

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or DDPG)
        self.hyper_actor_coef = 0.0
        self.bce_coef = 0.0


class TD3Config(DDPGConfig):
    """DDPG with twin critics, target smoothing (σ 0.2, clip 0.5) and actor delay 2."""

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or TD3)
        self.twin_q = True
        self.target_noise = 0.2
        self.target_noise_clip = 0.5
        self.policy_delay = 2


class DDPG(HAC):
    @classmethod
    def get_default_config(cls) -> DDPGConfig:
        return DDPGConfig()


class TD3(HAC):
    @classmethod
    def get_default_config(cls) -> TD3Config:
        return TD3Config()
