"""The environment tests run on the simulator tests' small simulators (same fixtures)."""

from tests.simulator.conftest import _one_torch_thread, gt_sim, learned_run, learned_sim

__all__ = ["_one_torch_thread", "gt_sim", "learned_run", "learned_sim"]
