"""Models: the tiny track (built from a config) and adapters for any checkpoint or endpoint."""
