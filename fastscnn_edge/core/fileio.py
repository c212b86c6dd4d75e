"""Atomic file output: write to a temporary file beside the target, rename on success.

A failed or interrupted write (exception, Ctrl-C) leaves no partial artifact behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from fastscnn_edge.core.errors import UserError


def ensure_writable_dir(path: Path) -> None:
    """Create ``path.parent`` if needed and check it is writable; raise UserError otherwise."""
    parent = Path(path).parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"cannot create output folder {parent}: {exc.strerror}.",
            fix="choose a writable location with -o/--output.",
        ) from None
    if not os.access(parent, os.W_OK):
        raise UserError(
            f"output folder {parent} is not writable.",
            fix="choose a writable location with -o/--output.",
        )


def check_writable(path: str | os.PathLike) -> None:
    """Fail early (UserError) if ``path`` could not be written atomically; touches nothing there."""
    target = Path(path)
    if target.is_dir():
        raise UserError(f"output {target} is a folder.", fix="pass a file name with -o/--output.")
    os.unlink(_temp_beside(target, ".probe"))


def _temp_beside(target: Path, suffix: str) -> Path:
    """A new empty file in ``target``'s folder (made if needed), named after it; UserError where the
    folder cannot be written."""
    ensure_writable_dir(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    except OSError as exc:
        raise UserError(f"cannot write into {target.parent}: {exc.strerror}.",
                        fix="choose a writable location with -o/--output.") from None
    os.close(fd)
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` on success.

    On any exception (KeyboardInterrupt included) the temporary file is removed and the
    target is left untouched.
    """
    target = Path(path)
    tmp_path = _temp_beside(target, ".part")
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) and SIGTERM until the block ends, then act on the first one as if it
    had just arrived: a set of files and what the caller records about them happen together (a
    training run saves its state, then notes which iteration that state holds). Main thread only;
    elsewhere a plain block."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, lambda signum, frame: pending.append((signum, frame))) for s in held}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if pending:
            signum, frame = pending[0]
            handler = previous[signum]
            if callable(handler):
                handler(signum, frame)
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), signum)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def human_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TB"
