"""The algorithms' model configs check their own fields (issue 11, item 8).

Each bad value raises an :class:`~rayrec.errors.InputError` naming ``model.<field>``
and the value: constructing the dataclass directly, through
``rayrec.config.from_dict(config.model_config_class, ..., "--config model")`` (what the
CLI does before Ray starts), and through ``rayrec.train.build_config`` (the config's
``validate()``), never inside a Ray worker.
"""

from __future__ import annotations

from typing import Any

import pytest

from rayrec.algorithms.a2c.a2c import A2CModelConfig
from rayrec.algorithms.cal4rec import CAL4RecModelConfig
from rayrec.algorithms.ddpg import DDPGLAModelConfig, DDPGModelConfig
from rayrec.algorithms.lsrwrl.lsrwrl import LSRWRLModelConfig
from rayrec.algorithms.registry import ALGORITHMS, make_config
from rayrec.algorithms.sqn.sqn import SessionModelConfig
from rayrec.config import from_dict
from rayrec.errors import InputError
from rayrec.train import TrainOptions, build_config
from tests.algorithms.conftest import SYNTHETIC

#: (field, bad value, the message of the dataclass's own check)
DDPG_BAD = [
    ("n_layers", -1, "model.n_layers: expected an integer >= 1, got -1"),
    ("n_layers", "abc", "model.n_layers: expected an integer, got 'abc'"),
    ("noise_type", "foo", "model.noise_type: expected one of 'gaussian', 'uniform', got 'foo'"),
    ("tanh_hyper_action", "maybe", "model.tanh_hyper_action: expected true or false, got 'maybe'"),
    ("dropout", 2, "model.dropout: expected a number in [0, 1), got 2"),
    ("dropout", "abc", "model.dropout: expected a number, got 'abc'"),
    ("n_heads", 5, "model.n_heads: expected a divisor of model.state_dim (32), got 5"),
    ("actor_hidden", [256, -64], "model.actor_hidden: expected a list of integers >= 1"),
    ("critic_hidden", "wide", "model.critic_hidden: expected a list of integers >= 1"),
    ("kernel_init_std", 0.0, "model.kernel_init_std: expected a number > 0, got 0"),
    ("exploration_noise", -0.1, "model.exploration_noise: expected a number >= 0, got -0.1"),
    ("target_noise_clip", "x", "model.target_noise_clip: expected a number, got 'x'"),
    ("twin_q", 1, "model.twin_q: expected true or false, got 1"),
    ("target_dropout", "no", "model.target_dropout: expected true or false, got 'no'"),
    ("qmax_through_state", 0, "model.qmax_through_state: expected true or false, got 0"),
    ("critic_bilinear", "yes", "model.critic_bilinear: expected true or false, got 'yes'"),
]
A2C_BAD = [
    ("n_layers", 0, "model.n_layers: expected an integer >= 1, got 0"),
    ("dropout", 1.5, "model.dropout: expected a number in [0, 1), got 1.5"),
    ("policy_hidden", [0], "model.policy_hidden: expected a list of integers >= 1"),
    ("value_hidden", None, "model.value_hidden: expected a list of integers >= 1"),
    ("use_user_id", "yes", "model.use_user_id: expected true or false, got 'yes'"),
    ("kernel_init_std", -1, "model.kernel_init_std: expected a number > 0, got -1"),
]


def test_every_algorithm_names_its_model_config_class() -> None:
    for name in ALGORITHMS:
        cls = make_config(name).model_config_class
        known = (
            DDPGModelConfig,
            A2CModelConfig,
            DDPGLAModelConfig,
            LSRWRLModelConfig,
            SessionModelConfig,
            CAL4RecModelConfig,
        )
        assert cls in known, name
        cls()  # the defaults are valid


LA_BAD = [
    ("variant", "gru", "model.variant: expected one of"),
    ("enhancement_p", 0, "model.enhancement_p: expected a number in (0, 1], got 0"),
    ("train_window", 0, "model.train_window: expected an integer >= 1, got 0"),
    ("critic_encoder", "both", "model.critic_encoder: expected one of 'separate', 'shared'"),
    ("actor_hidden", [0], "model.actor_hidden: expected a list of integers >= 1"),
    ("exploration_noise", -1, "model.exploration_noise: expected a number >= 0, got -1"),
]


LSRWRL_BAD = [
    ("fm_dim", 0, "model.fm_dim: expected an integer >= 1, got 0"),
    ("attention_dim", "x", "model.attention_dim: expected an integer, got 'x'"),
    ("dnn_hidden", [0], "model.dnn_hidden: expected a list of integers >= 1"),
    ("q_hidden", "wide", "model.q_hidden: expected a list of integers >= 1"),
    ("q_head", "dot", "model.q_head: expected one of 'linear', 'item_dot', got 'dot'"),
    ("dropout", 1.0, "model.dropout: expected a number in [0, 1), got 1"),
]


#: every model config class with its table of bad values
BAD_VALUES = [
    (cls, field, value, message)
    for cls, table in (
        (DDPGModelConfig, DDPG_BAD),
        (DDPGLAModelConfig, LA_BAD),
        (LSRWRLModelConfig, LSRWRL_BAD),
        (A2CModelConfig, A2C_BAD),
    )
    for field, value, message in table
]


@pytest.mark.parametrize(("cls", "field", "value", "message"), BAD_VALUES)
def test_a_model_config_names_the_field_and_value(
    cls: type, field: str, value: Any, message: str
) -> None:
    with pytest.raises(InputError) as err:
        cls(**{field: value})
    assert str(err.value).startswith(message), str(err.value)


@pytest.mark.parametrize(
    ("algo", "field", "value"),
    [("hac", f, v) for f, v, _ in DDPG_BAD] + [("a2c", f, v) for f, v, _ in A2C_BAD],
)
def test_from_dict_and_build_config_refuse_it_before_ray_starts(
    algo: str, field: str, value: Any
) -> None:
    config = make_config(algo)
    merged = {**config.model_config, field: value}
    merged = {k: v for k, v in merged.items() if k in config.model_config_class.__annotations__}
    with pytest.raises(InputError, match=field) as err:
        from_dict(config.model_config_class, merged, "--config model")
    assert str(err.value).startswith("--config model: ")
    with pytest.raises(InputError, match=rf"model\.{field}: expected"):
        build_config(
            TrainOptions(algo=algo, env=str(SYNTHETIC), overrides={f"model.{field}": value})
        )


def test_good_values_are_normalised() -> None:
    cfg = DDPGModelConfig.from_model_config({"dropout": 0, "actor_hidden": [8, 4], "other": 1})
    assert cfg.dropout == 0.0 and isinstance(cfg.dropout, float)
    assert cfg.actor_hidden == (8, 4)
    assert cfg.encoder_config().dropout == 0.0
    from_dict(DDPGModelConfig, {"noise_type": "uniform", "n_layers": 1}, "--config model")
