"""The tasks perfpilot runs, one folder each, and the registry that names them."""

from perfpilot.tasks.registry import get_model, get_task, model_task, models, tasks
from perfpilot.tasks.spec import Dataset, ModelSpec, TaskSpec

__all__ = [
    "Dataset",
    "ModelSpec",
    "TaskSpec",
    "get_model",
    "get_task",
    "model_task",
    "models",
    "tasks",
]
