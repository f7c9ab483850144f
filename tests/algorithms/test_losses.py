"""DDPG's and HAC's four loss blocks on a hand-computed 4-sample batch.

Every expected value is worked out here with plain Python floats and ``math`` from
the equations in ``../shared/specs/hac.md``, never with the torch functions the
implementation calls, so a wrong reduction, sign, mask or target shows up as a
number that differs.
"""

from __future__ import annotations

import math

import pytest
import torch

from rayrec.algorithms.ddpg.torch.ddpg_torch_learner import bce_loss, hyper_loss, qmax_loss, td_loss

GAMMA = 0.9

# The 4-sample batch: sample 2 is terminated (the user left).
Q = [0.5, -0.2, 1.0, 0.3]  # Q(s, Ẑ(a))
REWARD = [1.0, 0.0, 0.5, 0.2]
TERMINATED = [False, False, True, False]
Q_NEXT = [2.0, -1.0, 3.0, 0.5]  # Q'(s', π'(s'))


def t(values: list[float] | list[bool]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.bool if isinstance(values[0], bool) else torch.float32)


def mean_squared_td(targets: list[float]) -> float:
    return sum((q - y) ** 2 for q, y in zip(Q, targets, strict=True)) / len(Q)


# ------------------------------------------------------------------------ L_TD
def test_td_loss_bootstraps_unless_terminated() -> None:
    # y = r + γ (1 − terminated) Q'
    y = [
        1.0 + 0.9 * 2.0,  # 2.8
        0.0 + 0.9 * -1.0,  # -0.9
        0.5,  # terminated: no bootstrap
        0.2 + 0.9 * 0.5,  # 0.65
    ]
    expected = ((0.5 - 2.8) ** 2 + (-0.2 + 0.9) ** 2 + 0.5**2 + (0.3 - 0.65) ** 2) / 4
    assert mean_squared_td(y) == pytest.approx(expected)
    loss = td_loss(t(Q), t(REWARD), t(TERMINATED), t(Q_NEXT), GAMMA)
    assert loss.shape == ()
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # terminated may come as floats (0/1) as well as bools
    again = td_loss(t(Q), t(REWARD), t([0.0, 0.0, 1.0, 0.0]), t(Q_NEXT), GAMMA)
    assert again.item() == pytest.approx(expected, rel=1e-6)


def test_td_loss_reference_leave_flag_bootstraps_only_on_exits() -> None:
    # The HAC/KuaiSim code: y = r + γ · terminated · Q' (the flagged deviation).
    y = [1.0, 0.0, 0.5 + 0.9 * 3.0, 0.2]
    loss = td_loss(
        t(Q), t(REWARD), t(TERMINATED), t(Q_NEXT), GAMMA, bootstrap="reference_leave_flag"
    )
    assert loss.item() == pytest.approx(mean_squared_td(y), rel=1e-6)
    assert loss.item() == pytest.approx(((0.5 - 1) ** 2 + 0.2**2 + 2.2**2 + 0.1**2) / 4, rel=1e-6)


def test_td_loss_gradient_flows_into_q_only() -> None:
    q = t(Q).requires_grad_(True)
    q_next = t(Q_NEXT).requires_grad_(True)  # as if the caller forgot no_grad
    reward = t(REWARD).requires_grad_(True)
    td_loss(q, reward, t(TERMINATED), q_next, GAMMA).backward()
    assert q_next.grad is None, "the TD target must be detached (target network)"
    assert reward.grad is None
    # dL/dq_j = 2 (q_j − y_j) / B
    y = [2.8, -0.9, 0.5, 0.65]
    expected = [2 * (qj - yj) / 4 for qj, yj in zip(Q, y, strict=True)]
    assert q.grad is not None
    assert q.grad.tolist() == pytest.approx(expected, rel=1e-5)


# ---------------------------------------------------------------------- L_QMax
def test_qmax_loss_is_minus_mean_q() -> None:
    # L_QMax = − mean Q(s, Z) = −(0.5 − 0.2 + 1.0 + 0.3) / 4
    assert qmax_loss(t(Q)).item() == pytest.approx(-0.4, rel=1e-6)


