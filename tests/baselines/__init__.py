"""Tests of rayrec.baselines."""
