"""The catalog: tasks, datasets and models perfpilot knows, by name."""

from perfpilot.catalog.registry import (
    MODELS,
    TASKS,
    Dataset,
    ModelSpec,
    TaskSpec,
    get_model,
    get_task,
)

__all__ = ["MODELS", "TASKS", "Dataset", "ModelSpec", "TaskSpec", "get_model", "get_task"]
