"""The native checkpoint: a state dict plus everything needed to use it.

File format (``torch.save`` of plain containers; loaded with ``weights_only=True``, so loading
never unpickles arbitrary objects)::

    {
      "format": "fastscnn-edge/1",
      "arch": "paper" | "tramac" | "mmseg",
      "config": {...ArchConfig fields...},
      "num_classes": 19, "class_names": [...],
      "mean": [r, g, b], "std": [r, g, b], "channel_order": "RGB",
      "source": "where the weights came from", "state_sha256": "<sha256 of the tensors>",
      "state_dict": {name: tensor},
    }
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.metadata import CITYSCAPES_CLASSES, IMAGENET_MEAN, IMAGENET_STD
from fastscnn_edge.core.schema import Field, check_format_tag, float_triple, names_list, validate

FORMAT = "fastscnn-edge/1"
SUFFIXES = (".pt", ".pth", ".ckpt")


@dataclass
class Checkpoint:
    arch: str
    state_dict: Dict[str, "object"]
    num_classes: int = 19
    class_names: List[str] = field(default_factory=lambda: list(CITYSCAPES_CLASSES))
    mean: Tuple[float, float, float] = IMAGENET_MEAN
    std: Tuple[float, float, float] = IMAGENET_STD
    channel_order: str = "RGB"
    source: str = ""
    config: Dict[str, object] = field(default_factory=dict)
    state_sha256: str = ""
    extra: Dict[str, object] = field(default_factory=dict)

    def build_model(self, *, aux: bool = False, strict: bool = True):
        """The FastSCNN this checkpoint describes, weights loaded, in eval mode."""
        from fastscnn_edge.model.network import ArchConfig, get_config

        cfg = get_config(self.arch, self.num_classes)
        if self.config:
            known = {k: v for k, v in self.config.items()
                     if k in ArchConfig.__dataclass_fields__ and k not in ("name", "num_classes")}
            cfg = replace(cfg, **known)
        from fastscnn_edge.model.network import FastSCNN

        model = FastSCNN(cfg, aux=aux)
        sd = dict(self.state_dict)
        if not aux:
            sd = {k: v for k, v in sd.items() if not k.startswith("aux_")}
        own = model.state_dict()
        wrong = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in sd.items()
                 if k in own and hasattr(v, "shape") and tuple(v.shape) != tuple(own[k].shape)]
        if wrong:
            raise UserError(
                f"checkpoint does not fit the {self.arch!r} architecture with {self.num_classes} classes: "
                f"{len(wrong)} tensors have other shapes (e.g. {'; '.join(wrong[:2])}).",
                fix="pass the checkpoint's own --arch and class count, or re-import it with `fastscnn-edge import-weights`.")
        missing, unexpected = model.load_state_dict(sd, strict=False)
        if aux:
            missing = [k for k in missing if not k.startswith("aux_")]
        if strict and (missing or unexpected):
            raise UserError(
                f"checkpoint does not fit the {self.arch!r} architecture with {self.num_classes} classes: "
                f"{len(missing)} missing keys (e.g. {', '.join(missing[:3]) or '-'}), "
                f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3]) or '-'}).",
                fix="pass the matching --arch, or convert foreign weights with `fastscnn-edge import-weights`.",
            )
        return model.eval()


def state_sha256(state_dict: Dict[str, "object"]) -> str:
    """A hash of the tensors (names, dtypes, shapes, values), independent of the file format."""
    import torch

    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name]
        if not isinstance(t, torch.Tensor):
            continue
        t = t.detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def from_model(model, *, source: str = "", class_names: Optional[List[str]] = None,  # noqa: ANN001
               mean=IMAGENET_MEAN, std=IMAGENET_STD, extra: Optional[Dict[str, object]] = None) -> Checkpoint:
    sd = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    names = list(class_names) if class_names else (
        list(CITYSCAPES_CLASSES) if model.num_classes == 19 else [f"class_{i}" for i in range(model.num_classes)])
    return Checkpoint(arch=model.cfg.name, state_dict=sd, num_classes=model.num_classes, class_names=names,
                      mean=tuple(mean), std=tuple(std), source=source, config=model.cfg.to_dict(),
                      state_sha256=state_sha256(sd), extra=dict(extra or {}))


def save(ckpt: Checkpoint, path: str | Path) -> Path:
    """Write atomically (temporary file, then rename)."""
    import torch

    from fastscnn_edge.core.fileio import atomic_path

    if not ckpt.state_sha256:
        ckpt.state_sha256 = state_sha256(ckpt.state_dict)
    payload = {
        "format": FORMAT, "arch": ckpt.arch, "config": dict(ckpt.config), "num_classes": int(ckpt.num_classes),
        "class_names": list(ckpt.class_names), "mean": [float(v) for v in ckpt.mean],
        "std": [float(v) for v in ckpt.std], "channel_order": ckpt.channel_order, "source": ckpt.source,
        "state_sha256": ckpt.state_sha256, "extra": dict(ckpt.extra), "state_dict": ckpt.state_dict,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def torch_load(path: Path, *, what: str, fix: str) -> object:
    """``torch.load(path, weights_only=True)`` with every failure turned into one UserError.

    ``weights_only=True`` unpickles tensors and plain containers only, so a file that smuggles code
    (or any other object) is refused, never run; the message says so without repeating PyTorch's
    hint to load it unsafely.
    """
    import warnings

    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol 4": the refusal below says enough
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except MemoryError:
        raise UserError(f"{path} is too large to load into memory as {what}.", fix=fix) from None
    except Exception as exc:  # noqa: BLE001 - torch.load raises many types on a foreign/corrupt file
        raise UserError(f"{path} is not {what} ({_load_failure(exc, path)}).", fix=fix) from None


def _load_failure(exc: BaseException, path: Path) -> str:
    """Why torch.load failed, in a few words; never PyTorch's advice to pass weights_only=False."""
    import re

    text = str(exc)
    found = re.search(r"GLOBAL ([\w.]+)", text) or re.search(r"Unsupported global: ([\w.]+)", text)
    if found:
        return (f"it holds a Python object ({found.group(1)}) besides tensors and plain containers; "
                "fastscnn-edge loads checkpoints with weights_only=True and refuses to unpickle code")
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        head = b""
    if not head or isinstance(exc, EOFError):
        return "the file is empty or ends early"
    if head.startswith(b"PK"):  # torch.save's zip container
        return "a damaged or truncated torch.save archive"
    return "not a torch.save file: neither its zip archive nor a pickle of tensors"