def test_qmax_loss_normalised_by_mean_abs_q_without_gradient_through_it() -> None:
    # Q = (0.5, −0.2, 1.0, 0.3): − mean Q = −0.4, mean |Q| = 2.0 / 4 = 0.5 → −0.8;
    # the divisor is a constant: dL/dq_j = −1 / (4 · 0.5) = −0.5 for every j
    q = torch.tensor(Q, requires_grad=True)
    loss = qmax_loss(q, normalise=True)
    assert loss.item() == pytest.approx(-0.8, rel=1e-6)
    loss.backward()
    assert q.grad is not None
    assert q.grad.tolist() == pytest.approx([-0.5] * 4, rel=1e-6)
    # Q ≡ 0: finite (the divisor is floored at 1e-6)
    assert qmax_loss(torch.zeros(3), normalise=True).item() == 0.0


# --------------------------------------------------------------------- L_Hyper
def test_hyper_loss_sums_over_dims_and_averages_over_batch() -> None:
    z = [[0.1, 0.2, 1.0], [-0.5, 0.0, 0.5], [0.3, 0.3, 0.3], [1.0, -1.0, 0.0]]
    z_aligned = [[0.0, 0.0, 1.0], [0.5, 0.0, 0.5], [0.3, 0.3, 0.3], [0.0, 0.0, 2.0]]
    # per row ‖Z − Ẑ‖²: 0.01 + 0.04 = 0.05; 1.0; 0.0; 1 + 1 + 4 = 6
    per_row = [
        sum((a - b) ** 2 for a, b in zip(zr, ar, strict=True))
        for zr, ar in zip(z, z_aligned, strict=True)
    ]
    assert per_row == pytest.approx([0.05, 1.0, 0.0, 6.0])
    expected = (0.05 + 1.0 + 0.0 + 6.0) / 4
    loss = hyper_loss(torch.tensor(z), torch.tensor(z_aligned))
    assert loss.item() == pytest.approx(expected, rel=1e-6)


# ----------------------------------------------------------------------- L_BCE
def bce(logit: float, y: float) -> float:
    """− [y log σ(x) + (1 − y) log(1 − σ(x))] in plain floats."""
    p = 1.0 / (1.0 + math.exp(-logit))
    return -(y * math.log(p) + (1.0 - y) * math.log(1.0 - p))


def test_bce_loss_masks_invalid_positions_and_uses_any_response() -> None:
    # B = 4 slates of K = 2 items, F = 2 feedback types (say click, like).
    logits = [[0.5, -1.0], [2.0, 0.0], [-0.3, 1.5], [0.0, 3.0]]
    response = [
        [[1.0, 0.0], [0.0, 0.0]],  # clicked only -> 1; nothing -> 0
        [[0.0, 1.0], [1.0, 1.0]],  # liked only -> 1; both -> 1 (not 2)
        [[0.0, 0.0], [0.0, 0.0]],
        [[0.0, 0.0], [1.0, 1.0]],  # position 1 is invalid: must not count
    ]
    valid = [[True, True], [True, True], [True, True], [True, False]]
    # y = 1 if any behaviour responded; position (3, 1) would be 1 but is masked
    y = [[1.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.0, 1.0]]
    terms = [bce(logits[b][k], y[b][k]) for b in range(4) for k in range(2) if valid[b][k]]
    assert len(terms) == 7
    expected = sum(terms) / 7
    loss = bce_loss(torch.tensor(logits), torch.tensor(response), torch.tensor(valid))
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # The masked position really is ignored: changing its logit changes nothing.
    logits[3][1] = -50.0
    again = bce_loss(torch.tensor(logits), torch.tensor(response), torch.tensor(valid))
    assert again.item() == pytest.approx(expected, rel=1e-6)


def test_bce_loss_of_an_all_invalid_batch_is_zero() -> None:
    loss = bce_loss(torch.zeros(4, 2), torch.ones(4, 2, 2), torch.zeros(4, 2, dtype=torch.bool))
    assert loss.item() == 0.0
