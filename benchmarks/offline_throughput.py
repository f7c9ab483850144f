"""Offline learners on logged sessions (CE, SQN, SAC, CAL4Rec): training rows/s per backbone,
evaluation targets/s over the item pool, and RLlib's offline input against our columnar path.

Usage::

    python benchmarks/offline_throughput.py [--threads 1] [--updates 20] [--warmup 3]
        [--methods ce sqn sac cal4rec] [--backbones gru nextitnet sasrec] [--batch 256]
        [--pool 37000] [--sessions 30000] [--eval-targets 20480]
        [--env retailrocket_sessions --data-dir /work/shared/data/retailrocket]
        [--rllib-offline [--offline-batches 100]] [--json-only]

Data: by default a **generated pool** of ``--pool`` items (37,000: RetailRocket's size,
N = 36,719 there) and ``--sessions`` random sessions (3..17 events, items drawn with a
Zipf-like popularity of exponent 0.8, 10% purchases, L = 10, end padding, split 8:1:1):
no data folder is needed. The pool size sets the cost (the CE and Q heads and the
ranking are (B, N + 1)). ``--env SPEC --data-dir DIR`` uses a real ``logged_sessions``
spec instead (``ml1m_sessions`` with ``/work/shared/data/movielens-1m``,
``retailrocket_sessions`` with ``/work/shared/data/retailrocket``).

Measurements, all in one run on the driver with ``torch.set_num_threads(--threads)``:

- **batch assembly** (``assembly``): :meth:`SessionData.batch` on 256 random train rows
  (the replay columns, states gathered from the flat item stream), alone; rows/s, and
  with the ``MultiAgentBatch`` wrap the offline loop adds.
- **training** (``training``, one row per method × backbone): the learner of the
  algorithm's config built without Ray (``config.build_learner(spaces=...)`` with the
  env's spaces and ``env_config``), then the offline loop of ``SQN.training_step`` by
  hand: draw rows (a seeded permutation of the train rows), ``SessionData.batch``,
  ``MultiAgentBatch``, ``learner.update``. ``--warmup`` updates, then ``--updates``
  timed; the assembly and the update are timed apart. ``ms_per_update`` (the update
  alone), ``loop_ms`` (assembly + update), ``learner_share`` = update / loop,
  ``rows_per_s`` (loop) and ``rows_per_s_learner`` (update alone), ``updates_per_s``
  (loop). Rows per update: 256, except CAL4Rec: (K + 1) × 256 (K = ``disc_steps`` = 1:
  its discriminator step takes its own minibatch). ``sac`` runs with ``sac_start`` 0, so
  the figure is SAC's cost after T updates; before T it is SQN's update exactly.
- **evaluation** (``evaluation``, one row per backbone): ``evaluate_next_item`` with
  ``module_scorer`` of the CE module of that backbone (in eval mode) over the first test
  sessions holding ``--eval-targets`` targets: scoring every item + ranking, targets/s;
  the scoring alone (``module_scorer`` on the same states) and the ranking alone
  (``next_item_metrics`` on precomputed (1024, N + 1) scores) in the same run.
- **RLlib's offline input** (``rllib_offline``, with ``--rllib-offline``; Ray local,
  ``num_cpus=2``, no dashboard): the same replay rows written as Parquet with Ray Data
  in the column format RLlib's ``OfflinePreLearner`` reads (``obs`` / ``new_obs`` as
  structs of ``state`` (L,) and ``len_state`` (1,), ``actions``, ``rewards``,
  ``terminateds``, ``truncateds``, ``eps_id``; ``is_buy`` and the event index ``row``
  ride along as extra columns); ``OfflineData(config).sample(256)`` as MARWIL / BC call
  it (``read_parquet`` → ``map_batches(OfflinePreLearner)`` → ``iter_batches``), the
  config the SQN config with RLlib's ``AddNextObservationsFromEpisodesToTrainBatch``
  learner-connector piece (as MARWIL adds it: SQN needs s'); rows/s over
  ``--offline-batches`` batches after the first (the first, which starts the pipeline,
  is timed apart). Also the ``OfflinePreLearner`` alone in the driver on batches read
  beforehand (its per-batch CPU cost: one ``SingleAgentEpisode`` per row, then the
  learner connector), and the check that its batches, renamed to our columns, equal
  :meth:`SessionData.batch` of the same rows and pass one ``learner.update``.

The last line is JSON with every figure, the torch thread count and the 1-minute load
average (``os.getloadavg()``) at the start, before each row and at the end.

Figures (2026-12-07 15:17 UTC, 2-core CPU shared with another session's pytest run at
~90% of a core for part of the run, 1-minute load 2.15 at the start, 1.31 at the end;
torch 2.13 CPU, **1 torch thread**; the generated pool: N = 37,000 items, 299,601 events,
239,653 train rows; d = 64, batch 256; 3 warm-up + 20 timed updates per cell; 162 s)::

    python benchmarks/offline_throughput.py --threads 1 --rllib-offline

    assembly SessionData.batch(256): 2.39 M rows/s (0.107 ms), 2.24 M with MultiAgentBatch

    method   backbone  rows/upd  ms/update  rows/s  updates/s  learner share of the loop
    ce       gru        256        260        982     3.84       99.9%
    sqn      gru        256        452        566     2.21       99.9%
    sac      gru        256        464        551     2.15       99.9%
    cal4rec  gru        512        174      2,940     5.74       99.7%
    ce       nextitnet  256        240      1,064     4.15       99.8%
    sqn      nextitnet  256        518        494     1.93       99.9%
    sac      nextitnet  256        546        469     1.83       99.9%
    cal4rec  nextitnet  512        314      1,628     3.18       99.8%
    ce       sasrec     256        183      1,395     5.45       99.8%
    sqn      sasrec     256        375        682     2.67       99.9%
    sac      sasrec     256        466        548     2.14       99.9%
    cal4rec  sasrec     512        242      2,112     4.12       99.7%

    evaluation over N = 37,000 (20,484 test targets)   targets/s
                 evaluate_next_item   scoring alone   ranking alone
    gru                 3,497             4,742           13,901
    nextitnet           2,907             3,525           13,690
    sasrec              3,415             4,658           13,813

    RLlib offline input (SQN / GRU config, 51,200 rows in 20 Parquet files, Ray local
    num_cpus=2, one OfflinePreLearner actor): 5,270 rows/s end to end (9.7 s, of which
    9.6 s to the first batch); OfflinePreLearner alone in the driver: 14,695 rows/s
    (17.4 ms per batch of 256). Columnar SessionData.batch + MultiAgentBatch: 2.24 M
    rows/s = 153x the OfflinePreLearner alone, 426x the pipeline end to end.

Reading: the learner is the whole loop (≥ 99.7%: assembling a batch costs 0.4 ms of a
180-550 ms update), and the (256, N + 1) heads at N = 37k dominate every update:
the three backbones cost about the same. SQN and SAC are ~2x CE (two networks, the Q
head, s' through both networks). CAL4Rec's update consumes 512 rows (one minibatch for
the discriminator step, one for the generator and encoder steps) but runs its CE head on
256 of them only, hence the most rows/s. Rows/update move by ±30% between runs on this
shared machine (the CE / GRU row read 250 ms and 240 ms in two other runs; CAL4Rec / GRU
167-220 ms). Profiled (CE / GRU at N = 37k): RLlib's ``TorchLearner`` checks every
gradient with ``torch.isfinite`` twice per update (~35 ms, ~15% of the update;
``torch_skip_nan_gradients`` turns it off; our learners guard the loss already), and
``mask_padding``'s ``index_fill`` copies the (256, N + 1) logits (~19 ms). Evaluation is
bounded by the scoring (one (1024, 64) × (64, 37,001) product per batch) and the
ranking (two comparisons over (1024, 37,000)), ~3,000-3,500 targets/s: a test part of
~100k targets takes ~30 s per checkpoint.

RLlib's offline path, what it takes: the rows must be written in its column schema
(``obs`` / ``new_obs``, ``actions``, ``rewards``, ``terminateds``, ``truncateds``,
``eps_id``); our Dict observation goes in as an Arrow struct and comes back as a dict
per row, fine. Each row becomes a one-step ``SingleAgentEpisode`` in Python and the
learner connector batches them again (~68 µs per row); s' needs
``AddNextObservationsFromEpisodesToTrainBatch``, placed **after** the obs piece as
MARWIL places it: prepended (what ``config.learners(learner_connector=...)`` does),
it runs before the obs piece makes the episode ids unique, and rows of one session
(same ``eps_id``) got each other's next states (75% of ``next_state`` rows wrong, no
error). RLlib's default ``map_batches`` concurrency (max(2, num_learners) actors of 1
CPU) on ``num_cpus=2`` leaves no CPU for the Parquet read task ("3/2 CPU" requested): no
batch in the ~40 s watched; one actor here. Its batch, renamed to our columns, equals
``SessionData.batch`` of the same rows and passes a ``learner.update``. The columnar
path is two orders of magnitude faster and adds 0.4 ms to a ≥ 180 ms update, so our
learners read ``SessionData.batch`` directly.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import resource
import tempfile
import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME

from rayrec.algorithms.cal4rec import CAL4RecConfig
from rayrec.algorithms.sqn import SQNConfig
from rayrec.data.sessions import (
    ACTION,
    IS_BUY,
    IS_DONE,
    LEN_NEXT_STATE,
    LEN_STATE,
    NEXT_STATE,
    PART_TEST,
    PART_TRAIN,
    PARTS,
    REWARD,
    STATE,
    SessionData,
)
from rayrec.environments.sessions import LoggedSessionsEnv
from rayrec.evaluation.next_item import EVAL_BATCH, evaluate_next_item, module_scorer
from rayrec.metrics.next_item import next_item_metrics
from rayrec.models.session import BACKBONES

METHODS = ("ce", "sqn", "sac", "cal4rec")
#: the extra Parquet column holding each row's event index (the equality check)
ROW_COLUMN = "row"


# ------------------------------------------------------------------ data
def generated_sessions(
    pool: int, sessions: int, seed: int = 0, state_length: int = 10
) -> SessionData:
    """``sessions`` random sessions of 3..17 events over ``pool`` items (Zipf-like
    popularity, exponent 0.8), 10% purchases, split 8:1:1, end padding."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, 18, sessions)  # (S,)
    start = np.r_[0, np.cumsum(lengths)].astype(np.int64)  # (S + 1,)
    weight = 1.0 / np.arange(1, pool + 1) ** 0.8  # (N,)
    items = rng.choice(pool, size=int(start[-1]), p=weight / weight.sum()) + 1  # (E,)
    return SessionData(
        n_items=pool,
        items=items.astype(np.int64),
        is_buy=rng.random(len(items)) < 0.1,
        session_start=start,
        session_part=rng.choice(3, sessions, p=[0.8, 0.1, 0.1]).astype(np.int8),
        state_length=state_length,
        padding="end",
        click_reward=0.2,
        purchase_reward=1.0,
        has_purchases=True,
        description={"dataset": f"generated: {pool} items, {sessions} sessions (seed {seed})"},
    )


