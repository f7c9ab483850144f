"""A loaded user simulator: response backend inputs, user population, initial histories.

A :class:`Simulator` is what a checkpoint directory holds and what every env
runner loads read-only:

``meta.json``   what the simulator serves (kind, feedback names, id spaces, history
                length), data provenance, metrics
``arrays.npz``  population, activity, per-item responses, initial histories, user
                features, initial encoder states or the synthetic ground truth
``model.pt``    response-model weights and config (learned simulators only)

Checkpoints are written atomically (a crash leaves any previous one intact). They
hold no session settings (slate size, step cap, reward, leave model): those are the
env spec's (``rayrec.environments``), so editing them needs no retraining. Version 1
checkpoints held a reward-weighted popularity and the session settings of the spec
they were trained with; version 2 holds per-feedback item responses and none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rayrec.data.io import atomic_dir, read_versioned_meta
from rayrec.data.synthetic import GroundTruth
from rayrec.simulator.response import ResponseModelConfig, UserResponseModel, history_states
from rayrec.simulator.slates import SlateData

if TYPE_CHECKING:
    from rayrec.simulator.backends import ResponseBackend

#: Items of history kept per user in a checkpoint (observations use the last H).
STORED_HISTORY = 200
CHECKPOINT_VERSION = 2


@dataclass
class Simulator:
    """Everything an environment needs about the simulated users.

    Attributes:
        kind: ``learned`` (response model) or ``ground_truth`` (synthetic truth).
        feedback_names: behaviours the backend scores.
        n_users / n_items: id spaces (1..n).
        population: (P,) user ids sessions are drawn from.
        population_activity: (P,) number of logged slates of each (for ``activity`` sampling).
        item_responses: (I + 1, F) positive responses per item and feedback type in
            the simulator's log (:meth:`popularity` weighs them).
        last_items: (U + 1, STORED_HISTORY) each user's latest exposed items, right-aligned.
        last_feedback: (U + 1, STORED_HISTORY, F) their feedback.
        user_features: (U + 1, n_uf) categorical codes.
        model / init_states: the response model and each user's encoder state (learned).
        truth: the ground truth (ground_truth kind).
        meta: provenance and metrics.
    """

    kind: str
    feedback_names: tuple[str, ...]
    n_users: int
    n_items: int
    population: np.ndarray
    population_activity: np.ndarray
    item_responses: np.ndarray
    last_items: np.ndarray
    last_feedback: np.ndarray
    user_features: np.ndarray
    model: UserResponseModel | None = None
    init_states: np.ndarray | None = None
    truth: GroundTruth | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def make_backend(self, device: str | torch.device = "cpu") -> ResponseBackend:
        from rayrec.simulator.backends import GroundTruthBackend, LearnedBackend

        if self.kind == "ground_truth":
            assert self.truth is not None
            return GroundTruthBackend(self.truth, device)
        assert self.model is not None and self.init_states is not None
        return LearnedBackend(self.model, self.init_states, self.user_features, device)

    @property
    def history_length(self) -> int:
        """H_max: items of history per user the simulator holds (observations use H ≤ H_max)."""
        return int(self.last_items.shape[1])

    def popularity(self, weights: Mapping[str, float]) -> np.ndarray:
        """(I + 1,) Σ_b w_b · positive responses of each item to feedback b (absent b weigh 0)."""
        w = np.array([weights.get(n, 0.0) for n in self.feedback_names], dtype=np.float64)
        return self.item_responses @ w  # (I + 1,)

    def history_items(self, length: int) -> np.ndarray:
        """(U + 1, H) the last H exposed items, left-padded with 0."""
        return _last_columns(self.last_items, length)

    def history_feedback(self, length: int) -> np.ndarray:
        """(U + 1, H, F) their feedback."""
        return _last_columns(self.last_feedback, length)

    def oracle_slate(self, users: np.ndarray, k: int) -> np.ndarray | None:
        """(B, k) the best slate per user when the ground truth is known, else None."""
        return None if self.truth is None else self.truth.oracle_slate(users, k)

    # ------------------------------------------------------------- persistence
    def save(self, directory: Path) -> None:
        arrays: dict[str, np.ndarray] = {
            "population": self.population,
            "population_activity": self.population_activity,
            "item_responses": self.item_responses,
            "last_items": self.last_items,
            "last_feedback": self.last_feedback,
            "user_features": self.user_features,
        }
        if self.init_states is not None:
            arrays["init_states"] = self.init_states
        if self.truth is not None:
            arrays.update({f"truth_{k}": v for k, v in self.truth.to_arrays().items()})
        meta = {
            "checkpoint_version": CHECKPOINT_VERSION,
            "kind": self.kind,
            "feedback_names": list(self.feedback_names),
            "n_users": self.n_users,
            "n_items": self.n_items,
            "history_length": self.history_length,
            "meta": self.meta,
        }
        with atomic_dir(directory) as tmp:
            np.savez_compressed(tmp / "arrays.npz", **arrays)  # type: ignore[arg-type]
            if self.model is not None:
                torch.save(
                    {"config": asdict(self.model.config), "state_dict": self.model.state_dict()},
                    tmp / "model.pt",
                )
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=_json_default))

    @classmethod
    def load(cls, directory: str | Path) -> Simulator:
        """Load a simulator checkpoint (read-only).

        Raises:
            InputError: when ``directory`` is not a complete simulator checkpoint.
        """
        directory = Path(directory)
        meta = read_versioned_meta(
            directory / "meta.json",
            "checkpoint_version",
            CHECKPOINT_VERSION,
            what="rayrec simulator checkpoint",
            remedy="retrain with `rayrec simulator train SPEC` (version 2 keeps per-feedback"
            " item responses and leaves the session settings to the env spec)",
        )
        with np.load(directory / "arrays.npz") as npz:
            arrays = {k: npz[k] for k in npz.files}
        model = None
        if meta["kind"] == "learned":
            blob = torch.load(directory / "model.pt", map_location="cpu", weights_only=True)
            cfg = dict(blob["config"])
            cfg["feedback_names"] = tuple(cfg["feedback_names"])
            cfg["user_feature_sizes"] = tuple(cfg["user_feature_sizes"])
            model = UserResponseModel(ResponseModelConfig(**cfg))
            model.load_state_dict(blob["state_dict"])
            model.eval()
        truth = None
        if meta["kind"] == "ground_truth":
            truth = GroundTruth.from_arrays(
                {k[len("truth_") :]: v for k, v in arrays.items() if k.startswith("truth_")}
            )
        return cls(
            kind=meta["kind"],
            feedback_names=tuple(meta["feedback_names"]),
            n_users=int(meta["n_users"]),
            n_items=int(meta["n_items"]),
            population=arrays["population"],
            population_activity=arrays["population_activity"],
            item_responses=arrays["item_responses"],
            last_items=arrays["last_items"],
            last_feedback=arrays["last_feedback"],
            user_features=arrays["user_features"],
            model=model,
            init_states=arrays.get("init_states"),
            truth=truth,
            meta=meta["meta"],
        )


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def _last_columns(arr: np.ndarray, length: int) -> np.ndarray:
    have = arr.shape[1]
    if length <= have:
        return np.ascontiguousarray(arr[:, have - length :])
    pad = np.zeros((arr.shape[0], length - have, *arr.shape[2:]), dtype=arr.dtype)
    return np.concatenate([pad, arr], axis=1)


def population_from_slates(slates: SlateData) -> tuple[np.ndarray, np.ndarray]:
    """(P,) users with at least one slate and (P,) their slate counts."""
    counts = np.bincount(slates.user, minlength=slates.n_users + 1)
    users = np.flatnonzero(counts[1:]) + 1
    return users.astype(np.int64), counts[users].astype(np.float64)


def item_responses(slates: SlateData) -> np.ndarray:
    """(I + 1, F) positive responses per item and feedback type."""
    items = slates.items.reshape(-1)  # (S·M,)
    feedback = slates.feedback.reshape(len(items), -1)  # (S·M, F)
    keep = items > 0
    return np.stack(
        [
            np.bincount(items[keep], weights=feedback[keep, f], minlength=slates.n_items + 1)
            for f in range(feedback.shape[1])
        ],
        axis=-1,
    )  # (I + 1, F)


def last_exposures(
    slates: SlateData, length: int = STORED_HISTORY
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's last ``length`` exposed items (right-aligned) and their feedback."""
    m = slates.items.shape[1]
    per_user = np.bincount(slates.user, minlength=slates.n_users + 1)
    n_slates = -(-length // max(m, 1)) + 1
    while True:  # widen the window until every user has `length` items or no more slates
        idx = slates.last_slates(n_slates)  # (U + 1, n) -1 = none
        n_valid = np.where(idx >= 0, (slates.items[idx] > 0).sum(-1), 0).sum(-1)  # (U + 1,)
        short = (n_valid < length) & (per_user > n_slates)
        if not short.any():
            break
        n_slates *= 2
    pad_items = np.concatenate([slates.items, np.zeros((1, m), np.int64)])
    pad_fb = np.concatenate(
        [slates.feedback, np.zeros((1, *slates.feedback.shape[1:]), np.float32)]
    )
    idx = np.where(idx < 0, len(slates), idx)
    items = pad_items[idx].reshape(len(idx), -1)  # (U + 1, n·M)
    fb = pad_fb[idx].reshape(len(idx), items.shape[1], -1)  # (U + 1, n·M, F)
    order = np.argsort(items > 0, axis=1, kind="stable")[:, -length:]  # valid ones to the right
    items = np.take_along_axis(items, order, axis=1)
    fb = np.take_along_axis(fb, order[..., None], axis=1)
    if items.shape[1] < length:
        items = _last_columns(items, length)
        fb = _last_columns(fb, length)
    return items, fb


def _from_log(
    kind: str,
    slates: SlateData,
    user_features: np.ndarray,
    meta: dict[str, Any],
    **backend: Any,
) -> Simulator:
    """A simulator whose population, popularity and histories come from ``slates``."""
    population, activity = population_from_slates(slates)
    items, fb = last_exposures(slates)
    return Simulator(
        kind=kind,
        feedback_names=slates.feedback_names,
        n_users=slates.n_users,
        n_items=slates.n_items,
        population=population,
        population_activity=activity,
        item_responses=item_responses(slates),
        last_items=items,
        last_feedback=fb,
        user_features=user_features,
        meta=meta,
        **backend,
    )


def learned_simulator(
    model: UserResponseModel,
    slates: SlateData,
    user_features: np.ndarray,
    meta: dict[str, Any],
    device: str = "cpu",
) -> Simulator:
    """Bundle a trained model with the population and histories of its training log."""
    # Initial states first, on the training device; the stored model lives on the CPU.
    init_states = history_states(model, slates, user_features, device)
    return _from_log(
        "learned",
        slates,
        user_features,
        meta,
        model=model.cpu(),
        init_states=init_states,
    )


def ground_truth_simulator(
    truth: GroundTruth, slates: SlateData, meta: dict[str, Any]
) -> Simulator:
    """The synthetic truth as a simulator; population and histories from its log."""
    no_features = np.zeros((slates.n_users + 1, 0), dtype=np.int64)
    return _from_log("ground_truth", slates, no_features, meta, truth=truth)
