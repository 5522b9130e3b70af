"""The task registry: one line per task, naming the module that holds its specs.

Each module named here defines ``TASK`` (a :class:`TaskSpec`) and ``MODELS`` (its
:class:`ModelSpec` entries). Spec modules import no framework, so listing the catalog
stays cheap; datasets, scorers, adapters and networks load only when a run needs them.
Adding a task is one folder under ``tasks/`` and one line here.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib

from perfpilot.errors import UsageError
from perfpilot.tasks.spec import ModelSpec, TaskSpec

TASK_MODULES: dict[str, str] = {
    "digits": "perfpilot.tasks.digits.spec",
    "imagenet": "perfpilot.tasks.imagenet.spec",
    "squad": "perfpilot.tasks.squad.spec",
    "openimages": "perfpilot.tasks.openimages.spec",
    "kits19": "perfpilot.tasks.kits19.spec",
    "criteo": "perfpilot.tasks.criteo.spec",
    "librispeech": "perfpilot.tasks.librispeech.spec",
    "wdbc": "perfpilot.tasks.wdbc.spec",
    "cnndm": "perfpilot.tasks.cnndm.spec",
    "llama2-70b": "perfpilot.tasks.llama2_70b.spec",
    "deepseek-r1": "perfpilot.tasks.deepseek_r1.spec",
    "gpt-oss-120b": "perfpilot.tasks.gpt_oss_120b.spec",
    "speech2text": "perfpilot.tasks.speech2text.spec",
}


@functools.cache
def tasks() -> dict[str, TaskSpec]:
    """Every task by name, in registry order."""
    found = {}
    for name, module in TASK_MODULES.items():
        spec: TaskSpec = importlib.import_module(module).TASK
        if spec.name != name:
            raise ValueError(f"{module} defines task {spec.name!r}, registered as {name!r}")
        found[name] = spec
    return found


@functools.cache
def models() -> dict[str, ModelSpec]:
    """Every model by name, task by task in registry order."""
    found: dict[str, ModelSpec] = {}
    for name, module in TASK_MODULES.items():
        for model in importlib.import_module(module).MODELS:
            if model.task != name or model.name in found:
                raise ValueError(f"{module}: model {model.name!r} is misfiled or defined twice")
            found[model.name] = model
    return found


def get_model(name: str) -> ModelSpec:
    """The catalog entry for ``name``, or a usage error listing the known models."""
    table = models()
    try:
        return table[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(table), n=3, cutoff=0.5)
        raise UsageError(
            f"unknown model {name!r}",
            (f"Did you mean {' or '.join(close)}? " if close else "")
            + "'perfpilot models list' shows the catalog.",
        ) from None


def get_task(name: str) -> TaskSpec:
    """The task spec for ``name``."""
    table = tasks()
    try:
        return table[name]
    except KeyError:
        raise UsageError(f"unknown task {name!r}", f"Choose one of: {', '.join(table)}.") from None


def model_task(model: ModelSpec) -> TaskSpec:
    """``model``'s task as its file sees it: the dataset built with the model's
    ``dataset_options``, and for ``("layout", "NHWC")`` the per-sample input shape
    channels-last ((3, 224, 224) -> (224, 224, 3)), so that model checks and samples agree.
    The transpose happens once, when the dataset's samples are preprocessed and cached."""
    task = get_task(model.task)
    if model.output_shape:
        task = dataclasses.replace(task, output_shape=model.output_shape)
    if not model.dataset_options:
        return task
    shape = task.input_shape
    if dict(model.dataset_options).get("layout") == "NHWC" and len(shape) == 3:
        shape = (shape[1], shape[2], shape[0])
    return dataclasses.replace(task, input_shape=shape, dataset_options=model.dataset_options)
