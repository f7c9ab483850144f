"""DDPG-LA's interest encoder: the validated config, RLSTM = nn.LSTM at p = 1 (values and
gradients), finite gradients at c = 0, hand-computed T-self-attention, every variant's
modules, padding invariance, and the carried ring (acting = training path, stepping =
nn.LSTM over the whole history)."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import nn

from rayrec.config import from_dict
from rayrec.errors import InputError
from rayrec.models.interest import (
    VARIANT_LABELS,
    VARIANTS,
    InterestEncoder,
    InterestEncoderConfig,
    RLSTMCell,
    TSelfAttention,
    enhance,
)

pytestmark = pytest.mark.usefixtures("single_thread")

F_, N_ITEMS = 3, 10  # record features (rating excluded), largest item id


def small(**kw: Any) -> InterestEncoderConfig:
    sizes: dict[str, Any] = dict(
        record_dim=5, hidden_dim=4, attention_dim=3, short_window=3, train_window=3
    )
    return InterestEncoderConfig(**{**sizes, **kw})


# ---------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("variant", "gru", "model.variant: expected one of 'rlstm', 'lstm', "),
        ("record_dim", 0, "model.record_dim: expected an integer >= 1, got 0"),
        ("hidden_dim", 2.5, "model.hidden_dim: expected an integer, got 2.5"),
        ("attention_dim", True, "model.attention_dim: expected an integer, got True"),
        ("enhancement_p", 0, "model.enhancement_p: expected a number in (0, 1], got 0"),
        ("enhancement_p", 1.5, "model.enhancement_p: expected a number in (0, 1], got 1.5"),
        ("enhancement_eps", 0.0, "model.enhancement_eps: expected a number > 0, got 0"),
        ("short_window", 0, "model.short_window: expected an integer >= 1, got 0"),
        ("position_weights", "sum", "model.position_weights: expected one of 'linear', "),
        ("softmax_beta", float("nan"), "model.softmax_beta: expected a number, got nan"),
        ("train_window", 0, "model.train_window: expected an integer >= 1, got 0"),
        ("item_embedding_dim", -1, "model.item_embedding_dim: expected an integer >= 0"),
    ],
)
def test_config_names_the_bad_field_and_value(field: str, value: Any, message: str) -> None:
    with pytest.raises(InputError) as err:
        InterestEncoderConfig(**{field: value})
    assert str(err.value).startswith(message)


def test_config_defaults_variants_and_paper_labels() -> None:
    cfg = InterestEncoderConfig()
    assert (cfg.variant, cfg.paper_label, cfg.long_term, cfg.short_term) == (
        "rlstm+t_attention",
        "DDPG-LA",
        "rlstm",
        "t_attention",
    )
    assert (cfg.record_dim, cfg.hidden_dim, cfg.attention_dim) == (32, 32, 32)
    assert (cfg.enhancement_p, cfg.short_window, cfg.position_weights) == (0.5, 5, "linear")
    assert (cfg.train_window, cfg.item_embedding_dim, cfg.softmax_beta) == (8, 0, 1.0)
    assert len(VARIANTS) == 8 and len(set(VARIANT_LABELS.values())) == 8
    assert VARIANT_LABELS["lstm+attention"] == "DDPG+LSTM+self_attention"
    assert InterestEncoderConfig(variant="attention").long_term is None
    assert InterestEncoderConfig(variant="lstm").short_term is None
    assert isinstance(InterestEncoderConfig(enhancement_p=1).enhancement_p, float)
    built = from_dict(InterestEncoderConfig, {"variant": "lstm"}, "--config model")
    assert built.paper_label == "DDPG+LSTM"
    with pytest.raises(InputError, match=r"--config model: model\.train_window: .*>= 1"):
        from_dict(InterestEncoderConfig, {"train_window": 0}, "--config model")


# ------------------------------------------------------------------------- RLSTM cell


def test_enhancement_is_the_signed_power_with_a_finite_slope_at_zero() -> None:
    c = torch.linspace(-1.5, 1.5, 31, dtype=torch.float64)
    c = c[c.abs() >= 0.05]
    exact = torch.sign(c) * c.abs() ** 0.5
    torch.testing.assert_close(enhance(c, 0.5, 1e-3), exact, rtol=1e-3, atol=0.0)
    assert enhance(c, 1.0, 1e-3) is c, "p = 1 is the identity"
    zero = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    (slope,) = torch.autograd.grad(enhance(zero, 0.5, 1e-3).sum(), zero)
    assert torch.isfinite(slope).all()
    assert slope.item() == pytest.approx(1e-3**-0.5)


def _sequence(steps: int = 4, batch: int = 3, width: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randn(steps, batch, width, generator=g, dtype=torch.float64)


def test_rlstm_at_p1_equals_torch_lstm_in_values_and_gradients() -> None:
    torch.manual_seed(0)
    cell = RLSTMCell(3, 4, p=1.0).double()
    reference = nn.LSTMCell(3, 4).double()
    reference.load_state_dict(cell.state_dict())  # same names and layout as nn.LSTMCell
    whole = nn.LSTM(3, 4).double()
    whole.load_state_dict({f"{k}_l0": v for k, v in cell.state_dict().items()})
    xs = _sequence()  # (T, B, I)
    x_ours = xs.clone().requires_grad_()
    x_ref = xs.clone().requires_grad_()
    h = c = torch.zeros(3, 4, dtype=torch.float64)
    h_ref = c_ref = torch.zeros(3, 4, dtype=torch.float64)
    loss = loss_ref = torch.zeros((), dtype=torch.float64)
    for t in range(xs.shape[0]):
        h, c = cell(x_ours[t], (h, c))
        h_ref, c_ref = reference(x_ref[t], (h_ref, c_ref))
        torch.testing.assert_close((h, c), (h_ref, c_ref))
        loss = loss + (h * h.new_tensor(t + 1.0)).sum() + c.pow(2).sum()
        loss_ref = loss_ref + (h_ref * h_ref.new_tensor(t + 1.0)).sum() + c_ref.pow(2).sum()
    out, (h_n, c_n) = whole(xs)
    torch.testing.assert_close((h, c), (h_n[0], c_n[0]))
    torch.testing.assert_close(out[-1], h)
    loss.backward()
    loss_ref.backward()
    torch.testing.assert_close(x_ours.grad, x_ref.grad)
    for name, weight in cell.named_parameters():
        torch.testing.assert_close(weight.grad, reference.get_parameter(name).grad)


def test_rlstm_gradients_are_finite_at_zero_cell_state_and_correct_elsewhere() -> None:
    cell = RLSTMCell(3, 4, p=0.5).double()
    for weight in cell.parameters():
        nn.init.zeros_(weight)  # g = tanh(0) = 0 and c = 0: the new cell state is exactly 0
    x = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.zeros(2, 4, dtype=torch.float64, requires_grad=True)
    c0 = torch.zeros(2, 4, dtype=torch.float64, requires_grad=True)
    h, c = cell(x, (h0, c0))
    assert torch.equal(c, torch.zeros_like(c))
    (h.sum() + c.sum()).backward()
    grads = [x.grad, h0.grad, c0.grad, *(w.grad for w in cell.parameters())]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    torch.manual_seed(0)
    cell.reset_parameters()
    xs = _sequence(1, 2)[0].requires_grad_()  # (B, I)
    start = (torch.rand(2, 4, dtype=torch.float64), torch.rand(2, 4, dtype=torch.float64))
    assert torch.autograd.gradcheck(lambda x: cell(x, start), (xs,))


# ------------------------------------------------------------------- T-self-attention


def _softmax(values: list[float]) -> list[float]:
    exps = [math.exp(v) for v in values]
    return [e / sum(exps) for e in exps]


def _hand_attention(xs: list[list[float]], weights: list[float]) -> list[float]:
    """Σ_i w_i Σ_j softmax_j(x_i·x_j / √2) x_j with W_Q = W_K = W_V = I (d_k = 2)."""
    out = [0.0, 0.0]
    for i, xi in enumerate(xs):
        scores = [(xi[0] * xj[0] + xi[1] * xj[1]) / math.sqrt(2) for xj in xs]
        for a, xj in zip(_softmax(scores), xs, strict=True):
            out[0] += weights[i] * a * xj[0]
            out[1] += weights[i] * a * xj[1]
    return out


@pytest.mark.parametrize("readout", ["linear", "softmax", "sum"])
def test_t_self_attention_matches_a_hand_computed_example(readout: str) -> None:
    att = TSelfAttention(2, 2, readout, beta=0.5).double()
    with torch.no_grad():
        att.qkv.weight.copy_(torch.eye(2, dtype=torch.float64).repeat(3, 1))  # W_Q=W_K=W_V=I
    full = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    two = full[1:]
    expected_weights = {
        "linear": ([1 / 6, 2 / 6, 3 / 6], [1 / 3, 2 / 3]),
        "softmax": (_softmax([0.5, 1.0, 1.5]), _softmax([0.5, 1.0])),
        "sum": ([1.0, 1.0, 1.0], [1.0, 1.0]),
    }[readout]
    x = torch.tensor([full, [[5.0, -3.0], *two], [[7.0, 7.0]] * 3], dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1], [0, 1, 1], [0, 0, 0]])  # (B, m); row 2: no record
    got = att(x, mask)
    expected = torch.tensor(
        [
            _hand_attention(full, expected_weights[0]),
            _hand_attention(two, expected_weights[1]),  # padding neither attends nor is attended
            [0.0, 0.0],
        ],
        dtype=torch.float64,
    )
    torch.testing.assert_close(got, expected)


# -------------------------------------------------------------------------- encoder


def observe(seq: dict[str, torch.Tensor], seen: list[int], window: int) -> dict[str, torch.Tensor]:
    """The env's observation after ``seen[b]`` records of row b: the last ``window`` of
    them left-padded, and the next record as the current one."""
    batch, _, width = seq["features"].shape
    records = torch.zeros(batch, window, width + 1, dtype=torch.float64)
    items = torch.zeros(batch, window, dtype=torch.long)
    mask = torch.zeros(batch, window)
    for b, k in enumerate(seen):
        lo = max(0, k - window)
        n = k - lo
        if n:
            records[b, window - n :, :width] = seq["features"][b, lo:k]
            records[b, window - n :, width] = seq["ratings"][b, lo:k]
            items[b, window - n :] = seq["items"][b, lo:k]
            mask[b, window - n :] = 1.0
    rows = torch.arange(batch)
    now = torch.tensor(seen)
    return {
        "records": records,
        "record_items": items,
        "record_mask": mask,
        "current": seq["features"][rows, now],
        "current_item": seq["items"][rows, now],
    }


def sequences(batch: int = 3, length: int = 12) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(2)
    return {
        "features": torch.rand(batch, length, F_, generator=g, dtype=torch.float64),
        "ratings": torch.randint(0, 5, (batch, length), generator=g).double() / 4,
        "items": torch.randint(1, N_ITEMS + 1, (batch, length), generator=g),
    }


#: Records seen by each row at each step: the first step brings several, then one (row 2
#: pauses at step 2: no new record).
SCHEDULE = [[3, 1, 2], [4, 2, 3], [5, 3, 3], [6, 4, 4], [7, 5, 5], [8, 6, 6], [9, 7, 7]]


def encoder(variant: str = "rlstm+t_attention", window: int = 6, **kw: Any) -> InterestEncoder:
    torch.manual_seed(0)
    cfg = small(variant=variant, item_embedding_dim=2, **kw)
    return InterestEncoder(cfg, F_, N_ITEMS, window).double()


def test_encoder_shapes_and_padding_invariance() -> None:
    enc = encoder()
    seq = sequences()
    obs = observe(seq, [2, 6, 0], enc.window)
    new = torch.tensor([2, 6, 0])
    out, state = enc(**obs, new=new, state=enc.initial_state(3).double())
    assert out.shape == (3, enc.out_dim) and enc.out_dim == 4 + 3 + 5
    assert state.shape == (3, 4, 2, 4)
    noisy = {k: v.clone() for k, v in obs.items()}
    pad = obs["record_mask"] == 0
    noisy["records"][pad] = 100.0
    noisy["record_items"][pad] = 3
    again, state_again = enc(**noisy, new=new, state=enc.initial_state(3).double())
    torch.testing.assert_close((again, state_again), (out, state))


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_variant_builds_its_own_modules(variant: str) -> None:
    enc = encoder(variant)
    cfg = enc.cfg
    assert (enc.long is not None) == ("lstm" in variant)
    assert (enc.short is not None) == ("attention" in variant)
    if enc.long is not None:
        assert enc.long.p == (0.5 if variant.startswith("rlstm") else 1.0)
    if enc.short is not None:
        assert enc.short.weights == ("linear" if "t_attention" in variant else "sum")
    widths = {"lstm": cfg.hidden_dim, "attention": cfg.attention_dim}
    assert enc.out_dim == cfg.record_dim + sum(w for k, w in widths.items() if k in variant)
    seq = sequences()
    seen = [8, 8, 8]
    obs = observe(seq, seen, enc.window)
    state = enc.initial_state(3).double()
    assert state.shape[1:] == ((4, 2, 4) if enc.long is not None else (1, 2, 1))
    new = torch.tensor([6, 6, 6])  # the whole window is new: the cell runs over it all
    out, state_out = enc(**obs, new=new, state=state)
    assert out.shape == (3, enc.out_dim)
    if enc.long is None:
        assert state_out is state, "a dummy state passes through"
    old = {k: v.clone() for k, v in obs.items()}
    old["records"][:, 0] += 1.0  # a record older than the short window
    changed = not torch.allclose(enc(**old, new=new, state=state)[0], out)
    assert changed == (enc.long is not None)
    recent = {k: v.clone() for k, v in obs.items()}
    recent["records"][:, -1, -1] += 0.5  # the newest record's rating: every variant sees it
    assert not torch.allclose(enc(**recent, new=new, state=state)[0], out)


def test_window_and_argument_errors() -> None:
    with pytest.raises(InputError, match=r"model\.train_window: .*\(4\), got 5"):
        InterestEncoder(small(train_window=5), F_, N_ITEMS, window=5)
    with pytest.raises(InputError, match=r"model\.short_window: .*\(2\), got 3"):
        InterestEncoder(small(variant="attention"), F_, N_ITEMS, window=2)
    InterestEncoder(small(variant="attention", train_window=9), F_, N_ITEMS, window=3)
    enc = encoder()
    obs = observe(sequences(), [2, 2, 2], enc.window)
    state = enc.initial_state(3).double()
    with pytest.raises(ValueError, match=r"rewind: expected an integer in \[0, 3\], got 4"):
        enc(**obs, new=torch.tensor([1, 1, 1]), state=state, rewind=4)
    with pytest.raises(ValueError, match="new: expected at most"):
        enc(**obs, new=torch.tensor([1, 3, 1]), state=state)


@pytest.mark.parametrize("variant", ["rlstm+t_attention", "lstm"])
def test_carried_ring_acting_equals_training_path_and_the_whole_history(variant: str) -> None:
    enc = encoder(variant)
    big_l = enc.cfg.train_window
    seq = sequences()
    state = enc.initial_state(3).double()
    before = [0, 0, 0]
    for seen in SCHEDULE:
        obs = observe(seq, seen, enc.window)
        new = torch.tensor(seen) - torch.tensor(before)
        acting, state_acting = enc(**obs, new=new, state=state)
        training, state_training = enc(**obs, new=new, state=state, rewind=big_l)
        torch.testing.assert_close(training, acting)
        torch.testing.assert_close(state_training, state_acting)
        consumed = torch.tensor(before) >= big_l
        if consumed.any():  # the training path starts L records back, not at ring[:, 0]
            bent = state.clone()
            bent[:, :big_l] += 1.0
            bent_out = enc(**obs, new=new, state=bent, rewind=big_l)[0]
            torch.testing.assert_close(bent_out[consumed], acting[consumed])
            assert not torch.allclose(enc(**obs, new=new, state=bent)[0], acting)
        for j in range(big_l + 1):  # ring[:, j]: the state j records back, zeros before any
            back = torch.tensor(seen) - j <= 0
            assert torch.equal(state_acting[back, j], torch.zeros_like(state_acting[back, j]))
        state, before = state_acting, seen
    if variant != "lstm":
        return
    whole = nn.LSTM(enc.cfg.record_dim, enc.cfg.hidden_dim).double()
    assert enc.long is not None
    whole.load_state_dict({f"{k}_l0": v for k, v in enc.long.state_dict().items()})
    with torch.no_grad():
        for b, k in enumerate(before):
            x = enc.project_records(
                torch.cat([seq["features"][b, :k], seq["ratings"][b, :k, None]], dim=-1),
                seq["items"][b, :k],
            )  # (k, r)
            out, _ = whole(x.unsqueeze(1))  # (k, 1, H)
            torch.testing.assert_close(state[b, 0, 0], out[-1, 0])
            torch.testing.assert_close(state[b, 1, 0], out[-2, 0])  # one record back


def test_training_path_backpropagates_through_the_last_l_consumed_records() -> None:
    enc = encoder("rlstm")
    seq = sequences()
    state = enc.initial_state(3).double()
    before = [0, 0, 0]
    for seen in SCHEDULE[:4]:
        obs = observe(seq, seen, enc.window)
        new = torch.tensor(seen) - torch.tensor(before)
        state = enc(**obs, new=new, state=state)[1].detach()
        before = seen
    seen = SCHEDULE[4]  # row 0: 6 consumed + 1 new; rows 1, 2: 4 consumed + 1 new
    new = torch.tensor(seen) - torch.tensor(before)
    for rewind, reached in ((0, 1), (2, 3), (3, 4)):
        obs = observe(seq, seen, enc.window)
        records = obs.pop("records").requires_grad_()
        out, _ = enc(records, **obs, new=new, state=state, rewind=rewind)
        out.sum().backward()
        assert records.grad is not None
        touched = records.grad.abs().sum(-1) > 0  # (B, W)
        assert touched[:, -reached:].all() and not touched[:, :-reached].any()
