"""The `fastscnn-edge` command line: a thin Typer skin over the library.

Each sub-command lives in ``fastscnn_edge/commands/<name>.py`` and exposes ``register(app)``;
this module only assembles them and turns known errors into one readable line.
Set ``FASTSCNN_EDGE_DEBUG=1`` to see tracebacks.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import threading
from typing import Dict, Iterator, List, Optional

import typer

from fastscnn_edge.core.errors import Terminated, UserError
from fastscnn_edge.core.version import __version__

# Order is the order shown in --help: the pipeline first, then the tools around it.
COMMAND_MODULES = (
    "export", "quantize", "engine", "bench", "triton",
    "evaluate", "predict", "ros2", "train",
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


def _command(argv: Optional[List[str]]) -> str:
    """``fastscnn-edge <sub-command>`` as typed (for the interrupt line)."""
    args = list(sys.argv[1:] if argv is None else argv)
    words = [a for a in args if not a.startswith("-")][:1]
    if words and words[0] == "weights":
        words = [a for a in args if not a.startswith("-")][:2]
    return " ".join(["fastscnn-edge", *words])


@contextlib.contextmanager
def _sigterm_as_interrupt(seen: Dict[str, bool]) -> Iterator[None]:
    """SIGTERM raises :class:`~fastscnn_edge.core.errors.Terminated` (a KeyboardInterrupt), so a
    terminated run cleans up exactly like one stopped with Ctrl-C; the previous handler comes back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        seen["term"] = True
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupted(command: str, terminated: bool) -> None:
    how = "terminated (SIGTERM)" if terminated else "interrupted (Ctrl-C, SIGINT)"
    typer.echo(f"error: {command} was {how}; nothing partial was written.", err=True)
    sys.exit(143 if terminated else 130)


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point of the console script; exits with the command's status.

    Ctrl-C exits 130 and SIGTERM 143, each with one line naming the command that was stopped
    (every artifact is written atomically, so nothing partial is left).
    """
    click = _click_module()
    ex = click.exceptions
    exits = tuple(c for c in {getattr(ex, "Exit", None), getattr(typer, "Exit", None)} if c is not None)
    aborts = tuple(c for c in {getattr(ex, "Abort", None), getattr(typer, "Abort", None), KeyboardInterrupt}
                   if c is not None)
    command = _command(argv)
    seen = {"term": False}
    try:
        with _sigterm_as_interrupt(seen):
            status = app(args=argv, prog_name="fastscnn-edge", standalone_mode=False)
    except UserError as exc:
        if _debug():
            raise
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except ModuleNotFoundError as exc:  # torch-only code reached without torch: name the extra, not a traceback
        if _debug() or exc.name not in ("torch", "torchvision"):
            raise
        from fastscnn_edge.core.machine import TORCH_FIX

        typer.echo(f"error: this needs PyTorch, which is not installed here. Fix: {TORCH_FIX}.", err=True)
        sys.exit(3)
    except click.exceptions.UsageError as exc:
        cmd = exc.ctx.command_path if exc.ctx is not None else "fastscnn-edge"
        typer.echo(f"error: {exc.format_message()} Fix: see `{cmd} --help`.", err=True)
        sys.exit(2)
    except aborts as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, EOFError) and not isinstance(exc, KeyboardInterrupt):
            # click turns an EOFError escaping a command into Abort, as it does Ctrl-C: it is not one
            if _debug():
                raise cause from None
            typer.echo(f"error: {command} read a file that ended early ({cause or 'EOFError'}). "
                       "Fix: check the input files; FASTSCNN_EDGE_DEBUG=1 shows where.", err=True)
            sys.exit(1)
        _interrupted(command, seen["term"] or isinstance(exc, Terminated))
    except exits as exc:
        if exc.exit_code == 130:  # typer >= 0.13 turns KeyboardInterrupt into Exit(130)
            _interrupted(command, seen["term"])
        sys.exit(exc.exit_code)
    except click.exceptions.ClickException as exc:
        typer.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    # standalone_mode=False returns the exit code of typer.Exit, and 130 for a KeyboardInterrupt
    if status == 130:
        _interrupted(command, seen["term"])
    sys.exit(status if isinstance(status, int) and not isinstance(status, bool) else 0)
