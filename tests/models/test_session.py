"""Session state encoders (GRU, NextItNet, SASRec): shapes, causality, padding
invariance, NextItNet's receptive field and parameter count, refusals."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from rayrec.errors import InputError
from rayrec.models.session import (
    BACKBONES,
    NextItNetSessionConfig,
    SessionEncoder,
    build_session_encoder,
)

N_ITEMS = 30
L = 6
DIM = 8


def _encoder(backbone: str, padding: str = "end", **fields: Any) -> SessionEncoder:
    torch.manual_seed(0)
    fields = {"state_length": L, **fields}
    return build_session_encoder(backbone, N_ITEMS, dim=DIM, padding=padding, **fields).eval()


def _end(seqs: list[list[int]], width: int = L) -> tuple[torch.Tensor, torch.Tensor]:
    """End-padded states and len_state (all-padding rows: len 1)."""
    state = torch.tensor([s + [0] * (width - len(s)) for s in seqs])  # (B, W)
    return state, torch.tensor([max(1, len(s)) for s in seqs])


def _left(seqs: list[list[int]], width: int = L) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded states; len_state as the data gives it (not read)."""
    state = torch.tensor([[0] * (width - len(s)) + s for s in seqs])  # (B, W)
    return state, torch.tensor([max(1, len(s)) for s in seqs])


SEQS = [[], [5], [5, 9], [3, 1, 4, 1, 5], [2, 7, 18, 28, 18, 28]]


@pytest.mark.parametrize("backbone", BACKBONES)
def test_shapes_and_attributes(backbone: str) -> None:
    enc = _encoder(backbone)
    assert (enc.n_items, enc.dim, enc.state_length, enc.padding) == (N_ITEMS, DIM, L, "end")
    assert enc.item_embedding.weight.shape == (N_ITEMS + 1, DIM)
    assert enc.item_embedding.padding_idx == 0
    assert torch.all(enc.item_embedding.weight[0] == 0)
    out = enc(*_end(SEQS))
    assert out.shape == (len(SEQS), DIM) and torch.isfinite(out).all()
    # the read-out is the sequence output at len_state - 1
    state, length = _end(SEQS)
    torch.testing.assert_close(out, enc.sequence_output(state)[torch.arange(5), length - 1])


@pytest.mark.parametrize("backbone", BACKBONES)
def test_causal_a_later_item_never_changes_an_earlier_output(backbone: str) -> None:
    enc = _encoder(backbone)
    torch.manual_seed(1)
    state = torch.randint(1, N_ITEMS + 1, (4, L))  # (B, L) full windows
    base = enc.sequence_output(state)  # (B, L, d)
    for t in range(L):
        changed = state.clone()
        changed[:, t] = changed[:, t] % N_ITEMS + 1  # another item at position t
        out = enc.sequence_output(changed)
        torch.testing.assert_close(out[:, :t], base[:, :t], rtol=0, atol=0)
        assert not torch.allclose(out[:, t], base[:, t])  # position t reads its own item
        # and through forward: every len_state <= t is unchanged
        for n in range(1, t + 1):
            length = torch.full((4,), n)
            torch.testing.assert_close(enc(changed, length), enc(state, length), rtol=0, atol=0)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_end_padding_what_sits_after_len_state_is_never_read(backbone: str) -> None:
    enc = _encoder(backbone)
    state, length = _end(SEQS)
    out = enc(state, length)
    filled = state.clone()
    after = torch.arange(L) >= length.unsqueeze(1)  # (B, L) positions after the items
    filled[after] = 17  # other items instead of padding
    torch.testing.assert_close(enc(filled, length), out, rtol=0, atol=0)
    # a narrower state (less trailing padding) gives the same output
    for width in range(max(len(s) for s in SEQS), L):
        torch.testing.assert_close(enc(state[:, :width], length), out, rtol=0, atol=1e-6)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_left_padding_is_invariant_and_equals_end_padding(backbone: str) -> None:
    """Every backbone: left padding skips the leading padding (rows rotated items-first),
    so any amount of it gives the output of the same items end-padded."""
    end = _encoder(backbone)(*_end(SEQS))
    enc = _encoder(backbone, padding="left")
    for width in range(max(len(s) for s in SEQS), L + 1):
        state, length = _left(SEQS, width)
        torch.testing.assert_close(enc(state, length), end, rtol=0, atol=1e-6)
    # len_state is not read with left padding
    state, _ = _left(SEQS)
    torch.testing.assert_close(enc(state, torch.ones(5, dtype=torch.long)), end, atol=1e-6, rtol=0)
    # a row's output does not depend on its neighbours' padding
    torch.testing.assert_close(enc(state[3:4], torch.ones(1, dtype=torch.long)), end[3:4])


def test_nextitnet_all_padding_state_is_zero_as_in_the_reference() -> None:
    enc = _encoder("nextitnet")
    out = enc(*_end([[], [4]]))
    assert torch.all(out[0] == 0) and out[1].abs().sum() > 0


