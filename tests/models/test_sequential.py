"""SASRec, GRU4Rec and STAMP next-item models: shapes, padding invariance, causality,
golden values."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rayrec.errors import InputError
from rayrec.models.sequential import (
    SEQUENTIAL_MODELS,
    STAMP,
    CausalSASRecEncoder,
    GRU4Rec,
    GRU4RecConfig,
    NextItemModel,
    SASRecConfig,
    STAMPConfig,
    build_sequential_model,
)

N_ITEMS = 20
MAX_LEN = 8


def _model(name: str, seed: int = 0) -> NextItemModel:
    torch.manual_seed(seed)
    return build_sequential_model(name, N_ITEMS, max_len=MAX_LEN).eval()


@pytest.mark.parametrize("name", SEQUENTIAL_MODELS)
def test_shapes_and_padding_column(name: str) -> None:
    model = _model(name)
    items = torch.tensor([[0, 0, 0, 3, 4, 5, 6, 7], [1, 2, 3, 4, 5, 6, 7, 8]])
    d = model.dim
    assert model(items).shape == (2, d)
    assert model.sequence_output(items).shape == (2, MAX_LEN, d)
    logits = model.logits(items)
    assert logits.shape == (2, N_ITEMS + 1)
    assert torch.isneginf(logits[:, 0]).all() and torch.isfinite(logits[:, 1:]).all()
    # forward is the last position of the causal output
    torch.testing.assert_close(model(items), model.sequence_output(items)[:, -1])


@pytest.mark.parametrize("name", SEQUENTIAL_MODELS)
def test_left_padding_does_not_change_the_output(name: str) -> None:
    model = _model(name)
    seq = torch.tensor([[5, 9, 2, 11]])
    padded = torch.cat([torch.zeros(1, MAX_LEN - 4, dtype=torch.long), seq], dim=1)
    torch.testing.assert_close(model(padded), model(seq))
    torch.testing.assert_close(model.logits(padded), model.logits(seq))
    # every width in between, and as a row beside a full-length one
    for width in range(4, MAX_LEN + 1):
        torch.testing.assert_close(model(padded[:, -width:]), model(seq))
    full = torch.arange(1, MAX_LEN + 1).unsqueeze(0)
    batch = torch.cat([padded, full])
    torch.testing.assert_close(model(batch)[:1], model(seq))
    # the item positions of the causal output do not read the padding either
    torch.testing.assert_close(model.sequence_output(padded)[:, -4:], model.sequence_output(seq))


@pytest.mark.parametrize("name", SEQUENTIAL_MODELS)
def test_causal_output_reads_no_later_item(name: str) -> None:
    model = _model(name)
    a = torch.tensor([[0, 0, 4, 8, 15, 16, 3, 1]])
    b = a.clone()
    b[0, 5:] = torch.tensor([7, 12, 19])
    out_a, out_b = model.sequence_output(a), model.sequence_output(b)
    # item positions 2..4 (padded rows are meaningless and not compared)
    torch.testing.assert_close(out_a[:, 2:5], out_b[:, 2:5])
    assert not torch.allclose(out_a[:, 5:], out_b[:, 5:], rtol=1e-3, atol=0.0)


def test_sasrec_output_at_the_last_position_depends_only_on_the_sequence() -> None:
    model = _model("sasrec")
    seq = torch.tensor([[0, 0, 0, 6, 2, 9, 9, 14]])
    other = torch.tensor([[0, 0, 0, 6, 2, 9, 9, 13]])
    assert not torch.allclose(model(seq), model(other))
    # a different batch neighbour never changes a row (no attention across rows)
    batch = torch.cat([seq, torch.randint(1, N_ITEMS + 1, (3, MAX_LEN))])
    torch.testing.assert_close(model(batch)[:1], model(seq))


def test_causal_sasrec_encoder_equals_torch_transformer() -> None:
    torch.manual_seed(3)
    enc = CausalSASRecEncoder(8, max_len=6, n_layers=2, n_heads=2, ffn_dim=16, dropout=0.2).eval()
    tokens = torch.randn(3, 6, 8)
    mask = torch.tensor([[0, 0, 1, 1, 1, 1], [1] * 6, [0, 0, 0, 0, 0, 1]], dtype=torch.bool)
    ours = enc(tokens, mask)
    ref = enc.forward_reference(tokens, mask)
    torch.testing.assert_close(ours[mask], ref[mask], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(enc(tokens, mask, last_only=True), ref[:, -1], atol=1e-5, rtol=1e-5)
    assert not hasattr(enc, "query")


def test_gru4rec_equals_a_manual_gru_pass() -> None:
    torch.manual_seed(1)
    model = GRU4Rec(GRU4RecConfig(n_items=N_ITEMS, embedding=6, hidden=5, max_len=MAX_LEN)).eval()
    seq = [7, 3, 3, 12, 1]
    x = model.item_embedding.weight[torch.tensor(seq)]  # (5, 6)
    cell = nn.GRUCell(6, 5)
    cell.weight_ih.data = model.gru.weight_ih_l0.data
    cell.weight_hh.data = model.gru.weight_hh_l0.data
    cell.bias_ih.data = model.gru.bias_ih_l0.data
    cell.bias_hh.data = model.gru.bias_hh_l0.data
    h = torch.zeros(1, 5)
    states = []
    for t in range(len(seq)):
        h = cell(x[t : t + 1], h)
        states.append(model.dense(h))
    padded = torch.tensor([[0, 0, 0, *seq]])
    torch.testing.assert_close(model(padded), states[-1])
    torch.testing.assert_close(model.sequence_output(padded)[0, 3:], torch.cat(states))


def test_stamp_attention_hand_checked() -> None:
    model = STAMP(STAMPConfig(n_items=3, embedding=2, max_len=3))
    with torch.no_grad():
        model.item_embedding.weight.copy_(
            torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
        )
        for w in (model.w1, model.w2, model.w3):
            w.weight.copy_(torch.eye(2))
        model.b_a.zero_()
        model.w0.weight.copy_(torch.tensor([[1.0, 1.0]]))
    items = torch.tensor([[0, 1, 2]])
    # x_1 = (1, 0), x_2 = x_t = (0, 2), m_s = (0.5, 1)
    # α_1 = σ(1 + 0 + 0.5) + σ(0 + 2 + 1) = σ(1.5) + σ(3)
    # α_2 = σ(0 + 0 + 0.5) + σ(2 + 2 + 1) = σ(0.5) + σ(5)
    s = torch.sigmoid
    expected = torch.stack(
        [s(torch.tensor(1.5)) + s(torch.tensor(3.0)), s(torch.tensor(0.5)) + s(torch.tensor(5.0))]
    )
    alpha = model.attention(items)
    assert alpha[0, 0] == 0.0
    torch.testing.assert_close(alpha[0, 1:], expected)
    # m_a = α_1 x_1 + α_2 x_2; representation = tanh(W_s m_a + b_s) ⊙ tanh(W_t x_t + b_t)
    m_a = expected[0] * torch.tensor([1.0, 0.0]) + expected[1] * torch.tensor([0.0, 2.0])
    h = torch.tanh(model.mlp_a(m_a)) * torch.tanh(model.mlp_b(torch.tensor([0.0, 2.0])))
    torch.testing.assert_close(model(items)[0], h)
    torch.testing.assert_close(model.logits(items)[0, 1:], model.item_embedding.weight[1:] @ h)


def test_configs_validate_themselves() -> None:
    assert SASRecConfig(n_items=5).hidden == 64 and SASRecConfig(n_items=5).dropout == 0.5
    assert GRU4RecConfig(n_items=5).hidden == 128 and GRU4RecConfig(n_items=5).dropout == 0.3
    assert STAMPConfig(n_items=5).embedding == 64
    with pytest.raises(InputError, match=r"^sasrec: hidden: expected a multiple of n_heads"):
        SASRecConfig(n_items=5, hidden=63)
    with pytest.raises(InputError, match=r"^gru4rec: dropout: expected a number in \[0, 1\)"):
        GRU4RecConfig(n_items=5, dropout=1.0)
    with pytest.raises(InputError, match=r"^stamp: embedding: expected a positive integer"):
        STAMPConfig(n_items=5, embedding=0)
    with pytest.raises(InputError, match=r"^sequential model: name: expected one of"):
        build_sequential_model("bert4rec", 5)
    with pytest.raises(InputError, match=r"^stamp: hidden: expected one of"):
        build_sequential_model("stamp", 5, hidden=3)
    with pytest.raises(ValueError, match="exceeds max_len"):
        _model("gru4rec")(torch.ones(1, MAX_LEN + 1, dtype=torch.long))
