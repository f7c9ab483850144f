"""``rayrec simulator train`` / ``simulator check``: the JSON contract, the policy ordering
on the synthetic spec, train-then-check on a checkpoint, and exit code 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from rayrec.cli import main
from tests.simulator.conftest import ENVS, tiny_learned_spec, write_env_spec

POLICY_KEYS = {"total_reward", "depth", "reward_variance"}


def last_json(out: str) -> Any:
    return json.loads(out.strip().splitlines()[-1])


def write_spec(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def tiny_spec_file(tmp_path: Path, name: str = "cli-tiny") -> Path:
    return write_env_spec(tmp_path / f"{name}.yaml", tiny_learned_spec(epochs=1, name=name))


def test_check_synthetic_spec_json(capsys: pytest.CaptureFixture[str]) -> None:
    """Observed (200 users, seed 0): oracle ≈ 16.6, popular ≈ 4.7, random ≈ 1.9."""
    code = main(["simulator", "check", str(ENVS / "synthetic.yaml"), "--users", "200", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    result = last_json(out)
    assert set(result) == {"random", "popular", "personalised", "oracle"}
    for name, summary in result.items():
        assert set(summary) >= POLICY_KEYS, name
        assert summary["users"] == 200
    reward = {name: summary["total_reward"] for name, summary in result.items()}
    assert reward["oracle"] >= reward["popular"] > reward["random"]
    assert reward["personalised"] == reward["oracle"]  # the ground truth is both parts' truth
    assert (
        reward["oracle"] >= reward["popular"] + 5.0 and reward["popular"] >= reward["random"] + 1.5
    )
    table = [line.split()[0] for line in out.splitlines()[1:-1]]  # the human table, then JSON
    assert table == ["policy", "random", "popular", "personalised", "oracle"]


def test_train_then_check_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tiny_spec_file(tmp_path)
    out = tmp_path / "ckpt"
    assert main(["simulator", "train", str(spec), "--out", str(out), "--json"]) == 0
    printed = capsys.readouterr().out
    assert "epoch   1" in printed and f"checkpoint: {out}" in printed
    report = last_json(printed)
    assert report["checkpoint"] == str(out)
    assert set(report["parts"]) == {"train", "eval"}
    for part in report["parts"].values():
        assert set(part["valid"]) == {"click", "purchase"}
        assert set(part["popularity_baseline"]) == {"click", "purchase"}
    assert (out / "train" / "model.pt").is_file() and (out / "eval" / "model.pt").is_file()
    # the headroom: references in the evaluation simulator, AUCs against popularity
    assert "headroom: evaluation simulator, one session of 500 users" in printed
    assert "slates: log (the log's own slates)" in printed
    headroom = report["headroom"]
    assert json.loads((out / "summary.json").read_text())["headroom"] == headroom
    assert list(headroom["policies"]) == ["random", "popular", "personalised", "oracle"]
    assert headroom["policies"]["oracle"]["of_oracle"] == 1.0
    oracle = headroom["policies"]["oracle"]["total_reward"]
    assert oracle > headroom["policies"]["random"]["total_reward"]
    for fb in ("click", "purchase"):
        assert headroom["auc"][fb]["model"] == report["parts"]["eval"]["valid"][fb]["auc"]
        popularity = report["parts"]["eval"]["popularity_baseline"][fb]["auc"]
        assert headroom["auc"][fb]["popularity"] == popularity

    single = {"random", "popular", "oracle"}
    for args, policies in (
        ([str(out)], {*single, "personalised"}),
        ([str(out), "--part", "train"], single),  # the train part's own greedy is its oracle
        ([str(out / "eval")], single),  # a lone part: no train simulator beside it
        ([str(spec), "--checkpoint", str(out)], {*single, "personalised"}),
    ):
        assert main(["simulator", "check", *args, "--users", "30", "--json"]) == 0, args
        result = last_json(capsys.readouterr().out)
        assert set(result) == policies, args
        assert all(set(s) >= POLICY_KEYS for s in result.values())


def test_train_one_part(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ckpt"
    assert (
        main(
            [
                "simulator",
                "train",
                str(tiny_spec_file(tmp_path)),
                "--out",
                str(out),
                "--parts",
                "eval",
            ]
        )
        == 0
    )
    assert (out / "eval").is_dir() and not (out / "train").exists()
    headroom = json.loads((out / "summary.json").read_text())["headroom"]
    assert list(headroom["policies"]) == ["random", "popular", "oracle"]  # no train part
    assert (
        main(
            [
                "simulator",
                "train",
                str(tiny_spec_file(tmp_path)),
                "--out",
                str(out),
                "--parts",
                "test",
            ]
        )
        == 2
    )
    assert "--parts" in capsys.readouterr().err


@pytest.mark.parametrize("verb", ["train", "check"])
def test_bad_spec_exits_2_naming_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], verb: str
) -> None:
    data = yaml.safe_load((ENVS / "synthetic.yaml").read_text())
    data["env"]["slate_size"] = "ten"
    spec = write_spec(tmp_path / "bad.yaml", data)
    assert main(["simulator", verb, str(spec)]) == 2
    err = capsys.readouterr().err
    assert f"{spec}: env.slate_size: expected an integer" in err
    assert "Traceback" not in err


def test_check_learned_spec_without_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tiny_spec_file(tmp_path, name="never-trained")
    monkeypatch.chdir(tmp_path)  # the default checkpoint root is relative to the cwd
    assert main(["simulator", "check", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "no simulator checkpoint" in err and "never-trained" in err
    assert f"run `rayrec simulator train {spec}` first" in err
    assert main(["simulator", "check", str(spec), "--checkpoint", str(tmp_path / "nope")]) == 2
    assert "simulator train" in capsys.readouterr().err


def test_check_rejects_no_users(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulator", "check", str(ENVS / "synthetic.yaml"), "--users", "0"]) == 2
    assert "--users must be >= 1" in capsys.readouterr().err


def test_check_a_folder_that_is_not_a_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulator", "check", str(tmp_path)]) == 2
    assert "not a rayrec simulator checkpoint" in capsys.readouterr().err


def test_slate_construction_line_states_the_negatives() -> None:
    from rayrec.cli import slate_construction

    chunk = {"construction": "chunk", "size": 10, "negative_ratio": 1.0}
    popular = slate_construction({**chunk, "negatives": {"sampler": "popularity", "exponent": 1.0}})
    assert popular == (
        "chunks of 10, 1 negative(s) per positive, popularity-matched,"
        " p ∝ (count + 1)^1 over unrated items"
    )
    uniform = slate_construction({**chunk, "negatives": {"sampler": "uniform", "exponent": 1.0}})
    assert uniform.endswith("uniform over unrated items (the reference construction)")
