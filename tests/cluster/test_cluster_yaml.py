"""``cluster.yaml`` against the schema Ray ships, and what rayrec needs from it.

``ray up`` has no dry run and fails offline before validating, so this is the check:
the raw file against ``ray/autoscaler/ray-schema.json`` (the schema ``ray up`` uses),
then the file as ``ray up`` prepares it (merged with the provider defaults), then the
node types, the mounts, the setup and start commands rayrec relies on, and that no
credential is written in it.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

jsonschema = pytest.importorskip("jsonschema")

REPO = Path(__file__).resolve().parents[2]
CLUSTER_YAML = REPO / "cluster.yaml"

#: keys that hold secrets in provider / auth sections
SECRET_KEYS = re.compile(
    r"(secret|password|passwd|access_key|private_key_data|session_token|api_key|auth_token$)",
    re.IGNORECASE,
)
#: values that look like a secret: AWS key ids, PEM blocks, long hex / base64 tokens
SECRET_VALUES = (
    re.compile(r"\bA(KIA|SIA)[0-9A-Z]{16}\b"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\b[0-9a-f]{40,}\b"),
    re.compile(r"\b[A-Za-z0-9+/]{40,}={0,2}(?![\w/.])"),
)


def ray_schema() -> dict[str, Any]:
    """The cluster-config schema shipped inside the installed ``ray`` package."""
    import ray.autoscaler

    path = Path(ray.autoscaler.__file__).parent / "ray-schema.json"
    assert path.is_file(), f"ray no longer ships {path}"
    schema: dict[str, Any] = json.loads(path.read_text())
    return schema


def schema_errors(config: Any) -> list[str]:
    """Every schema violation as ``"<path>: <message>"`` (empty when valid)."""
    schema = ray_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [
        f"{'.'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message}"
        for err in sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    ]


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    loaded = yaml.safe_load(CLUSTER_YAML.read_text())
    assert isinstance(loaded, dict)
    return loaded


def node_types(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    types: dict[str, dict[str, Any]] = config["available_node_types"]
    return types


def leaves(obj: Any, path: str = "") -> Iterator[tuple[str, str | None, Any]]:
    """(dotted path, key or None for list items, value) for every entry, depth first."""
    items = (
        obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else []
    )
    for key, value in items:
        sub = f"{path}.{key}" if path else str(key)
        yield sub, (str(key) if isinstance(obj, dict) else None), value
        yield from leaves(value, sub)


def credential_findings(config: dict[str, Any]) -> list[str]:
    """Where ``config`` holds something that looks like a credential."""
    found = []
    for path, key, value in leaves(config):
        if key is not None and SECRET_KEYS.search(key) and not path.startswith("file_mounts"):
            found.append(f"key {path}")  # (a token *file* mounted by path is fine)
        if isinstance(value, str) and any(p.search(value) for p in SECRET_VALUES):
            found.append(f"value at {path}")
    return found


def test_cluster_yaml_matches_rays_schema(config: dict[str, Any]) -> None:
    assert schema_errors(config) == []


def test_cluster_yaml_as_ray_up_prepares_it(config: dict[str, Any]) -> None:
    """Merged with the AWS defaults and validated as ``ray up`` does (no cloud calls)."""
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    assert prepared["available_node_types"]["head"]["max_workers"] == 0
    # our setup runs on every node, before the head's own (boto3 for the autoscaler)
    for key in ("head_setup_commands", "worker_setup_commands"):
        assert prepared[key][: len(config["setup_commands"])] == config["setup_commands"]


def test_node_types(config: dict[str, Any]) -> None:
    assert config["cluster_name"] == "rayrec"
    assert config["provider"]["type"] == "aws" and config["provider"]["region"]
    types = node_types(config)
    head = types[config["head_node_type"]]
    assert head["resources"].get("CPU", 0) > 0 and head["resources"].get("GPU", 0) == 0

    workers = {name: t for name, t in types.items() if name != config["head_node_type"]}
    gpu = [t for t in workers.values() if t["resources"].get("GPU", 0) >= 1]
    cpu = [t for t in workers.values() if t["resources"].get("GPU", 0) == 0]
    assert gpu, "no GPU worker type (learners)"
    assert cpu, "no CPU-only worker type (simulator env runners)"
    for t in gpu:
        assert t["min_workers"] == 0, "GPU workers must scale from zero"
        assert t["max_workers"] >= 1
    for t in cpu:
        assert t["resources"]["CPU"] > 0 and t["max_workers"] >= 1
        assert t["min_workers"] <= t["max_workers"]
    assert sum(t["max_workers"] for t in workers.values()) <= config["max_workers"]


def test_setup_installs_rayrec_and_torch(config: dict[str, Any]) -> None:
    setup = "\n".join(config["setup_commands"])
    assert re.search(r"pip install[^\n]*rayrec", setup), setup
    assert "torch==" in setup, "pin torch: the same version on every node"
    wheel_dir = re.search(r"(~/[\w-]+)/rayrec-\*\.whl", setup)
    assert wheel_dir and wheel_dir.group(1) in config["file_mounts"], "wheel not mounted"


def test_mounts_feed_rayrec_data_and_simulators(config: dict[str, Any]) -> None:
    from rayrec.data.io import CACHE_ENV, DATA_ENV

    mounts: dict[str, str] = config["file_mounts"]
    for remote, local in mounts.items():
        assert remote.startswith(("~/", "/")), f"remote path {remote} must be absolute or ~/"
        if not local.startswith("~"):
            assert not Path(local).is_absolute(), f"{local}: keep local paths repo-relative"
    assert any("simulators" in remote for remote in mounts), "no simulator-checkpoint mount"

    starts = [*config["head_start_ray_commands"], *config["worker_start_ray_commands"]]
    for command in (c for c in starts if "ray start" in c):
        data = re.search(rf"{DATA_ENV}=\$HOME/(\S+)", command)
        assert data, f"{DATA_ENV} not exported to Ray in: {command}"
        assert f"~/{data.group(1)}" in mounts, f"{DATA_ENV} points at an unmounted folder"
        assert f"{CACHE_ENV}=" in command
        assert "RAY_AUTH_MODE=token" in command, "start Ray with token auth"
    assert "~/.ray/auth_token" in mounts, "the nodes need the cluster's auth token"


def test_no_credentials_in_cluster_yaml(config: dict[str, Any]) -> None:
    found = credential_findings(config)
    text = CLUSTER_YAML.read_text()  # the comments too
    found += [f"text: {m.group(0)[:8]}..." for p in SECRET_VALUES for m in p.finditer(text)]
    assert not found, found


@pytest.mark.parametrize(
    ("where", "key", "value"),
    [
        ("provider", "aws_secret_access_key", "x"),
        ("auth", "ssh_password", "x"),
        ("provider", "note", "AKIAIOSFODNN7EXAMPLE"),
        ("provider", "note", "0123456789abcdef0123456789abcdef0123456789abcdef"),
    ],
)
def test_credential_check_can_fail(
    config: dict[str, Any], where: str, key: str, value: str
) -> None:
    leaked = copy.deepcopy(config)
    leaked[where][key] = value
    assert credential_findings(leaked), f"missed {where}.{key}"


@pytest.mark.parametrize(
    ("break_it", "named"),
    [
        (lambda c: c["available_node_types"]["gpu_worker"].update(min_worker=0), "min_worker"),
        (lambda c: c["available_node_types"]["gpu_worker"]["resources"].update(GPU=0.5), "GPU"),
        (lambda c: c.update(setup_command=["pip install rayrec"]), "setup_command"),
        (lambda c: c["provider"].pop("type"), "type"),
    ],
    ids=["misspelt-key", "fractional-gpu", "unknown-top-level-key", "missing-provider-type"],
)
def test_a_broken_copy_fails_naming_the_key(
    config: dict[str, Any], break_it: Any, named: str
) -> None:
    broken = copy.deepcopy(config)
    break_it(broken)
    errors = schema_errors(broken)
    assert errors, "the broken copy passed the schema"
    assert any(named in e for e in errors), errors
