"""Sweep specs: the YAML files in ``tune_configs/``, loaded into typed, validated configs.

A spec names one study: the algorithm, the env spec, the fixed algorithm config, the
search space (``grid_search`` / ``choice`` / ``uniform`` / ``loguniform``, optionally an
Optuna searcher or an ASHA scheduler), resources per trial, stop criteria,
checkpointing, retries and where the results go. Every key is checked on load; errors
name the file, the key and what was expected
(``tune_configs/x.yaml: search_space.gamma: expected exactly one of grid_search,
choice, uniform, loguniform``). ``smoke:`` holds overrides that ``--smoke`` applies (a
couple of iterations on the synthetic env, so CI runs each trial in seconds); it is
validated on every load, with or without ``--smoke``.

The format is ours (documented in ``tune_configs/README.md``); the studies are the
papers' (HAC: λ_h and exploration-noise curves; DDPG-LA: the γ curve).
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rayrec.config import data_fields, from_dict, load_yaml
from rayrec.errors import InputError

#: search-space keys that are not algorithm config fields
RUN_KEYS = ("algorithm", "seed")
#: algorithm config fields a spec may not set: the run settings own them
RESERVED_CONFIG_KEYS = ("env", "env_config", "seed", "num_env_runners", "num_learners")
DOMAIN_KINDS = ("grid_search", "choice", "uniform", "loguniform")
#: the prefix of algorithm config fields in a trial's config (and results columns)
CONFIG_PREFIX = "config/"


@dataclass(frozen=True)
class Domain:
    """One searched parameter: exactly one of the four kinds.

    Attributes:
        grid_search: every listed value (crossed with the other grids).
        choice: one listed value per sample, uniformly.
        uniform: ``[low, high]``, sampled uniformly.
        loguniform: ``[low, high]`` with ``0 < low``, sampled uniformly in log space.
    """

    grid_search: list[Any] | None = None
    choice: list[Any] | None = None
    uniform: list[float] | None = None
    loguniform: list[float] | None = None

    def __post_init__(self) -> None:
        given = [k for k in DOMAIN_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise InputError(
                f"expected exactly one of {', '.join(DOMAIN_KINDS)}, got {given or 'none'}"
            )
        kind = given[0]
        values = getattr(self, kind)
        if kind in ("grid_search", "choice"):
            if not values:
                raise InputError(f"{kind}: expected a non-empty list")
            return
        if len(values) != 2 or not values[0] < values[1]:
            raise InputError(f"{kind}: expected [low, high] with low < high, got {values}")
        if kind == "loguniform" and values[0] <= 0:
            raise InputError(f"loguniform: expected 0 < low, got {values}")

    @property
    def kind(self) -> str:
        return next(k for k in DOMAIN_KINDS if getattr(self, k) is not None)

    @property
    def values(self) -> list[Any]:
        """The listed values (grid / choice) or the bounds (uniform / loguniform)."""
        return list(getattr(self, self.kind))

    def to_tune(self) -> Any:
        """The Ray Tune search-space object."""
        from ray import tune

        low_high = self.values
        if self.kind == "grid_search":
            return tune.grid_search(self.values)
        if self.kind == "choice":
            return tune.choice(self.values)
        if self.kind == "uniform":
            return tune.uniform(low_high[0], low_high[1])
        return tune.loguniform(low_high[0], low_high[1])

    def is_log_scale(self) -> bool:
        """Whether plots should use a log x axis: a log-uniform range, or a numeric grid
        of positive values spanning two decades or more (zero is allowed: symlog)."""
        if self.kind == "loguniform":
            return True
        if self.kind == "uniform":
            return False
        nums = [v for v in self.values if _is_number(v)]
        if len(nums) != len(self.values):
            return False
        positive = [float(v) for v in nums if v > 0]
        if len(positive) < 2 or any(v < 0 for v in nums):
            return False
        return max(positive) / min(positive) >= 100


@dataclass(frozen=True)
class Resources:
    """What one trial reserves (RLlib's resource settings, set explicitly).

    With ``num_learners: 0`` the learner runs in the trial's main process, whose
    bundle then holds ``max(cpus_for_main_process, cpus_per_learner)`` CPUs and
    ``gpus_per_learner`` GPUs (fractions share a GPU between trials).
    """

    cpus_for_main_process: float = 1.0
    num_learners: int = 0
    cpus_per_learner: float = 1.0
    gpus_per_learner: float = 0.0
    num_env_runners: int = 0
    cpus_per_env_runner: float = 1.0
    num_envs_per_env_runner: int = 32

    def __post_init__(self) -> None:
        for name in ("cpus_for_main_process", "cpus_per_learner", "cpus_per_env_runner"):
            if getattr(self, name) < 0:
                raise InputError(f"{name}: expected a number >= 0, got {getattr(self, name)}")
        if self.gpus_per_learner < 0:
            raise InputError(f"gpus_per_learner: expected >= 0, got {self.gpus_per_learner}")
        if self.gpus_per_learner > 1 and not float(self.gpus_per_learner).is_integer():
            raise InputError(
                "gpus_per_learner: above 1, expected a whole number of GPUs,"
                f" got {self.gpus_per_learner}"
            )
        for name in ("num_learners", "num_env_runners"):
            if getattr(self, name) < 0:
                raise InputError(f"{name}: expected an integer >= 0, got {getattr(self, name)}")
        if self.num_envs_per_env_runner < 1:
            raise InputError(
                f"num_envs_per_env_runner: expected an integer >= 1,"
                f" got {self.num_envs_per_env_runner}"
            )


@dataclass(frozen=True)
class Stop:
    """When a trial ends (whichever comes first); it is then evaluated."""

    training_iteration: int = 100
    env_steps: int | None = None
    time_total_s: float | None = None

    def __post_init__(self) -> None:
        if self.training_iteration < 1:
            raise InputError(
                f"training_iteration: expected an integer >= 1, got {self.training_iteration}"
            )
        if self.env_steps is not None and self.env_steps < 1:
            raise InputError(f"env_steps: expected an integer >= 1, got {self.env_steps}")
        if self.time_total_s is not None and self.time_total_s <= 0:
            raise InputError(f"time_total_s: expected a number > 0, got {self.time_total_s}")


@dataclass(frozen=True)
class Checkpointing:
    """``frequency``: checkpoint every n iterations (and always at the end);
    ``num_to_keep``: newest checkpoints kept per trial (null keeps all)."""

    frequency: int = 10
    num_to_keep: int | None = 2

    def __post_init__(self) -> None:
        if self.frequency < 1:
            raise InputError(f"frequency: expected an integer >= 1, got {self.frequency}")
        if self.num_to_keep is not None and self.num_to_keep < 1:
            raise InputError(f"num_to_keep: expected an integer >= 1, got {self.num_to_keep}")


@dataclass(frozen=True)
class Failure:
    """``max_failures``: retries of a failed trial, each from its last checkpoint."""

    max_failures: int = 2

    def __post_init__(self) -> None:
        if self.max_failures < -1:
            raise InputError(
                f"max_failures: expected -1 (forever) or >= 0, got {self.max_failures}"
            )


@dataclass(frozen=True)
class Evaluation:
    """The final greedy evaluation in the *evaluation* simulator (next to random)."""

    users: int = 500
    seed: int = 1

    def __post_init__(self) -> None:
        if self.users < 1:
            raise InputError(f"users: expected an integer >= 1, got {self.users}")


@dataclass(frozen=True)
class Searcher:
    """A search algorithm instead of plain random/grid sampling (``num_samples`` draws)."""

    type: Literal["optuna"]
    metric: str = "eval_total_reward"
    mode: Literal["max", "min"] = "max"


@dataclass(frozen=True)
class Scheduler:
    """Early stopping of weak trials. ASHA needs a metric reported every iteration
    (``episode_return_mean``); a trial it stops ends without the final evaluation."""

    type: Literal["asha"]
    metric: str = "episode_return_mean"
    mode: Literal["max", "min"] = "max"
    grace_period: int = 1
    reduction_factor: float = 2.0

    def __post_init__(self) -> None:
        if self.grace_period < 1:
            raise InputError(f"grace_period: expected an integer >= 1, got {self.grace_period}")
        if self.reduction_factor <= 1:
            raise InputError(
                f"reduction_factor: expected a number > 1, got {self.reduction_factor}"
            )


@dataclass(frozen=True)
class TuneSpec:
    """One sweep (a study) as the YAML file describes it.

    Attributes:
        name: the experiment's name; results go to ``<storage>/<name>``.
        algorithm: a registered algorithm (``rayrec train --help``); may instead be
            swept with ``search_space.algorithm``.
        env: the env spec: a file (``envs/*.yaml``, relative to the working directory) or
            a packaged spec's name (``synthetic``).
        simulator: a simulator checkpoint folder (default: from the env spec).
        seed: the seed when ``search_space.seed`` does not sweep it.
        config: fixed algorithm config fields (as ``rayrec train --config``).
        search_space: swept keys: ``algorithm``, ``seed`` or algorithm config fields.
        num_samples: repetitions of the space (samples for random / searched domains).
        max_concurrent_trials: cap on trials running at once (default: as resources fit).
    """

    name: str
    env: str
    algorithm: str = "hac"
    description: str = ""
    simulator: str | None = None
    seed: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    search_space: dict[str, Domain] = field(default_factory=dict)
    num_samples: int = 1
    searcher: Searcher | None = None
    scheduler: Scheduler | None = None
    max_concurrent_trials: int | None = None
    resources: Resources = field(default_factory=Resources)
    stop: Stop = field(default_factory=Stop)
    checkpoint: Checkpointing = field(default_factory=Checkpointing)
    failure: Failure = field(default_factory=Failure)
    evaluation: Evaluation = field(default_factory=Evaluation)
    storage: str = "runs/tune"

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name in (".", ".."):
            raise InputError(f"name: expected a folder name, got {self.name!r}")
        if self.num_samples < 1:
            raise InputError(f"num_samples: expected an integer >= 1, got {self.num_samples}")
        if self.max_concurrent_trials is not None and self.max_concurrent_trials < 1:
            raise InputError(
                f"max_concurrent_trials: expected an integer >= 1, got {self.max_concurrent_trials}"
            )

    # ------------------------------------------------------------------ views
    def algorithms(self) -> list[str]:
        """Every algorithm the sweep may run."""
        domain = self.search_space.get("algorithm")
        return [str(v) for v in domain.values] if domain is not None else [self.algorithm]

    def swept(self) -> dict[str, Domain]:
        """The search space, keyed as the trial config and results columns name it."""
        return {column_of(k): d for k, d in self.search_space.items()}

    def experiment_path(self, storage: str | None = None) -> str:
        """``<storage>/<name>``: absolute for a local path, as given for a URI."""
        root = storage or self.storage
        if _is_uri(root):
            return root.rstrip("/") + "/" + self.name
        return str(Path(root).expanduser().resolve() / self.name)

    def grid_points(self) -> Iterator[dict[str, Any]]:
        """Every combination of grid / choice values and range bounds (for checks)."""
        keys = list(self.search_space)
        for combo in itertools.product(*(self.search_space[k].values for k in keys)):
            yield dict(zip(keys, combo, strict=True))

    def n_trials(self) -> int:
        """Trials the sweep will run (grid size × num_samples)."""
        grid = math.prod(
            len(d.values) for d in self.search_space.values() if d.kind == "grid_search"
        )
        return grid * self.num_samples


def column_of(key: str) -> str:
    """The trial-config / results-column name of a search-space key."""
    return key if key in RUN_KEYS else CONFIG_PREFIX + key


def _is_uri(path: str) -> bool:
    return "://" in path


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


# ------------------------------------------------------------------- loading
def load_tune_spec(path: str | Path, *, smoke: bool = False) -> TuneSpec:
    """Load and validate a sweep spec; with ``smoke``, its ``smoke:`` overrides applied.

    Both the spec and the spec with its smoke overrides are validated, so a broken
    smoke section fails on every load, not first in CI.

    Raises:
        InputError: naming the file, the key and what was expected.
    """
    path = Path(path)
    raw = load_yaml(path)
    overrides = raw.pop("smoke", None)
    if overrides is not None and not isinstance(overrides, Mapping):
        raise InputError(f"{path}: smoke: expected a mapping of overrides, got {overrides!r}")
    spec = _validated(raw, str(path))
    smoked = _validated(merge_smoke(raw, overrides or {}), f"{path} (smoke)")
    return smoked if smoke else spec


def merge_smoke(raw: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` with ``overrides`` merged in: mappings key by key, search-space
    entries and every other value replaced whole."""
    out = copy.deepcopy(dict(raw))
    for key, value in overrides.items():
        base = out.get(key)
        if key == "search_space" and isinstance(base, Mapping) and isinstance(value, Mapping):
            out[key] = {**base, **copy.deepcopy(dict(value))}
        elif isinstance(base, Mapping) and isinstance(value, Mapping):
            out[key] = merge_smoke(base, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _validated(raw: Mapping[str, Any], where: str) -> TuneSpec:
    space = raw.get("search_space")
    if isinstance(space, Mapping):
        for key, value in space.items():
            if not isinstance(value, Mapping):
                raise InputError(
                    f"{where}: search_space.{key}: expected a mapping with one of"
                    f" {', '.join(DOMAIN_KINDS)} (e.g. {{grid_search: [...]}}), got {value!r}"
                )
    spec = from_dict(TuneSpec, raw, where)
    _check_semantics(spec, where)
    return spec


def _check_semantics(spec: TuneSpec, where: str) -> None:
    """Checks across keys: algorithm names, config fields, searcher compatibility."""
    from rayrec.algorithms.registry import ALGORITHMS, make_config

    algo_domain = spec.search_space.get("algorithm")
    if algo_domain is not None and algo_domain.kind not in ("grid_search", "choice"):
        raise InputError(f"{where}: search_space.algorithm: expected grid_search or choice")
    for name in spec.algorithms():
        if name not in ALGORITHMS:
            key = "search_space.algorithm" if algo_domain is not None else "algorithm"
            raise InputError(
                f"{where}: {key}: expected one of {', '.join(sorted(ALGORITHMS))}, got {name!r}"
            )
    seed_domain = spec.search_space.get("seed")
    if seed_domain is not None and (
        seed_domain.kind not in ("grid_search", "choice")
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in seed_domain.values)
    ):
        raise InputError(f"{where}: search_space.seed: expected grid_search or choice of integers")
    fields = [k for k in spec.search_space if k not in RUN_KEYS]
    for section, keys in (("config", list(spec.config)), ("search_space", fields)):
        for key in keys:
            if key in RESERVED_CONFIG_KEYS:
                raise InputError(
                    f"{where}: {section}.{key}: set by the spec itself"
                    " (use the top-level env / seed / resources keys)"
                )
            for name in spec.algorithms():
                if key not in data_fields(make_config(name)):
                    raise InputError(f"{where}: {section}.{key}: not a field of the {name} config")
    both = sorted(set(spec.config) & set(fields))
    if both:
        raise InputError(f"{where}: config.{both[0]}: also in search_space; keep one")
    if spec.searcher is not None:
        grids = [k for k, d in spec.search_space.items() if d.kind == "grid_search"]
        if grids:
            raise InputError(
                f"{where}: search_space.{grids[0]}: the {spec.searcher.type} searcher cannot"
                " take grid_search; use choice"
            )
    if spec.scheduler is not None and spec.scheduler.metric.startswith(("eval_", "random_")):
        raise InputError(
            f"{where}: scheduler.metric: expected a metric reported every iteration"
            f" (e.g. episode_return_mean), got {spec.scheduler.metric!r} (final evaluation only)"
        )
    from rayrec.environments.spec import packaged_spec_names, resolve_env_spec

    try:
        resolve_env_spec(spec.env)
    except InputError:
        raise InputError(
            f"{where}: env: no env spec at {spec.env}; expected a file (relative to the working"
            f" directory) or a packaged spec name ({', '.join(packaged_spec_names())})"
        ) from None


def spec_to_dict(spec: TuneSpec) -> dict[str, Any]:
    """The spec as plain data (what the experiment folder records)."""
    return dataclasses.asdict(spec)


def spec_from_dict(data: Mapping[str, Any], where: str) -> TuneSpec:
    """Inverse of :func:`spec_to_dict` (the domains' unset kinds dropped)."""
    raw = dict(data)
    raw["search_space"] = {
        k: {kind: v for kind, v in d.items() if v is not None}
        for k, d in dict(raw.get("search_space") or {}).items()
    }
    return from_dict(TuneSpec, raw, where)


__all__ = [
    "CONFIG_PREFIX",
    "Domain",
    "Resources",
    "TuneSpec",
    "column_of",
    "load_tune_spec",
    "merge_smoke",
    "spec_from_dict",
    "spec_to_dict",
]
