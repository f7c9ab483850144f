"""Policy state encoders: the validated config, shapes, own vs shared item embedding,
padding invariance of the history encoder, the flat encoder, dropout off while acting."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from rayrec.config import from_dict
from rayrec.errors import InputError
from rayrec.models.state import FlatStateEncoder, StateEncoder, StateEncoderConfig, acting

CFG = StateEncoderConfig(state_dim=8, n_heads=2, ffn_dim=16)
B, H, F = 3, 5, 2


def history(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    items = torch.randint(1, 10, (B, H), generator=g)  # (B, H)
    items[0, :2] = 0  # left padding
    items[2] = 0  # an empty history
    feedback = torch.rand(B, H, F, generator=g)  # (B, H, F)
    users = torch.tensor([1, 2, 3])  # (B,)
    return items, feedback, users


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("n_layers", -1, "model.n_layers: expected an integer >= 1, got -1"),
        ("n_layers", "abc", "model.n_layers: expected an integer, got 'abc'"),
        ("n_layers", 1.5, "model.n_layers: expected an integer, got 1.5"),
        ("state_dim", 0, "model.state_dim: expected an integer >= 1, got 0"),
        ("n_heads", 3, "model.n_heads: expected a divisor of model.state_dim (32), got 3"),
        ("ffn_dim", True, "model.ffn_dim: expected an integer, got True"),
        ("dropout", 2, "model.dropout: expected a number in [0, 1), got 2"),
        ("dropout", 1.0, "model.dropout: expected a number in [0, 1), got 1"),
        ("dropout", -0.1, "model.dropout: expected a number in [0, 1), got -0.1"),
        ("dropout", "abc", "model.dropout: expected a number, got 'abc'"),
        ("dropout", float("nan"), "model.dropout: expected a number, got nan"),
        ("use_user_id", "maybe", "model.use_user_id: expected true or false, got 'maybe'"),
        ("flat_hidden", [64, 0], "model.flat_hidden: expected a list of integers >= 1"),
    ],
)
def test_config_names_the_bad_field_and_value(field: str, value: Any, message: str) -> None:
    with pytest.raises(InputError) as err:
        StateEncoderConfig(**{field: value})
    assert str(err.value).startswith(message)


def test_config_normalises_and_builds_from_a_mapping() -> None:
    cfg = StateEncoderConfig(dropout=0, flat_hidden=[16, 8])  # type: ignore[arg-type]
    assert cfg.dropout == 0.0 and isinstance(cfg.dropout, float)
    assert cfg.flat_hidden == (16, 8)
    assert from_dict(StateEncoderConfig, {"n_layers": 1}, "--config model").n_layers == 1
    with pytest.raises(InputError, match=r"--config model: model\.n_layers: .*>= 1, got -1"):
        from_dict(StateEncoderConfig, {"n_layers": -1}, "--config model")
    with pytest.raises(InputError, match="n_layers: expected an integer"):
        from_dict(StateEncoderConfig, {"n_layers": "abc"}, "--config model")


def test_history_encoder_with_a_shared_or_its_own_item_embedding() -> None:
    items, feedback, users = history()
    torch.manual_seed(0)
    shared = StateEncoder(CFG, n_users=3, n_feedback=F, history=H)
    kernel = nn.Embedding(10, CFG.state_dim, padding_idx=0)
    assert shared.items is None
    assert shared(items, feedback, users, item_embedding=kernel).shape == (B, CFG.state_dim)
    with pytest.raises(ValueError, match="item_embedding"):
        shared(items, feedback, users)
    own = StateEncoder(CFG, n_users=3, n_feedback=F, history=H, n_items=9)
    assert own.items is not None and own.items.num_embeddings == 10
    assert own(items, feedback, users).shape == (B, CFG.state_dim)
    # the own embedding is a parameter of the encoder (trained and target-copied with it)
    assert any(p is own.items.weight for p in own.parameters())


def test_history_encoder_is_padding_invariant() -> None:
    torch.manual_seed(0)
    enc = StateEncoder(CFG, n_users=3, n_feedback=F, history=H, n_items=9).eval()
    items, feedback, users = history()
    noisy = feedback.clone()
    noisy[items == 0] = 100.0  # feedback at padded positions must not matter
    with torch.no_grad():
        torch.testing.assert_close(enc(items, noisy, users), enc(items, feedback, users))


def test_flat_encoder_shapes_and_dropout_only_in_train_mode() -> None:
    torch.manual_seed(0)
    enc = FlatStateEncoder(StateEncoderConfig(state_dim=8, dropout=0.5, flat_hidden=(16,)), 6)
    obs = torch.randn(4, 6)  # (B, O)
    assert enc(obs).shape == (4, 8)
    assert not torch.equal(enc(obs), enc(obs)), "dropout in train mode"
    assert torch.equal(enc(obs, dropout=False), enc(obs, dropout=False))
    with acting(enc):
        assert not enc.training and torch.equal(enc(obs), enc(obs))
    assert enc.training, "acting restores the mode"
