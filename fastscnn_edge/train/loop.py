"""Training and fine-tuning with the paper's recipe (Fast-SCNN, section 4.1).

Defaults are the paper's: SGD momentum 0.9, batch 12, poly learning rate (base 0.045, power 0.9),
weight decay 4e-5 on every conv weight except the depthwise ones (and, our choice, not on BN
parameters and biases: decaying them only shrinks the normalisation, as in mmseg/timm), cross-entropy
ignoring 255, auxiliary losses weighted 0.4 after learning-to-downsample and after the global feature
extractor, dropout before the classifier (in :class:`~fastscnn_edge.model.network.Classifier`), and
augmentation: random scale 0.5-2, crop (padded with the ignore label), horizontal flip, colour
channel noise and brightness.

Exact resume: the batch composition and every augmentation draw are functions of (seed, iteration,
slot in the batch), not of a running random state, so they survive a restart (also with
``workers > 0``); what does run on a global state (dropout) is restored from the training-state
file, together with the optimizer (momentum buffers) and the iteration, which is the scheduler's
position. Output folder::

    OUT/checkpoint.pt       native checkpoint (checkpoint.save), every --ckpt-every iterations and at the end
    OUT/best.pt             native checkpoint of the best validation mIoU so far
    OUT/train_state.pt      model (with aux heads), optimizer, RNG states, iteration: what --resume reads
    OUT/train_config.json   the run's configuration
    OUT/log.csv             one row per iteration (loss, lr, validation mIoU where measured)

torch is imported here: the CLI imports this module only inside the `train` command.
"""

from __future__ import annotations

import csv
import json
import math
import random
import re
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.fileio import signals_held
from fastscnn_edge.core.progress import Progress, report
from fastscnn_edge.data.datasets import IGNORE, class_names, read_pair
from fastscnn_edge.train.data import AugmentedSet, BatchPlan, DataSplit, check_crop, load_split, to_tensor

STATE_FORMAT = "fastscnn-edge-train/1"
CSV_FIELDS = ("iteration", "epoch", "loss", "loss_main", "lr", "seconds", "val_miou")
# Fields that must not change across --resume: they decide the batches, the schedule or the model.
RESUME_KEYS = ("data", "format", "arch", "weights", "crop", "batch", "total_iters", "lr", "momentum",
               "weight_decay", "power", "aux_weight", "scale", "augment", "brightness", "color_noise", "seed")


