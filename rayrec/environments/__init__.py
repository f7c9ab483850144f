"""Environments: how a session runs on top of a simulator or a log, one module per kind.

An env spec (``envs/*.yaml``, or a packaged spec by name; key ``kind``) says how a
session runs; its kind picks the schema and the environment
(:mod:`rayrec.environments.spec`). Registered kinds: ``slate``
(:mod:`~rayrec.environments.slate`, in RLlib through :mod:`~rayrec.environments.rllib_env`),
``rating_walk`` (:mod:`~rayrec.environments.rating_walk`) and ``topn``
(:mod:`~rayrec.environments.topn`).
"""

# rating_walk registers the rating_walk kind on import, topn the topn kind, rllib_env
# the slate kind
import rayrec.environments.sessions  # noqa: F401  (registers the logged_sessions kind)
from rayrec.environments.rating_walk import RatingWalkEnv, RatingWalkSpec, WalkConfig
from rayrec.environments.rllib_env import (
    default_simulator_folder,
    default_simulator_root,
    env_config_of,
    make_env,
    resolve_simulator,
)
from rayrec.environments.slate import EnvConfig, LeaveConfig, SlateEnvSpec
from rayrec.environments.spec import (
    DEFAULT_KIND,
    ENV_KINDS,
    EnvKind,
    env_config_for,
    env_creator_name,
    env_kind,
    env_source,
    load_env_spec,
    packaged_spec_names,
    read_kind,
    register_env_kind,
    registered_kinds,
    resolve_env_spec,
)
from rayrec.environments.topn import TopNConfig, TopNEnv, TopNSpec

__all__ = [
    "DEFAULT_KIND",
    "ENV_KINDS",
    "EnvConfig",
    "EnvKind",
    "LeaveConfig",
    "RatingWalkEnv",
    "RatingWalkSpec",
    "SlateEnvSpec",
    "TopNConfig",
    "TopNEnv",
    "TopNSpec",
    "WalkConfig",
    "default_simulator_folder",
    "default_simulator_root",
    "env_config_for",
    "env_config_of",
    "env_creator_name",
    "env_kind",
    "env_source",
    "load_env_spec",
    "make_env",
    "packaged_spec_names",
    "read_kind",
    "register_env_kind",
    "registered_kinds",
    "resolve_env_spec",
    "resolve_simulator",
]
