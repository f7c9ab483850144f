"""The command line: exit codes, JSON contract, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rayrec.cli import main
from rayrec.errors import InputError
from tests.conftest import shared_dataset
from tests.data.movielens_fixtures import ratings_text, write_ml1m


def test_stats_json_last_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_ml1m(tmp_path)
    assert main(["data", "stats", "ml-1m", "--path", str(root), "--json"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    stats = json.loads(last)
    assert {"users", "items", "interactions", "feedback"} <= stats.keys()
    assert stats["interactions"] == 6


def test_stats_human_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "stats", "ml-1m", "--path", str(write_ml1m(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "users" in out and "interactions" in out and "time span" in out


def test_synthetic_stats_need_no_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "stats", "synthetic", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert stats["users"] == 500 and "click" in stats["feedback"]


def test_validate_ok_and_bad(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write_ml1m(tmp_path / "good")
    assert main(["data", "validate", "ml-1m", "--path", str(good)]) == 0
    lines = ratings_text().splitlines()
    lines[2] = "1::914::3"
    bad = write_ml1m(tmp_path / "bad", ratings="\n".join(lines) + "\n")
    assert main(["data", "validate", "ml-1m", "--path", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "ratings.dat, line 3" in err
    assert "Traceback" not in err


def test_unknown_dataset_and_missing_dir(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "stats", "no-such-data", "--path", "/tmp"]) == 2
    assert "unknown dataset" in capsys.readouterr().err
    assert main(["data", "validate", "ml-1m", "--path", "/does/not/exist"]) == 2
    assert "not found" in capsys.readouterr().err


def test_prepare_then_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_ml1m(tmp_path / "ml")
    assert (
        main(["data", "prepare", "ml-1m", "--path", str(root), "--out", str(tmp_path / "c")]) == 0
    )
    assert "cache:" in capsys.readouterr().out
    assert main(["data", "list"]) == 0
    assert "ml-1m" in capsys.readouterr().out


def test_console_script_exit_code(tmp_path: Path) -> None:
    """The installed entry point: exit 2 and a one-line message, no traceback."""
    bad = write_ml1m(tmp_path, ratings="1::2::3::4\n1::x::3::4\n")
    proc = subprocess.run(
        [sys.executable, "-m", "rayrec.cli", "data", "validate", "ml-1m", "--path", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "ratings.dat, line 2" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.realdata
def test_real_ml1m_stats_via_cli(capsys: pytest.CaptureFixture[str]) -> None:
    root = shared_dataset("movielens-1m")
    assert main(["data", "stats", "ml-1m", "--path", str(root), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (stats["users"], stats["items"], stats["interactions"]) == (2999, 3615, 487650)


# ---------------------------------------------------------- rayrec train input errors
SYNTHETIC = str(Path(__file__).resolve().parents[1] / "envs" / "synthetic.yaml")

#: (extra argv for ``rayrec train hac``, what the error must name)
BAD_TRAIN_INPUTS = [
    (["--config", "validate=1"], "validate"),  # a method of the config, not a field
    (["--config", "total_train_batch_size=64"], "total_train_batch_size"),  # a property
    (["--config", "nosuchfield=1"], "nosuchfield"),
    (["--config", "actor_lr=abc"], "actor_lr"),
    (["--config", "twin_q=maybe"], "twin_q"),
    (["--config", "policy_delay=1.5"], "policy_delay"),
    (["--config", "model.n_layers=-1"], "n_layers"),
    (["--config", "model.noise_type=foo"], "noise_type"),
    (["--config", "model.tanh_hyper_action=maybe"], "tanh_hyper_action"),
    (["--config", "model.dropout=2"], "dropout"),
    (["--config", "model.dropout=abc"], "dropout"),
    (["--config", "model.n_layers=abc"], "n_layers"),
    (["--config", "model.nosuchfield=1"], "model.nosuchfield"),
    (["--seed", "-1"], "--seed"),
    (["--num-env-runners", "-1"], "--num-env-runners"),
    (["--num-envs", "0"], "--num-envs"),
    (["--eval-users", "0"], "--eval-users"),
    (["--gpus", "-1"], "--gpus"),
]


@pytest.fixture
def ray_never_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the command (as an internal error, exit 1) if it gets as far as Ray."""
    import ray

    from rayrec.train import TrainingRun

    def started(*args: object, **kwargs: object) -> None:
        raise AssertionError("Ray was started before the input was checked")

    monkeypatch.setattr(ray, "init", started)
    monkeypatch.setattr(TrainingRun, "start", started)


