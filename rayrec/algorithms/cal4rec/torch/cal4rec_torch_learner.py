"""CAL4Rec's learner in torch: Algorithm 1's three steps in one update.

RLlib's update makes one forward, one backward and steps every optimizer; Algorithm 1
steps θ_D, then θ_G, then θ_E, each on the losses of the networks as the previous step
left them. So :meth:`CAL4RecTorchLearner._uncompiled_update` runs the three steps
itself, each with ``torch.autograd.grad`` over its own parameters only (no other
optimizer sees a gradient, so none moves). The loss terms are pure functions
(:func:`gumbel_max`, :func:`discriminator_loss`, :func:`generator_loss`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F
from ray.rllib.core.learner.torch.torch_learner import TorchLearner

from rayrec.algorithms.cal4rec.cal4rec_learner import (
    D_FAKE,
    D_LOSS,
    D_REAL,
    DISCRIMINATOR,
    ENCODER,
    ENCODER_LOSS,
    FAKE_PURCHASE,
    G_LOSS,
    GAN_ONLY,
    GENERATOR,
    NO_GUMBEL,
    REAL_PURCHASE,
    SSL_LOSS,
    SSL_ONLY,
)
from rayrec.algorithms.cal4rec.torch.default_cal4rec_torch_rl_module import N_FEEDBACK
from rayrec.algorithms.sqn.sqn_learner import NONFINITE_SKIPS, TOTAL_LOSS
from rayrec.algorithms.sqn.torch.default_sqn_torch_rl_module import (
    SessionNetwork,
    item_cross_entropy,
)
from rayrec.algorithms.sqn.torch.sqn_torch_learner import SessionLearnerMixin, finite_guard
from rayrec.data.sessions import ACTION, IS_BUY, LEN_STATE, STATE


def gumbel_max(
    log_p: torch.Tensor,
    u: torch.Tensor | None,
    *,
    temperature: float = 1.0,
    relaxed: bool = True,
    straight_through: bool = False,
) -> torch.Tensor:
    """The counterfactual operator of Eq. 7–8 on tendency log-probabilities.

    Args:
        log_p: (B, R) log p_r(y|s, a).
        u: (B, R) uniform draws in (0, 1); None: no Gumbel noise (the no-Gumbel variant).
        temperature: τ of the relaxation.
        relaxed: softmax((log p + g) / τ) (training); False: the one-hot argmax (Eq. 8).
        straight_through: with ``relaxed``, the one-hot argmax forward and the relaxed
            gradient backward.

    Returns:
        (B, R) the generated feedback r₂ (one-hot or relaxed).
    """
    z = log_p if u is None else log_p - torch.log(-torch.log(u))  # (B, R) D_r of Eq. 7
    hard = F.one_hot(z.argmax(-1), z.shape[-1]).to(z.dtype)  # (B, R) Eq. 8
    if not relaxed:
        return hard
    soft = torch.softmax(z / temperature, dim=-1)  # (B, R)
    return hard - soft.detach() + soft if straight_through else soft


def discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """L_D = −mean[log D(r₁) + log(1 − D(r₂))] from D's logits (Eq. 9, to minimise).

    Args:
        d_real: (B,) logits of D on the logged feedback.
        d_fake: (B,) logits of D on the generated feedback.
    """
    # log σ(x) = −softplus(−x);  log(1 − σ(x)) = −softplus(x)
    return (F.softplus(-d_real) + F.softplus(d_fake)).mean()


def generator_loss(d_fake: torch.Tensor, *, saturating: bool = True) -> torch.Tensor:
    """L_G from D's logits on the generated feedback (B,): mean log(1 − D(r₂)) (Eq. 10,
    ``saturating``) or −mean log D(r₂) (the non-saturating form)."""
    if saturating:
        return (-F.softplus(d_fake)).mean()
    return F.softplus(-d_fake).mean()


def _grads_to(
    loss: torch.Tensor, params: Sequence[torch.nn.Parameter]
) -> list[torch.Tensor | None]:
    return list(torch.autograd.grad(loss, params, allow_unused=True))


class CAL4RecTorchLearner(SessionLearnerMixin, TorchLearner):
    """Optimizers ``encoder`` (lr), ``generator`` and ``discriminator`` (gan_lr)."""

    def configure_optimizers_for_module(self, module_id: str, config: Any = None) -> None:
        module: Any = self.module[module_id]
        cfg: Any = config
        groups = {
            ENCODER: (list(module.networks.parameters()), cfg.lr),
            GENERATOR: (list(module.generator.parameters()), cfg.gan_lr),
            DISCRIMINATOR: (list(module.discriminator.parameters()), cfg.gan_lr),
        }
        for name, (params, lr) in groups.items():
            self.register_optimizer(
                module_id=module_id,
                optimizer_name=name,
                optimizer=torch.optim.Adam(params),
                params=params,
                lr_or_lr_schedule=lr,
            )

    def _step(self, module_id: str, name: str, loss: torch.Tensor, limit: int) -> bool:
        """One step of optimizer ``name`` on ``loss`` (gradients of its parameters only);
        False (and no step) when the loss is not finite."""
        if not finite_guard(self, loss, f"CAL4Rec {name} loss", limit):
            return False
        optim = self.get_optimizer(module_id, name)
        params = [p for group in optim.param_groups for p in group["params"]]
        optim.zero_grad(set_to_none=True)
        for p, g in zip(params, _grads_to(loss, params), strict=True):
            p.grad = g
        optim.step()
        return True

    def compute_loss_for_module(
        self, *, module_id: str, config: Any, batch: dict[str, Any], fwd_out: dict[str, Any]
    ) -> torch.Tensor:
        """L_ssl of the policy head (what RLlib's one-backward path would minimise).
        Updates never take that path: :meth:`_uncompiled_update` runs Algorithm 1."""
        module: Any = self.module[module_id]
        net = cast(SessionNetwork, module.networks[0])
        s = net(batch[STATE].long(), batch[LEN_STATE].long())  # (B, d)
        return item_cross_entropy(net.ce_head(s), batch[ACTION].long())

    def _uncompiled_update(self, batch: dict[str, Any], **kwargs: Any) -> Any:
        losses: dict[str, Any] = {}
        for module_id, module_batch in batch.items():
            losses[module_id] = self._algorithm_1(module_id, module_batch)
        return {}, losses, {}

    def _algorithm_1(self, module_id: str, batch: dict[str, Any]) -> torch.Tensor:
        cfg: Any = self.config.get_config_for_module(module_id)
        module: Any = self.module[module_id]
        net = cast(SessionNetwork, module.networks[0])
        emb = net.encoder.item_embedding
        limit = int(cfg.max_nonfinite_updates)
        size = int(cfg.train_batch_size_per_learner)
        state, len_state = batch[STATE].long(), batch[LEN_STATE].long()  # (K'B, L), (K'B,)
        action = batch[ACTION].long()  # (K'B,)
        r1 = F.one_hot(batch[IS_BUY].long(), N_FEEDBACK).float()  # (K'B, 2) logged feedback
        n_chunks = state.shape[0] // size
        gan = cfg.variant != SSL_ONLY
        gumbel = cfg.variant != NO_GUMBEL
        saturating = cfg.generator_loss == "saturating"

        def fake(s: torch.Tensor, e_a: torch.Tensor) -> torch.Tensor:
            """r₂ = G(μ|s, a) through the counterfactual operator."""
            mu = torch.rand(s.shape[0], module.generator.noise_dim)  # (B, 32) μ ~ U(0, 1)
            u = torch.rand(s.shape[0], N_FEEDBACK).clamp_min(1e-12) if gumbel else None
            return gumbel_max(
                module.generator(s, e_a, mu),
                u,
                temperature=float(cfg.temperature),
                straight_through=bool(cfg.straight_through),
            )  # (B, 2)

        log: dict[str, float] = {}
        # --- K discriminator steps, one minibatch each: max log D(r₁) + log(1 − D(G)) (Eq. 9)
        for k in range(n_chunks - 1 if gan else 0):
            part = slice(k * size, (k + 1) * size)
            with torch.no_grad():
                s = net(state[part], len_state[part])  # (B, d)
                e_a = emb(action[part])  # (B, d)
                r2 = fake(s, e_a)  # (B, 2)
            d_real = module.discriminator(r1[part], s, e_a)  # (B,)
            d_fake = module.discriminator(r2, s, e_a)  # (B,)
            loss_d = discriminator_loss(d_real, d_fake)
            self._step(module_id, DISCRIMINATOR, loss_d, limit)
            log[D_LOSS] = float(loss_d.detach())
            log[D_REAL] = float(torch.sigmoid(d_real.detach()).mean())
            log[D_FAKE] = float(torch.sigmoid(d_fake.detach()).mean())
            log[FAKE_PURCHASE] = float(r2[:, 1].mean())
        last = slice((n_chunks - 1) * size, n_chunks * size)
        # --- generator step: min L_G (Eq. 10); s and e_a fixed, D does not move
        if gan:
            with torch.no_grad():
                s = net(state[last], len_state[last])
                e_a = emb(action[last])
            loss_g = generator_loss(
                module.discriminator(fake(s, e_a), s, e_a), saturating=saturating
            )
            self._step(module_id, GENERATOR, loss_g, limit)
            log[G_LOSS] = float(loss_g.detach())
        # --- encoder step: min L_ssl + gan_coef · L_G over θ_E (G and D do not move)
        s = net(state[last], len_state[last])  # (B, d)
        # L_ssl = −log π(a|s)
        loss_ssl = item_cross_entropy(net.ce_head(s), action[last])
        terms = []
        if cfg.variant != GAN_ONLY:
            terms.append(loss_ssl)
        if gan:
            e_a = emb(action[last])  # (B, d)
            d_fake = module.discriminator(fake(s, e_a), s, e_a)  # (B,)
            terms.append(float(cfg.gan_coef) * generator_loss(d_fake, saturating=saturating))
        loss_e = torch.stack(terms).sum()
        self._step(module_id, ENCODER, loss_e, limit)
        self._updates += 1
        log[SSL_LOSS] = float(loss_ssl.detach())
        log[ENCODER_LOSS] = float(loss_e.detach())
        log[REAL_PURCHASE] = float(r1[last, 1].mean())
        log[TOTAL_LOSS] = log[ENCODER_LOSS]
        log[NONFINITE_SKIPS] = float(getattr(self, "_nonfinite_total", 0))
        self.metrics.log_dict(log, key=module_id, window=1)
        return loss_e.detach()
