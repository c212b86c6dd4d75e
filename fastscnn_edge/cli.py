"""The `fastscnn-edge` command line: a thin Typer skin over the library.

Each sub-command lives in ``fastscnn_edge/commands/<name>.py`` and exposes ``register(app)``;
this module only assembles them and turns known errors into one readable line.
Set ``FASTSCNN_EDGE_DEBUG=1`` to see tracebacks.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import List, Optional

import typer

from fastscnn_edge import __version__
from fastscnn_edge.errors import UserError

# Order is the order shown in --help: the pipeline first, then the tools around it.
COMMAND_MODULES = (
    "export", "quantize", "engine", "bench", "triton",
    "evaluate", "predict", "train",
    "info", "weights",
)

app = typer.Typer(
    name="fastscnn-edge",
    help="Fast-SCNN from PyTorch to a deployed, measured engine: export -> quantize -> build-engine -> bench.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fastscnn-edge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(None, "--version", callback=_version, is_eager=True,
                                           help="Print the version and exit."),
) -> None:
    """Fast-SCNN from PyTorch to a deployed, measured engine."""


for _name in COMMAND_MODULES:
    try:
        _mod = importlib.import_module(f"fastscnn_edge.commands.{_name}")
    except ModuleNotFoundError as _exc:  # a command module not written yet must not break the rest
        if _exc.name != f"fastscnn_edge.commands.{_name}":
            raise
        continue
    _mod.register(app)


def _debug() -> bool:
    return os.environ.get("FASTSCNN_EDGE_DEBUG", "") not in ("", "0")


def _click_module():  # typer >= 0.2x vendors click as typer._click; older typer uses click
    try:
        from typer import _click as click  # type: ignore[attr-defined]
    except ImportError:
        import click  # type: ignore[no-redef]
    return click


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point of the console script; exits with the command's status."""
    click = _click_module()
    ex = click.exceptions
    exits = tuple(c for c in {getattr(ex, "Exit", None), getattr(typer, "Exit", None)} if c is not None)
    aborts = tuple(c for c in {getattr(ex, "Abort", None), getattr(typer, "Abort", None), KeyboardInterrupt}
                   if c is not None)
    try:
        app(args=argv, prog_name="fastscnn-edge", standalone_mode=False)
    except UserError as exc:
        if _debug():
            raise
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except ModuleNotFoundError as exc:  # torch-only code reached without torch: name the extra, not a traceback
        if _debug() or exc.name not in ("torch", "torchvision"):
            raise
        from fastscnn_edge.machine import TORCH_FIX

        typer.echo(f"error: this needs PyTorch, which is not installed here. Fix: {TORCH_FIX}.", err=True)
        sys.exit(3)
    except click.exceptions.UsageError as exc:
        cmd = exc.ctx.command_path if exc.ctx is not None else "fastscnn-edge"
        typer.echo(f"error: {exc.format_message()} Fix: see `{cmd} --help`.", err=True)
        sys.exit(2)
    except aborts:
        typer.echo("error: interrupted; nothing was written.", err=True)
        sys.exit(130)
    except exits as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.ClickException as exc:
        typer.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    sys.exit(0)
