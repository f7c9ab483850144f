"""Environments: how a session runs on top of a simulator or a log, one module per kind."""