def test_nextitnet_receptive_field_is_what_the_dilations_reach() -> None:
    """Output at t reads exactly t - (R - 1) .. t, R = 1 + (k-1)·Σ 3 d_i = 55."""
    assert NextItNetSessionConfig(n_items=1).receptive_field == 55
    width, t = 64, 60
    enc = _encoder("nextitnet", state_length=width)
    n_items = N_ITEMS  # items cycle; the gradient goes to the embedded tokens instead
    torch.manual_seed(2)
    state = torch.randint(1, n_items + 1, (1, width))  # (1, W)
    tokens = enc.item_embedding(state).detach().requires_grad_(True)  # (1, W, d)
    x = tokens
    for block in enc.blocks:  # sequence_output on given tokens (no padding here)
        x = block(x)
    x[0, t].sum().backward()
    assert tokens.grad is not None
    reached = (tokens.grad[0].abs().sum(-1) > 0).nonzero().squeeze(1)  # (R,)
    assert reached.tolist() == list(range(t - 54, t + 1))
    # a custom stack: one block of dilation 4, kernel 2 -> 1 + 1·(4 + 8) = 13 positions
    cfg = {"dilations": [4], "kernel_size": 2, "state_length": width}
    small = _encoder("nextitnet", **cfg)
    assert small.config.receptive_field == 13  # type: ignore[union-attr]
    base = small.sequence_output(state)[0, t]
    for j in range(width):
        changed = state.clone()
        changed[0, j] = changed[0, j] % N_ITEMS + 1
        moved = not torch.equal(small.sequence_output(changed)[0, t], base)
        assert moved == (j in (t, t - 4, t - 8, t - 12)), j  # taps 0, d, 2d(+0, 2d·1)


def test_nextitnet_parameter_count_by_hand() -> None:
    enc = build_session_encoder("nextitnet", 100)
    convs = 12 * (64 * 64 * 3 + 64)  # 6 blocks × 2 convolutions, weights + bias
    norms = 12 * 2 * 64  # a layer norm (γ, β) after each convolution
    own = sum(p.numel() for n, p in enc.named_parameters() if not n.startswith("item_"))
    assert own == convs + norms == 149_760
    assert enc.item_embedding.weight.numel() == 101 * 64


@pytest.mark.parametrize("backbone", BACKBONES)
def test_eval_deterministic_train_stochastic_and_gradients_reach_the_embedding(
    backbone: str,
) -> None:
    enc = _encoder(backbone, dropout=0.5)
    state, length = _end(SEQS)
    torch.testing.assert_close(enc(state, length), enc(state, length), rtol=0, atol=0)
    enc.train()
    torch.manual_seed(3)
    first = enc(state, length)
    assert not torch.allclose(first, enc(state, length))  # dropout is on in training
    first.square().sum().backward()
    grad = enc.item_embedding.weight.grad
    assert grad is not None
    used = torch.unique(state[state > 0])
    assert torch.all(grad[used].abs().sum(-1) > 0)  # every item of the batch is reached
    assert torch.all(grad[0] == 0)  # the padding row stays fixed


def test_default_dropout_per_backbone() -> None:
    assert _encoder("sasrec").config.dropout == 0.1
    assert _encoder("gru").config.dropout == 0.0
    assert _encoder("nextitnet").config.dropout == 0.0


@pytest.mark.parametrize(
    ("backbone", "fields", "message"),
    [
        ("lstm", {}, "model.backbone: expected one of 'gru', 'nextitnet', 'sasrec', got 'lstm'"),
        ("gru", {"n_heads": 2}, "model.n_heads: expected a field of the 'gru' session encoder"),
        ("gru", {"dim": 0}, "model.dim: expected an integer >= 1, got 0"),
        ("gru", {"padding": "right"}, "model.padding: expected one of 'end', 'left'"),
        ("gru", {"dropout": 1.0}, "model.dropout: expected a number in [0, 1), got 1"),
        ("gru", {"n_layers": 0}, "model.n_layers: expected an integer >= 1, got 0"),
        ("nextitnet", {"dilations": []}, "model.dilations: expected a non-empty list"),
        ("nextitnet", {"dilations": [1, 0]}, "model.dilations: expected a non-empty list"),
        ("nextitnet", {"kernel_size": "3"}, "model.kernel_size: expected an integer, got '3'"),
        ("sasrec", {"n_heads": 3}, "model.n_heads: expected a divisor of model.dim (64), got 3"),
        ("sasrec", {"state_length": 0}, "model.state_length: expected an integer >= 1, got 0"),
    ],
)
def test_bad_backbone_or_field_is_refused(
    backbone: str, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(InputError) as err:
        build_session_encoder(backbone, N_ITEMS, **fields)
    assert str(err.value).startswith(message), str(err.value)


def test_a_state_wider_than_state_length_is_refused() -> None:
    enc = _encoder("gru")
    with pytest.raises(ValueError, match="width 7"):
        enc(torch.ones(2, L + 1, dtype=torch.long), torch.ones(2, dtype=torch.long))
