"""The losses of SQN, SAC and plain CE in torch (:mod:`rayrec.algorithms.sqn.sqn`).

The loss terms are pure functions of named tensors (:func:`double_q_td`,
:func:`sac_weighted_ce`), tested on hand-computed batches; the learner picks the
networks (the coin flip), runs them and sums the terms.
"""

from __future__ import annotations

import logging
from typing import Any, cast

import numpy as np
import torch
from ray.rllib.core.learner.torch.torch_learner import TorchLearner

from rayrec.algorithms.sqn.sqn_learner import (
    CE_LOSS,
    NONFINITE_SKIPS,
    Q_TAKEN_MEAN,
    SAC_WEIGHT,
    TD_LOSS,
    TOTAL_LOSS,
)
from rayrec.algorithms.sqn.torch.default_sqn_torch_rl_module import (
    SessionNetwork,
    item_cross_entropy,
)
from rayrec.data.sessions import (
    ACTION,
    IS_DONE,
    LEN_NEXT_STATE,
    LEN_STATE,
    NEXT_STATE,
    REWARD,
    STATE,
)
from rayrec.errors import InputError

logger = logging.getLogger(__name__)
#: learner state key of the update count (the coin flips and SAC's T read it)
UPDATES_STATE = "rayrec_updates"


def double_q_td(
    q_taken: torch.Tensor,
    q_next_selector: torch.Tensor,
    q_next_target: torch.Tensor,
    reward: torch.Tensor,
    done: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """The double-Q TD error of each row (van Hasselt; ``trfl.double_qlearning``).

    Args:
        q_taken: (B,) Q(s, a) of the trained network at the logged action.
        q_next_selector: (B, N + 1) the trained network's Q(s', ·): it picks a'.
        q_next_target: (B, N + 1) the other network's Q'(s', ·): it values a'.
        reward: (B,) r.
        done: (B,) 1 at a session's last event (the target is r alone).
        gamma: γ.

    Returns:
        (B,) td = r + γ (1 − done) Q'(s', argmax_{a' ≥ 1} Q(s', a')) − Q(s, a), the target
        detached; the padding column 0 is never selected.
    """
    best = q_next_selector[:, 1:].argmax(-1) + 1  # (B,) a', never padding
    q_next = q_next_target.gather(-1, best[:, None]).squeeze(-1)  # (B,)
    # y = r + γ (1 − done) Q'(s', a')
    y = (reward + gamma * (1.0 - done.float()) * q_next).detach()  # (B,)
    return y - q_taken  # (B,)


def sac_weighted_ce(
    ce: torch.Tensor, q_taken: torch.Tensor, *, clip_at_zero: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """SAC's actor term: each row's CE weighted by its detached Q(s, a).

    Args:
        ce: (B,) −log π(a|s) of the CE head.
        q_taken: (B,) Q(s, a).
        clip_at_zero: clip the weight at ≥ 0 (ours; the reference does not).

    Returns:
        (B,) weighted CE, (B,) the weights.
    """
    weight = q_taken.detach()  # (B,) stop_gradient(Q(s, a))
    if clip_at_zero:
        weight = weight.clamp(min=0.0)
    return weight * ce, weight


def finite_guard(learner: Any, loss: torch.Tensor, name: str, limit: int) -> bool:
    """Whether ``loss`` is finite; counts consecutive non-finite ones on ``learner``
    (``_nonfinite``) and raises once they exceed ``limit``.

    Raises:
        InputError: more than ``limit`` consecutive updates had a NaN / inf ``name``.
    """
    if bool(torch.isfinite(loss).all()):
        learner._nonfinite = 0
        return True
    learner._nonfinite = getattr(learner, "_nonfinite", 0) + 1
    learner._nonfinite_total = getattr(learner, "_nonfinite_total", 0) + 1
    logger.warning("%s is not finite (%s): update skipped", name, float(loss.detach()))
    if learner._nonfinite > limit:
        raise InputError(
            f"{name} was NaN or infinite in {learner._nonfinite} consecutive updates"
            f" (max_nonfinite_updates={limit}): lower lr or check the data"
        )
    return False


class SessionLearnerMixin:
    """The update count in the learner's state (coin flips, SAC's T, resumes)."""

    _updates: int = 0

    def get_state(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        state = cast(dict[str, Any], super().get_state(*args, **kwargs))  # type: ignore[misc]
        state[UPDATES_STATE] = self._updates
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)  # type: ignore[misc]
        self._updates = int(state.get(UPDATES_STATE, self._updates))

    def _coin(self, salt: int = 0) -> int:
        """This update's fair coin (0 or 1), from the seed and the update count."""
        seed = int(cast(Any, self).config.seed or 0)
        return int(np.random.default_rng([seed, self._updates, salt]).integers(2))


class SQNTorchLearner(SessionLearnerMixin, TorchLearner):
    """SQN / SAC / CE losses; one Adam over every network (the default optimizer)."""

    def compute_loss_for_module(
        self, *, module_id: str, config: Any, batch: dict[str, Any], fwd_out: dict[str, Any]
    ) -> torch.Tensor:
        module: Any = self.module[module_id]
        method = config.method
        state, len_state = batch[STATE].long(), batch[LEN_STATE].long()  # (B, L), (B,)
        action = batch[ACTION].long()  # (B,)
        pointer = self._coin() if method != "ce" else 0
        main = cast(SessionNetwork, module.networks[pointer])
        s = main(state, len_state)  # (B, d)
        # L_CE = −log softmax(W_ce s + b_ce)[a]
        ce = item_cross_entropy(main.ce_head(s), action, reduction="none")  # (B,)
        log: dict[str, Any] = {CE_LOSS: ce.mean()}
        if method == "ce":
            total = ce.mean()
        else:
            other = cast(SessionNetwork, module.networks[1 - pointer])
            assert main.q_head is not None and other.q_head is not None
            q_taken = main.q_head(s).gather(-1, action[:, None]).squeeze(-1)  # (B,)
            next_state = batch[NEXT_STATE].long()  # (B, L)
            len_next = batch[LEN_NEXT_STATE].long()  # (B,)
            with torch.no_grad():
                q_next_selector = main.q_head(main(next_state, len_next))  # (B, N + 1)
                q_next_target = other.q_head(other(next_state, len_next))  # (B, N + 1)
            td = double_q_td(
                q_taken,
                q_next_selector,
                q_next_target,
                batch[REWARD].float(),
                batch[IS_DONE].float(),
                float(config.gamma),
            )  # (B,)
            td_loss = 0.5 * td.square()  # (B,)
            actor = ce
            if method == "sac" and self._updates >= config.sac_start:
                actor, weight = sac_weighted_ce(
                    ce, q_taken, clip_at_zero=bool(config.sac_clip_weight)
                )
                log[SAC_WEIGHT] = weight.mean()
            total = (td_loss + actor).mean()  # mean(0.5·td² + CE)
            log[TD_LOSS] = td_loss.mean()
            log[Q_TAKEN_MEAN] = q_taken.mean()
        log[TOTAL_LOSS] = total
        self._updates += 1
        if not finite_guard(self, total, f"{method} loss", int(config.max_nonfinite_updates)):
            # a zero loss still moves Adam (momentum): the step is skipped instead
            total = total.nan_to_num(0.0, 0.0, 0.0) * 0.0
            self._skip_step = True
        self.metrics.log_dict(
            {k: float(v.detach()) for k, v in log.items()}, key=module_id, window=1
        )
        self.metrics.log_value(
            (module_id, NONFINITE_SKIPS), getattr(self, "_nonfinite_total", 0), window=1
        )
        return total

    def apply_gradients(self, gradients_dict: Any) -> None:
        if getattr(self, "_skip_step", False):  # a non-finite loss: no optimizer moves
            self._skip_step = False
            return
        super().apply_gradients(gradients_dict)
