"""CAL4Rec: counterfactual adversarial learning on logged sessions."""

from rayrec.algorithms.cal4rec.cal4rec import CAL4Rec, CAL4RecConfig, CAL4RecModelConfig

__all__ = ["CAL4Rec", "CAL4RecConfig", "CAL4RecModelConfig"]