def load_data(args: argparse.Namespace) -> tuple[SessionData, dict[str, Any], str]:
    """The sessions, the ``env_config`` the configs see and a label for the output."""
    if args.env is None:
        data = generated_sessions(args.pool, args.sessions, args.seed)
        return data, {"sessions": {"padding": data.padding}}, str(data.description["dataset"])
    from rayrec.environments import env_config_for
    from rayrec.environments.sessions import session_data_for

    env_config = env_config_for(args.env, args.data_dir, part="train", option="--data-dir")
    data = session_data_for(env_config)
    return data, env_config, f"{args.env} ({data.description.get('dataset', '')})"


def eval_subset(data: SessionData, targets: int) -> SessionData:
    """``data`` with only its first test sessions holding >= ``targets`` events left in
    the test part (the others moved to train, which evaluation does not read)."""
    test = data.sessions(PART_TEST)
    sizes = data.session_start[test + 1] - data.session_start[test]  # (S_test,)
    keep = test[: int(np.searchsorted(np.cumsum(sizes), targets)) + 1]
    part = data.session_part.copy()
    part[test] = PARTS[PART_TRAIN]
    part[keep] = PARTS[PART_TEST]
    return replace(data, session_part=part)


def spaces(data: SessionData) -> tuple[Any, Any]:
    env = LoggedSessionsEnv(data, 1)
    return env.single_observation_space, env.single_action_space


