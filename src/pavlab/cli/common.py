"""Shared CLI plumbing: typed-config commands and one-line errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import typer

from pavlab.config import Config, describe_fields, load_config

C = TypeVar("C", bound=Config)

OVERRIDE_SETTINGS = {"allow_extra_args": True, "ignore_unknown_options": True}


def config_command(group: typer.Typer, name: str, config_cls: type[C], section: str | None = None,
                   ) -> Callable[[Callable[[C], None]], Callable[[C], None]]:
    """Register `fn(config)` as `pavlab ... NAME [--config recipe.yaml] [--field value ...]`.

    The command's help lists every config field, so nothing is reachable only through YAML.
    """
    def decorator(fn: Callable[[C], None]) -> Callable[[C], None]:
        epilog = "Fields (override with --field value; nested with --a.b value):\n\n" + "\n\n".join(
            describe_fields(config_cls))

        @group.command(name, context_settings=OVERRIDE_SETTINGS, help=fn.__doc__, epilog=epilog)
        def command(ctx: typer.Context,
                    config: Path | None = typer.Option(None, "--config", help="YAML recipe to start from")) -> None:
            fn(load_config(config_cls, config, ctx.args, section=section or name.replace("-", "_")))

        return fn

    return decorator
