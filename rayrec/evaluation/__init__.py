"""Evaluation: policy rollouts in the evaluation simulator and their metrics."""
