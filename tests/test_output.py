"""What a user sees and gets around a run: packaged env specs by name from any folder,
progress lines, TensorBoard scalars, file modes and line endings, options checked
before Ray starts, and the notices held back unless -v."""

from __future__ import annotations

import csv
import io
import logging
import os
import tomllib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rayrec.cli import loss_columns, main, progress_line
from rayrec.errors import InputError
from rayrec.notices import NOTICES, WARNINGS, hold_back_notices, show_notices

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def outside_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working directory is an empty folder outside the repository."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    assert not (folder / "envs").exists()
    return folder


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def ray_never_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the command (as an internal error, exit 1) if it gets as far as Ray."""
    import ray

    def started(*args: object, **kwargs: object) -> None:
        raise AssertionError("Ray was started before the input was checked")

    monkeypatch.setattr(ray, "init", started)


# ------------------------------------------------------------ packaged env specs
def test_specs_are_package_data_and_envs_links_there() -> None:
    from rayrec.environments import packaged_spec_names
    from rayrec.environments.spec import PACKAGED_SPECS

    assert PACKAGED_SPECS == REPO / "rayrec" / "envs"
    assert {"synthetic", "ml1m"} <= set(packaged_spec_names())
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    globs = config["package-data"]["rayrec"]
    shipped = {p for g in globs for p in (REPO / "rayrec").glob(g)}
    assert shipped == set(PACKAGED_SPECS.glob("*.yaml"))
    link = REPO / "envs"  # every `envs/<name>.yaml` in docs, tests and tune_configs
    assert link.is_symlink() and link.resolve() == PACKAGED_SPECS


def test_spec_names_resolve_from_any_folder(outside_repo: Path) -> None:
    from rayrec.environments import env_config_for, read_kind, resolve_env_spec
    from rayrec.environments.spec import PACKAGED_SPECS

    assert resolve_env_spec("synthetic") == PACKAGED_SPECS / "synthetic.yaml"
    assert read_kind("ml1m") == "slate"
    env_config = env_config_for("synthetic")
    assert Path(env_config["simulator"]) == PACKAGED_SPECS / "synthetic.yaml"
    own = outside_repo / "mine.yaml"  # a path still is a path
    own.write_text((PACKAGED_SPECS / "synthetic.yaml").read_text())
    assert resolve_env_spec("mine.yaml") == Path("mine.yaml")
    assert env_config_for(str(own))["simulator"] == str(own)


@pytest.mark.parametrize("given", ["nosuch", "envs/synthetic.yaml", "nosuch.yaml"])
def test_an_unknown_spec_lists_the_packaged_names(outside_repo: Path, given: str) -> None:
    from rayrec.environments import resolve_env_spec
    from rayrec.environments.spec import PACKAGED_SPECS

    with pytest.raises(InputError) as err:
        resolve_env_spec(given)
    names = ", ".join(sorted(spec.stem for spec in PACKAGED_SPECS.glob("*.yaml")))
    assert "ml1m" in names and "synthetic" in names  # the listing is not vacuous
    assert given in str(err.value) and names in str(err.value)


def test_a_missing_simulator_names_the_packaged_spec_by_name(
    outside_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rayrec.environments import resolve_simulator

    monkeypatch.delenv("RAYREC_SIMULATORS", raising=False)
    with pytest.raises(InputError, match="run `rayrec simulator train ml1m` first"):
        resolve_simulator("ml1m")


def test_build_config_by_name_outside_the_repository(outside_repo: Path) -> None:
    from rayrec.train import TrainOptions, build_config

    config, target = build_config(TrainOptions(algo="hac", env="synthetic"))
    assert Path(target).name == "synthetic.yaml" and Path(target).is_file()
    assert config.env_config["kind"] == "slate"


def test_tune_and_reproduce_take_spec_names(outside_repo: Path) -> None:
    from rayrec.tables import get_table
    from rayrec.tune.runner import param_space
    from rayrec.tune.spec import load_tune_spec

    (outside_repo / "sweep.yaml").write_text(
        "name: s\nalgorithm: hac\nenv: synthetic\nsearch_space:\n  seed: {grid_search: [0, 1]}\n"
    )
    spec = load_tune_spec(outside_repo / "sweep.yaml")
    assert Path(param_space(spec)["rayrec"]["env"]).is_file()
    get_table("hac-table").plan(env="synthetic").validate()
    with pytest.raises(InputError, match="--env: env spec 'nope'"):
        get_table("hac-table").plan(env="nope").validate()


def test_cli_names_the_packaged_specs_for_a_bad_env(
    outside_repo: Path, capsys: pytest.CaptureFixture[str], ray_never_starts: None
) -> None:
    assert main(["train", "hac", "--env", "nope"]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "synthetic" in err and "internal error" not in err


@pytest.mark.slow
@pytest.mark.ray
def test_rayrec_train_hac_outside_the_repository(
    outside_repo: Path,
    capsys: pytest.CaptureFixture[str],
    ray_session: Any,
    single_thread: None,
) -> None:
    """`rayrec train hac` with the default env, in a folder without `envs/`."""
    argv = ["train", "hac", "--stop-iters", "1", "--num-envs", "8", "--eval-users", "8"]
    code = main([*argv, "--out", "run"])
    out = capsys.readouterr().out
    assert code == 0, out
    first = next(line for line in out.splitlines() if line.startswith("iter")).split()
    assert first[:3] == ["iter", "1", "steps"] and first[4] == "return"
    assert float(first[5]) > 0  # the training return, not "-"
    assert (outside_repo / "run" / "result.json").is_file()


# ------------------------------------------------------------------ progress
def _row(**extra: Any) -> dict[str, Any]:
    """A training row as RLlib's numbers come: numpy float32 metrics."""
    return {
        "iteration": 3,
        "train_seconds": 42.6,
        "env_steps": 797,
        "episode_return_mean": np.float32(1.8605),
        "episode_len_mean": np.float32(6.63),
        "L_QMax": np.float32(-0.326),
        "policy_loss": np.float32(0.498),
        "L_TD": np.float32(0.0232),
        "L_Hyper": np.float32(1.3417),
        "L_BCE": np.float32(0.6905),
        **extra,
    }


