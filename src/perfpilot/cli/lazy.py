"""A click group whose commands are imported only when they are used."""

from __future__ import annotations

import importlib
from typing import Any

import click


class LazyGroup(click.Group):
    """A group whose commands are imported when one runs or shows its own help.

    Its help lists them from the short help given at registration, so ``perfpilot
    --help`` imports click and none of the command modules (numpy, pydantic, rich and the
    runtimes come with the command that needs them). Commands added with ``add_command``
    work as usual. ``tests/test_cli_startup.py`` holds each registered help to the
    command's own.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, tuple[str, str, tuple[str, ...]]] = {}

    def add_lazy_command(
        self, name: str, target: str, short_help: str, attach: tuple[str, ...] = ()
    ) -> None:
        """Register ``module:attribute`` as ``name``; each ``attach`` (``module:function``)
        is called with the command once it is loaded (to add subcommands of its own)."""
        self.lazy[name] = (target, short_help, attach)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            target, _, attach = self.lazy[cmd_name]
            command = _load(target)
            for hook in attach:
                _load(hook)(command)
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        limit = formatter.width - 6 - max(len(n) for n in self.list_commands(ctx))
        for name in self.list_commands(ctx):
            if name in self.commands:
                command = self.commands[name]
                if command.hidden:
                    continue
                text = command.get_short_help_str(limit)
            else:
                # shortened as click shortens a loaded command's help
                text = click.Command(name, help=self.lazy[name][1]).get_short_help_str(limit)
            rows.append((name, text))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _load(target: str) -> Any:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)
