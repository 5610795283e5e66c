"""Training of reference models (tiny track on CPU; LoRA recipes for real checkpoints)."""
