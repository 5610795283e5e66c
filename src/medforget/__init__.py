"""MedForget: hierarchy-aware multimodal unlearning benchmark for medical AI."""

__version__ = "0.1.0"
