"""Hugging Face transformers backend (generative models in process)."""
