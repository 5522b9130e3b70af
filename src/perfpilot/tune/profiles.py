"""Named settings profiles: tuned run options per scenario, saved as YAML in the workspace
(``<workspace>/settings/<NAME>.yaml``) and applied with ``perfpilot run --settings NAME``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from perfpilot.artifacts import atomic_write_text
from perfpilot.config.run import SCENARIOS, RunConfig, Scenario, bounded, config_error
from perfpilot.errors import UsageError
from perfpilot.userfiles import load_yaml
from perfpilot.workspace import Workspace

SCHEMA_VERSION = 1
SETTINGS_DIR = "settings"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class ScenarioOptions(BaseModel):
    """The RunConfig fields a profile may set for a scenario (None: not set)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target_qps: float | None = bounded("target_qps")
    target_latency_ms: float | None = bounded("target_latency_ms")
    batch_size: int | None = bounded("batch_size")
    threads: int | None = bounded("threads")
    backend_threads: int | None = bounded("backend_threads")
    samples_per_query: int | None = bounded("samples_per_query")
    max_wait_ms: float | None = bounded("max_wait_ms")

    def set_fields(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


#: RunConfig fields a profile can override (the identity fields are checked, not overridden).
PROFILE_FIELDS: tuple[str, ...] = tuple(ScenarioOptions.model_fields)


class Profile(BaseModel):
    """A settings profile: which model/backend/device it is for, options per scenario, and
    how they were found (date, machine, measured figures, run ids)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = SCHEMA_VERSION
    name: str
    model: str
    backend: str
    device: str = "cpu"
    scenarios: dict[Scenario, ScenarioOptions] = {}
    found: dict[str, Any] = {}

    def options(self, scenario: str) -> dict[str, Any]:
        """RunConfig field overrides for ``scenario`` (empty if the profile has none)."""
        for name, opts in self.scenarios.items():
            if name.lower() == scenario.lower():
                return opts.set_fields()
        return {}

    def check_for(self, model: str, backend: str, device: str, source: str = "") -> None:
        """Raise a UsageError if this profile was made for another model/backend/device."""
        where = f" ({source})" if source else ""
        for what, mine, theirs in (
            ("model", self.model, model),
            ("backend", self.backend, backend),
            ("device", self.device, device),
        ):
            if mine != theirs:
                raise UsageError(
                    f"settings profile {self.name!r}{where} is for {what} {mine!r}, not {theirs!r}",
                    f"Drop --{what} to use the profile's, or tune one with 'perfpilot tune "
                    f"--model {model} --backend {backend} --save NAME'.",
                )

    def apply(self, configs: Sequence[RunConfig], explicit: Iterable[str] = ()) -> list[RunConfig]:
        """``configs`` with this profile's options; fields named in ``explicit`` (given on
        the command line) keep their value. Model, backend and device must match."""
        keep = set(explicit)
        out = []
        for cfg in configs:
            self.check_for(cfg.model, cfg.backend, cfg.device)
            update = {k: v for k, v in self.options(cfg.scenario).items() if k not in keep}
            try:
                out.append(RunConfig.model_validate({**cfg.model_dump(), **update}))
            except ValidationError as err:  # values that only together are too much
                bad = config_error(err)
                raise UsageError(
                    f"settings profile {self.name!r}, {cfg.scenario}: {bad.message}", bad.hint
                ) from err
        return out

    def to_yaml(self) -> str:
        data = self.model_dump(mode="json", exclude_none=True)
        data["scenarios"] = {k: v.set_fields() for k, v in self.scenarios.items() if v.set_fields()}
        return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def check_name(name: str, what: str = "settings profile") -> str:
    """A profile's (or a sweep's: ``what``) name is a file name: letters, digits, '.',
    '_' and '-'."""
    if not _NAME.match(name):
        raise UsageError(
            f"invalid {what} name {name!r}",
            "Use letters, digits, '.', '_' and '-' (e.g. digits-ort-cpu).",
        )
    return name


def settings_dir(workspace: Workspace) -> Path:
    return workspace.root / SETTINGS_DIR


def profile_path(workspace: Workspace, name: str) -> Path:
    return settings_dir(workspace) / f"{check_name(name)}.yaml"


def list_profiles(workspace: Workspace) -> list[str]:
    """Names of the profiles saved in the workspace, sorted."""
    folder = settings_dir(workspace)
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def _looks_like_path(text: str) -> bool:
    return "/" in text or text.endswith((".yaml", ".yml"))


def load_profile(workspace: Workspace, name_or_path: str) -> Profile:
    """The profile called ``name_or_path`` in the workspace, or the YAML file at that path."""
    if _looks_like_path(name_or_path):
        path = Path(name_or_path).expanduser()
    else:
        path = profile_path(workspace, name_or_path)
    if not path.is_file():
        known = list_profiles(workspace)
        hint = (
            f"Saved profiles: {', '.join(known)}."
            if known
            else "Create one with 'perfpilot tune ... --save NAME'."
        )
        raise UsageError(f"no settings profile {name_or_path!r} (looked for {path})", hint)
    return read_profile(path)


def read_profile(path: Path) -> Profile:
    """Parse and validate a profile file; every problem is one line naming the file."""
    data = load_yaml(
        path, "settings profile", hint="Fix the file or save it again with 'perfpilot tune --save'."
    )
    data.setdefault("name", path.stem)
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise UsageError(
            f"{path}: settings profile schema_version {version!r} is not supported",
            f"This perfpilot reads schema_version {SCHEMA_VERSION}.",
        )
    scenarios = data.get("scenarios") or {}
    if isinstance(scenarios, dict):
        fixed = {}
        for key, value in scenarios.items():
            match = [s for s in SCENARIOS if s.lower() == str(key).lower()]
            if not match:
                raise UsageError(
                    f"{path}: unknown scenario {key!r} under 'scenarios'",
                    f"Use {', '.join(SCENARIOS)}.",
                )
            fixed[match[0]] = value
        data["scenarios"] = fixed
    try:
        return Profile.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "?"
        if first["type"] == "extra_forbidden":
            raise UsageError(
                f"{path}: unknown key {where!r}",
                f"A scenario may set: {', '.join(PROFILE_FIELDS)}.",
            ) from err
        raise UsageError(f"{path}: invalid value for {where!r}: {first['msg'].lower()}") from err


def save_profile(workspace: Workspace, profile: Profile) -> Path:
    """Write the profile atomically to ``<workspace>/settings/<name>.yaml``."""
    path = profile_path(workspace, profile.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# perfpilot settings profile (perfpilot run --settings NAME)\n"
    atomic_write_text(path, header + profile.to_yaml())
    return path


def profile_for_run(
    workspace: Workspace, name_or_path: str, options: dict[str, Any], explicit: Iterable[str]
) -> tuple[Profile, dict[str, Any]]:
    """Load a profile for ``perfpilot run``: model, backend and device come from the profile
    unless given (``explicit``), and must then match it. Returns the profile and the options."""
    profile = load_profile(workspace, name_or_path)
    given = set(explicit)
    options = dict(options)
    for key in ("model", "backend", "device"):
        if key not in given:
            options[key] = getattr(profile, key)
    profile.check_for(
        str(options["model"]), str(options["backend"]), str(options["device"]).lower()
    )
    return profile, options