# ------------------------------------------------------------------ configs
def make_config(
    method: str, backbone: str, env_config: dict[str, Any], batch: int, seed: int
) -> Any:
    """The registry's config of ``method`` (``sac`` with T = 0: SAC's cost after T)."""
    config: Any
    if method == "cal4rec":
        config = CAL4RecConfig()
    else:
        config = SQNConfig().training(method=method)
        if method == "sac":
            config.training(sac_start=0)
    config.training(backbone=backbone, train_batch_size_per_learner=batch)
    config.environment(env_config=env_config)
    config.debugging(seed=seed)
    return config


def rows_per_update(config: Any) -> int:
    """Rows one learner update consumes (CAL4Rec: one minibatch per discriminator step
    and one for the generator and encoder steps)."""
    size = int(config.train_batch_size_per_learner)
    if isinstance(config, CAL4RecConfig) and config.variant != "ssl":
        return size * (int(config.disc_steps) + 1)
    return size


def build_learner(config: Any, data: SessionData) -> Any:
    torch.manual_seed(0)
    return config.build_learner(spaces={DEFAULT_MODULE_ID: spaces(data)})


def multi_agent(columns: dict[str, np.ndarray]) -> MultiAgentBatch:
    size = len(next(iter(columns.values())))
    return MultiAgentBatch({DEFAULT_MODULE_ID: SampleBatch(columns)}, env_steps=size)


