"""The HAC RLModule in torch: DDPG's slate module with Φ's alignment and supervision.

Liu et al., "Exploration and Regularization of the Latent Action Space in
Recommendation" (WWW 2023); ``../shared/specs/hac.md``. The networks — SASRec state
over the history embedded by the item kernel Φ, hyper-actor Z = tanh(MLP(s)) of width
d + 1, Φ(i) = [e_i; 1] with the top-K of Φ(i)ᵀZ as the slate, inverse pooling
Ẑ(a) = mean_{i∈a} Φ(i), critic Q(s, Z), targets — are DDPG's slate module
(:class:`~rayrec.algorithms.ddpg.torch.default_ddpg_torch_rl_module.
DefaultDDPGTorchRLModule`, where the deviations from the reference code are listed).

What HAC adds is in the training forward: the aligned hyper-action Ẑ(top-K(Z)) and
the replayed slate's scores Φ(a_i)ᵀZ carry gradients — into Φ and, for the scores and
the alignment's Z, into the actor — for L_Hyper and L_BCE. HAC needs a slate action
space.

Shapes: B batch, K slate size, z = d + 1 hyper-action width.
"""

from __future__ import annotations

import gymnasium as gym

from rayrec.algorithms.ddpg.torch.default_ddpg_torch_rl_module import DefaultDDPGTorchRLModule


class DefaultHACTorchRLModule(DefaultDDPGTorchRLModule):
    """DDPG's slate module whose alignment and score outputs train Φ and the actor.

    Outputs: as DDPG's; ``aligned_hyper_action`` (B, z) and ``slate_logits`` (B, K) in
    ``forward_train`` with gradients.
    """

    trains_slate_head = True

    def setup(self) -> None:
        if not isinstance(self.action_space, gym.spaces.MultiDiscrete):
            raise ValueError(
                f"HAC needs a MultiDiscrete slate action space, got {self.action_space}"
            )
        super().setup()
