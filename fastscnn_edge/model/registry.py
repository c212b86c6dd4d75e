"""The known public Fast-SCNN checkpoints, and a verified download.

Weights are data: each entry says where the file is, how to check it, which layout it has
(``source``, the ``--from`` of ``import-weights``) and what it was reported to score. A download
streams into a temporary file beside the target, checks the sha256 (the full hash where known,
else the 8-hex prefix mmsegmentation puts in its file names) and only then renames it, so a
refused or interrupted download leaves nothing behind.

torch-free (urllib only).
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Optional

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.progress import Progress

WEIGHTS_DIR_ENV = "FASTSCNN_EDGE_WEIGHTS_DIR"
_CHUNK = 1 << 16
_MMSEG_HASH = re.compile(r"-([0-9a-f]{8,64})\.pth?$")


@dataclass(frozen=True)
class PublicWeights:
    """One published checkpoint."""

    name: str
    url: str
    filename: str
    source: str  # layout: the --from of import-weights
    num_classes: int
    miou: float  # reported Cityscapes val mIoU, percent
    licence: str
    notes: str
    sha256: Optional[str] = None  # full hash where known
    sha256_prefix: Optional[str] = None  # what the publisher's file name encodes

    def to_dict(self) -> Dict[str, object]:
        return asdict(self)


REGISTRY: Dict[str, PublicWeights] = {w.name: w for w in (
    PublicWeights(
        name="tramac-cityscapes",
        url="https://github.com/Tramac/Fast-SCNN-pytorch/raw/master/weights/fast_scnn_citys.pth",
        filename="fast_scnn_citys.pth",
        source="tramac", num_classes=19, miou=54.84,
        licence="no licence file in Tramac/Fast-SCNN-pytorch (all rights reserved by default); "
                "trained on Cityscapes (non-commercial dataset terms)",
        notes="README reports 54.84 % mIoU / 92.37 % pixAcc at crop 768 but gives no download link; "
              "models/fast_scnn.py loads ./weights/fast_scnn_citys.pth, the URL points there (unverified). "
              "No published hash.",
    ),
    PublicWeights(
        name="mmseg-cityscapes",
        url="https://download.openmmlab.com/mmsegmentation/v0.5/fast_scnn/fast_scnn_lr0.12_8x4_160k_cityscapes/"
            "fast_scnn_lr0.12_8x4_160k_cityscapes_20210630_164853-0cec9937.pth",
        filename="fast_scnn_lr0.12_8x4_160k_cityscapes_20210630_164853-0cec9937.pth",
        source="mmseg", num_classes=19, miou=70.96,
        licence="Apache-2.0 (open-mmlab/mmsegmentation); trained on Cityscapes (non-commercial dataset terms)",
        notes="configs/fastscnn/metafile.yaml: 70.96 % mIoU (72.65 ms+flip), 512x1024 crops, 160k iterations, "
              "batch 32. File name ends in the first 8 hex digits of its sha256.",
        sha256_prefix="0cec9937",
    ),
)}


def weights_dir() -> Path:
    """Where downloads go: ``$FASTSCNN_EDGE_WEIGHTS_DIR``, else ``./models``."""
    return Path(os.environ.get(WEIGHTS_DIR_ENV, "models"))


def get(name: str) -> PublicWeights:
    if name not in REGISTRY:
        raise UserError(f"unknown checkpoint {name!r}.",
                        fix=f"use one of: {', '.join(REGISTRY)} (see `fastscnn-edge weights list`), or a URL.")
    return REGISTRY[name]


@dataclass(frozen=True)
class _Target:
    url: str
    filename: str
    sha256: Optional[str]
    prefix: Optional[str]


def _resolve(name_or_url: str, sha256: Optional[str]) -> _Target:
    if "://" not in name_or_url:
        entry = get(name_or_url)
        return _Target(entry.url, entry.filename, sha256 or entry.sha256, entry.sha256_prefix)
    parsed = urllib.parse.urlparse(name_or_url)
    if parsed.scheme not in ("http", "https", "file"):
        raise UserError(f"unsupported URL scheme {parsed.scheme!r} in {name_or_url}.",
                        fix="use an http(s):// or file:// URL, or a registry name.")
    filename = Path(urllib.parse.unquote(parsed.path)).name
    if not filename:
        raise UserError(f"{name_or_url} names no file.", fix="pass the URL of the .pth file itself.")
    m = _MMSEG_HASH.search(filename)
    return _Target(name_or_url, filename, sha256, m.group(1) if m else None)


def _check_hash(digest: str, target: _Target) -> Optional[str]:
    """None when the hash matches what is known, else the reason it does not."""
    if target.sha256 and digest != target.sha256.lower():
        return f"sha256 {digest[:16]}... is not the expected {target.sha256.lower()[:16]}..."
    if not target.sha256 and target.prefix and not digest.startswith(target.prefix.lower()):
        return f"sha256 {digest[:16]}... does not start with {target.prefix}, as its file name says"
    return None


def _open(url: str):  # noqa: ANN202 - a urllib response
    try:
        return urllib.request.urlopen(url, timeout=30)  # noqa: S310 - scheme checked in _resolve
    except urllib.error.HTTPError as exc:
        raise UserError(f"download of {url} failed: HTTP {exc.code} {exc.reason}.",
                        fix="check the URL; the publisher may have moved the file.") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UserError(f"cannot reach {url}: {reason}.",
                        fix="check the network (or proxy), or download the file by hand and use import-weights.") from None


def _stream(response, out: Path, progress: Optional[Progress], label: str) -> str:  # noqa: ANN001
    """Copy the response to ``out``; return its sha256. ``progress`` gets bytes done / total."""
    from fastscnn_edge.core.progress import report

    h = hashlib.sha256()
    header = response.headers.get("Content-Length") if response.headers else None
    total = int(header) if header and header.isdigit() else None
    done = 0
    with open(out, "wb") as f:
        try:
            while True:
                block = response.read(_CHUNK)
                if not block:
                    break
                h.update(block)
                f.write(block)
                done += len(block)
                report(progress, f"downloading {label}", done, total)
        except OSError as exc:
            raise UserError(f"download of {label} broke off: {exc}.", fix="run the command again.") from None
    return h.hexdigest()


def download(name_or_url: str, dest_dir: Optional[str | Path] = None, sha256: Optional[str] = None,
             progress: Optional[Progress] = None) -> Path:
    """Download a registry checkpoint (by name) or a URL into ``dest_dir``; return the file's path.

    The sha256 is checked before the file appears under its name (full hash where known, else the
    publisher's file-name prefix); a mismatch raises UserError and leaves nothing behind. A file
    already there that passes the check is not downloaded again.
    """
    from fastscnn_edge.core.fileio import atomic_path, sha256_file

    target = _resolve(name_or_url, sha256)
    dest = Path(dest_dir) if dest_dir is not None else weights_dir()
    path = dest / target.filename
    if path.is_file() and _check_hash(sha256_file(path), target) is None:
        return path
    with _open(target.url) as response, atomic_path(path) as tmp:
        digest = _stream(response, tmp, progress, target.filename)
        problem = _check_hash(digest, target)
        if problem:
            raise UserError(f"refused {target.url}: {problem}; nothing was kept.",
                            fix="retry; if it persists the file changed upstream: pass --sha256 only if you trust it.")
    return path
