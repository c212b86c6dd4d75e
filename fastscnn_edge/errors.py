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
