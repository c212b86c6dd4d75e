"""The CLI's drawing of library progress: one rich progress bar per task, on stderr."""

from __future__ import annotations

import contextlib
from typing import Dict, Iterator, Optional

from fastscnn_edge.progress import Progress


@contextlib.contextmanager
def bar(transient: bool = False) -> Iterator[Progress]:
    """A :data:`fastscnn_edge.progress.Progress` callback drawing a bar per task (spinner where the
    total is unknown); the bars close when the block ends."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bars, SpinnerColumn, TextColumn, TimeElapsedColumn

    tasks: Dict[str, object] = {}
    with Bars(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
              console=Console(stderr=True), transient=transient) as bars:
        def update(task: str, done: int, total: Optional[int]) -> None:
            key = task.split(":", 1)[0]  # "build: <phase>" updates the one "build" bar
            if key not in tasks:
                tasks[key] = bars.add_task(task, total=total)
            bars.update(tasks[key], description=task, completed=done, total=total)  # type: ignore[arg-type]

        yield update
