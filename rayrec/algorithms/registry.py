"""The algorithms ``rayrec train`` knows, by name (an explicit registry)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rayrec.errors import InputError


def _hac() -> Any:
    from rayrec.algorithms.hac import HACConfig

    return HACConfig()


def _ddpg() -> Any:
    from rayrec.algorithms.ddpg import DDPGConfig

    return DDPGConfig()


def _td3() -> Any:
    from rayrec.algorithms.ddpg import TD3Config

    return TD3Config()


def _a2c() -> Any:
    from rayrec.algorithms.a2c import A2CConfig

    return A2CConfig()


def _online_sl() -> Any:
    from rayrec.algorithms.supervised import OnlineSLConfig

    return OnlineSLConfig()


def _offline_sl() -> Any:
    from rayrec.algorithms.supervised import OfflineSLConfig

    return OfflineSLConfig()


#: name -> factory of the algorithm's default config
ALGORITHMS: dict[str, Callable[[], Any]] = {
    "hac": _hac,
    "ddpg": _ddpg,
    "td3": _td3,
    "online-sl": _online_sl,
    "offline-sl": _offline_sl,
    "a2c": _a2c,
}


def make_config(name: str) -> Any:
    """The default config of a registered algorithm.

    Raises:
        InputError: naming the known algorithms.
    """
    try:
        return ALGORITHMS[name]()
    except KeyError:
        raise InputError(
            f"unknown algorithm '{name}'; expected one of: {', '.join(sorted(ALGORITHMS))}"
        ) from None
