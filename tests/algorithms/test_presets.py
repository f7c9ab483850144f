"""Named settings presets of the registry: ``paper`` (every algorithm's defaults) and an
algorithm's own, expanded into ``--config`` overrides by ``rayrec train`` and
``rayrec reproduce`` (``--config`` on top), refused by name where undefined."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rayrec.algorithms.registry import (
    ALGORITHMS,
    PAPER_PRESET,
    preset_names,
    preset_overrides,
    register_algorithm,
)
from rayrec.cli import main
from rayrec.errors import InputError
from rayrec.train import TrainOptions, build_config
from tests.algorithms.conftest import SYNTHETIC


def test_paper_is_every_algorithms_defaults() -> None:
    for name in ALGORITHMS:
        assert preset_names(name)[0] == PAPER_PRESET
        assert preset_overrides(name, PAPER_PRESET) == {}


@pytest.mark.parametrize(
    ("algo", "preset"),
    [(a, p) for a, entry in sorted(ALGORITHMS.items()) for p in sorted(entry.presets)],
)
def test_every_preset_is_a_valid_config_of_its_algorithm(
    algo: str, preset: str, tmp_path: Path
) -> None:
    overrides = preset_overrides(algo, preset)
    assert overrides
    env = str(SYNTHETIC)
    if ALGORITHMS[algo].env_kinds == ("rating_walk",):  # a generated rating log
        from tests.algorithms.test_ddpg_la import write_rating_log, write_spec

        env = str(write_spec(tmp_path, write_rating_log(tmp_path / "data", users=6)))
    config, _ = build_config(TrainOptions(algo=algo, env=env, overrides=overrides))
    for key, value in overrides.items():
        if key.startswith("model."):
            assert config.model_config[key.removeprefix("model.")] == value
        else:
            assert getattr(config, key) == value


def test_online_sl_personalise_explores_and_learns_faster() -> None:
    """What the preset is for (README, "Agents that personalise"): σ = 1 on z, 1e-3."""
    assert preset_overrides("online-sl", "personalise") == {
        "actor_lr": 1e-3,
        "kernel_lr": 1e-3,
        "model.exploration_noise": 1.0,
    }


def test_an_unknown_preset_is_named_with_the_algorithms_presets() -> None:
    with pytest.raises(InputError, match=r"--preset nope: a2c has paper$"):
        preset_overrides("a2c", "nope")
    with pytest.raises(InputError, match=r"--preset nope: online-sl has paper, personalise"):
        preset_overrides("online-sl", "nope")


def test_paper_cannot_be_redefined() -> None:
    with pytest.raises(ValueError, match="paper"):
        register_algorithm(
            "never-registered",
            env_kinds=("slate",),
            protocol="slate_rollout",
            summary="",
            presets={"paper": {"actor_lr": 1.0}},
        )
    assert "never-registered" not in ALGORITHMS


def _never_trains(*args: Any, **kwargs: Any) -> dict[str, Any]:
    raise AssertionError("nothing may train or start Ray on bad input")


def _capture_table(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def fake(target: Any, plan: Any, out: Path, say: Any) -> dict[str, Any]:
        seen.update(plan=plan, out=out)
        return {"markdown": ""}

    monkeypatch.setattr("rayrec.tables.run_table", fake)
    return seen


def test_reproduce_expands_the_preset_per_algorithm_with_config_on_top(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    seen = _capture_table(monkeypatch)
    argv = ["reproduce", "hac-table", "--env", str(SYNTHETIC), "--algos", "online-sl"]
    assert main([*argv, "--preset", "personalise", "--config", "actor_lr=3e-3"]) == 0
    plan = seen["plan"]
    assert plan.preset == "personalise"
    assert plan.overrides == {
        "online-sl": {**preset_overrides("online-sl", "personalise"), "actor_lr": 3e-3}
    }
    assert seen["out"] == Path("runs/reproduce/hac-table-synthetic-personalise-actor_lr=0.003")


def test_reproduce_refuses_a_preset_some_row_lacks_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import ray

    monkeypatch.setattr("rayrec.train.run_training", _never_trains)
    monkeypatch.setattr(ray, "init", _never_trains)
    out = tmp_path / "never"
    argv = ["reproduce", "hac-table", "--env", str(SYNTHETIC), "--algos", "online-sl", "a2c"]
    assert main([*argv, "--preset", "personalise", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--preset personalise: not defined for a2c (pass --algos with some of online-sl)" in err
    assert not out.exists()


def test_train_expands_the_preset_with_config_on_top(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def fake_run(opts: TrainOptions, *args: Any, **kwargs: Any) -> dict[str, Any]:
        seen["opts"] = opts
        return {"evaluation": {}}

    monkeypatch.setattr("rayrec.train.run_training", fake_run)
    argv = ["train", "online-sl", "--env", str(SYNTHETIC), "--out", str(tmp_path / "run")]
    main([*argv, "--preset", "personalise", "--config", "kernel_lr=5e-4"])
    assert seen["opts"].overrides == {
        **preset_overrides("online-sl", "personalise"),
        "kernel_lr": 5e-4,
    }
