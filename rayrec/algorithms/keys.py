"""Batch and model-output keys shared by rayrec's algorithms (never ad-hoc strings).

Loss and optimizer names are the learners' (:mod:`rayrec.algorithms.ddpg.ddpg_learner`,
:mod:`rayrec.algorithms.hac.hac_learner`). "Hyper-action" is DDPG's latent action z,
the one actor and critic see: in a slate space HAC's Z (width d + 1, mapped to items
by the kernel Φ); in a Box action space the action rescaled to [-1, 1].
"""

# the transition columns RESPONSE (B, K, F) and SLATE_VALID (B, K) are the environments'
from rayrec.environments.keys import RESPONSE as RESPONSE
from rayrec.environments.keys import SLATE_VALID as SLATE_VALID

#: (B, z) the latent action z_t the policy emitted (with exploration noise), stored in replay
HYPER_ACTION = "hyper_action"

#: (B, E, 2, H) per carried encoder, the recurrent (h, c) a replayed observation's
#: re-encoding starts from, and the same for the next observation (stateful modules)
RECURRENT_START = "recurrent_start"
NEXT_RECURRENT_START = "next_recurrent_start"

# forward_train outputs
STATE = "state"  # (B, d) s_t
HYPER_ACTION_POLICY = "hyper_action_policy"  # (B, z) z_t = π(s_t), no noise
INFERRED_HYPER_ACTION = "inferred_hyper_action"  # (B, z) ẑ(a_t): mean Φ(a_t), or a_t rescaled
ALIGNED_HYPER_ACTION = "aligned_hyper_action"  # (B, z) Ẑ(top-K(Z_t))   (slate only)
Q_INFERRED = "q_inferred"  # (B,) Q(s_t, ẑ(a_t))
Q_INFERRED_TWIN = "q_inferred_twin"  # (B,) twin critic
Q_POLICY = "q_policy"  # (B,) Q(s_t, π(s_t))
Q_NEXT_TARGET = "q_next_target"  # (B,) Q'(s_{t+1}, π'(s_{t+1}))
SLATE_LOGITS = "slate_logits"  # (B, K) Φ(a_t,i)ᵀ Z_t   (slate only)