# ------------------------------------------------------------------ measurements
def assembly(data: SessionData, batch: int, calls: int, seed: int) -> dict[str, Any]:
    """Rows/s of ``SessionData.batch`` on random train rows, and with the wrap."""
    rng = np.random.default_rng(seed)
    train = data.rows(PART_TRAIN)
    drawn = [rng.choice(train, batch, replace=False) for _ in range(calls)]
    for rows in drawn[:5]:
        data.batch(rows)
    t0 = time.perf_counter()
    for rows in drawn:
        data.batch(rows)
    alone = time.perf_counter() - t0
    t0 = time.perf_counter()
    for rows in drawn:
        multi_agent(data.batch(rows))
    wrapped = time.perf_counter() - t0
    return {
        "batch": batch,
        "calls": calls,
        "ms_per_batch": round(1000 * alone / calls, 3),
        "rows_per_s": round(batch * calls / alone),
        "rows_per_s_with_multiagentbatch": round(batch * calls / wrapped),
    }


def train_cell(
    method: str,
    backbone: str,
    data: SessionData,
    env_config: dict[str, Any],
    args: argparse.Namespace,
) -> tuple[dict[str, Any], Any]:
    """The offline loop by hand (``SQN.training_step``): warm-up, then timed updates."""
    load = os.getloadavg()[0]
    config = make_config(method, backbone, env_config, args.batch, args.seed)
    learner = build_learner(config, data)
    size = rows_per_update(config)
    train = data.rows(PART_TRAIN)
    order = np.random.default_rng(args.seed).permutation(len(train))
    total = args.warmup + args.updates
    if total * size > len(train):
        order = np.resize(order, total * size)
    assemble_s = update_s = 0.0
    for i in range(total):
        t0 = time.perf_counter()
        rows = train[order[i * size : (i + 1) * size]]
        batch = multi_agent(data.batch(rows))
        t1 = time.perf_counter()
        learner.update(batch=batch, timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: (i + 1) * size})
        t2 = time.perf_counter()
        if i >= args.warmup:
            assemble_s += t1 - t0
            update_s += t2 - t1
    n = args.updates
    loop_s = assemble_s + update_s
    row = {
        "method": method,
        "backbone": backbone,
        "rows_per_update": size,
        "ms_per_update": round(1000 * update_s / n, 1),
        "loop_ms": round(1000 * loop_s / n, 1),
        "assembly_ms": round(1000 * assemble_s / n, 2),
        "learner_share": round(update_s / loop_s, 4),
        "updates_per_s": round(n / loop_s, 2),
        "rows_per_s": round(size * n / loop_s, 1),
        "rows_per_s_learner": round(size * n / update_s, 1),
        "updates": n,
        "warmup": args.warmup,
        "load_1min": round(load, 2),
    }
    return row, learner


