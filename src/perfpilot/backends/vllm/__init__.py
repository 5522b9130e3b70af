"""vLLM in process (generative models on NVIDIA GPUs)."""
