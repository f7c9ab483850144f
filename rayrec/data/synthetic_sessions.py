"""A seeded log of click/purchase sessions with a known next-event distribution.

The ``synthetic-sessions`` dataset (no files): what the ``logged_sessions`` env kind and
the SQN / CAL4Rec tests train on when no real session log is given
(``envs/synthetic_sessions.yaml``). Its structure makes the next item predictable from
the session so far, and purchases depend on (session so far, item):

- the items ``1..N`` are ``n_popular`` **popular distractors** (Zipf weights
  ``∝ 1 / rank``) and ``N − n_popular`` **chain items**; every chain item has two
  **successors** (other chain items, drawn once), taken with ``successor_probs``
  (0.7, 0.3): a hidden first-order Markov chain;
- a session starts at a uniformly drawn chain item and lasts ``min_length ..
  max_length`` events (uniform); each later event is, independently,
  a **distractor** (probability ``p_distract``, a popular item by its weight), a
  **revisit** (``p_revisit``, uniformly one of the session's earlier chain items other
  than the current one, when there is one) or a **chain step** (the rest: a successor
  of the current chain item — the last chain step's item, whatever distractors and
  revisits came after it). A chain step never repeats an item of the session: a
  visited successor gives its probability to the other one, and a session whose
  current item has both successors visited ends there;
- purchases: a revisit is a purchase with probability ``p_buy_revisit`` (0.5), a chain
  step with ``p_buy_chain`` (0.02), a distractor never. Every other event is a click.

So a sequential model that finds the current chain item behind the distractors and
revisits, and ranks the session's earlier items next, beats most-popular (which knows
only the distractors) by a wide margin on click targets, and more so on purchase
targets (mostly items of the state). :meth:`SessionTruth.next_distribution` is the
exact distribution of the next event given the session so far (the oracle's).

Log columns: ``user`` (each session has one of ``n_users`` users), ``item``,
``timestamp`` (a session's events a minute apart), ``session``, feedback ``click`` and
``purchase`` (exactly one of them 1 per event), and the hidden ``event_kind`` (0 chain
step, 1 distractor, 2 revisit) for tests.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from rayrec.data.schema import CLICK, PURCHASE, InteractionLog, build_log
from rayrec.errors import InputError

#: the dataset name (``load_dataset``, env specs)
NAME = "synthetic-sessions"
#: the hidden event kinds (the log's ``event_kind`` column)
CHAIN, DISTRACTOR, REVISIT = 0, 1, 2
EVENT_KIND = "event_kind"


@dataclass(frozen=True)
class SessionGeneratorConfig:
    """Size and shape of the synthetic session log (module doc: the process).

    Attributes:
        seed: the only source of randomness.
        n_items: N, the items (popular distractors and chain items).
        n_popular: the popular distractors (items drawn at random among ``1..N``).
        n_sessions: sessions in the log.
        n_users: users the sessions are dealt to (no effect on the items).
        min_length / max_length: a session's planned events (uniform; a chain that is
            stuck ends it earlier).
        successor_probs: probabilities of a chain item's first and second successor.
        p_distract: probability that an event after the first is a distractor.
        p_revisit: probability that it is a revisit of an earlier chain item.
        p_buy_revisit / p_buy_chain: purchase probabilities of a revisit and a chain step.
        start_time: unix time of the first session (2024-01-01).
    """

    seed: int = 0
    n_items: int = 120
    n_popular: int = 10
    n_sessions: int = 2000
    n_users: int = 200
    min_length: int = 4
    max_length: int = 12
    successor_probs: tuple[float, float] = (0.7, 0.3)
    p_distract: float = 0.25
    p_revisit: float = 0.15
    p_buy_revisit: float = 0.5
    p_buy_chain: float = 0.02
    start_time: float = 1_704_067_200.0

    def __post_init__(self) -> None:
        for name, low in (("n_sessions", 1), ("n_users", 1), ("n_popular", 1), ("min_length", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"synthetic sessions: '{name}' must be an integer >= {low}")
        if self.n_items - self.n_popular < 3:
            raise InputError(
                "synthetic sessions: 'n_items' must exceed 'n_popular' by at least 3 (chain"
                f" items with two successors each), got {self.n_items} and {self.n_popular}"
            )
        if self.max_length < self.min_length:
            raise InputError("synthetic sessions: 'max_length' must be >= 'min_length'")
        probs = self.successor_probs
        if len(probs) != 2 or min(probs) < 0 or not np.isclose(sum(probs), 1.0):
            raise InputError(
                f"synthetic sessions: 'successor_probs' must be two probabilities summing"
                f" to 1, got {probs}"
            )
        for name in ("p_distract", "p_revisit", "p_buy_revisit", "p_buy_chain"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(f"synthetic sessions: '{name}' must be in [0, 1]")
        if self.p_distract + self.p_revisit >= 1.0:
            raise InputError("synthetic sessions: 'p_distract' + 'p_revisit' must be < 1")


@dataclass(frozen=True)
class SessionTruth:
    """The hidden process, indexed by item id ``1..N`` (0 unused).

    Attributes:
        popular: (P,) the distractor items, most popular first.
        popular_weight: (P,) their probabilities (sum 1).
        successors: (N + 1, 2) each chain item's two successors (0 for distractors).
        config: the generator's settings.
    """

    popular: np.ndarray
    popular_weight: np.ndarray
    successors: np.ndarray
    config: SessionGeneratorConfig

    @property
    def chain_items(self) -> np.ndarray:
        """(N − P,) the chain items, increasing."""
        return np.flatnonzero(self.successors[:, 0] > 0)

    def next_distribution(self, prefix: np.ndarray) -> np.ndarray:
        """The exact distribution of the next event's item given the session so far,
        when the session goes on.

        Args:
            prefix: (t,) the session's items so far (t = 0: the first event).

        Returns:
            (N + 1,) probabilities (column 0, padding, is 0); all zeros when the chain
            is stuck (the session cannot go on).
        """
        cfg = self.config
        probs = np.zeros(cfg.n_items + 1)  # (N + 1,)
        chain = self.chain_items
        if not len(prefix):
            probs[chain] = 1.0 / len(chain)
            return probs
        current, visited = _chain_state(prefix, self.successors)
        step = _chain_step_probs(self.successors[current], visited, cfg.successor_probs)
        if not step:
            return probs
        others = [i for i in visited if i != current]  # revisit candidates
        p_revisit = cfg.p_revisit if others else 0.0
        probs[self.popular] += cfg.p_distract * self.popular_weight
        for item in others:
            probs[item] += p_revisit / len(others)
        for item, p in step.items():
            probs[item] += (1.0 - cfg.p_distract - p_revisit) * p
        return probs


@dataclass(frozen=True)
class SyntheticSessions:
    log: InteractionLog
    truth: SessionTruth


def _chain_state(prefix: np.ndarray, successors: np.ndarray) -> tuple[int, list[int]]:
    """(the current chain item, the session's chain items in visit order) of a prefix:
    distractors are the items without successors; a chain item seen before is a revisit."""
    visited: list[int] = []
    current = 0
    for item in prefix.tolist():
        if successors[item, 0] > 0 and item not in visited:
            visited.append(item)
            current = item
    return current, visited


def _chain_step_probs(
    succ: np.ndarray, visited: list[int], probs: tuple[float, float]
) -> dict[int, float]:
    """The next chain item's distribution: the unvisited successors, renormalised
    (empty when both are visited: the chain is stuck)."""
    free = {int(s): p for s, p in zip(succ.tolist(), probs, strict=True) if s not in visited}
    total = sum(free.values())
    return {s: p / total for s, p in free.items()} if total > 0 else {}


def make_truth(config: SessionGeneratorConfig) -> SessionTruth:
    """Draw the distractors, their weights and the successor table (seeded)."""
    rng = np.random.default_rng([config.seed, 1])
    items = rng.permutation(np.arange(1, config.n_items + 1))  # (N,)
    popular = items[: config.n_popular]  # (P,) most popular first
    weight = 1.0 / np.arange(1, config.n_popular + 1)  # (P,) Zipf
    chain = np.sort(items[config.n_popular :])  # (C,)
    successors = np.zeros((config.n_items + 1, 2), dtype=np.int64)  # (N + 1, 2)
    for item in chain:
        successors[item] = rng.choice(chain[chain != item], size=2, replace=False)
    return SessionTruth(
        popular=popular,
        popular_weight=weight / weight.sum(),
        successors=successors,
        config=config,
    )


def generate_sessions(config: SessionGeneratorConfig | None = None) -> SyntheticSessions:
    """Generate the log and its hidden process; fully determined by ``config``
    (~0.1 s for the default 1,000 sessions).

    Raises:
        InputError: an item never occurs (the log would re-index the items); a larger
            ``n_sessions`` fixes it.
    """
    config = config or SessionGeneratorConfig()
    truth = make_truth(config)
    rng = np.random.default_rng([config.seed, 2])
    chain = truth.chain_items
    items: list[int] = []
    kinds: list[int] = []
    buys: list[bool] = []
    session_of: list[int] = []
    for session in range(config.n_sessions):
        length = int(rng.integers(config.min_length, config.max_length + 1))
        current = int(rng.choice(chain))
        visited = [current]
        events = [(current, CHAIN)]
        while len(events) < length:
            step = _chain_step_probs(truth.successors[current], visited, config.successor_probs)
            if not step:
                break  # the chain is stuck: the session ends
            others = [i for i in visited if i != current]
            p_revisit = config.p_revisit if others else 0.0
            u = rng.random()
            if u < config.p_distract:
                item = int(rng.choice(truth.popular, p=truth.popular_weight))
                events.append((item, DISTRACTOR))
            elif u < config.p_distract + p_revisit:
                events.append((int(rng.choice(others)), REVISIT))
            else:
                succ = list(step)
                current = int(succ[int(rng.choice(len(succ), p=list(step.values())))])
                visited.append(current)
                events.append((current, CHAIN))
        p_buy = {CHAIN: config.p_buy_chain, DISTRACTOR: 0.0, REVISIT: config.p_buy_revisit}
        for item, kind in events:
            items.append(item)
            kinds.append(kind)
            buys.append(bool(rng.random() < p_buy[kind]))
            session_of.append(session)
    session_arr = np.asarray(session_of, dtype=np.int64)  # (E,)
    first = np.r_[0, np.flatnonzero(np.diff(session_arr)) + 1]  # (S,) first event of each
    lengths = np.diff(np.r_[first, len(session_arr)])  # (S,)
    step_in_session = np.arange(len(session_arr)) - np.repeat(first, lengths)  # (E,)
    buy = np.asarray(buys, dtype=np.float32)  # (E,)
    rows = pd.DataFrame(
        {
            "user": rng.integers(1, config.n_users + 1, size=config.n_sessions)[session_arr],
            "item": np.asarray(items, dtype=np.int64),
            "ts": config.start_time + 3600.0 * session_arr + 60.0 * step_in_session,
            "session": session_arr + 1,
            "click": 1.0 - buy,
            "purchase": buy,
            EVENT_KIND: np.asarray(kinds, dtype=np.int64),
        }
    )
    log = build_log(
        NAME,
        rows,
        raw_user="user",
        raw_item="item",
        timestamp="ts",
        raw_session="session",
        feedback={CLICK: "click", PURCHASE: "purchase"},
        order="session",
        extra=(EVENT_KIND,),
        meta={
            "timestamps": True,
            "synthetic_sessions_config": asdict(config),
            "notes": "synthetic click/purchase sessions (rayrec.data.synthetic_sessions)",
        },
    )
    if log.n_items != config.n_items:
        raise InputError(
            f"synthetic sessions: the log holds {log.n_items} of {config.n_items} items;"
            " increase 'n_sessions' so every item occurs"
        )
    return SyntheticSessions(log=log, truth=truth)
