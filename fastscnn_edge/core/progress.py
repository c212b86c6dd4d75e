"""How library code reports long work: a callback, never a progress bar of its own.

``Progress`` is ``(task, done, total)``: a short description of what is running, the units done,
and the total (None where unknown). Library functions take ``progress: Optional[Progress] = None``
and call it as they go; the CLI passes :func:`fastscnn_edge.commands.progress.bar`'s callback, which
draws one rich progress bar per task on stderr. ``None`` means silent (tests, embedding code).
"""

from __future__ import annotations

from typing import Callable, Optional

Progress = Callable[[str, int, Optional[int]], None]


def report(progress: Optional[Progress], task: str, done: int, total: Optional[int]) -> None:
    """Call ``progress`` where one was given."""
    if progress is not None:
        progress(task, done, total)
