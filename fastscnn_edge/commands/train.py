"""`fastscnn-edge train`: train or fine-tune Fast-SCNN with the paper's recipe."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def train_cmd(
    data: Path = typer.Option(..., "--data", help="Dataset root (Cityscapes layout, or a folder of images/ + masks/)."),
    fmt: str = typer.Option("cityscapes", "--data-format", help="cityscapes | folder."),
    weights: Optional[Path] = typer.Option(None, "--weights", "-w", help="Native checkpoint to start from (fine-tuning); another class count re-initialises the classifier."),
    arch: Optional[str] = typer.Option(None, "--arch", "-a", help="paper | tramac | mmseg (default: the --weights' arch, else paper)."),
    crop: str = typer.Option("768x768", "--crop", help="Training crop HxW (multiples of 32), no larger than the images."),
    batch: int = typer.Option(12, "--batch", help="Batch size (paper: 12)."),
    iters: Optional[int] = typer.Option(None, "--iters", help="Iterations to train (exclusive with --epochs)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Epochs to train (default: the paper's 1000)."),
    lr: float = typer.Option(0.045, "--lr", help="Base learning rate of the poly schedule (paper: 0.045, power 0.9)."),
    out: Path = typer.Option(Path("runs/train"), "--output", "-o", help="Output folder: checkpoint.pt, best.pt, train_state.pt, log.csv."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --output exactly where its last checkpoint left it."),
    scale: str = typer.Option("0.5-2", "--scale", help="Random scale range MIN-MAX (paper: 0.5-2)."),
    no_augment: bool = typer.Option(False, "--no-augment", help="No scale, flip, colour noise or brightness (random crop only)."),
    val_every: Optional[int] = typer.Option(None, "--val-every", help="Validation pass every N iterations (default: once per epoch)."),
    ckpt_every: int = typer.Option(500, "--ckpt-every", help="Write checkpoint.pt and train_state.pt every N iterations (and at the end)."),
    workers: int = typer.Option(0, "--workers", help="DataLoader worker processes (results do not depend on it)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the initialisation, the batch order and the augmentation."),
    device: str = typer.Option("auto", "--device", "-d", help="auto (CUDA when present) | cpu | cuda[:N]."),
) -> None:
    """Train or fine-tune Fast-SCNN: SGD, poly lr, aux losses, scale/crop/flip/colour augmentation."""
    from fastscnn_edge.core.fileio import human_size
    from fastscnn_edge.core.machine import require_torch
    from fastscnn_edge.core.resolution import parse_resolution

    require_torch("`fastscnn-edge train`")
    from fastscnn_edge.train.loop import TrainConfig, parse_scale, train

    cfg = TrainConfig(data=data, out=out, format=fmt, arch=arch, weights=weights, crop=parse_resolution(crop),
                      batch=batch, iters=iters, epochs=epochs, lr=lr, scale=parse_scale(scale),
                      augment=not no_augment, val_every=val_every, ckpt_every=ckpt_every, workers=workers,
                      seed=seed, device=device)
    cfg.check()
    from fastscnn_edge.commands.progress import bar

    with bar(transient=True) as progress:
        result = train(cfg, resume=resume, progress=progress, log=lambda m: typer.echo(m, err=True))
    val = f", val mIoU {100 * result.val_miou:.2f} % (best {100 * (result.best_miou or 0):.2f} %)" \
        if result.val_miou is not None else ""
    typer.echo(f"trained {result.iterations}/{result.total_iters} iterations in {result.seconds:.0f} s{val}: "
               f"{result.checkpoint} ({human_size(result.checkpoint.stat().st_size)}) "
               f"-> next: fastscnn-edge export --weights {result.checkpoint}")


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
