"""Logged slates as RL transitions in the slate env's observation format (Offline SL's data).

The HAC paper's "Offline SL" baseline learns from the logged data itself. The data
are exactly the slates the *train* simulator was fitted on: the first
``protocol.train_fraction`` of the log by time (``rayrec.simulator.build.part_slates``),
built from the log as the env spec says (logged slates, or for MovieLens chunks of
rated movies plus sampled negatives, ``rayrec.simulator.slates``). Each slate t of a
user becomes one transition::

    obs_t       user id, user features, the last H exposed items before slate t with
                their per-item feedback (left-padded with 0) — what SlateEnv.observe gives
    action_t    the logged slate's items
    response_t  the logged per-item feedback (K, F); slate_valid_t marks real positions
    reward_t    Σ_b w_b · agg_i y_t,i,b  with the env spec's reward weights and aggregate
                (``rayrec.environments.reward.slate_reward``, as SlateEnv.step)
    next obs    the history after slate t (slate t's items appended, last H kept)
    terminated  true at the user's last slate of the train part

History windows follow ``SlateEnv``: every shown (non-padding) item is appended in
slate-position order and only the last H are kept; a user's first slate has an empty
history. The next observation after a user's last train slate is therefore the
history the train simulator starts that user's sessions with.

Slate width (ours): a logged slate has M positions, the env shows K. The action
column has width W = max(M, K): shorter slates are padded with item 0 and
``slate_valid = False`` (the BCE ignores them), longer ones keep every logged
exposure (the ML-1M chunks hold 10 rated + 10 sampled negatives for K = 10; cutting
them to K would drop every negative). The HAC module's training forward is
width-agnostic. Ẑ(a) = mean Φ(a) then averages over the W columns, padding included
(Φ(0) = [0; 1]); only the critic sees Ẑ, and Offline SL does not act on the critic.

Windows are gathered on demand from one stream of all exposures (no (S, H) copies),
so memory grows with the log, not with H.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ray.rllib.core.columns import Columns

from rayrec.environments.keys import (
    OBS_HISTORY_FEEDBACK,
    OBS_HISTORY_ITEMS,
    OBS_USER,
    OBS_USER_FEATURES,
    RESPONSE,
    SLATE_VALID,
)
from rayrec.environments.reward import reward_vector, slate_reward
from rayrec.environments.slate import EnvConfig
from rayrec.errors import InputError
from rayrec.simulator.keys import PART_TRAIN
from rayrec.simulator.slates import SlateData


@dataclass(frozen=True)
class LoggedTransitions:
    """S logged transitions; observations are gathered on demand by :meth:`batch`.

    Attributes:
        slates: (S, W) int64 logged item ids, 0 = padding.
        response: (S, W, F) float32 logged per-item feedback (0 at padding).
        user: (S,) int64 user of each slate; slates are grouped by user, in time order.
        reward: (S,) float32 the env's reward for the logged responses.
        terminated: (S,) bool, true at each user's last slate.
        stream_items: (E + 1,) int64 every exposed item, by user then time; the last
            entry is a 0 sentinel that padding positions read.
        stream_feedback: (E + 1, F) float32 their feedback.
        history_start: (S,) stream offset of the user's first exposure.
        history_end: (S,) stream offset where slate t's own items start.
        history_length: H.
        user_features: (U + 1, n_uf) int64 categorical codes (n_uf may be 0).
        feedback_names: the F feedback types.
    """

    slates: np.ndarray
    response: np.ndarray
    user: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    stream_items: np.ndarray
    stream_feedback: np.ndarray
    history_start: np.ndarray
    history_end: np.ndarray
    history_length: int
    user_features: np.ndarray
    feedback_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.user)

    @property
    def valid(self) -> np.ndarray:
        """(S, W) whether each action position holds a logged item."""
        return self.slates > 0

    @property
    def n_users(self) -> int:
        """Users with at least one transition (= episodes)."""
        return int(self.terminated.sum())

    def observations(self, idx: np.ndarray, *, after: bool = False) -> dict[str, np.ndarray]:
        """The env observations before (or ``after``) slates ``idx``: (B,) -> dict of (B, ...)."""
        idx = np.asarray(idx, dtype=np.int64)
        end = self.history_end[idx]  # (B,)
        if after:
            end = end + self.valid[idx].sum(-1)
        h = self.history_length
        window = end[:, None] - h + np.arange(h)[None, :]  # (B, H) stream offsets
        inside = window >= self.history_start[idx][:, None]  # (B, H) not before the user
        sentinel = len(self.stream_items) - 1
        window = np.where(inside, window, sentinel)
        users = self.user[idx]  # (B,)
        obs = {
            OBS_USER: users[:, None].copy(),  # (B, 1)
            OBS_HISTORY_ITEMS: self.stream_items[window],  # (B, H)
            OBS_HISTORY_FEEDBACK: self.stream_feedback[window],  # (B, H, F)
        }
        if self.user_features.shape[1]:
            obs[OBS_USER_FEATURES] = self.user_features[users]  # (B, n_uf)
        return obs

    def batch(self, idx: np.ndarray) -> dict[str, Any]:
        """Transitions ``idx`` in the column names HAC's learner reads from replay."""
        idx = np.asarray(idx, dtype=np.int64)
        return {
            Columns.OBS: self.observations(idx),
            Columns.NEXT_OBS: self.observations(idx, after=True),
            Columns.ACTIONS: self.slates[idx],  # (B, W)
            Columns.REWARDS: self.reward[idx],  # (B,)
            Columns.TERMINATEDS: self.terminated[idx],  # (B,)
            RESPONSE: self.response[idx],  # (B, W, F)
            SLATE_VALID: self.valid[idx],  # (B, W)
        }


