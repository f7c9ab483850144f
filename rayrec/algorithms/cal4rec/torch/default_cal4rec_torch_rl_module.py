"""CAL4Rec's RLModule: encoder with policy head, generator and discriminator.

Figure 2 of the paper (``../shared/specs/cal4rec.md``, "Model")::

    s = Enc(state)                                    (B, d)    Eq. 4
    π(a|s) = softmax(W s + b)                         (B, N + 1) Eq. 5 (the CE head)
    G(μ|s, a):  log p_r(y|s, a) = MLP([s; e_a; μ])    (B, 2)    Eq. 6, μ ~ U(0, 1)^32
                r₂ = argmax_r [log p_r − log(−log u_r)]        Eq. 7–8 (softmax at τ in training)
    D(r|s, a) = σ(MLP([r; s; e_a]))                   (B,)

The inner tendency head of Eq. 6 is the generator's output layer: the spec gives the
generator the state, the item and the noise and has it emit the tendency logits, so a
second, noise-free head would never be used (ours). Feedback types d_r = 2: click (0)
and purchase (1). Recommendations use the policy head, as for the SQN family.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn

from rayrec.algorithms.sqn.torch.default_sqn_torch_rl_module import (
    DefaultSQNTorchRLModule,
    SessionNetwork,
)

#: feedback types of the tendency and the discriminator: click, purchase
N_FEEDBACK = 2


def mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    """Two layers: Linear → ReLU → Linear."""
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out))


class Generator(nn.Module):
    """G(μ|s, a): the tendency logits log p_r(y|s, a) of the feedback types.

    Args:
        dim: d (state and item embedding size).
        hidden: the hidden width (64).
        noise_dim: the size of μ (32).

    Example:
        >>> g = Generator(8, 16, 4)
        >>> g(torch.zeros(3, 8), torch.zeros(3, 8), torch.rand(3, 4)).shape
        torch.Size([3, 2])
    """

    def __init__(self, dim: int, hidden: int, noise_dim: int) -> None:
        super().__init__()
        self.noise_dim = noise_dim
        self.net = mlp(2 * dim + noise_dim, hidden, N_FEEDBACK)

    def forward(self, s: torch.Tensor, e_a: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        """(B, d), (B, d), (B, noise_dim) -> (B, 2) log-probabilities of the types."""
        logits = self.net(torch.cat([s, e_a, mu], dim=-1))  # (B, 2)
        return torch.log_softmax(logits, dim=-1)  # (B, 2) log p_r(y|s, a)


class Discriminator(nn.Module):
    """D(r|s, a) as a logit: is feedback ``r`` the logged one for (s, a)?

    Args:
        dim: d.
        hidden: the hidden width (64).

    Example:
        >>> d = Discriminator(8, 16)
        >>> d(torch.zeros(3, 2), torch.zeros(3, 8), torch.zeros(3, 8)).shape
        torch.Size([3])
    """

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.net = mlp(N_FEEDBACK + 2 * dim, hidden, 1)

    def forward(self, r: torch.Tensor, s: torch.Tensor, e_a: torch.Tensor) -> torch.Tensor:
        """(B, 2) feedback (one-hot or relaxed), (B, d), (B, d) -> (B,) logit of D."""
        return self.net(torch.cat([r, s, e_a], dim=-1)).squeeze(-1)  # (B,)


class DefaultCAL4RecTorchRLModule(DefaultSQNTorchRLModule):
    """``networks[0]`` (encoder + policy head), ``generator``, ``discriminator``.

    ``model_config`` keys: :class:`~rayrec.algorithms.cal4rec.cal4rec.CAL4RecModelConfig`'s
    fields, plus ``backbone`` and ``padding`` (filled by the config).
    """

    generator: Generator
    discriminator: Discriminator

    def setup(self) -> None:
        mc = cast(dict[str, Any], self.model_config or {})
        self.model_config = {**mc, "n_networks": 1, "q_head": False}
        super().setup()
        net = cast(SessionNetwork, self.networks[0])
        dim = net.encoder.dim
        hidden = int(mc.get("hidden", 64))
        self.generator = Generator(dim, hidden, int(mc.get("noise_dim", 32)))
        self.discriminator = Discriminator(dim, hidden)
