"""Placement rules: the model is one of the round's, on a system category the round
allows, with every required scenario (and one of Server or Interactive where the round
makes them optional, as for the datacenter LLMs) and no other (closed division), and
stand-in models stay out of the closed division."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from perfpilot.submission import rounds
from perfpilot.submission.check.context import Context
from perfpilot.submission.check.findings import ERROR, WARNING
from perfpilot.submission.rounds import ModelRules
from perfpilot.submission.tree import ScenarioEntry


@dataclass(frozen=True)
class ModelResults:
    """The results of one (division, submitter, system, model), with the model's rules."""

    entries: list[ScenarioEntry]
    mrules: ModelRules | None  # None: not a model of the round (or not one perfpilot checks)
    category: str  # system_type of the system JSON, as written
    required: list[str]  # the scenarios the round requires on that category
    optional: list[str] = field(default_factory=list)  # allowed beside them (Interactive)
    one_of: list[str] = field(default_factory=list)  # at least one of these (Server, Interactive)

    @property
    def first(self) -> ScenarioEntry:
        return self.entries[0]

    @property
    def path(self) -> Path:
        return self.first.path.parent

    @property
    def closed(self) -> bool:
        return self.first.division in ("closed", "network")


def model_results(ctx: Context, entries: list[ScenarioEntry]) -> ModelResults:
    """Group one model's results with its rules and required scenarios (no findings)."""
    first = entries[0]
    mrules = ctx.rules.models.get(ctx.rules.aliases.get(first.model, first.mlperf_model))
    category = str((first.system_json or {}).get("system_type", ""))
    required: list[str] = []
    optional: list[str] = []
    one_of: list[str] = []
    if mrules is not None and category in ctx.common["system_types"]:
        cat = rounds.normalize_category(category)
        required = mrules.required_scenarios.get(cat, [])
        optional = mrules.optional_scenarios.get(cat, [])
        one_of = mrules.one_of(cat)
    return ModelResults(entries, mrules, category, required, optional, one_of)


ModelRule = Callable[[Context, ModelResults], None]
ScenarioRule = Callable[[Context, ModelResults, ScenarioEntry], None]


def _refused_anywhere(ctx: Context, model: ModelResults) -> bool:
    """The checker up to v5.1 refuses, in every division, a model that (after
    model_mapping.json) is not one of the round's or not on the system's category."""
    return model.closed or ctx.rules.layout == "v4"


def in_round(ctx: Context, model: ModelResults) -> None:
    if model.mrules is None and _refused_anywhere(ctx, model):
        ctx.add(
            "model-not-in-round",
            model.path,
            f"'{model.first.model}' is not a model of MLPerf Inference {ctx.rules.name} "
            "(or not one perfpilot checks)",
        )


def category_allowed(ctx: Context, model: ModelResults) -> None:
    mrules = model.mrules
    if mrules is None or model.category not in ctx.common["system_types"]:
        return
    cat = rounds.normalize_category(model.category)
    if cat not in mrules.required_scenarios and _refused_anywhere(ctx, model):
        ctx.add(
            "category-not-allowed",
            model.path,
            f"{model.first.mlperf_model} cannot be submitted on a '{cat}' system in "
            f"{ctx.rules.name} (allowed: {', '.join(mrules.required_scenarios)})",
        )


def scenario_allowed(ctx: Context, model: ModelResults, entry: ScenarioEntry) -> None:
    allowed = model.required + model.optional
    if model.closed and model.required and entry.scenario not in allowed:
        ctx.add(
            "scenario-not-allowed",
            entry.path,
            f"{entry.scenario} is neither required nor optional for {entry.mlperf_model}"
            f" on a {model.category} system",
        )


def standin_closed(ctx: Context, model: ModelResults, entry: ScenarioEntry) -> None:
    if entry.standin and model.closed:
        ctx.add(
            "standin-closed",
            entry.path,
            "these results come from a perfpilot stand-in model (random weights)",
        )


def scenarios_present(ctx: Context, model: ModelResults) -> None:
    present = {
        e.scenario for e in model.entries if e.performance is not None or e.endpoints is not None
    }
    for scen in model.required:
        if scen not in present:
            ctx.add(
                "scenario-missing",
                model.path,
                f"required scenario {scen} is missing for {model.first.mlperf_model} on a "
                f"{model.category} system",
                ERROR if model.closed else WARNING,
            )
    if model.one_of and not present & set(model.one_of):
        ctx.add(
            "scenario-missing",
            model.path,
            f"one of {' or '.join(model.one_of)} is required for {model.first.mlperf_model} "
            f"on a {model.category} system and neither is here",
            ERROR if model.closed else WARNING,
        )


# When each runs, so that findings read in folder order: a model's rules before its
# scenarios, a scenario's before and after its folders, then what is missing.
MODEL_RULES: tuple[ModelRule, ...] = (in_round, category_allowed)
SCENARIO_RULES: tuple[ScenarioRule, ...] = (scenario_allowed,)
SCENARIO_LAST_RULES: tuple[ScenarioRule, ...] = (standin_closed,)
MODEL_LAST_RULES: tuple[ModelRule, ...] = (scenarios_present,)