def logged_transitions(
    slates: SlateData, env: EnvConfig, user_features: np.ndarray | None = None
) -> LoggedTransitions:
    """Turn padded slates (grouped by user, in time order) into transitions (module doc).

    Args:
        slates: the slates, as :func:`rayrec.simulator.slates.build_slates` returns them.
        env: the session settings: K (``slate_size``), H (``history_length``), reward
            weights and aggregate.
        user_features: (U + 1, n_uf) categorical codes, as the simulator holds them.

    Raises:
        InputError: reward weights name feedback the slates lack, the slates are not
            grouped by user in time order, or the user features do not cover the users.
    """
    unknown = sorted(set(env.reward_weights) - set(slates.feedback_names))
    if unknown:
        raise InputError(
            f"env: 'reward_weights' names feedback {unknown} the logged slates lack"
            f" (they have {list(slates.feedback_names)})"
        )
    user = np.asarray(slates.user, dtype=np.int64)
    time = np.asarray(slates.time, dtype=np.float64)
    same_user = user[1:] == user[:-1]
    if (np.diff(user) < 0).any() or (same_user & (np.diff(time) < 0)).any():
        raise InputError(
            "logged slates: expected slates sorted by (user, time), as build_slates returns them"
        )
    n_uf = 0 if user_features is None else user_features.shape[1]
    feats = (
        np.zeros((slates.n_users + 1, 0), dtype=np.int64)
        if user_features is None
        else np.asarray(user_features, dtype=np.int64)
    )
    if len(feats) <= int(user.max(initial=0)):
        raise InputError(
            f"user features: {len(feats)} rows (ids 0..{len(feats) - 1}) do not cover"
            f" user id {int(user.max())}"
        )
    s, m = slates.items.shape
    width = max(m, env.slate_size)
    items = np.zeros((s, width), dtype=np.int64)
    items[:, :m] = slates.items
    response = np.zeros((s, width, slates.feedback.shape[-1]), dtype=np.float32)
    response[:, :m] = slates.feedback
    valid = items > 0  # (S, W)
    response *= valid[..., None]

    w = reward_vector(env.reward_weights, slates.feedback_names)  # (F,)
    reward = slate_reward(response, valid, w, env.reward_aggregate)  # (S,)
    n_valid = valid.sum(-1)  # (S,)
    terminated = np.r_[~same_user, True] if s else np.zeros(0, dtype=bool)

    flat = valid.reshape(-1)
    stream_items = np.r_[items.reshape(-1)[flat], 0].astype(np.int64)  # (E + 1,)
    stream_fb = np.concatenate(
        [response.reshape(-1, response.shape[-1])[flat], np.zeros((1, response.shape[-1]))]
    ).astype(np.float32)  # (E + 1, F)
    end = np.r_[0, np.cumsum(n_valid)[:-1]].astype(np.int64) if s else np.zeros(0, np.int64)
    first = np.r_[True, ~same_user] if s else np.zeros(0, dtype=bool)
    group = np.cumsum(first) - 1  # (S,) index of each slate's user block
    start = end[first][group]
    return LoggedTransitions(
        slates=items,
        response=response,
        user=user,
        reward=reward.astype(np.float32),
        terminated=terminated.astype(bool),
        stream_items=stream_items,
        stream_feedback=stream_fb,
        history_start=start,
        history_end=end,
        history_length=env.history_length,
        user_features=feats[:, :n_uf],
        feedback_names=slates.feedback_names,
    )