def eval_cell(backbone: str, module: Any, data: SessionData) -> dict[str, Any]:
    """evaluate_next_item (scoring + ranking), the scoring alone, the ranking alone."""
    load = os.getloadavg()[0]
    rows = data.rows(PART_TEST)
    module.eval()
    scorer = module_scorer(module)
    first = rows[:EVAL_BATCH]
    evaluate_next_item(scorer, replace(data, session_part=_only(data, first)), PART_TEST)
    t0 = time.perf_counter()
    result = evaluate_next_item(scorer, data, PART_TEST)
    full = time.perf_counter() - t0
    states = [data.states(rows[s : s + EVAL_BATCH]) for s in range(0, len(rows), EVAL_BATCH)]
    t0 = time.perf_counter()
    for state, len_state in states:
        scorer(state, len_state)  # (1024, N + 1), dropped: keeping them all takes GBs
    scoring = time.perf_counter() - t0
    one = scorer(*states[0])  # (1024, N + 1)
    targets, buys = data.items[first], data.is_buy[first]
    reps = max(1, len(rows) // len(first))
    t0 = time.perf_counter()
    for _ in range(reps):
        next_item_metrics(one, targets, buys)
    ranking = time.perf_counter() - t0
    module.train()
    return {
        "backbone": backbone,
        "targets": int(result.evaluated),
        "n_items": int(data.n_items),
        "targets_per_s": round(len(rows) / full, 1),
        "scoring_targets_per_s": round(len(rows) / scoring, 1),
        "ranking_targets_per_s": round(reps * len(first) / ranking, 1),
        "seconds": round(full, 2),
        "load_1min": round(load, 2),
    }


def _only(data: SessionData, rows: np.ndarray) -> np.ndarray:
    """A session_part with only the sessions of ``rows`` in the test part (warm-up)."""
    part = np.full_like(data.session_part, PARTS[PART_TRAIN])
    part[np.unique(data.session_of(rows))] = PARTS[PART_TEST]
    return part


# ------------------------------------------------------------------ RLlib offline
def _struct(state: np.ndarray, length: np.ndarray) -> Any:
    import pyarrow as pa

    big_l = state.shape[1]
    return pa.StructArray.from_arrays(
        [
            pa.FixedSizeListArray.from_arrays(pa.array(state.ravel()), big_l),
            pa.FixedSizeListArray.from_arrays(pa.array(length), 1),
        ],
        names=[STATE, LEN_STATE],
    )


def rllib_columns(data: SessionData, rows: np.ndarray) -> Any:
    """The replay rows as the Arrow table RLlib's offline input reads (one row per
    transition, SCHEMA's column names; extra columns become extra model outputs)."""
    import pyarrow as pa

    b = data.batch(rows)
    return pa.table(
        {
            Columns.OBS: _struct(b[STATE], b[LEN_STATE]),
            Columns.NEXT_OBS: _struct(b[NEXT_STATE], b[LEN_NEXT_STATE]),
            Columns.ACTIONS: b[ACTION],
            Columns.REWARDS: b[REWARD],
            Columns.TERMINATEDS: b[IS_DONE],
            Columns.TRUNCATEDS: np.zeros(len(rows), dtype=bool),
            Columns.EPS_ID: data.session_of(rows),
            IS_BUY: b[IS_BUY],
            ROW_COLUMN: rows,
        }
    )


def ours_from_rllib(batch: SampleBatch | dict[str, Any]) -> dict[str, np.ndarray]:
    """RLlib's learner-connector batch renamed to our replay columns (the adapter an
    RLlib-fed SQN would need)."""

    def np_(x: Any) -> np.ndarray:
        return np.asarray(x.numpy() if hasattr(x, "numpy") else x)

    obs, nxt = batch[Columns.OBS], batch[Columns.NEXT_OBS]
    return {
        STATE: np_(obs[STATE]).astype(np.int64),
        LEN_STATE: np_(obs[LEN_STATE]).reshape(-1).astype(np.int64),
        ACTION: np_(batch[Columns.ACTIONS]).astype(np.int64),
        IS_BUY: np_(batch[IS_BUY]).astype(bool),
        NEXT_STATE: np_(nxt[STATE]).astype(np.int64),
        LEN_NEXT_STATE: np_(nxt[LEN_STATE]).reshape(-1).astype(np.int64),
        IS_DONE: np_(batch[Columns.TERMINATEDS]).astype(bool),
        REWARD: np_(batch[Columns.REWARDS]).astype(np.float32),
    }


def rllib_offline(
    data: SessionData,
    env_config: dict[str, Any],
    args: argparse.Namespace,
    columnar_rows_per_s: float,
) -> dict[str, Any]:
    """RLlib's offline data path (Ray Data Parquet → OfflinePreLearner → batches of
    ``--batch``) against ``SessionData.batch``."""
    import ray
    from ray.rllib.connectors.common import AddObservationsFromEpisodesToBatch
    from ray.rllib.connectors.learner import AddNextObservationsFromEpisodesToTrainBatch
    from ray.rllib.env import INPUT_ENV_SPACES
    from ray.rllib.offline.offline_data import OfflineData
    from ray.rllib.offline.offline_prelearner import OfflinePreLearner
    from ray.rllib.utils import unflatten_dict

    logging.getLogger("ray.data").setLevel(logging.WARNING)
    batch, n_batches = args.batch, args.offline_batches
    train = data.rows(PART_TRAIN)
    order = np.random.default_rng(args.seed).permutation(len(train))
    rows = train[np.resize(order, n_batches * batch)]
    obs_space, act_space = spaces(data)

    class OfflineSQNConfig(SQNConfig):  # local: Ray pickles it by value for its actor
        """SQN's config with s' in the learner batch, the piece placed as MARWIL places it."""

        def build_learner_connector(self, *args: Any, **kwargs: Any) -> Any:
            pipeline = super().build_learner_connector(*args, **kwargs)
            # after the obs piece, which makes the episode ids unique: placed before it
            # (``config.learners(learner_connector=...)`` prepends), rows sharing an
            # eps_id (one session) got each other's next states (seen: 75% wrong)
            pipeline.insert_after(
                AddObservationsFromEpisodesToBatch, AddNextObservationsFromEpisodesToTrainBatch()
            )
            return pipeline

    config = OfflineSQNConfig().training(
        method="sqn", backbone="gru", train_batch_size_per_learner=batch
    )
    config.environment(env_config=env_config)
    config.debugging(seed=args.seed)
    out: dict[str, Any] = {"rows": len(rows), "batch": batch, "config": "sqn, gru"}
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"env_vars": {"OMP_NUM_THREADS": str(args.threads)}},
    )
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    try:
        with tempfile.TemporaryDirectory(prefix="rayrec_offline_") as folder:
            t0 = time.perf_counter()
            table = rllib_columns(data, rows)
            # several files, so that the pipeline streams blocks (one file: the whole
            # block is mapped before the first batch comes out)
            files = max(1, len(rows) // (batch * args.offline_file_batches))
            ray.data.from_arrow(table).repartition(files).write_parquet(folder)
            out["parquet_files"] = files
            out["write_parquet_s"] = round(time.perf_counter() - t0, 2)
            out["parquet_mib"] = round(
                sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder)) / 2**20,
                1,
            )
            # RLlib's default map_batches concurrency is max(2, num_learners): two
            # OfflinePreLearner actors take both CPUs and the Parquet read task never
            # gets one (seen: no batch in ~40 s); one actor here
            config.offline_data(
                input_=folder,
                dataset_num_iters_per_learner=1,
                map_batches_kwargs={"concurrency": 1},
            )
            module_spec = config.get_multi_rl_module_spec(
                spaces={DEFAULT_MODULE_ID: (obs_space, act_space)}, inference_only=False
            )

            # --- the OfflinePreLearner alone, in the driver, on batches read beforehand
            read = ray.data.read_parquet(folder).iter_batches(
                batch_size=batch, batch_format="numpy"
            )
            raw = [b for _, b in zip(range(min(n_batches, 40)), read, strict=False)]
            pre = OfflinePreLearner(
                config=config, spaces=(obs_space, act_space), module_spec=module_spec
            )
            pre(raw[0])
            t0 = time.perf_counter()
            outputs = [pre(b) for b in raw]
            alone = time.perf_counter() - t0
            out["prelearner_alone"] = {
                "batches": len(raw),
                "ms_per_batch": round(1000 * alone / len(raw), 2),
                "rows_per_s": round(batch * len(raw) / alone, 1),
            }
            first = unflatten_dict(outputs[0])[DEFAULT_MODULE_ID]
            t0 = time.perf_counter()
            ours = ours_from_rllib(first)
            out["adapter_ms"] = round(1000 * (time.perf_counter() - t0), 3)
            expected = data.batch(np.asarray(first[ROW_COLUMN].numpy(), dtype=np.int64))
            out["equals_sessiondata_batch"] = all(
                np.array_equal(ours[k], expected[k]) for k in expected
            )
            learner = build_learner(make_config("sqn", "gru", env_config, batch, args.seed), data)
            result = learner.update(
                batch=multi_agent(ours), timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: batch}
            )
            loss = float(result[DEFAULT_MODULE_ID]["total_loss"].peek())
            out["learner_update_on_rllib_batch"] = {"total_loss": round(loss, 4)}
            del learner, outputs, raw

            # --- the whole pipeline: OfflineData.sample as MARWIL's training_step calls it
            offline = OfflineData(config)
            offline.spaces = {INPUT_ENV_SPACES: (obs_space, act_space)}
            offline.module_spec = module_spec
            state = module_spec.build().get_state()
            t0 = time.perf_counter()
            offline.sample(num_samples=batch, module_state=state)
            first_s = time.perf_counter() - t0
            out["first_batch_s"] = round(first_s, 2)
            t0 = time.perf_counter()
            got = 0
            for _ in range(n_batches - 1):
                sampled = offline.sample(num_samples=batch, module_state=state)
                got += sampled.env_steps()
            steady = time.perf_counter() - t0
            # end to end: the first batch starts the actor and the stream; the batches
            # after it were mostly mapped by then (small files stream ahead), so
            # after_first_rows_per_s is Ray Data's iteration, not the mapping
            out["pipeline"] = {
                "batches": n_batches,
                "rows": got + batch,
                "rows_per_s": round((got + batch) / (steady + first_s), 1),
                "seconds": round(steady + first_s, 2),
                "after_first_rows_per_s": round(got / steady, 1),
            }
            offline.batch_iterators = None  # close Ray Data's iterator before shutdown
            del offline, table
            gc.collect()
    finally:
        ray.shutdown()
    out["columnar_rows_per_s"] = columnar_rows_per_s
    out["columnar_over_pipeline"] = round(columnar_rows_per_s / out["pipeline"]["rows_per_s"], 1)
    out["columnar_over_prelearner_alone"] = round(
        columnar_rows_per_s / out["prelearner_alone"]["rows_per_s"], 1
    )
    return out


