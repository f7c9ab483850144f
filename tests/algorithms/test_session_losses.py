"""The logged-session losses on hand-computed batches: SQN's double-Q TD, SAC's
weighting, CAL4Rec's Gumbel-max operator (against the categorical it is given) and its
discriminator / generator losses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from rayrec.algorithms.cal4rec.torch.cal4rec_torch_learner import (
    discriminator_loss,
    generator_loss,
    gumbel_max,
)
from rayrec.algorithms.sqn.torch.sqn_torch_learner import double_q_td, sac_weighted_ce

# A 4-sample batch over N = 3 items (column 0 is padding and must never be selected).
Q_TAKEN = torch.tensor([1.0, 0.5, -0.2, 2.0])
Q_NEXT_SELECTOR = torch.tensor(
    [
        [9.0, 1.0, 3.0, 2.0],  # padding highest: a' = item 2
        [0.0, 5.0, 1.0, 1.0],  # a' = item 1
        [0.0, 0.0, 0.0, 7.0],  # a' = item 3 (done: unused)
        [0.0, 2.0, 2.0, 1.0],  # tie between items 1 and 2: the first, item 1
    ]
)
Q_NEXT_TARGET = torch.tensor(
    [
        [100.0, 0.1, 0.4, 0.9],  # Q'(s', 2) = 0.4 (not Q' 's own argmax 0.9)
        [100.0, 2.0, 3.0, 1.0],  # Q'(s', 1) = 2.0
        [100.0, 1.0, 1.0, -1.0],  # done: the target is r alone
        [100.0, 0.3, 5.0, 5.0],  # Q'(s', 1) = 0.3
    ]
)
REWARD = torch.tensor([0.2, 1.0, 0.2, 0.2])  # click, purchase, click, click
DONE = torch.tensor([0.0, 0.0, 1.0, 0.0])
GAMMA = 0.5


def test_double_q_td_by_hand() -> None:
    # y = [0.2 + 0.5·0.4, 1.0 + 0.5·2.0, 0.2, 0.2 + 0.5·0.3] = [0.4, 2.0, 0.2, 0.35]
    td = double_q_td(Q_TAKEN, Q_NEXT_SELECTOR, Q_NEXT_TARGET, REWARD, DONE, GAMMA)
    torch.testing.assert_close(td, torch.tensor([-0.6, 1.5, 0.4, -1.65]))
    # SQN's per-row loss 0.5·td² and its mean (the CE is added per row before the mean)
    torch.testing.assert_close(0.5 * td.square(), torch.tensor([0.18, 1.125, 0.08, 1.36125]))
    ce = torch.tensor([1.0, 2.0, 3.0, 4.0])
    total = (0.5 * td.square() + ce).mean()
    assert float(total) == pytest.approx((0.18 + 1.125 + 0.08 + 1.36125 + 10.0) / 4)


def test_double_q_td_gradient_reaches_only_q_taken() -> None:
    q = Q_TAKEN.clone().requires_grad_(True)
    selector = Q_NEXT_SELECTOR.clone().requires_grad_(True)
    target = Q_NEXT_TARGET.clone().requires_grad_(True)
    td = double_q_td(q, selector, target, REWARD, DONE, GAMMA)
    (0.5 * td.square()).sum().backward()
    # d(0.5 td²)/dq = −td
    torch.testing.assert_close(q.grad, torch.tensor([0.6, -1.5, -0.4, 1.65]))
    assert selector.grad is None and target.grad is None


def test_sac_weights_the_ce_by_the_detached_q() -> None:
    ce = torch.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    q = Q_TAKEN.clone().requires_grad_(True)
    weighted, weight = sac_weighted_ce(ce, q)
    torch.testing.assert_close(weighted, torch.tensor([1.0, 1.0, -0.6, 8.0]))
    torch.testing.assert_close(weight, Q_TAKEN)
    weighted.sum().backward()
    torch.testing.assert_close(ce.grad, Q_TAKEN)
    assert q.grad is None, "the weight is detached"
    clipped, _ = sac_weighted_ce(ce.detach(), Q_TAKEN, clip_at_zero=True)
    torch.testing.assert_close(clipped, torch.tensor([1.0, 1.0, 0.0, 8.0]))


def test_gumbel_max_samples_follow_the_categorical_it_is_given() -> None:
    """argmax(log p + g), g = −log(−log u): a draw from Categorical(p) (chi-square)."""
    p = torch.tensor([0.7, 0.2, 0.1])
    n = 20_000
    gen = torch.Generator().manual_seed(0)
    u = torch.rand(n, 3, generator=gen)
    hard = gumbel_max(p.log().expand(n, 3), u, relaxed=False)  # (n, 3) one-hot
    assert bool((hard.sum(-1) == 1).all())
    counts = hard.sum(0).numpy()
    _, p_value = stats.chisquare(counts, f_exp=p.numpy() * n)
    assert p_value > 0.01, (counts, p_value)
    # the two-type case the generator uses: purchase share p(1)
    q = torch.tensor([0.85, 0.15])
    u2 = torch.rand(n, 2, generator=gen)
    share = float(gumbel_max(q.log().expand(n, 2), u2, relaxed=False)[:, 1].mean())
    assert abs(share - 0.15) < 4 * math.sqrt(0.15 * 0.85 / n)


def test_gumbel_max_relaxation_and_straight_through() -> None:
    log_p = torch.log(torch.tensor([[0.6, 0.4], [0.1, 0.9]]))
    u = torch.tensor([[0.5, 0.5], [0.3, 0.8]])
    g = -torch.log(-torch.log(u))
    soft = gumbel_max(log_p, u, temperature=0.5)
    torch.testing.assert_close(soft, torch.softmax((log_p + g) / 0.5, dim=-1))
    hard = gumbel_max(log_p, u, relaxed=False)
    torch.testing.assert_close(hard, torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    logits = log_p.clone().requires_grad_(True)
    st = gumbel_max(logits, u, temperature=0.5, straight_through=True)
    torch.testing.assert_close(st, hard)  # forward: the one-hot
    st[:, 1].sum().backward()
    assert logits.grad is not None and float(logits.grad.abs().sum()) > 0  # backward: relaxed
    # no noise (the no-Gumbel variant): the generator's own softmax
    torch.testing.assert_close(gumbel_max(log_p, None), torch.softmax(log_p, dim=-1))


def test_discriminator_and_generator_losses_by_hand() -> None:
    # D's logits: real [0, ln 3] -> D = [0.5, 0.75]; fake [0, −ln 3] -> D = [0.5, 0.25]
    d_real = torch.tensor([0.0, math.log(3.0)])
    d_fake = torch.tensor([0.0, -math.log(3.0)])
    # L_D = −mean[log D(r₁) + log(1 − D(r₂))]
    expected_d = -np.mean([math.log(0.5) + math.log(0.5), math.log(0.75) + math.log(0.75)])
    assert float(discriminator_loss(d_real, d_fake)) == pytest.approx(expected_d)
    # L_G = mean log(1 − D(r₂)) (Eq. 10) or −mean log D(r₂)
    assert float(generator_loss(d_fake)) == pytest.approx(np.mean([math.log(0.5), math.log(0.75)]))
    assert float(generator_loss(d_fake, saturating=False)) == pytest.approx(
        -np.mean([math.log(0.5), math.log(0.25)])
    )
