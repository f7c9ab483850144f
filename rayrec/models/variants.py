"""The DDPG-LA encoder's eight variants (the paper's ablation), without importing torch:
listing the tables names them (:mod:`rayrec.tables.ddpg_la`), the encoder builds them
(:mod:`rayrec.models.interest`)."""

from __future__ import annotations

from typing import Final

#: The eight encoder variants (config value -> the paper's label). ``rlstm+t_attention``
#: is the full DDPG-LA.
VARIANT_LABELS: Final[dict[str, str]] = {
    "rlstm": "DDPG+RLSTM",
    "lstm": "DDPG+LSTM",
    "t_attention": "DDPG+T_self_attention",
    "attention": "DDPG+self_attention",
    "rlstm+attention": "DDPG+RLSTM+self_attention",
    "lstm+t_attention": "DDPG+LSTM+T_self_attention",
    "lstm+attention": "DDPG+LSTM+self_attention",
    "rlstm+t_attention": "DDPG-LA",
}
#: Variant names in the paper's table order.
VARIANTS: Final[tuple[str, ...]] = tuple(VARIANT_LABELS)
