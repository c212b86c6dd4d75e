"""The CLI's drawing of library progress: one rich progress bar per task, on stderr."""

from __future__ import annotations

import contextlib
from typing import Any, Dict, Iterator, List, Optional

from fastscnn_edge.core.progress import Progress


@contextlib.contextmanager
def bar(transient: bool = False) -> Iterator[Progress]:
    """A :data:`fastscnn_edge.core.progress.Progress` callback drawing a bar per task (spinner where the
    total is unknown). Nothing is drawn until the first report, so a command that fails before
    any work prints only its error line; the bars close when the block ends."""
    tasks: Dict[str, Any] = {}
    live: List[Any] = []

    def update(task: str, done: int, total: Optional[int]) -> None:
        if not live:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as Bars, SpinnerColumn, TextColumn,
                                       TimeElapsedColumn)

            bars = Bars(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=Console(stderr=True), transient=transient)
            bars.start()
            live.append(bars)
        bars = live[0]
        key = task.split(":", 1)[0]  # "build: <phase>" updates the one "build" bar
        if key not in tasks:
            tasks[key] = bars.add_task(task, total=total)
        bars.update(tasks[key], description=task, completed=done, total=total)

    try:
        yield update
    finally:
        if live:
            live[0].stop()