def test_the_return_column_shows_numpy_values() -> None:
    line = progress_line(_row())
    assert line.split()[:6] == ["iter", "3", "steps", "797", "return", "1.860"]
    assert line.endswith("(43s)")
    assert progress_line(_row(episode_return_mean=np.float32("nan"))).split()[5] == "-"


def test_loss_columns_keep_one_order_whatever_the_dict_order() -> None:
    row = _row()
    reversed_row = dict(reversed(list(row.items())))
    expected = ["L_TD", "L_QMax", "L_Hyper", "L_BCE", "policy_loss"]
    assert loss_columns(row) == loss_columns(reversed_row) == expected
    assert progress_line(row) == progress_line(reversed_row)
    assert loss_columns({"L_Zeta": 1.0, "L_Alpha": 2.0, "vf_loss": 3.0}) == [
        "vf_loss", "L_Alpha", "L_Zeta",
    ]  # fmt: skip


def test_evaluation_figures_show_when_the_row_has_them() -> None:
    shown = ("total_reward", "depth", "coverage")
    assert "eval" not in progress_line(_row(eval_total_reward=np.nan), shown)
    line = progress_line(_row(eval_total_reward=np.float64(1.97), eval_depth=6.67), shown)
    assert "eval total_reward 1.970  depth 6.670  (43s)" in line


class FakeBoard:
    """A TensorBoard writer that records its scalars."""

    def __init__(self) -> None:
        self.scalars: dict[str, tuple[float, int]] = {}

    def add_scalar(self, tag: str, value: float, global_step: int) -> None:
        assert type(value) is float
        self.scalars[tag] = (value, global_step)