def load_raw(path: str | Path) -> Dict[str, object]:
    """Load a checkpoint file's top-level object safely (``weights_only=True``)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"weights file {p} does not exist.", fix="check the path, or list known weights with `fastscnn-edge weights list`.")
    obj = torch_load(p, what="a loadable PyTorch checkpoint",
                     fix="pass a .pt/.pth file saved with torch.save (state dict or fastscnn-edge checkpoint).")
    if not isinstance(obj, dict):
        raise UserError(f"{p} holds a {type(obj).__name__}, not a state dict.",
                        fix="pass a checkpoint that is a dict of tensors or has a 'state_dict'/'model' entry.")
    return obj


def _is_tensor(value: object) -> Optional[str]:
    import torch

    return None if isinstance(value, torch.Tensor) else "a tensor"


def _schema() -> Dict[str, Field]:
    """The native checkpoint as stored: each field, its type and range (``format`` is checked first)."""
    from fastscnn_edge.core.metadata import ARCHES, CHANNEL_ORDERS, MAX_CLASSES

    config = {  # ArchConfig fields; absent ones take the arch's defaults
        "name": Field(str, default="", choices=("",) + ARCHES),
        "conv1_padding": Field(int, default=None, nullable=True, lo=0, hi=3),
        "dsconv_dw_relu": Field(bool, default=None, nullable=True),
        "ffm_dilation": Field(int, default=None, nullable=True, lo=1, hi=8),
        "ffm_pw_bias": Field(bool, default=None, nullable=True),
        "ppm_project_kernel": Field(int, default=None, nullable=True, choices=(1, 3)),
        "align_corners": Field(bool, default=None, nullable=True),
        "num_classes": Field(int, default=None, nullable=True, lo=1, hi=MAX_CLASSES),
    }
    return {
        "arch": Field(str, choices=ARCHES),
        "num_classes": Field(int, lo=1, hi=MAX_CLASSES),
        "state_dict": Field(dict, keys=Field(str), values=Field(check=_is_tensor, expect="a tensor"),
                            check=lambda d: None if d else "a non-empty dict of tensors"),
        "config": Field(dict, default=dict, fields=config),
        "class_names": Field(list, default=list, items=names_list().items),
        "mean": float_triple(0.0, 1.0, what="RGB, on the 0..1 scale", default=lambda: list(IMAGENET_MEAN)),
        "std": float_triple(0.0, 1.0, what="RGB, on the 0..1 scale", above_lo=True, default=lambda: list(IMAGENET_STD)),
        "channel_order": Field(str, default="RGB", choices=CHANNEL_ORDERS),
        "source": Field(str, default=""),
        "state_sha256": Field(str, default=""),
        "extra": Field(dict, default=dict, keys=Field(str)),
    }


def load(path: str | Path) -> Checkpoint:
    """Load a native checkpoint, every field checked (UserError naming the file, the field and what
    was expected). Foreign checkpoints get a message pointing to import-weights."""
    obj = load_raw(path)
    fix = "re-create it with `fastscnn-edge import-weights` or `fastscnn-edge train`; do not edit checkpoints by hand."
    check_format_tag(obj.get("format"), family="fastscnn-edge", current=int(FORMAT.rsplit("/", 1)[1]), source=str(path),
                     foreign=f"is not a fastscnn-edge checkpoint (no '{FORMAT}' format tag)",
                     fix_foreign=f"convert it first: fastscnn-edge import-weights {path} --from tramac|mmseg -o OUT.pt")
    d = validate(obj, _schema(), source=str(path), fix=fix, what="checkpoint")
    n = d["num_classes"]
    names = d["class_names"] or (list(CITYSCAPES_CLASSES) if n == len(CITYSCAPES_CLASSES)
                                 else [f"class_{i}" for i in range(n)])
    if len(names) != n:
        raise UserError(f"{path}: checkpoint field 'class_names' has {len(names)} names for num_classes {n}.", fix=fix)
    config = {k: v for k, v in d["config"].items() if v is not None and v != ""}
    if config.get("num_classes", n) != n or config.get("name", d["arch"]) != d["arch"]:
        raise UserError(f"{path}: checkpoint field 'config' says {config.get('name', d['arch'])!r} with "
                        f"{config.get('num_classes', n)} classes, but 'arch' and 'num_classes' say {d['arch']!r} with {n}.",
                        fix=fix)
    return Checkpoint(
        arch=d["arch"], state_dict=dict(d["state_dict"]), num_classes=n, class_names=list(names),
        mean=tuple(d["mean"]), std=tuple(d["std"]), channel_order=d["channel_order"],  # type: ignore[arg-type]
        source=d["source"], config=config, state_sha256=d["state_sha256"], extra=dict(d["extra"]),
    )


def resolve_model(weights: Optional[str | Path], arch: Optional[str], num_classes: int = 19, seed: int = 0):
    """(model, checkpoint-or-None): load ``weights`` if given, else a seeded random ``arch`` model.

    Passing both checks that they agree.
    """
    from fastscnn_edge.core.machine import require_torch

    require_torch("building the PyTorch model")
    import torch

    from fastscnn_edge.model.network import build_model

    if weights is not None:
        ckpt = load(weights)
        if arch is not None and arch != ckpt.arch:
            raise UserError(f"{weights} holds a {ckpt.arch!r} model, but --arch {arch} was given.",
                            fix=f"drop --arch or pass --arch {ckpt.arch}.")
        return ckpt.build_model(), ckpt
    torch.manual_seed(seed)
    return build_model(arch or "paper", num_classes).eval(), None