def _spec_path(target: Path) -> Path:
    """The simulator spec of a ``simulator`` target: the spec file itself or the
    ``spec.yaml`` a checkpoint was trained from."""
    if target.is_file():
        return target
    for candidate in (target / "spec.yaml", target.parent / "spec.yaml"):
        if candidate.is_file():
            return candidate
    raise InputError(
        f"{target}: no spec.yaml next to this simulator checkpoint; the logged data cannot be"
        " rebuilt (rebuild the simulator with `rayrec simulator train`)"
    )


def _same_fingerprint(recorded: Any, rebuilt: str) -> bool:
    """Whether a checkpoint's data fingerprint names the rebuilt data.

    Older checkpoints record the full source hash, the dataset cache a prefix of it.
    """
    if recorded is None or not rebuilt:
        return True
    recorded = str(recorded)
    return recorded.startswith(rebuilt) or rebuilt.startswith(recorded)


def train_part_transitions(
    env_config: Mapping[str, Any], data_dir: str | Path | None = None
) -> LoggedTransitions:
    """The transitions of the train part of the log behind an RLlib ``env_config``.

    Rebuilds the slates the train simulator learned from (same simulator spec, same
    data, same time cut) and checks them against that simulator: its population, and
    where the checkpoint records them the data fingerprint and slate count. The session
    settings (slate size, history length, reward weights and aggregate) are the
    ``env_config``'s, i.e. the env spec's as of the run's start.

    Args:
        env_config: as for :func:`rayrec.environments.rllib_env.make_env` (``simulator``,
            ``env``; the ``part`` is always ``train``).
        data_dir: the dataset folder (default: the spec's ``dataset.path``, then
            ``$RAYREC_DATA``); unused for the synthetic dataset.

    Raises:
        InputError: the target or the data is missing, or differs from the simulator's.
    """
    from rayrec.environments.rllib_env import env_config_of
    from rayrec.simulator.build import load_spec_data, part_slates
    from rayrec.simulator.simulator import population_from_slates
    from rayrec.simulator.slates import build_slates
    from rayrec.simulator.spec import load_simulator_spec

    sim, env = env_config_of({**env_config, "part": PART_TRAIN})
    target = Path(str(env_config["simulator"]))
    spec = load_simulator_spec(_spec_path(target))
    try:
        data, _, fingerprint = load_spec_data(spec, data_dir)
    except InputError as exc:
        raise InputError(
            f"logged data of {spec.name}: {exc}; or give offline-sl the folder with"
            " --config logged_data_dir=DIR"
        ) from exc
    slates, cut = part_slates(build_slates(data, spec.slates.to_config()), spec)[PART_TRAIN]
    meta = sim.meta
    problems = []
    if not _same_fingerprint(meta.get("data_fingerprint"), fingerprint):
        problems.append(f"data fingerprint {fingerprint} != {meta['data_fingerprint']}")
    if meta.get("part_slates") not in (None, len(slates)):
        problems.append(f"{len(slates)} train slates != {meta['part_slates']}")
    if meta.get("time_cut") not in (None, cut):
        problems.append(f"time cut {cut} != {meta['time_cut']}")
    population, _ = population_from_slates(slates)
    if not np.array_equal(population, sim.population):
        problems.append("the users of the train slates differ from the simulator's population")
    if problems:
        raise InputError(
            f"{target}: the logged data rebuilt from {spec.name}'s dataset is not what its"
            f" train simulator learned from ({'; '.join(problems)})"
        )
    return logged_transitions(slates, env, sim.user_features)