def test_tensorboard_gets_numpy_scalars() -> None:
    from rayrec.train import _log_scalars

    board = FakeBoard()
    values = {
        **_row(),
        "users": np.int64(500),
        "coverage": np.float64(0.25),
        "nan": np.float32("nan"),
        "flag": np.bool_(True),
        "also_flag": True,
        "text": "x",
        "none": None,
    }
    _log_scalars(board, "train", values, step=797)
    assert board.scalars["train/episode_return_mean"] == (pytest.approx(1.8605), 797)
    assert set(board.scalars) == {
        f"train/{k}"
        for k in ("train_seconds", "episode_return_mean", "episode_len_mean", "L_QMax",
                  "policy_loss", "L_TD", "L_Hyper", "L_BCE", "users", "coverage")
    }  # fmt: skip


# ------------------------------------------------------------------- files
def test_atomic_writes_get_the_umasks_mode(tmp_path: Path, umask_022: None) -> None:
    from rayrec.data.io import atomic_dir, atomic_write_text

    atomic_write_text(tmp_path / "result.json", "{}")
    assert (tmp_path / "result.json").stat().st_mode & 0o777 == 0o644
    with atomic_dir(tmp_path / "cache") as folder:
        (folder / "x").write_text("x")
    assert (tmp_path / "cache").stat().st_mode & 0o777 == 0o755
    os.umask(0o077)  # a user who wants private files gets them
    atomic_write_text(tmp_path / "private.json", "{}")
    assert (tmp_path / "private.json").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "private.json", "result.json"]


def test_results_table_files_are_0644_with_newline_endings(tmp_path: Path, umask_022: None) -> None:
    import pandas as pd

    from rayrec.tune.results import write_table

    frame = pd.DataFrame({"trial_id": ["a", "b"], "status": ["TERMINATED", "PENDING"]})
    csv_path, pq_path = write_table(frame, tmp_path)
    for path in (csv_path, pq_path):
        assert path.stat().st_mode & 0o777 == 0o644, path
    assert csv_path.read_bytes() == b"trial_id,status\na,TERMINATED\nb,PENDING\n"


def test_every_csv_rayrec_writes_ends_lines_with_newline(tmp_path: Path) -> None:
    from rayrec.tables import get_table
    from rayrec.tables.runner import runs_csv
    from rayrec.tune.progress import keep_csv_rows_before

    table = get_table("hac-table")
    run = {"seed": 0, "env_steps": 256, "iterations": 1, "train_seconds": 1.0}
    run["evaluation"] = {"hac": {m: 1.0 for m in table.run_metrics}}
    text = runs_csv(table, {"hac": [{**run, "algorithm": "hac"}]})
    assert "\r" not in text and len(list(csv.reader(io.StringIO(text)))) == 2
    path = tmp_path / "progress.csv"
    path.write_text("training_iteration,x\r\n1,a\r\n2,b\r\n")
    keep_csv_rows_before(path, 2)
    assert path.read_bytes() == b"training_iteration,x\n1,a\n"


