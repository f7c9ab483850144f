"""RLlib algorithms (new API stack) for slate recommendation."""