@pytest.mark.parametrize(
    ("extra", "named"), BAD_TRAIN_INPUTS, ids=[" ".join(a) for a, _ in BAD_TRAIN_INPUTS]
)
def test_bad_train_input_exits_2_naming_the_field_before_ray_starts(
    extra: list[str],
    named: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    ray_never_starts: None,
) -> None:
    out = tmp_path / "never"
    code = main(["train", "hac", "--env", SYNTHETIC, "--out", str(out), *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    assert named in err and "internal error" not in err, err
    assert err.count("\n") == 1, err  # one message line
    assert not out.exists()


def test_overrides_are_typed_by_the_fields_default() -> None:
    from rayrec.algorithms.registry import make_config
    from rayrec.train import apply_overrides

    config = make_config("hac")
    apply_overrides(config, "hac", {"actor_lr": 1, "gamma": "0.5", "policy_delay": 2})
    assert (config.actor_lr, config.gamma, config.policy_delay) == (1.0, 0.5, 2)
    apply_overrides(config, "hac", {"train_batch_size_per_learner": 128})  # a settable property
    assert config.train_batch_size_per_learner == 128
    assert isinstance(config.actor_lr, float)
    apply_overrides(config, "hac", {"model.n_layers": 1, "model.actor_hidden": [32]})
    assert config._model_config["n_layers"] == 1
    assert tuple(config._model_config["actor_hidden"]) == (32,)


def test_none_is_taken_only_where_rllib_means_something_by_it() -> None:
    """``training_intensity`` is None in RLlib's DQNConfig (one update per training
    step) though our preset sets 2.0; ``actor_lr`` has no None meaning."""
    from rayrec.algorithms.registry import make_config
    from rayrec.train import apply_overrides

    config = make_config("hac")
    apply_overrides(config, "hac", {"training_intensity": None})
    assert config.training_intensity is None
    with pytest.raises(InputError, match="actor_lr: expected a number, got NoneType None"):
        apply_overrides(config, "hac", {"actor_lr": None})


def test_train_refuses_an_env_of_a_kind_the_algorithm_does_not_train_on(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], ray_never_starts: None
) -> None:
    """A (fake) algorithm that trains on rating walks only, given the slate env."""
    import dataclasses

    from rayrec.algorithms import registry

    walker = dataclasses.replace(
        registry.get_algorithm("ddpg"), name="walker", env_kinds=("rating_walk",)
    )
    monkeypatch.setitem(registry.ALGORITHMS, "walker", walker)
    assert main(["train", "walker", "--env", SYNTHETIC]) == 2
    err = capsys.readouterr().err
    assert f"{SYNTHETIC}: kind 'slate': walker trains on rating_walk" in err, err


def test_every_registered_protocol_is_implemented() -> None:
    from rayrec.algorithms.registry import ALGORITHMS
    from rayrec.evaluation import PROTOCOLS

    assert {entry.protocol for entry in ALGORITHMS.values()} <= set(PROTOCOLS)


def test_simulator_check_prints_the_overlap_of_slates_across_users(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Most-popular gives everybody one slate: overlap 1; random slates share ~nothing."""
    assert main(["simulator", "check", SYNTHETIC, "--users", "30", "--json"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(line.split() for line in lines if line.startswith("policy"))
    assert header[-2:] == ["coverage", "overlap"]
    policies = ("random", "popular", "personalised", "oracle")
    rows = {line.split()[0]: line.split() for line in lines if line.startswith(policies)}
    assert set(rows) == set(policies)  # the personalised reference beside the others
    assert rows["popular"][-1] == "1.000"
    assert float(rows["random"][-1]) < 0.05
    result = json.loads(lines[-1])
    assert result["popular"]["overlap"] == 1.0
    assert float(rows["oracle"][-1]) == pytest.approx(result["oracle"]["overlap"], abs=5e-4)


def test_evaluate_style_table_shows_the_overlap(capsys: pytest.CaptureFixture[str]) -> None:
    from rayrec.cli import _print_metrics

    metrics = {
        "total_reward": 2.0,
        "depth": 7.0,
        "reward_variance": 1.5,
        "coverage": 0.02,
        "overlap": 0.875,
        "intra_list_diversity": 0.5,
    }
    _print_metrics("slate_rollout", {"agent": metrics, "random": dict(metrics, overlap=0.01)})
    lines = capsys.readouterr().out.splitlines()
    assert "overlap" in lines[0].split()
    column = lines[0].split().index("overlap")
    assert lines[1].split()[column] == "0.8750"
    assert lines[2].split()[column] == "0.0100"


def test_a_budget_in_env_steps_alone_has_no_iteration_cap() -> None:
    from rayrec.cli import ITERATIONS_UNCAPPED, build_parser, train_options

    def stop(*argv: str) -> tuple[int, int | None]:
        opts, _, _ = train_options(build_parser().parse_args(["train", "hac", *argv]))
        return opts.stop_iters, opts.stop_timesteps

    assert stop() == (60, None)
    assert stop("--stop-timesteps", "20000") == (ITERATIONS_UNCAPPED, 20000)
    # both given: whichever comes first
    assert stop("--stop-timesteps", "20000", "--stop-iters", "5") == (5, 20000)
