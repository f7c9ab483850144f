"""HAC learner pieces: the item kernel's optimizer and loss names.

HAC's learner base is DDPG's (:class:`~rayrec.algorithms.ddpg.ddpg_learner.DDPGLearner`:
target networks, TD3's delay); its loss terms L_Hyper and L_BCE are named there too,
since DDPG logs them as diagnostics. The torch learner is
:class:`~rayrec.algorithms.hac.torch.hac_torch_learner.HACTorchLearner`.
"""

#: the optimizer of the item kernel Φ (the paper's "behavior" optimizer)
KERNEL = "kernel"
#: the loss the kernel optimizer minimises: λ_h·L_Hyper + β·L_BCE
KERNEL_LOSS = f"{KERNEL}_loss"
