"""Simulator specs: the simulator sections of a spec file, read without its session keys.

The whole file (env included) is tested through the env spec loader in
tests/environments/test_spec.py; here: what ``rayrec simulator train`` reads."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rayrec.config import to_dict
from rayrec.errors import InputError
from rayrec.simulator.spec import SESSION_KEYS, SimulatorSpec, load_simulator_spec
from tests.simulator.conftest import ENVS


def test_session_keys_are_skipped(tmp_path: Path) -> None:
    data = yaml.safe_load((ENVS / "ml1m.yaml").read_text())
    assert set(SESSION_KEYS) <= set(data)
    spec = load_simulator_spec(ENVS / "ml1m.yaml")
    assert isinstance(spec, SimulatorSpec) and spec.name == "ml1m"
    assert not {"kind", "env"} & set(to_dict(spec))
    # a file of the simulator sections only (a checkpoint's spec.yaml) reads the same
    own = tmp_path / "spec.yaml"
    own.write_text(yaml.safe_dump({k: v for k, v in data.items() if k not in SESSION_KEYS}))
    assert load_simulator_spec(own) == spec
    # ... and so does a broken session section: it is the env spec loader's to check
    data["env"] = {"slate_size": "ten"}
    own.write_text(yaml.safe_dump(data))
    assert load_simulator_spec(own) == spec


def test_unknown_top_level_key_lists_every_accepted_one(tmp_path: Path) -> None:
    data = yaml.safe_load((ENVS / "synthetic.yaml").read_text())
    data["respone_model"] = {}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError, match=r"unknown key 'respone_model'; expected one of") as err:
        load_simulator_spec(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ")
    assert "env, kind, name, protocol, response_model" in message
