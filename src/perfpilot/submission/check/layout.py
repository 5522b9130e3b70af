"""Layout rules: what the tree's root and division folders may hold, and what each
submitter folder must have (the round's layout, systems, calibration, code)."""

from __future__ import annotations

from collections.abc import Callable

from perfpilot.submission.check.context import Context
from perfpilot.submission.check.files import check_walk
from perfpilot.submission.check.system import check_system
from perfpilot.submission.tree import DIVISIONS, SubmitterDir, files, is_dir, is_file

ROOT_DIRS_IGNORED = {".git", ".github", "assets"}
LAYOUT_NAMES = {"v4": "v4.1-v5.1 (code/, measurements/, compliance/)", "v6": "v6.x (src/)"}

TreeRule = Callable[[Context], None]
SubmitterRule = Callable[[Context, SubmitterDir], None]


def root_entries(ctx: Context) -> None:
    """The root holds division folders and .md/.pdf files only."""
    for item in sorted(ctx.root.iterdir(), key=lambda p: p.name):
        if item.is_symlink() or item.is_file():
            if item.is_symlink() or item.suffix.lower() not in (".md", ".pdf"):
                ctx.add("root-stray-file", item, "file at the root of the tree")
        elif item.name not in DIVISIONS and item.name not in ROOT_DIRS_IGNORED:
            ctx.add("unknown-division", item, f"'{item.name}' is not a division folder")


def division_files(ctx: Context) -> None:
    for division in DIVISIONS:
        ddir = ctx.root / division
        if not is_dir(ddir):
            continue
        for item in files(ddir):
            ctx.add("division-stray-file", item, "file directly in the division folder")


def layout_matches(ctx: Context, sub: SubmitterDir) -> None:
    if sub.layout != ctx.rules.layout:
        ctx.add(
            "layout-mismatch",
            sub.path,
            f"the tree has the {LAYOUT_NAMES[sub.layout]} layout, round {ctx.rules.name} wants "
            f"the {LAYOUT_NAMES[ctx.rules.layout]} one",
        )


def systems_have_results(ctx: Context, sub: SubmitterDir) -> None:
    # only v5.1's checker refuses a system description without results: v4.1 and v5.0
    # had no such rule, and the modular checker (v6.x) dropped it
    if ctx.rules.name != "v5.1":
        return
    with_results = _systems_with_results(sub)
    for name, path in sub.systems.items():
        if name not in with_results:
            ctx.add("system-without-results", path, f"system '{name}' has no results")


def calibration(ctx: Context, sub: SubmitterDir) -> None:
    # The official checker asks for the calibration document from v5.1 on.
    needs_calibration = ctx.rules.name not in ("v4.1", "v5.0")
    if (
        needs_calibration
        and sub.division in ("closed", "network")
        and not (
            is_file(sub.path / "calibration.md")
            or is_file(sub.path / "documentation" / "calibration.md")
        )
    ):
        ctx.add("calibration-missing", sub.path, "no calibration.md")


def system_descriptions(ctx: Context, sub: SubmitterDir) -> None:
    """Every system with results has a valid description (the rules of ``check.system``)."""
    for name in sorted(_systems_with_results(sub)):
        check_system(ctx, sub, name)


def code_folders(ctx: Context, sub: SubmitterDir) -> None:
    if sub.layout == "v6":
        return  # src/ holds every model's code: each result reports its absence
    models = {e.model for e in ctx.tree.entries if e.submitter == sub.name}
    for model in sorted(models):
        code = sub.path / "code" / model
        if not (is_dir(code) or is_file(code)):
            ctx.add("code-missing", code, f"no code folder for {model}")


TREE_RULES: tuple[TreeRule, ...] = (root_entries, division_files)
SUBMITTER_RULES: tuple[SubmitterRule, ...] = (
    layout_matches,
    systems_have_results,
    calibration,
    system_descriptions,
    code_folders,
)


def check_layout(ctx: Context) -> None:
    """The tree's structure: root, divisions, then each submitter's files and layout."""
    for tree_rule in TREE_RULES:
        tree_rule(ctx)
    for sub in ctx.tree.submitters:
        check_walk(ctx, sub.path)
        for rule in SUBMITTER_RULES:
            rule(ctx, sub)


def _systems_with_results(sub: SubmitterDir) -> set[str]:
    results = sub.path / "results"
    return {p.name for p in results.iterdir() if is_dir(p)} if is_dir(results) else set()
