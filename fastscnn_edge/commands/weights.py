"""`fastscnn-edge import-weights` and `fastscnn-edge weights list|download`: public checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

import typer

weights_app = typer.Typer(help="Known public Fast-SCNN checkpoints: list, download (verified), import.",
                          no_args_is_help=True)


def _import(src: Path, source: str, output: Path, num_classes: Optional[int], description: str = "") -> None:
    """Import, save, and print what was mapped and the next command."""
    import time

    from fastscnn_edge.core.machine import require_torch

    require_torch("`fastscnn-edge import-weights`")
    from fastscnn_edge.core.fileio import check_writable, human_size, sha256_file
    from fastscnn_edge.model.checkpoint import save
    from fastscnn_edge.model.convert import import_checkpoint

    check_writable(output)
    t0 = time.perf_counter()
    ckpt = import_checkpoint(src, source, num_classes, description=description)
    model = ckpt.build_model()
    from fastscnn_edge.model.network import count_parameters

    params = count_parameters(model)
    save(ckpt, output)
    extra: Dict[str, Any] = ckpt.extra
    typer.echo(f"mapped {extra['mapped_tensors']} tensors from {src.name} ({source} layout) onto fastscnn-edge "
               f"{ckpt.arch!r}, {ckpt.num_classes} classes; aux tensors kept: {extra['aux_tensors']}")
    for note in extra.get("notes", []):
        typer.echo(f"note: {note}")
    typer.echo(f"parameters: {params['all']:,} (conv weights {params['conv']:,}, without aux heads)")
    typer.echo(f"{output}  {human_size(output.stat().st_size)}  sha256 {sha256_file(output)}  "
               f"in {time.perf_counter() - t0:.1f} s -> next: fastscnn-edge export --weights {output}")


def import_weights_cmd(
    src: Path = typer.Argument(..., help="Checkpoint of the public project (.pth)."),
    source: str = typer.Option(..., "--from", help="Layout of SRC: tramac | mmseg."),
    output: Path = typer.Option(..., "--output", "-o", help="Native checkpoint to write (.pt)."),
    num_classes: Optional[int] = typer.Option(None, "--classes", help="Expected class count (default: from SRC)."),
) -> None:
    """Convert a Tramac or mmsegmentation Fast-SCNN checkpoint to the native format (strict key mapping)."""
    _import(src, source, output, num_classes)


@weights_app.command("list")
def list_cmd() -> None:
    """Show the known public checkpoints."""
    from rich.console import Console
    from rich.table import Table

    from fastscnn_edge.model.registry import REGISTRY, weights_dir

    table = Table(title=f"public Fast-SCNN checkpoints (downloads go to {weights_dir()})")
    for col in ("name", "from", "classes", "mIoU %", "sha256", "licence"):
        table.add_column(col)
    for w in REGISTRY.values():
        digest = w.sha256 or (f"{w.sha256_prefix}... (prefix)" if w.sha256_prefix else "unknown")
        table.add_row(w.name, w.source, str(w.num_classes), f"{w.miou:.2f}", digest, w.licence)
    Console(width=160).print(table)


@weights_app.command("download")
def download_cmd(
    name: str = typer.Argument(..., help="Registry name (see `weights list`) or an http(s)/file URL."),
    do_import: bool = typer.Option(False, "--import", help="Also convert it to a native checkpoint beside it."),
    source: Optional[str] = typer.Option(None, "--from", help="Layout, for a URL with --import: tramac | mmseg."),
    dest: Optional[Path] = typer.Option(None, "--dir", help="Folder (default: $FASTSCNN_EDGE_WEIGHTS_DIR or ./models)."),
    sha256: Optional[str] = typer.Option(None, "--sha256", help="Expected sha256 (overrides the registry's)."),
) -> None:
    """Download a checkpoint, verify its sha256, and optionally import it."""
    from fastscnn_edge.core.errors import UserError
    from fastscnn_edge.core.fileio import human_size
    from fastscnn_edge.model.registry import REGISTRY, download

    entry = REGISTRY.get(name)
    layout = source or (entry.source if entry else None)
    if do_import and layout is None:
        raise UserError("--import of a URL needs the layout.", fix="add --from tramac or --from mmseg.")
    from fastscnn_edge.commands.progress import bar

    with bar(transient=True) as progress:
        path = download(name, dest, sha256=sha256, progress=progress)
    typer.echo(f"{path}  {human_size(path.stat().st_size)}  verified")
    if not do_import:
        typer.echo(f"next: fastscnn-edge import-weights {path} --from {layout or 'tramac|mmseg'} "
                   f"-o {path.with_suffix('.native.pt')}")
        return
    assert layout is not None
    description = f"{entry.name}: {entry.filename} ({entry.miou:.2f} % mIoU reported)" if entry else ""
    _import(path, layout, path.with_suffix(".native.pt"), None, description)


def register(app: typer.Typer) -> None:
    app.command("import-weights")(import_weights_cmd)
    app.add_typer(weights_app, name="weights")