@dataclass
class TrainConfig:
    """One training run. ``iters`` and ``epochs`` are exclusive; with neither, the paper's 1000 epochs."""

    data: Path
    out: Path = Path("runs/train")
    format: str = "cityscapes"
    train_split: str = "train"
    val_split: str = "val"
    arch: Optional[str] = None  # None: the --weights' architecture, else "paper"
    weights: Optional[Path] = None
    crop: Tuple[int, int] = (768, 768)
    batch: int = 12
    iters: Optional[int] = None
    epochs: Optional[int] = None
    lr: float = 0.045
    momentum: float = 0.9
    weight_decay: float = 4e-5
    power: float = 0.9
    aux_weight: float = 0.4
    scale: Tuple[float, float] = (0.5, 2.0)
    augment: bool = True
    brightness: float = 0.25  # brightness factor drawn from [1 - b, 1 + b]
    color_noise: float = 10.0  # std of a per-channel offset, on the 0..255 scale
    val_every: Optional[int] = None  # iterations; None: once per epoch
    ckpt_every: int = 500
    workers: int = 0
    seed: int = 0
    device: str = "auto"

    def check(self) -> None:
        """Reject bad options before any data is read."""
        if self.iters is not None and self.epochs is not None:
            raise UserError("--iters and --epochs were both given.", fix="pass one of them.")
        for name in ("iters", "epochs", "val_every"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise UserError(f"--{name.replace('_', '-')} must be positive (got {value}).", fix="pass a number >= 1.")
        if self.batch < 2:
            raise UserError(f"--batch {self.batch} is too small: batch norm after the PPM's 1x1 pooling needs at "
                            "least 2 images per batch.", fix="pass --batch 2 or more (paper: 12).")
        if self.ckpt_every <= 0 or self.workers < 0:
            raise UserError(f"--ckpt-every {self.ckpt_every} must be positive and --workers {self.workers} not "
                            "negative.", fix="pass e.g. --ckpt-every 500 --workers 0.")
        if self.lr <= 0:
            raise UserError(f"--lr must be positive (got {self.lr}).", fix="use e.g. the paper's 0.045.")
        if not 0 < self.scale[0] <= self.scale[1]:
            raise UserError(f"scale range {self.scale} is not 0 < min <= max.", fix="use e.g. the paper's 0.5-2.")
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            raise UserError(f"unknown --device {self.device!r}.", fix="use auto, cpu, cuda or cuda:N.")


@dataclass
class TrainResult:
    checkpoint: Path
    state: Path
    log: Path
    iterations: int
    total_iters: int
    losses: List[float] = field(default_factory=list)  # the iterations run in this call
    val_miou: Optional[float] = None  # the last validation pass, if any
    best_miou: Optional[float] = None
    seconds: float = 0.0


# ---------------------------------------------------------------------------------------------
# Model, optimizer, loss


def param_groups(model: nn.Module, weight_decay: float) -> List[Dict[str, object]]:
    """Decay the weights of full and pointwise convs; not depthwise convs, BN, biases."""
    decay, no_decay = [], []
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            is_dw = isinstance(module, nn.Conv2d) and module.groups > 1 and module.groups == module.in_channels
            if isinstance(module, nn.Conv2d) and name == "weight" and not is_dw:
                decay.append(p)
            else:
                no_decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def poly_lr(base: float, it: int, total: int, power: float) -> float:
    return base * (1 - it / total) ** power


def seg_loss(outputs, target: Tensor, aux_weight: float) -> Tuple[Tensor, Tensor]:  # noqa: ANN001
    """(total loss, main loss): cross-entropy ignoring 255, plus the weighted aux losses."""
    if isinstance(outputs, Tensor):
        outputs = (outputs,)
    # The mean over the labelled pixels, written out so that an all-void batch gives 0, not NaN.
    labelled = (target != IGNORE).sum().clamp(min=1)

    def ce(logits: Tensor) -> Tensor:
        return F.cross_entropy(logits, target, ignore_index=IGNORE, reduction="sum") / labelled

    main = ce(outputs[0])
    total = main
    for aux in outputs[1:]:
        total = total + aux_weight * ce(aux)
    return total, main


def build_for_training(cfg: TrainConfig, num_classes: int, log) -> nn.Module:  # noqa: ANN001
    """A FastSCNN with aux heads: fresh, or initialised from a native checkpoint (``--weights``).

    To another class count, the classifier's last conv and the aux heads' last convs are
    re-initialised and everything else is kept.
    """
    from dataclasses import replace

    from fastscnn_edge.model import checkpoint
    from fastscnn_edge.model.network import ArchConfig, FastSCNN, get_config

    torch.manual_seed(cfg.seed)
    if cfg.weights is None:
        return FastSCNN(get_config(cfg.arch or "paper", num_classes), aux=True)
    ckpt = checkpoint.load(cfg.weights)
    if cfg.arch is not None and cfg.arch != ckpt.arch:
        raise UserError(f"{cfg.weights} holds a {ckpt.arch!r} model, but --arch {cfg.arch} was given.",
                        fix=f"drop --arch or pass --arch {ckpt.arch}.")
    arch_cfg = get_config(ckpt.arch, num_classes)
    known: Dict[str, Any] = {k: v for k, v in ckpt.config.items()
                             if k in ArchConfig.__dataclass_fields__ and k not in ("name", "num_classes")}
    model = FastSCNN(replace(arch_cfg, **known), aux=True)
    own = model.state_dict()
    given = cast(Dict[str, Tensor], ckpt.state_dict)
    kept = {k: v for k, v in given.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    model.load_state_dict(kept, strict=False)
    fresh = sorted(set(own) - set(kept))
    reinit = [k for k in fresh if not k.startswith("aux_")]
    note = f"initialised from {cfg.weights} ({ckpt.arch}, {ckpt.num_classes} classes): {len(kept)} tensors kept"
    if ckpt.num_classes != num_classes:
        note += f"; classifier re-initialised for {num_classes} classes (was {ckpt.num_classes})"
    if reinit:
        note += f"; fresh: {', '.join(reinit)}"
    if any(k.startswith("aux_") for k in fresh):
        note += "; aux heads fresh"
    log(note)
    return model


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name} was asked for, but torch sees no CUDA GPU.", fix="use --device cpu or auto.")
    return torch.device(name)


@torch.no_grad()
def validate(model: nn.Module, split: DataSplit, fmt: str, num_classes: int, device: torch.device) -> Tuple[float, np.ndarray]:
    """(mIoU, per-class IoU) over whole images at their own size, one confusion matrix for the split."""
    from fastscnn_edge.data.metrics import ConfusionMatrix

    was_training = model.training
    model.eval()
    cm = ConfusionMatrix(num_classes)
    for sample in split.samples:
        img, lab = read_pair(sample, fmt, num_classes)
        pred = model(to_tensor(img)[None].to(device)).argmax(1)[0].cpu().numpy()
        cm.update(lab, pred.astype(np.uint8))
    model.train(was_training)
    return cm.miou(), cm.class_iou()


# ---------------------------------------------------------------------------------------------
# State


def _rng_state() -> Dict[str, Any]:
    np_state: Dict[str, Any] = np.random.get_state(legacy=False)  # type: ignore[assignment]
    np_state["state"] = {"key": [int(v) for v in np_state["state"]["key"]], "pos": int(np_state["state"]["pos"])}
    state: Dict[str, Any] = {"python": random.getstate(), "numpy": np_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    np_state = dict(state["numpy"])
    np_state["state"] = {"key": np.asarray(np_state["state"]["key"], np.uint32), "pos": np_state["state"]["pos"]}
    np.random.set_state(np_state)
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _config_json(cfg: TrainConfig, total: int) -> Dict[str, object]:
    d = {f.name: getattr(cfg, f.name) for f in fields(cfg)}
    d = {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v) for k, v in d.items()}
    d["total_iters"] = total
    return d


def _save_state(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, iteration: int,
                config: Dict[str, object], best: Optional[float]) -> None:
    from fastscnn_edge.core.fileio import atomic_path

    payload = {"format": STATE_FORMAT, "iteration": iteration, "model": model.state_dict(),
               "optimizer": optimizer.state_dict(), "rng": _rng_state(), "config": config, "best_miou": best}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _is_tensor(value: object) -> Optional[str]:
    return None if isinstance(value, torch.Tensor) else "a tensor"


def _state_schema() -> Dict[str, Any]:
    """The training state as stored (``format`` is checked first)."""
    from fastscnn_edge.core.schema import Field

    tensors = Field(dict, keys=Field(str), values=Field(check=_is_tensor, expect="a tensor"),
                    check=lambda d: None if d else "a non-empty dict of tensors")
    return {
        "iteration": Field(int, lo=0),
        "model": tensors,
        "optimizer": Field(dict, fields={"state": Field(dict), "param_groups": Field(list, length=(1, None), items=Field(dict))}),
        "rng": Field(dict, fields={"python": Field(list, length=3), "numpy": Field(dict),
                                   "torch": Field(check=_is_tensor, expect="a tensor"),
                                   "cuda": Field(list, default=None, nullable=True)}),
        "config": Field(dict, keys=Field(str), fields=None, check=lambda c: None if isinstance(
            c.get("total_iters"), int) and not isinstance(c.get("total_iters"), bool) and c["total_iters"] >= 1
            else "the run's options with an integer total_iters >= 1"),
        "best_miou": Field(float, lo=0.0, hi=1.0, nullable=True, default=None),
    }


def _load_state(path: Path) -> Dict[str, Any]:
    """The training state at ``path``, every field checked (UserError naming the file and field)."""
    from fastscnn_edge.core.schema import check_format_tag
    from fastscnn_edge.core.schema import validate as check_fields
    from fastscnn_edge.model.checkpoint import torch_load

    if not path.is_file():
        raise UserError(f"--resume: there is no training state {path}.",
                        fix="start without --resume, or pass the --out folder of the run to continue.")
    fix = "start the run again without --resume (into a new --out), or restore the folder's train_state.pt."
    state = torch_load(path, what="a fastscnn-edge training state", fix=fix)
    if not isinstance(state, dict):
        raise UserError(f"{path} holds a {type(state).__name__}, not a fastscnn-edge training state.", fix=fix)
    check_format_tag(state.get("format"), family="fastscnn-edge-train", current=int(STATE_FORMAT.rsplit("/", 1)[1]),
                     source=str(path), foreign="is not a fastscnn-edge training state",
                     fix_foreign="pass the --out folder of a `train` run.")
    d = check_fields(state, _state_schema(), source=str(path), fix=fix, what="training state")
    if d["iteration"] > d["config"]["total_iters"]:
        raise UserError(f"{path}: training state field 'iteration' is {d['iteration']}, past the run's "
                        f"{d['config']['total_iters']} iterations.", fix=fix)
    return d


def _restore(path: Path, saved: Dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Load the saved model, optimizer and RNG states; UserError where they do not fit this run."""
    try:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        _set_rng_state(saved["rng"])
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as exc:
        first = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise UserError(f"{path} does not fit this run's model and optimizer ({type(exc).__name__}: {first}).",
                        fix="start the run again without --resume (into a new --out).") from None


def _check_resume(saved: Dict[str, object], now: Dict[str, object], path: Path) -> None:
    diff = [f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in RESUME_KEYS if saved.get(k) != now.get(k)]
    if diff:
        raise UserError(f"--resume with other settings than the run in {path.parent} ({'; '.join(diff[:3])}).",
                        fix="repeat the original options (see train_config.json there), or train into a new --out.")


def _save_checkpoint(model: nn.Module, path: Path, names: List[str], extra: Dict[str, object]) -> None:
    from fastscnn_edge.model import checkpoint

    ckpt = checkpoint.from_model(model, source="fastscnn-edge train", class_names=names, extra=extra)
    ckpt.state_dict = {k: v for k, v in ckpt.state_dict.items() if not k.startswith("aux_")}  # training only
    ckpt.state_sha256 = checkpoint.state_sha256(ckpt.state_dict)
    checkpoint.save(ckpt, path)


def _kept_rows(path: Path, resume_at: int) -> List[Dict[str, str]]:
    """The log rows up to ``resume_at``; UserError naming the file where it is not our CSV."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        return [r for r in rows if int(r["iteration"]) <= resume_at]
    except (UnicodeDecodeError, csv.Error, KeyError, TypeError, ValueError):
        raise UserError(f"{path} is not the training log this run wrote (a row without an iteration number).",
                        fix="move it away; --resume then starts a new log (the training state is not in it).") from None


class _CsvLog:
    """The per-iteration CSV log; on resume, rows past the restored iteration are dropped."""

    def __init__(self, path: Path, resume_at: Optional[int]) -> None:
        from fastscnn_edge.core.fileio import atomic_write_text

        self.path = path
        rows: List[Dict[str, str]] = []
        if resume_at is not None and path.is_file():
            rows = _kept_rows(path, resume_at)
        lines = [",".join(CSV_FIELDS)] + [",".join(r.get(k, "") for k in CSV_FIELDS) for r in rows]
        atomic_write_text(path, "\n".join(lines) + "\n")
        self.file = open(path, "a", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=CSV_FIELDS)

    def write(self, row: Dict[str, object]) -> None:
        self.writer.writerow(row)
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def _tensorboard(out: Path):  # noqa: ANN202
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard not installed: the CSV log is the record
        return None
    return SummaryWriter(str(out / "tensorboard"))


# ---------------------------------------------------------------------------------------------
# The loop


def train(cfg: TrainConfig, *, resume: bool = False, stop_at: Optional[int] = None, progress: Optional[Progress] = None,
          log: Optional[Callable[[str], None]] = None) -> TrainResult:
    """Train (or fine-tune) per ``cfg``; with ``resume`` continue the run in ``cfg.out`` exactly.

    ``stop_at`` ends the call after that many iterations (a checkpoint is written there) without
    changing the schedule: a later ``resume=True`` call continues as if never stopped. ``progress``
    gets the data checks and the iterations (loss and learning rate in the task text); ``log`` the
    lines worth reading (validation results, resume point).
    """
    say = log or (lambda _m: None)
    cfg.check()
    device = resolve_device(cfg.device)  # before the data is read: a missing GPU fails at once
    names = class_names(cfg.data, cfg.format, cfg.train_split)
    num_classes = len(names)
    train_split = load_split(cfg.data, cfg.format, cfg.train_split, num_classes, required=True, progress=progress)
    assert train_split is not None
    check_crop(train_split, cfg.crop)
    val_split = load_split(cfg.data, cfg.format, cfg.val_split, num_classes, required=False, progress=progress)
    if val_split is None:
        say(f"no '{cfg.val_split}' split under {cfg.data}: no validation passes.")

    per_epoch = math.ceil(len(train_split.samples) / cfg.batch)
    total = cfg.iters if cfg.iters is not None else per_epoch * (cfg.epochs if cfg.epochs is not None else 1000)
    val_every = cfg.val_every or per_epoch
    config = _config_json(cfg, total)
    out = Path(cfg.out)
    state_path = out / "train_state.pt"
    saved = _load_state(state_path) if resume else None
    if saved is not None:
        _check_resume(saved["config"], config, state_path)
        if (out / "log.csv").is_file():
            _kept_rows(out / "log.csv", int(saved["iteration"]))  # a damaged log fails before any work

    model = build_for_training(cfg, num_classes, say).to(device)
    optimizer = torch.optim.SGD(param_groups(model, cfg.weight_decay), lr=cfg.lr, momentum=cfg.momentum)
    start, best = 0, None
    if saved is not None:
        _restore(state_path, saved, model, optimizer)
        start, best = int(saved["iteration"]), saved["best_miou"]
        say(f"resuming {out} at iteration {start} of {total}")
    from fastscnn_edge.core.fileio import atomic_write_text

    atomic_write_text(out / "train_config.json", json.dumps(config, indent=2) + "\n")
    stop = min(total, stop_at) if stop_at is not None else total
    return _loop(cfg, config, model, optimizer, train_split, val_split, names, device, start, stop, val_every,
                 best, progress, say)


def _loop(cfg: TrainConfig, config: Dict[str, object], model: nn.Module, optimizer: torch.optim.Optimizer,
          train_split: DataSplit, val_split: Optional[DataSplit], names: List[str], device: torch.device,
          start: int, stop: int, val_every: int, best: Optional[float], progress: Optional[Progress],
          say: Callable[[str], None]) -> TrainResult:
    out = Path(cfg.out)
    total = int(config["total_iters"])  # type: ignore[call-overload]
    per_epoch = math.ceil(len(train_split.samples) / cfg.batch)
    loader = torch.utils.data.DataLoader(
        AugmentedSet(train_split.samples, cfg.format, len(names), cfg),
        batch_sampler=BatchPlan(len(train_split.samples), cfg.batch, cfg.seed, start, stop),
        num_workers=cfg.workers, generator=torch.Generator().manual_seed(cfg.seed),  # never the global RNG
        pin_memory=device.type == "cuda")
    log, tb = _CsvLog(out / "log.csv", start if start else None), _tensorboard(out)
    result = TrainResult(out / "checkpoint.pt", out / "train_state.pt", out / "log.csv", start, total, best_miou=best)
    t0 = time.perf_counter()
    saved_at = start
    model.train()
    try:
        report(progress, "training", start, total)
        for it, (x, y) in zip(range(start, stop), loader):
            lr = poly_lr(cfg.lr, it, total, cfg.power)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss, main = seg_loss(model(x.to(device)), y.to(device), cfg.aux_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            done = it + 1
            result.losses.append(loss.item())
            row: Dict[str, object] = {"iteration": done, "epoch": f"{done / per_epoch:.3f}", "loss": f"{loss.item():.6f}",
                                      "loss_main": f"{main.item():.6f}", "lr": f"{lr:.8f}",
                                      "seconds": f"{time.perf_counter() - t0:.2f}", "val_miou": ""}
            if val_split is not None and (done % val_every == 0 or done == total):
                miou, _ = validate(model, val_split, cfg.format, len(names), device)
                row["val_miou"], result.val_miou = f"{miou:.6f}", miou
                if best is None or miou > best:
                    best = result.best_miou = miou
                    _save_checkpoint(model, out / "best.pt", names, {"iteration": done, "val_miou": miou})
                say(f"iteration {done}: val mIoU {100 * miou:.2f} % (best {100 * best:.2f} %)")
            log.write(row)
            if tb is not None:
                tb.add_scalar("loss", loss.item(), done)
                tb.add_scalar("lr", lr, done)
            if done % cfg.ckpt_every == 0 or done == stop:
                extra = {"iteration": done, "total_iters": total, "val_miou": result.val_miou}
                with signals_held():  # a Ctrl-C lands after saved_at names what the files hold
                    _save_checkpoint(model, out / "checkpoint.pt", names, extra)
                    _save_state(out / "train_state.pt", model, optimizer, done, config, best)
                    saved_at = done
            result.iterations = done
            report(progress, f"training: loss {loss.item():.4f}, lr {lr:.5f}", done, total)
    except KeyboardInterrupt as exc:
        from fastscnn_edge.core.errors import Interrupted, Terminated, signal_words

        what = f"fastscnn-edge train was {signal_words(exc)} during iteration {result.iterations + 1} of {total}"
        if saved_at:
            raise Interrupted(f"{what}; {out / 'train_state.pt'} holds the complete state of iteration {saved_at} "
                              "(every file is written whole or not at all).",
                              fix="run the same command with --resume to continue from there.",
                              terminated=isinstance(exc, Terminated)) from None
        raise Interrupted(f"{what}, before its first checkpoint (every {cfg.ckpt_every} iterations); no state was "
                          "saved, nothing partial was written.",
                          fix="start it again (a smaller --ckpt-every saves sooner).",
                          terminated=isinstance(exc, Terminated)) from None
    finally:
        log.close()
        if tb is not None:
            tb.close()
    result.seconds = time.perf_counter() - t0
    return result


def parse_scale(text: str) -> Tuple[float, float]:
    """``0.5-2`` -> (0.5, 2.0)."""
    try:
        lo, hi = (float(v) for v in text.split("-"))
    except ValueError:
        raise UserError(f"scale range {text!r} is not of the form MIN-MAX.", fix="write it like 0.5-2.") from None
    return lo, hi

