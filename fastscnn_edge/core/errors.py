"""Errors a user can act on.

A :class:`UserError` carries one line that names the cause and the fix; the CLI prints it and
exits non-zero without a traceback (``FASTSCNN_EDGE_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations


class UserError(Exception):
    """A known failure caused by input, environment or configuration: one readable line."""

    exit_code = 2

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        self.cause = message
        self.fix = fix
        text = message if fix is None else f"{message} Fix: {fix}"
        super().__init__(text)


class MissingDependency(UserError):
    """An optional package (TensorRT, cuda-python, torch, ...) is not installed."""

    exit_code = 3


class ValidationFailed(UserError):
    """An artifact was produced but did not meet its numerical acceptance bar."""

    exit_code = 4


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be, so that every cleanup path (``atomic_path``, the
    training loop's checkpoint report) runs the same way; the CLI exits 143 for it."""


def signal_words(exc: BaseException) -> str:
    """How a run was stopped, for the one-line report: SIGTERM or SIGINT (Ctrl-C)."""
    return "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted (Ctrl-C, SIGINT)"


class Interrupted(UserError):
    """A run stopped by Ctrl-C or SIGTERM whose library code knows what was kept (the training
    loop: which complete checkpoint can be resumed). Exit status 130 (SIGINT) or 143 (SIGTERM)."""

    def __init__(self, message: str, *, fix: str | None = None, terminated: bool = False) -> None:
        super().__init__(message, fix=fix)
        self.exit_code = 143 if terminated else 130
