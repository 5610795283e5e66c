"""Synthetic radiograph-like images for imaging studies (numpy + Pillow only)."""
