"""The user-response model: loss and metrics by hand, padding invariance, training."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from rayrec.data.synthetic import SyntheticConfig, SyntheticData, generate
from rayrec.metrics.classification import auc, log_loss
from rayrec.models.encoders import MaskedGRUEncoder
from rayrec.simulator.response import (
    ResponseModelConfig,
    TrainConfig,
    TrainResult,
    UserResponseModel,
    evaluate_scores,
    history_states,
    popularity_scores,
    predict,
    train_response_model,
    weighted_bce,
)
from rayrec.simulator.slates import FeedbackRule, SlateConfig, SlateData, build_slates

ENCODERS = pytest.mark.parametrize("encoder", ["gru", "sasrec"])


# ------------------------------------------------------------- weighted_bce
def test_weighted_bce_on_hand_computed_batch() -> None:
    """4 items × 2 behaviours, item 2 masked out, behaviour weights (2, 0.5).

    Logits are chosen so σ(logit) is a round probability p; BCE = -log p for y = 1
    and -log(1 - p) for y = 0.
    """
    logits = torch.tensor(
        [
            [math.log(4.0), 0.0],  # p = 0.8, 0.5
            [-math.log(4.0), math.log(3.0)],  # p = 0.2, 0.75
            [5.0, -5.0],  # masked: would cost ~5 each if counted
            [math.log(9.0), -math.log(3.0)],  # p = 0.9, 0.25
        ]
    )  # (K=4, F=2)
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 0.0]])
    mask = torch.tensor([True, True, False, True])
    weights = torch.tensor([2.0, 0.5])
    click = (-math.log(0.8) - math.log(0.8) - math.log(0.1)) / 3  # items 0, 1, 3
    like = (-math.log(0.5) - math.log(0.75) - math.log(0.75)) / 3
    expected = 2.0 * click + 0.5 * like
    loss = weighted_bce(logits, targets, mask, weights)
    assert loss.shape == ()
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # The mean runs over valid items of the whole batch, whatever its leading shape.
    batched = weighted_bce(logits.view(2, 2, 2), targets.view(2, 2, 2), mask.view(2, 2), weights)
    assert batched.item() == pytest.approx(expected, rel=1e-6)


def test_weighted_bce_all_masked_is_zero() -> None:
    loss = weighted_bce(
        torch.ones(3, 1), torch.zeros(3, 1), torch.zeros(3, dtype=torch.bool), torch.ones(1)
    )
    assert loss.item() == 0.0


# ------------------------------------------------------------------ metrics
def _tiny_slates() -> SlateData:
    """Two users, 2 + 1 slates of width 3 (item 0 = padding), one behaviour."""
    return SlateData(
        items=np.array([[1, 2, 0], [1, 3, 0], [2, 3, 1]]),
        feedback=np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0]], np.float32)[..., None],
        user=np.array([1, 1, 2]),
        time=np.array([0.0, 1.0, 0.5]),
        feedback_names=("click",),
        n_users=2,
        n_items=4,
    )


def test_popularity_scores_smoothing() -> None:
    """(positives_i + s · global_rate) / (exposures_i + s); padding feedback ignored."""
    s = _tiny_slates().select(np.array([True, True, False]))
    # exposures: item1 2, item2 1, item3 1, item4 0; positives: 1, 0, 1, 0; rate 2/4
    scores = popularity_scores(s, smoothing=2.0)
    assert scores.shape == (5, 1)
    expected = [0.5, (1 + 1) / (2 + 2), (0 + 1) / (1 + 2), (1 + 1) / (1 + 2), (0 + 1) / (0 + 2)]
    np.testing.assert_allclose(scores[:, 0], expected)


def test_evaluate_scores_uses_valid_items_only() -> None:
    s = _tiny_slates()
    probs = np.array([[0.9, 0.2, 0.0], [0.1, 0.8, 1.0], [0.7, 0.6, 0.3]], np.float32)[..., None]
    m = evaluate_scores(s, probs)["click"]
    y = np.array([1, 0, 0, 1, 1, 1, 0], float)
    p = np.array([0.9, 0.2, 0.1, 0.8, 0.7, 0.6, 0.3])
    assert m["auc"] == pytest.approx(auc(y, p))
    assert m["logloss"] == pytest.approx(log_loss(y, p), rel=1e-6)
    assert m["positive_rate"] == pytest.approx(4 / 7)


# --------------------------------------------------------------- the model
def _model(encoder: str, *, seed: int = 0, history: int = 4) -> UserResponseModel:
    torch.manual_seed(seed)
    config = ResponseModelConfig(
        n_users=3,
        n_items=6,
        feedback_names=("click", "like"),
        dim=8,
        encoder=encoder,
        history_slates=history,
        user_feature_sizes=(3,),
        n_layers=1,
        n_heads=2,
        ffn_dim=16,
    )
    return UserResponseModel(config).eval()


# Two users, L = 4 history slates of M = 3 items: user 1 has one fully padded slate
# and partly padded ones; user 2 has an empty history.
HIST_ITEMS = torch.tensor(
    [
        [[0, 0, 0], [1, 2, 0], [3, 0, 0], [4, 5, 6]],
        [[0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]],
    ]
)
USERS = torch.tensor([1, 2])
FEATS = torch.tensor([[1], [2]])
ITEMS = torch.tensor([[1, 3, 5, 6], [2, 4, 6, 1]])


def _hist_feedback(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, (*HIST_ITEMS.shape, 2), generator=g).float()  # (B, L, M, F)


@ENCODERS
def test_model_output_shape(encoder: str) -> None:
    logits = _model(encoder)(USERS, FEATS, HIST_ITEMS, _hist_feedback(), ITEMS)
    assert logits.shape == (2, 4, 2)
    assert torch.isfinite(logits).all()


@ENCODERS
def test_model_padding_invariance(encoder: str) -> None:
    """Feedback at item-0 positions, and where padding sits in a slate, change nothing."""
    model = _model(encoder)
    fb = _hist_feedback()
    with torch.no_grad():
        base = model(USERS, FEATS, HIST_ITEMS, fb, ITEMS)
        noisy = fb.clone()
        pad = HIST_ITEMS == 0
        noisy[pad] = 7.0 * torch.rand(int(pad.sum()), 2)
        torch.testing.assert_close(model(USERS, FEATS, HIST_ITEMS, noisy, ITEMS), base)
        # A slate is a set: move user 1's [1, 2, 0] to [0, 2, 1] with its feedback.
        perm = torch.tensor([2, 1, 0])
        moved_items, moved_fb = HIST_ITEMS.clone(), fb.clone()
        moved_items[0, 1], moved_fb[0, 1] = HIST_ITEMS[0, 1, perm], fb[0, 1, perm]
        torch.testing.assert_close(model(USERS, FEATS, moved_items, moved_fb, ITEMS), base)
        # Leading fully padded slates are the same as a shorter window.
        short = model(USERS[:1], FEATS[:1], HIST_ITEMS[:1, 1:], fb[:1, 1:], ITEMS[:1])
        torch.testing.assert_close(short, base[:1])


@ENCODERS
def test_model_history_matters(encoder: str) -> None:
    """The invariance above is not vacuous: real history feedback does move the logits."""
    model = _model(encoder)
    fb = _hist_feedback()
    flipped = fb.clone()
    flipped[0, 3] = 1.0 - flipped[0, 3]
    with torch.no_grad():
        a = model(USERS, FEATS, HIST_ITEMS, fb, ITEMS)
        b = model(USERS, FEATS, HIST_ITEMS, flipped, ITEMS)
    assert not torch.allclose(a[0], b[0])
    torch.testing.assert_close(a[1], b[1])


# A tiny slate log for predict / history_states: user 1 has 3 slates, user 2 has 2,
# user 3 none; slates of width 3 with some padding.
def _log_slates(n_first_user: int = 3) -> SlateData:
    g = np.random.default_rng(0)
    n = n_first_user + 2
    items = g.integers(1, 7, size=(n, 3))
    items[1, 2] = 0
    items[-1, 1:] = 0
    return SlateData(
        items=items,
        feedback=g.integers(0, 2, size=(n, 3, 2)).astype(np.float32) * (items > 0)[..., None],
        user=np.array([1] * n_first_user + [2, 2]),
        time=np.arange(n, dtype=np.float64),
        feedback_names=("click", "like"),
        n_users=3,
        n_items=6,
    )


USER_FEATS = np.array([[0], [1], [2], [1]])


@ENCODERS
def test_predict_applies_sigmoid_once_to_model_logits(encoder: str) -> None:
    """predict(slate j) == sigmoid(model(user, its previous slates, slate j items))."""
    model = _model(encoder)
    with torch.no_grad():
        model.bias.copy_(torch.tensor([-3.0, 3.0]))  # probabilities far from 0.5
    data = _log_slates()
    probs = predict(model, data, USER_FEATS)
    assert probs.shape == (5, 3, 2) and probs.dtype == np.float32
    hist = data.history_index(4)  # every user has <= 3 earlier slates: the window is exact
    pad_items = np.concatenate([data.items, np.zeros((1, 3), np.int64)])
    pad_fb = np.concatenate([data.feedback, np.zeros((1, 3, 2), np.float32)])
    hist[hist < 0] = len(data)
    users = torch.as_tensor(data.user)
    with torch.no_grad():
        logits = model(
            users,
            torch.as_tensor(USER_FEATS)[users],
            torch.as_tensor(pad_items[hist]),
            torch.as_tensor(pad_fb[hist]),
            torch.as_tensor(data.items),
        )
    np.testing.assert_allclose(probs, torch.sigmoid(logits).numpy(), rtol=1e-5, atol=1e-6)
    # A second sigmoid would squeeze everything into (0.5, 0.731).
    assert probs[..., 0].max() < 0.2 and probs[..., 1].min() > 0.8


def test_history_states_equal_manual_gru_steps() -> None:
    """The state after all a user's slates, stepping one slate at a time.

    User 1 has 70 slates so the 64-slate chunks of the sequence runner are crossed.
    """
    model = _model("gru")
    encoder = model.encoder
    assert isinstance(encoder, MaskedGRUEncoder)
    data = _log_slates(n_first_user=70)
    states = history_states(model, data, USER_FEATS)
    assert states.shape == (4, 8)
    with torch.no_grad():
        for u in (1, 2):
            h = encoder.initial_state(1)
            for j in np.flatnonzero(data.user == u):
                token, valid = model.slate_tokens(
                    torch.as_tensor(data.items[j : j + 1]),
                    torch.as_tensor(data.feedback[j : j + 1]),
                )
                h = encoder.step(h, token, valid)
            np.testing.assert_allclose(states[u], h[0].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(states[[0, 3]], 0.0)  # padding row, user without slates


# ----------------------------------------------------------------- training
def _synthetic(n_users: int, n_items: int) -> tuple[SyntheticData, SlateData, np.ndarray]:
    data = generate(SyntheticConfig(seed=0, n_users=n_users, n_items=n_items))
    slates = build_slates(
        data.log, SlateConfig(construction="log", feedback={"click": FeedbackRule("click")})
    )
    feats = np.zeros((slates.n_users + 1, 1), dtype=np.int64)
    feats[1:, 0] = data.log.users["segment"].to_numpy() + 1  # taste cluster, 0 = pad
    return data, slates, feats


def _train(slates: SlateData, feats: np.ndarray, encoder: str, **train: float) -> TrainResult:
    model_config = ResponseModelConfig(
        n_users=slates.n_users,
        n_items=slates.n_items,
        feedback_names=slates.feedback_names,
        dim=32,
        encoder=encoder,
        history_slates=10,
        user_feature_sizes=(int(feats.max()) + 1,),
    )
    config = TrainConfig(**{"seed": 0, "valid_fraction": 0.2, **train})  # type: ignore[arg-type]
    return train_response_model(slates, feats, model_config, config)


@pytest.mark.slow
def test_gru_learns_synthetic_click_model() -> None:
    """300 users × 100 items, 5 epochs of the GRU (sequence) path.

    Measured (torch 2.13, CPU): learned valid AUC 0.723, popularity 0.622, truth
    0.822. The gap to the truth is data-limited: a tuned matrix factorisation with
    oracle early stopping reaches 0.74 on the same split. Asserted margins:
    learned >= popularity + 0.06 and learned >= truth - 0.13.
    """
    data, slates, feats = _synthetic(300, 100)
    result = _train(slates, feats, "gru", epochs=5, lr=0.01, sequence_batch_users=8)
    learned = result.metrics["valid"]["click"]
    baseline = result.metrics["popularity_baseline"]["click"]
    # The ground truth scored on the same validation slates.
    valid = slates.select(slates.time >= result.metrics["valid_time_cut"])
    assert len(valid) == result.metrics["n_valid_slates"]
    true_p = data.truth.click_prob(valid.user, valid.items)  # (S_v, M)
    y = valid.feedback[..., 0][valid.mask]
    truth_auc = auc(y, true_p[valid.mask])
    assert learned["positive_rate"] == pytest.approx(float(y.mean()))
    assert learned["auc"] >= baseline["auc"] + 0.06, (learned, baseline)
    assert learned["auc"] >= truth_auc - 0.13, (learned, truth_auc)
    assert learned["auc"] <= truth_auc + 0.01  # nothing beats the truth
    assert learned["logloss"] < baseline["logloss"]
    assert [e["epoch"] for e in result.history] == [1, 2, 3, 4, 5]


def test_sasrec_window_path_trains_one_epoch() -> None:
    _, slates, feats = _synthetic(60, 30)
    result = _train(slates, feats, "sasrec", epochs=1, batch_size=128)
    assert len(result.history) == 1 and math.isfinite(result.history[0]["train_loss"])
    valid = result.metrics["valid"]["click"]
    assert all(math.isfinite(v) for v in valid.values())
    assert 0.0 <= valid["auc"] <= 1.0
    assert not result.model.training


@ENCODERS
def test_training_is_deterministic(encoder: str) -> None:
    _, slates, feats = _synthetic(60, 30)

    def run() -> TrainResult:
        return _train(slates, feats, encoder, epochs=2, sequence_batch_users=8, batch_size=128)

    a, b = run(), run()
    assert a.metrics == b.metrics

    def strip(entry: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in entry.items() if k != "seconds"}  # wall time differs

    assert [strip(e) for e in a.history] == [strip(e) for e in b.history]
    for (name, pa), pb in zip(
        a.model.state_dict().items(), b.model.state_dict().values(), strict=True
    ):
        assert torch.equal(pa, pb), name
