"""Batch and model-output keys shared by rayrec's algorithms (never ad-hoc strings)."""

# the transition columns RESPONSE (B, K, F) and SLATE_VALID (B, K) are the environments'
from rayrec.environments.keys import RESPONSE as RESPONSE
from rayrec.environments.keys import SLATE_VALID as SLATE_VALID

#: (B, Z) the hyper-action Z_t the policy emitted (with exploration noise), stored in replay
HYPER_ACTION = "hyper_action"

# forward_train outputs
STATE = "state"  # (B, d) s_t
HYPER_ACTION_POLICY = "hyper_action_policy"  # (B, Z) Z_t = π(s_t), no noise
INFERRED_HYPER_ACTION = "inferred_hyper_action"  # (B, Z) Ẑ(a_t) = mean Φ(a_t)
ALIGNED_HYPER_ACTION = "aligned_hyper_action"  # (B, Z) Ẑ(top-K(Z_t))
Q_INFERRED = "q_inferred"  # (B,) Q(s_t, Ẑ(a_t))
Q_INFERRED_TWIN = "q_inferred_twin"  # (B,) twin critic
Q_POLICY = "q_policy"  # (B,) Q(s_t, Z_t)
Q_NEXT_TARGET = "q_next_target"  # (B,) Q'(s_{t+1}, π'(s_{t+1}))
SLATE_LOGITS = "slate_logits"  # (B, K) Φ(a_t,i)ᵀ Z_t

# loss names (also the optimizer names + "_loss")
CRITIC_LOSS = "critic_loss"
CRITIC_TWIN_LOSS = "critic_twin_loss"
ACTOR_LOSS = "actor_loss"
KERNEL_LOSS = "kernel_loss"
TD_LOSS = "L_TD"
QMAX_LOSS = "L_QMax"
HYPER_LOSS = "L_Hyper"
BCE_LOSS = "L_BCE"
