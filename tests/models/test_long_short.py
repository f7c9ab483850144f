"""Golden tests of LSRWRL's state encoder (rayrec/models/long_short.py)."""

from __future__ import annotations

import itertools
import math
import re

import pytest
import torch

from rayrec.errors import InputError
from rayrec.models.long_short import (
    DeepFMInterest,
    LongShortConfig,
    LongShortQNetwork,
    PositionalSelfAttention,
    fm_interaction,
    sinusoidal_positions,
)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def test_fm_identity_equals_the_explicit_pairwise_sum() -> None:
    terms = torch.randn(3, 5, 4, dtype=torch.float64)
    explicit = torch.zeros(3, 4, dtype=torch.float64)
    for i, j in itertools.combinations(range(5), 2):
        explicit += terms[:, i] * terms[:, j]
    torch.testing.assert_close(fm_interaction(terms), explicit)


def test_deepfm_second_order_vector_by_hand() -> None:
    cfg = LongShortConfig(n_items=6, user_fields=(2, 1), fm_dim=3, dnn_hidden=(4,))
    net = DeepFMInterest(cfg).double()
    user = torch.tensor([[1.0, 0.0, 0.5]], dtype=torch.float64)  # gender=F, age 0.5
    long_items = torch.tensor([[0, 0, 2, 5]])  # liked: items 2 and 5
    # x: the three user features, then items 2 and 5 at 1/2 each
    v = [net.user_v[0], net.user_v[1], net.user_v[2], net.item_v.weight[2], net.item_v.weight[5]]
    x = [1.0, 0.0, 0.5, 0.5, 0.5]
    expected = sum((v[i] * x[i]) * (v[j] * x[j]) for i, j in itertools.combinations(range(5), 2))
    out = net(user, long_items)
    assert out.shape == (1, 3 + 4)
    torch.testing.assert_close(out[0, :3], expected)


def test_deepfm_is_invariant_to_left_padding_of_the_liked_items() -> None:
    cfg = LongShortConfig(n_items=9, user_fields=(2, 1, 3))
    net = DeepFMInterest(cfg)
    user = torch.rand(2, 6)
    short = torch.tensor([[3, 7], [0, 4]])
    padded = torch.cat([torch.zeros(2, 5, dtype=torch.long), short], dim=1)
    torch.testing.assert_close(net(user, short), net(user, padded))


def test_sinusoidal_positions_follow_eq_3() -> None:
    p = sinusoidal_positions(4, 6)
    assert p.shape == (4, 6)
    torch.testing.assert_close(p[0], torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 1.0]))
    for i in range(3):
        angle = 2 / 10000 ** (2 * i / 6)
        assert p[2, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
        assert p[2, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)


def test_attention_by_hand_on_two_real_items() -> None:
    cfg = LongShortConfig(n_items=5, attention_dim=2, short_window=3)
    net = PositionalSelfAttention(cfg).double()
    with torch.no_grad():
        for w in (net.w_q, net.w_k, net.w_v):
            w.weight.copy_(torch.eye(2))
        net.item_emb.weight[1] = torch.tensor([1.0, 0.0])
        net.item_emb.weight[2] = torch.tensor([0.0, 1.0])
    out = net(torch.tensor([[0, 1, 2]]))
    p = sinusoidal_positions(3, 2).double()
    x1 = torch.tensor([1.0, 0.0], dtype=torch.float64) + p[1]
    x2 = torch.tensor([0.0, 1.0], dtype=torch.float64) + p[2]
    xs = torch.stack([x1, x2])  # (2, 2) the real rows only
    att = torch.softmax(xs @ xs.T / math.sqrt(2), dim=-1) @ xs  # (2, 2)
    torch.testing.assert_close(out[0], att.mean(dim=0))


def test_attention_of_an_empty_window_is_zero_and_ignores_padded_slots() -> None:
    cfg = LongShortConfig(n_items=5, short_window=4)
    net = PositionalSelfAttention(cfg)
    out = net(torch.zeros(2, 4, dtype=torch.long))
    assert torch.equal(out, torch.zeros(2, cfg.attention_dim))
    # the real items' output does not depend on the embedding row of padding
    items = torch.tensor([[0, 0, 3, 4]])
    before = net(items)
    with torch.no_grad():
        net.item_emb.weight[0] = 5.0
    torch.testing.assert_close(net(items), before)


def test_q_network_scores_the_whole_pool() -> None:
    cfg = LongShortConfig(n_items=11, user_fields=(2,), q_hidden=(8,))
    net = LongShortQNetwork(cfg)
    q = net(torch.rand(3, 2), torch.randint(0, 12, (3, 7)), torch.randint(0, 12, (3, 20)))
    assert q.shape == (3, 12)
    assert cfg.state_dim == cfg.fm_dim + cfg.dnn_hidden[-1] + cfg.attention_dim


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("fm_dim", 0, "model.fm_dim: expected an integer >= 1, got 0"),
        ("dnn_hidden", (), "model.dnn_hidden: expected at least one width"),
        ("dropout", 1.0, "model.dropout: expected a number in [0, 1)"),
        ("user_fields", (2, 0), "model.user_fields: expected an integer >= 1, got 0"),
    ],
)
def test_bad_sizes_name_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        LongShortConfig(n_items=5, **{field: value})  # type: ignore[arg-type]


def test_the_item_dot_head_scores_each_item_by_its_embedding() -> None:
    cfg = LongShortConfig(n_items=9, user_fields=(2,), q_head="item_dot")
    net = LongShortQNetwork(cfg)
    user, long, short = (
        torch.rand(3, 2),
        torch.randint(0, 10, (3, 5)),
        torch.randint(0, 10, (3, 20)),
    )
    q = net(user, long, short)
    assert q.shape == (3, 10)
    s = net.encoder(user, long, short)
    expected = net.q(s) @ net.encoder.short.item_emb.weight.T + net.item_bias
    torch.testing.assert_close(q, expected)
    # an item's Q moves with its embedding, which every state holding the item trains
    with torch.no_grad():
        net.encoder.short.item_emb.weight[4] += 1.0
    moved = net(user, long, short)
    assert not torch.allclose(moved[:, 4], q[:, 4])
    with pytest.raises(InputError, match=r"model\.q_head: expected one of 'linear', 'item_dot'"):
        LongShortConfig(n_items=5, q_head="dot")
