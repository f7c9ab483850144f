"""Env specs: the shipped YAML files load, and every error names the file, the key path
and what was expected; EnvConfig.validate checks a config against its simulator; the
kind registry refuses unknown kinds and kinds not available yet."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from rayrec.environments import (
    ENV_KINDS,
    env_creator_name,
    load_env_spec,
    read_kind,
    register_env_kind,
    registered_kinds,
)
from rayrec.environments.slate import EnvConfig, LeaveConfig, SlateEnv, SlateEnvSpec
from rayrec.errors import InputError
from rayrec.simulator.simulator import Simulator
from rayrec.simulator.spec import load_simulator_spec
from tests.simulator.conftest import ENVS

SPEC_FILES = sorted(ENVS.glob("*.yaml"))
#: the slate specs (the rating_walk specs are tested in test_rating_walk.py)
SLATE_SPEC_FILES = [p for p in SPEC_FILES if read_kind(p) == "slate"]


def base_spec() -> dict[str, Any]:
    """The synthetic spec as a plain mapping, to break one key at a time."""
    data: dict[str, Any] = yaml.safe_load((ENVS / "synthetic.yaml").read_text())
    return data


def write(tmp_path: Path, data: dict[str, Any] | str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def load_error(path: Path) -> str:
    with pytest.raises(InputError) as err:
        load_env_spec(path)
    assert err.value.exit_code == 2
    message = str(err.value)
    assert message.startswith(str(path)), message  # every error names the file first
    return message


# ---------------------------------------------------------------- shipped specs
def test_envs_folder_has_the_documented_specs() -> None:
    assert {p.stem for p in SPEC_FILES} >= {"synthetic", "ml1m", "kuairand", "rl4rs"}


@pytest.mark.parametrize("path", SLATE_SPEC_FILES, ids=lambda p: p.name)
def test_every_shipped_spec_loads(path: Path, tmp_path: Path) -> None:
    assert read_kind(path) == "slate"
    spec = load_env_spec(path)
    assert isinstance(spec, SlateEnvSpec) and spec.kind == "slate" and spec.name == path.stem
    assert spec.path == str(path)
    assert spec.env.slate_size >= 1 and spec.env.reward_weights
    assert set(spec.env.reward_weights) <= set(spec.simulator.slates.feedback)
    # the simulator sections alone, as `rayrec simulator train` reads them
    assert load_simulator_spec(path) == spec.simulator
    # the spec as a mapping (-> YAML) loads back to the same spec
    again = load_env_spec(write(tmp_path, spec.to_mapping()))
    assert again == spec


def test_yaml_number_forms(tmp_path: Path) -> None:
    data = base_spec()
    data["training"] = {"lr": "1e-3", "weight_decay": 0}  # PyYAML reads 1e-3 as a string
    spec = load_env_spec(write(tmp_path, data)).simulator
    assert spec.training.lr == pytest.approx(1e-3) and spec.training.weight_decay == 0.0
    assert isinstance(spec.training.weight_decay, float)


# ------------------------------------------------------------------ load errors
def set_key(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    node = data
    *parents, last = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return data


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        # unknown key: the section, the bad key, the accepted ones
        ("env.slate_sise", 10, r": env: unknown key 'slate_sise'; expected one of .*slate_size"),
        ("env.slate_size", "ten", r": env\.slate_size: expected an integer, got str 'ten'"),
        ("env.slate_size", True, r": env\.slate_size: expected an integer, got bool True"),
        ("env.leave.step_cost", "fast", r": env\.leave\.step_cost: expected a number"),
        ("env.reward_weights", [1.0], r": env\.reward_weights: expected a mapping"),
        ("env.reward_weights.click", "lots", r": env\.reward_weights\.click: expected a number"),
        ("backend", "magic", r": backend: expected one of 'learned', 'ground_truth', got 'magic'"),
        ("env.reward_aggregate", "max", r": env\.reward_aggregate: expected one of 'mean', 'sum'"),
        ("user_features", "segment", r": user_features: expected a list, got str"),
        ("synthetic.n_user", 5, r": synthetic: unknown key 'n_user'"),
        ("slates.feedback.click.colum", "click", r": slates\.feedback\.click: unknown key 'colum'"),
        ("dataset.path", 3, r": dataset\.path: expected a string"),
        ("synthetic.n_users", 0, r": synthetic: synthetic config: 'n_users' must be >= 1"),
        ("env.max_steps", 0, r": env\.max_steps: must be >= 1, got 0"),
        ("env.leave.step_cost", -1, r": env\.leave\.step_cost: must be >= 0, got -1"),
        ("reward", {}, r": unknown key 'reward'; expected one of .*env, kind, name"),
        ("kind", 3, r": kind: expected one of 'slate', 'rating_walk', .*, got 3"),
    ],
)
def test_load_error_names_file_key_and_expectation(
    tmp_path: Path, key: str, value: Any, expected: str
) -> None:
    message = load_error(write(tmp_path, set_key(base_spec(), key, value)))
    assert re.search(expected, message), message


def test_reward_weight_for_undefined_feedback(tmp_path: Path) -> None:
    data = set_key(base_spec(), "env.reward_weights", {"click": 1.0, "like": 1.0})
    message = load_error(write(tmp_path, data))
    assert "env.reward_weights: unknown feedback ['like']" in message
    assert "slates.feedback defines ['click']" in message


def test_ground_truth_needs_synthetic_data(tmp_path: Path) -> None:
    data = set_key(base_spec(), "dataset.name", "ml-1m")
    message = load_error(write(tmp_path, data))
    assert "backend 'ground_truth' needs dataset 'synthetic'" in message


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("slates.feedback", {}, "slates.feedback: name at least one feedback rule"),
        (
            "slates.feedback",
            {"click": {"column": "click"}, "buy": {"column": "purchase"}},
            "slates.feedback: the ground-truth backend simulates 'click' only",
        ),
        ("protocol.train_fraction", 0.0, "protocol.train_fraction must be in (0, 1]"),
        ("protocol.train_fraction", 1.5, "protocol.train_fraction must be in (0, 1]"),
        ("training.valid_fraction", 1.0, "training.valid_fraction must be in [0, 1)"),
        ("slates.size", 0, "slates.size must be >= 1"),
    ],
)
def test_cross_field_checks(tmp_path: Path, key: str, value: Any, expected: str) -> None:
    assert expected in load_error(write(tmp_path, set_key(base_spec(), key, value)))


def test_learned_backend_needs_incremental_encoder(tmp_path: Path) -> None:
    data = set_key(base_spec(), "backend", "learned")
    data = set_key(data, "response_model.encoder", "sasrec")
    assert "response_model.encoder" in load_error(write(tmp_path, data))


def test_missing_required_key(tmp_path: Path) -> None:
    data = base_spec()
    del data["dataset"]
    assert "missing required key 'dataset'" in load_error(write(tmp_path, data))
    data = set_key(base_spec(), "dataset", {"note": "no name"})
    assert ": dataset: missing required key 'name'" in load_error(write(tmp_path, data))


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("name: x\n  bad: 1\nenv: 2\n", 2),
        ("name: x\ndataset:\n  name: synthetic\nenv: {slate_size: 10\nbackend: learned\n", 5),
        ("name: x\n\tenv: 1\n", 2),
    ],
)
def test_invalid_yaml_names_the_line(tmp_path: Path, text: str, line: int) -> None:
    path = write(tmp_path, text)
    assert f"{path}, line {line}: not valid YAML" in load_error(path)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", ""])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    assert "expected a YAML mapping" in load_error(write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    assert "cannot read" in load_error(tmp_path / "nope.yaml")


# -------------------------------------------------------------- EnvConfig.validate
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"slate_size": 41}, "env.slate_size: 41 is more than the 40 items this simulator"),
        ({"slate_size": 0}, "env.slate_size: must be >= 1, got 0"),
        ({"max_steps": 0}, "env.max_steps: must be >= 1, got 0"),
        ({"history_length": 0}, "env.history_length: must be >= 1"),
        (
            {"history_length": 201},
            "env.history_length: 201 is more than the 200 items of history this simulator",
        ),
        ({"reward_weights": {"click": 0.0}}, "env.reward_weights: must give some feedback a"),
        (
            {"reward_weights": {"like": 1.0}},
            "env.reward_weights: 'like' is not a feedback this simulator predicts (click)",
        ),
        ({"reward_aggregate": "max"}, "env.reward_aggregate: expected one of 'mean', 'sum'"),
        ({"invalid_action": "ignore"}, "env.invalid_action: expected one of 'mask', 'raise'"),
        ({"user_sampling": "vip"}, "env.user_sampling: expected one of"),
        ({"leave": LeaveConfig(initial_patience=0.0)}, "env.leave.initial_patience: must be > 0"),
        ({"leave": LeaveConfig(step_cost=-0.1)}, "env.leave.step_cost: must be >= 0"),
        ({"leave": LeaveConfig(quality_cost=-1.0)}, "env.leave.quality_cost: must be >= 0"),
        ({"leave": LeaveConfig(step_cost=0.0, quality_cost=0.0)}, "step_cost + quality_cost > 0"),
    ],
)
def test_env_config_validate(gt_sim: Simulator, change: dict[str, Any], expected: str) -> None:
    config = replace(EnvConfig(slate_size=5), **change)
    with pytest.raises(InputError, match=re.escape(expected)):
        config.validate(gt_sim)
    with pytest.raises(InputError, match=re.escape(expected)):  # the env refuses it too
        SlateEnv(gt_sim, 2, config)


def test_env_config_validate_accepts_the_edges(gt_sim: Simulator) -> None:
    EnvConfig(slate_size=gt_sim.n_items, max_steps=1, history_length=1).validate(gt_sim)
    EnvConfig(slate_size=1, leave=LeaveConfig(step_cost=0.0, quality_cost=0.5)).validate(gt_sim)


# ------------------------------------------------------------------------ kinds
def test_a_file_without_kind_is_a_slate_spec(tmp_path: Path) -> None:
    data = base_spec()
    del data["kind"]
    path = write(tmp_path, data)
    assert read_kind(path) == "slate"
    assert load_env_spec(path) == load_env_spec(ENVS / "synthetic.yaml")


def test_unknown_kind_names_file_key_and_kinds(tmp_path: Path) -> None:
    path = write(tmp_path, set_key(base_spec(), "kind", "bandit"))
    expected = (
        f"{path}: kind: expected one of 'slate', 'rating_walk', 'topn', 'logged_sessions',"
        " got 'bandit'"
    )
    with pytest.raises(InputError, match=re.escape(expected)):
        read_kind(path)
    assert load_error(path) == expected


def test_known_kind_not_available_yet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kind of :data:`ENV_KINDS` no module has registered (every kind is registered
    today: one is taken out of the registry for the test)."""
    from rayrec.environments import spec as spec_module

    kind = "logged_sessions"
    kinds = {k: v for k, v in spec_module._KINDS.items() if k != kind}
    monkeypatch.setattr(spec_module, "_KINDS", kinds)
    assert kind in ENV_KINDS and kind not in registered_kinds()
    path = write(tmp_path, set_key(base_spec(), "kind", kind))
    assert read_kind(path) == kind
    assert load_error(path) == (
        f"{path}: kind: {kind!r} environments are not available yet"
        " (available: slate, rating_walk, topn)"
    )
    with pytest.raises(InputError, match="not available yet"):
        env_creator_name(kind)


def test_register_env_kind_refuses_unknown_and_repeated_kinds() -> None:
    def fail(*args: Any) -> Any:
        raise AssertionError("never called")

    hooks: dict[str, Any] = {"load": fail, "env_config": fail, "make_env": fail}
    with pytest.raises(ValueError, match="add it to ENV_KINDS"):
        register_env_kind("bandit", spec_class=object, **hooks)
    with pytest.raises(ValueError, match="registered already"):
        register_env_kind("slate", spec_class=object, **hooks)
    assert registered_kinds() == ("slate", "rating_walk", "topn", "logged_sessions")


def test_slate_creator_is_registered_under_its_name() -> None:
    assert env_creator_name("slate") == "rayrec-slate"