# ------------------------------------------------------------------ main
def main() -> None:
    parser = argparse.ArgumentParser(description="offline session learners: rows/s, targets/s")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (driver)")
    parser.add_argument("--updates", type=int, default=20, help="timed updates per cell")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up updates per cell")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES), choices=BACKBONES)
    parser.add_argument("--batch", type=int, default=256, help="rows per minibatch")
    parser.add_argument("--pool", type=int, default=37_000, help="generated pool: items")
    parser.add_argument("--sessions", type=int, default=30_000, help="generated sessions")
    parser.add_argument("--eval-targets", type=int, default=20_480, help="test targets scored")
    parser.add_argument("--env", default=None, help="a logged_sessions spec (default: generated)")
    parser.add_argument("--data-dir", default=None, help="the spec's data folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rllib-offline", action="store_true", help="RLlib's offline input")
    parser.add_argument("--offline-batches", type=int, default=200, help="RLlib batches read")
    parser.add_argument(
        "--offline-file-batches", type=int, default=10, help="batches per Parquet file"
    )
    parser.add_argument("--json-only", action="store_true", help="print only the JSON line")
    args = parser.parse_args()

    def say(text: str) -> None:
        if not args.json_only:
            print(text, flush=True)

    t_run = time.perf_counter()
    load_start = os.getloadavg()
    torch.set_num_threads(args.threads)
    say(f"torch threads: {args.threads}; {os.cpu_count()} CPUs")
    say(f"load average at start: {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}")
    data, env_config, label = load_data(args)
    n_train = len(data.rows(PART_TRAIN))
    say(f"data: {label}: N = {data.n_items:,} items, {data.n_events:,} events, {n_train:,} train")

    asm = assembly(data, args.batch, 200, args.seed)
    say(
        f"assembly SessionData.batch({args.batch}): {asm['rows_per_s']:,} rows/s"
        f" ({asm['ms_per_batch']:.3f} ms; {asm['rows_per_s_with_multiagentbatch']:,} rows/s"
        " with the MultiAgentBatch wrap)"
    )

    say(
        f"{'method':>8} {'backbone':>9} {'rows/upd':>8} {'ms/upd':>7} {'loop ms':>7}"
        f" {'asm ms':>6} {'learner':>7} {'upd/s':>6} {'rows/s':>8} {'load':>5}"
    )
    training: list[dict[str, Any]] = []
    modules: dict[str, Any] = {}
    for backbone in args.backbones:
        for method in args.methods:
            row, learner = train_cell(method, backbone, data, env_config, args)
            training.append(row)
            if backbone not in modules:
                modules[backbone] = learner.module[DEFAULT_MODULE_ID]
            del learner
            say(
                f"{method:>8} {backbone:>9} {row['rows_per_update']:>8}"
                f" {row['ms_per_update']:>7.1f} {row['loop_ms']:>7.1f}"
                f" {row['assembly_ms']:>6.2f} {row['learner_share']:>7.1%}"
                f" {row['updates_per_s']:>6.2f} {row['rows_per_s']:>8.0f} {row['load_1min']:>5.2f}"
            )

    evaluation: list[dict[str, Any]] = []
    sub = eval_subset(data, args.eval_targets)
    for backbone, module in modules.items():
        row = eval_cell(backbone, module, sub)
        evaluation.append(row)
        say(
            f"eval {backbone:>9}: {row['targets_per_s']:>8,.0f} targets/s over N ="
            f" {row['n_items']:,} ({row['targets']:,} targets, {row['seconds']:.1f} s);"
            f" scoring alone {row['scoring_targets_per_s']:,.0f}/s,"
            f" ranking alone {row['ranking_targets_per_s']:,.0f}/s"
        )
    del modules

    offline = None
    if args.rllib_offline:
        offline = rllib_offline(data, env_config, args, asm["rows_per_s_with_multiagentbatch"])
        say(
            f"RLlib offline (Ray Data Parquet -> OfflinePreLearner, 1 actor, num_cpus=2):"
            f" {offline['pipeline']['rows_per_s']:,.0f} rows/s end to end"
            f" ({offline['pipeline']['rows']:,} rows in {offline['pipeline']['seconds']:.1f} s;"
            f" first batch {offline['first_batch_s']:.1f} s);"
            f" OfflinePreLearner alone {offline['prelearner_alone']['rows_per_s']:,.0f} rows/s"
            f" ({offline['prelearner_alone']['ms_per_batch']:.1f} ms per batch of {args.batch})"
        )
        say(
            f"columnar SessionData.batch: {offline['columnar_rows_per_s']:,} rows/s ="
            f" {offline['columnar_over_pipeline']:,}x the RLlib pipeline,"
            f" {offline['columnar_over_prelearner_alone']:,}x the OfflinePreLearner alone;"
            f" RLlib's batch renamed to ours equals SessionData.batch:"
            f" {offline['equals_sessiondata_batch']}"
        )

    load_end = os.getloadavg()[0]
    say(f"load average at end: {load_end:.2f}; {time.perf_counter() - t_run:.0f} s")
    print(
        json.dumps(
            {
                "data": label,
                "n_items": int(data.n_items),
                "n_events": int(data.n_events),
                "train_rows": n_train,
                "torch_threads": args.threads,
                "cpus": os.cpu_count(),
                "torch": torch.__version__,
                "load_1min": [round(load_start[0], 2), round(load_end, 2)],
                "run_seconds": round(time.perf_counter() - t_run, 1),
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                "assembly": asm,
                "training": training,
                "evaluation": evaluation,
                "rllib_offline": offline,
            }
        )
    )


if __name__ == "__main__":
    main()
