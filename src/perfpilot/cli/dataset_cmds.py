"""``perfpilot dataset ...``: helpers for datasets users supply. Each task that can make
a stand-in of its dataset names its command (``TaskSpec.synthetic``); the group lists them
as ``synthetic-<task>`` and imports one only when it runs."""

from __future__ import annotations

from typing import Any

import click


class _TaskCommands(click.Group):
    """The ``synthetic-<task>`` commands of the task registry, loaded on use."""

    def _targets(self) -> dict[str, str]:
        from perfpilot.tasks import tasks

        return {f"synthetic-{t.name}": t.synthetic for t in tasks().values() if t.synthetic}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self._targets()])

    def get_command(self, ctx: click.Context, cmd_name: str) -> Any:
        target = self._targets().get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        from perfpilot.tasks.spec import resolve

        return resolve(target)


@click.group(cls=_TaskCommands)
def dataset() -> None:
    """Datasets: make stand-ins for machines without the real ones."""