# ------------------------------------------------- options checked before Ray
BAD_OPTIONS = [
    (["evaluate", "ckpt", "--env", "synthetic", "--episodes", "0"], "--episodes"),
    (["evaluate", "ckpt", "--env", "synthetic", "--episodes", "-5"], "--episodes"),
    (["evaluate", "ckpt", "--env", "synthetic", "--seed", "-1"], "--seed"),
    (["evaluate", "ckpt", "--env", "nosuch"], "nosuch"),
    (["reproduce", "hac-table", "--seeds", "-1"], "--seeds"),
    (["reproduce", "hac-table", "--budget-steps", "0"], "--budget-steps"),
    (["reproduce", "hac-table", "--eval-users", "0"], "--eval-users"),
    (["reproduce", "hac-table", "--num-env-runners", "-1"], "--num-env-runners"),
    (["reproduce", "hac-table", "--env", "nosuch"], "--env"),
    (["tune", str(REPO / "tune_configs" / "hac_lambda_2core.yaml"), "--progress-every", "0"],
     "--progress-every"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "named"), BAD_OPTIONS, ids=[" ".join(a[:1] + a[2:]) for a, _ in BAD_OPTIONS]
)
def test_bad_options_exit_2_naming_the_option_before_ray_starts(
    argv: list[str],
    named: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    ray_never_starts: None,
) -> None:
    code = main([*argv, *(["--out", str(tmp_path / "out")] if argv[0] == "reproduce" else [])])
    err = capsys.readouterr().err
    assert code == 2, err
    assert named in err and "internal error" not in err, err
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------- notices
@pytest.fixture
def held_back() -> Iterator[list[logging.LogRecord]]:
    """Notices held back, warnings isolated; yields the records that got through."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    loggers = [logging.getLogger(name) for name in {n.logger for n in NOTICES}]
    saved = [(lg, lg.level, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
        lg.propagate = False
    with warnings.catch_warnings():
        hold_back_notices()
        yield records
        show_notices()
    for lg, level, propagate in saved:
        lg.removeHandler(handler)
        lg.setLevel(level)
        lg.propagate = propagate


def test_the_listed_notices_are_held_back_and_others_pass(
    held_back: list[logging.LogRecord],
) -> None:
    for notice in NOTICES:
        logging.getLogger(notice.logger).warning(notice.starts + " (details)")
    assert held_back == []
    for notice in NOTICES:  # anything else the same loggers say still shows
        logging.getLogger(notice.logger).warning("something else: %s", notice.logger)
    assert len(held_back) == len(NOTICES)
    show_notices()  # -v
    logging.getLogger(NOTICES[0].logger).warning(NOTICES[0].starts)
    assert held_back[-1].getMessage() == NOTICES[0].starts


def test_the_real_emitters_are_held_back(held_back: list[logging.LogRecord]) -> None:
    """The notices as Ray, RLlib and gymnasium emit them (their loggers and texts)."""
    import gymnasium as gym
    from ray._common.deprecation import deprecation_warning
    from ray._private.authentication import authentication_token_setup

    authentication_token_setup._warn_token_auth_enabled()
    deprecation_warning(old="RLModule(config=...)", new="RLModule(...)", error=False)
    assert held_back == []
    authentication_token_setup._warn_token_auth_disabled()  # a user can act on this one
    assert [r.getMessage()[:40] for r in held_back] == ["Token authentication is disabled for thi"]
    with warnings.catch_warnings(record=True) as caught:
        hold_back_notices()  # inside this context's filters
        gym.register("rayrec-test-v0", entry_point="gymnasium.envs.classic_control:CartPoleEnv")
        gym.register("rayrec-test-v0", entry_point="gymnasium.envs.classic_control:CartPoleEnv")
    gym.registry.pop("rayrec-test-v0", None)
    assert not [w for w in caught if "Overriding environment" in str(w.message)]
    assert WARNINGS  # the pattern that matched


def test_main_holds_notices_back_unless_verbose(capsys: pytest.CaptureFixture[str]) -> None:
    from rayrec.notices import NoticeFilter

    token = logging.getLogger(NOTICES[0].logger)
    try:
        assert main(["data", "list"]) == 0
        assert any(isinstance(f, NoticeFilter) for f in token.filters)
        assert main(["-v", "data", "list"]) == 0
        assert not any(isinstance(f, NoticeFilter) for f in token.filters)
    finally:
        show_notices()
    capsys.readouterr()


def test_tune_runs_its_silent_output_engine_unless_verbose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tune's newer engine prints a config box and a TensorBoard hint at verbose=0."""
    from ray.tune.experimental.output import get_air_verbosity

    from rayrec.tune.runner import AIR_NEW_OUTPUT, tune_reporter

    monkeypatch.delenv(AIR_NEW_OUTPUT, raising=False)
    assert get_air_verbosity(0) is not None  # the engine that prints the box
    with tune_reporter(show=False):
        assert get_air_verbosity(0) is None
    assert AIR_NEW_OUTPUT not in os.environ
    with tune_reporter(show=True):
        assert get_air_verbosity(1) is not None
