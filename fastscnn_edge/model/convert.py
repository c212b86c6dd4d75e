"""Import the public Fast-SCNN checkpoints (Tramac, mmsegmentation) into the native format.

Each public layout names its tensors differently; ``_RULES`` maps every key of a layout onto our
:class:`~fastscnn_edge.model.network.FastSCNN`. The import is strict: every source tensor must be placed
and every tensor of our model filled, with the same shape, or nothing is written. The two
auxiliary (training-only) heads are kept when their shapes fit ours and dropped with a note
otherwise. Layout sources (read for this module, see ``models/README.md``):

- Tramac/Fast-SCNN-pytorch ``models/fast_scnn.py``
- open-mmlab/mmsegmentation ``mmseg/models/backbones/fast_scnn.py`` (since PR #606, June 2021),
  ``mmseg/models/decode_heads/sep_fcn_head.py``, ``configs/_base_/models/fast_scnn.py``

torch is imported inside the functions: the CLI imports this module lazily anyway.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.model.checkpoint import Checkpoint

if TYPE_CHECKING:
    from fastscnn_edge.model.network import ArchConfig

log = logging.getLogger(__name__)

SOURCES = ("tramac", "mmseg")

# mmseg's layout since PR #606 (June 2021; the code metafile.yaml links, v0.17.0) pads the first
# conv by 1 (`padding=1` in LearningToDownsample). Padding is invisible in the weights, but the
# 70.96 % checkpoint has that layout's key shapes (3x3 GFE `out` conv, depthwise FFM conv).
MMSEG_CONV1_PADDING = 1

_BN = r"(weight|bias|running_mean|running_var|num_batches_tracked)"
_T = r"(weight|bias)"

# (source pattern, our name). Patterns are full matches; the first that matches wins.
_RULES: Dict[str, Sequence[Tuple[str, str]]] = {
    "tramac": (
        (rf"learning_to_downsample\.conv\.conv\.([01])\.{_BN}", r"learning_to_downsample.conv.\1.\2"),
        (rf"(learning_to_downsample|classifier)\.(dsconv[12])\.conv\.([01])\.{_BN}", r"\1.\2.conv_dw.\3.\4"),
        (rf"(learning_to_downsample|classifier)\.(dsconv[12])\.conv\.3\.{_BN}", r"\1.\2.conv_pw.0.\3"),
        (rf"(learning_to_downsample|classifier)\.(dsconv[12])\.conv\.4\.{_BN}", r"\1.\2.conv_pw.1.\3"),
        (rf"global_feature_extractor\.(bottleneck[123]\.\d+)\.block\.0\.conv\.([01])\.{_BN}",
         r"global_feature_extractor.\1.conv_pw.\2.\3"),
        (rf"global_feature_extractor\.(bottleneck[123]\.\d+)\.block\.1\.conv\.([01])\.{_BN}",
         r"global_feature_extractor.\1.conv_dw.\2.\3"),
        (rf"global_feature_extractor\.(bottleneck[123]\.\d+)\.block\.2\.{_BN}",
         r"global_feature_extractor.\1.conv_pwl.0.\2"),
        (rf"global_feature_extractor\.(bottleneck[123]\.\d+)\.block\.3\.{_BN}",
         r"global_feature_extractor.\1.conv_pwl.1.\2"),
        *((rf"global_feature_extractor\.ppm\.conv{i + 1}\.conv\.([01])\.{_BN}",
           rf"global_feature_extractor.ppm.stages.{i}.\1.\2") for i in range(4)),  # bins 1, 2, 3, 6
        (rf"global_feature_extractor\.ppm\.out\.conv\.([01])\.{_BN}", r"global_feature_extractor.ppm.project.\1.\2"),
        (rf"feature_fusion\.dwconv\.conv\.([01])\.{_BN}", r"feature_fusion.conv_dw.\1.\2"),
        (rf"feature_fusion\.(conv_lower_res|conv_higher_res)\.([01])\.{_BN}", r"feature_fusion.\1.\2.\3"),
        (rf"classifier\.conv\.1\.{_T}", r"classifier.conv.\1"),
        (rf"auxlayer\.([01])\.{_BN}", r"aux_lds.conv.\1.\2"),
        (rf"auxlayer\.4\.{_T}", r"aux_lds.cls.\1"),
    ),
    "mmseg": (
        (rf"backbone\.learning_to_downsample\.conv\.conv\.{_T}", r"learning_to_downsample.conv.0.\1"),
        (rf"backbone\.learning_to_downsample\.conv\.bn\.{_BN}", r"learning_to_downsample.conv.1.\1"),
        (rf"backbone\.learning_to_downsample\.(dsconv[12])\.depthwise_conv\.conv\.{_T}",
         r"learning_to_downsample.\1.conv_dw.0.\2"),
        (rf"backbone\.learning_to_downsample\.(dsconv[12])\.depthwise_conv\.bn\.{_BN}",
         r"learning_to_downsample.\1.conv_dw.1.\2"),
        (rf"backbone\.learning_to_downsample\.(dsconv[12])\.pointwise_conv\.conv\.{_T}",
         r"learning_to_downsample.\1.conv_pw.0.\2"),
        (rf"backbone\.learning_to_downsample\.(dsconv[12])\.pointwise_conv\.bn\.{_BN}",
         r"learning_to_downsample.\1.conv_pw.1.\2"),
        (rf"backbone\.global_feature_extractor\.(bottleneck[123]\.\d+)\.conv\.0\.conv\.{_T}",
         r"global_feature_extractor.\1.conv_pw.0.\2"),
        (rf"backbone\.global_feature_extractor\.(bottleneck[123]\.\d+)\.conv\.0\.bn\.{_BN}",
         r"global_feature_extractor.\1.conv_pw.1.\2"),
        (rf"backbone\.global_feature_extractor\.(bottleneck[123]\.\d+)\.conv\.1\.conv\.{_T}",
         r"global_feature_extractor.\1.conv_dw.0.\2"),
        (rf"backbone\.global_feature_extractor\.(bottleneck[123]\.\d+)\.conv\.1\.bn\.{_BN}",
         r"global_feature_extractor.\1.conv_dw.1.\2"),
        (rf"backbone\.global_feature_extractor\.(bottleneck[123]\.\d+)\.conv\.2\.conv\.{_T}",
         r"global_feature_extractor.\1.conv_pwl.0.\2"),
        (rf"backbone\.global_feature_extractor\.(bottleneck[123]\.\d+)\.conv\.2\.bn\.{_BN}",
         r"global_feature_extractor.\1.conv_pwl.1.\2"),
        (rf"backbone\.global_feature_extractor\.ppm\.([0-3])\.1\.conv\.{_T}",
         r"global_feature_extractor.ppm.stages.\1.0.\2"),
        (rf"backbone\.global_feature_extractor\.ppm\.([0-3])\.1\.bn\.{_BN}",
         r"global_feature_extractor.ppm.stages.\1.1.\2"),
        (rf"backbone\.global_feature_extractor\.out\.conv\.{_T}", r"global_feature_extractor.ppm.project.0.\1"),
        (rf"backbone\.global_feature_extractor\.out\.bn\.{_BN}", r"global_feature_extractor.ppm.project.1.\1"),
        (rf"backbone\.feature_fusion\.dwconv\.conv\.{_T}", r"feature_fusion.conv_dw.0.\1"),
        (rf"backbone\.feature_fusion\.dwconv\.bn\.{_BN}", r"feature_fusion.conv_dw.1.\1"),
        (rf"backbone\.feature_fusion\.(conv_lower_res|conv_higher_res)\.conv\.{_T}", r"feature_fusion.\1.0.\2"),
        (rf"backbone\.feature_fusion\.(conv_lower_res|conv_higher_res)\.bn\.{_BN}", r"feature_fusion.\1.1.\2"),
        (rf"decode_head\.convs\.0\.depthwise_conv\.conv\.{_T}", r"classifier.dsconv1.conv_dw.0.\1"),
        (rf"decode_head\.convs\.0\.depthwise_conv\.bn\.{_BN}", r"classifier.dsconv1.conv_dw.1.\1"),
        (rf"decode_head\.convs\.0\.pointwise_conv\.conv\.{_T}", r"classifier.dsconv1.conv_pw.0.\1"),
        (rf"decode_head\.convs\.0\.pointwise_conv\.bn\.{_BN}", r"classifier.dsconv1.conv_pw.1.\1"),
        (rf"decode_head\.convs\.1\.depthwise_conv\.conv\.{_T}", r"classifier.dsconv2.conv_dw.0.\1"),
        (rf"decode_head\.convs\.1\.depthwise_conv\.bn\.{_BN}", r"classifier.dsconv2.conv_dw.1.\1"),
        (rf"decode_head\.convs\.1\.pointwise_conv\.conv\.{_T}", r"classifier.dsconv2.conv_pw.0.\1"),
        (rf"decode_head\.convs\.1\.pointwise_conv\.bn\.{_BN}", r"classifier.dsconv2.conv_pw.1.\1"),
        (rf"decode_head\.conv_seg\.{_T}", r"classifier.conv.\1"),
        # Aux FCN heads: `auxiliary_head.<i>.` (a list) or `auxiliary_head.` (a single head). Which of
        # our two heads each one is follows from its input channels (64: after learning to
        # downsample, 128: after the global feature extractor), so they map to a placeholder here.
        (rf"auxiliary_head\.(?:(\d+)\.)?convs\.0\.conv\.{_T}", r"aux@\1.conv.0.\2"),
        (rf"auxiliary_head\.(?:(\d+)\.)?convs\.0\.bn\.{_BN}", r"aux@\1.conv.1.\2"),
        (rf"auxiliary_head\.(?:(\d+)\.)?conv_seg\.{_T}", r"aux@\1.cls.\2"),
    ),
}

_AUX_BY_CHANNELS = {64: "aux_lds", 128: "aux_gfe"}


@dataclass
class ImportReport:
    """What the import placed, and what it dropped and why."""

    source: str
    mapped: int = 0
    aux_mapped: int = 0
    dropped: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


def _first(names: Sequence[str], n: int = 3) -> str:
    return ", ".join(list(names)[:n]) or "-"


def _strip_wrappers(obj: Dict[str, Any], path: Path) -> Dict[str, Any]:
    """The state dict inside a file: plain, or under 'state_dict'/'model'; 'module.' removed."""
    import torch

    for key in ("state_dict", "model"):
        if key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise UserError(f"{path} holds no tensors (keys: {_first(sorted(map(str, obj)))}).",
                        fix="pass the .pth file of a Tramac or mmsegmentation Fast-SCNN checkpoint.")
    if len(tensors) != len(obj):
        others = sorted(k for k in obj if k not in tensors)
        raise UserError(f"{path}: {len(others)} state-dict entries are not tensors (e.g. {_first(others)}).",
                        fix="pass a plain state dict or a checkpoint with a 'state_dict' entry.")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in tensors.items()}


def _translate(sd: Dict[str, Any], source: str) -> Tuple[Dict[str, Any], List[str], Dict[str, str]]:
    """Rename every key by the source's rules: (renamed, keys no rule placed, our name -> source name)."""
    rules = [(re.compile(p), r) for p, r in _RULES[source]]
    out: Dict[str, Any] = {}
    unplaced: List[str] = []
    origin: Dict[str, str] = {}
    for key, value in sd.items():
        for pattern, repl in rules:
            m = pattern.fullmatch(key)
            if m:
                new = m.expand(repl)
                out[new] = value
                origin[new] = key
                break
        else:
            unplaced.append(key)
    return out, unplaced, origin


def _resolve_aux(sd: Dict[str, Any], report: ImportReport, origin: Dict[str, str]) -> Dict[str, Any]:
    """Give each mmseg aux head (placeholder ``aux@<i>``) its name from its input channels."""
    heads = sorted({k.split(".", 1)[0] for k in sd if k.startswith("aux@")})
    out = {k: v for k, v in sd.items() if not k.startswith("aux@")}
    for head in heads:
        part = {k.split(".", 1)[1]: v for k, v in sd.items() if k.split(".", 1)[0] == head}
        w = part.get("conv.0.weight")
        name = _AUX_BY_CHANNELS.get(int(w.shape[1])) if w is not None else None
        if name is None or any(k.startswith(name + ".") for k in out):
            report.dropped.extend(f"{head}.{k}" for k in part)
            first = origin[f"{head}.{next(iter(part))}"]
            report.notes.append(f"dropped the aux head of {first}: its input matches neither of our aux heads")
            continue
        out.update({f"{name}.{k}": v for k, v in part.items()})
        origin.update({f"{name}.{k}": origin[f"{head}.{k}"] for k in part})
    return out


def _check_old_mmseg(sd: Dict[str, Any], path: Path) -> None:
    w = sd.get("backbone.feature_fusion.dwconv.conv.weight")
    if w is not None and int(w.shape[1]) != 1:
        raise UserError(
            f"{path} has the mmsegmentation layout from before its June 2021 fix (PR #606: dense 1x1 FFM conv, 1x1 PPM output conv), "
            "which no fastscnn-edge variant represents.",
            fix="use the post-fix checkpoint fast_scnn_lr0.12_8x4_160k_cityscapes_20210630_164853-0cec9937.pth "
                "(`fastscnn-edge weights download mmseg-cityscapes`).")


def _infer_classes(sd: Dict[str, Any], num_classes: Optional[int], path: Path) -> int:
    w = sd.get("classifier.conv.weight")
    if w is None:
        raise UserError(f"{path} has no classifier conv (no key maps to classifier.conv.weight).",
                        fix="check --from: is this a Tramac (tramac) or an mmsegmentation (mmseg) checkpoint?")
    from fastscnn_edge.core.metadata import MAX_CLASSES

    found = int(w.shape[0]) if getattr(w, "ndim", 0) >= 1 else 0
    if not 1 <= found <= MAX_CLASSES:
        raise UserError(f"{path}: the classifier conv has {found} output channels; a segmentation head has "
                        f"1..{MAX_CLASSES} classes.",
                        fix="check that the file is a trained Fast-SCNN checkpoint (its classifier.conv.weight is damaged).")
    if num_classes is not None and num_classes != found:
        raise UserError(f"{path} has {found} classes, not the {num_classes} asked for.",
                        fix=f"drop --classes or pass --classes {found}.")
    return found


def _target_config(source: str, num_classes: int) -> "ArchConfig":
    from fastscnn_edge.model.network import get_config

    cfg = get_config(source, num_classes)
    if source == "mmseg" and cfg.conv1_padding != MMSEG_CONV1_PADDING:
        cfg = replace(cfg, conv1_padding=MMSEG_CONV1_PADDING)
    return cfg


def _check_against_model(sd: Dict[str, Any], cfg: "ArchConfig", path: Path, source: str,
                         report: ImportReport) -> Dict[str, Any]:
    """Strict: every main key filled with the right shape, nothing unplaced; aux heads kept if they fit."""
    from fastscnn_edge.model.network import FastSCNN

    own = FastSCNN(cfg, aux=True).state_dict()
    main_own = {k for k in own if not k.startswith("aux_")}
    counters = sorted(k for k in main_own - set(sd) if k.endswith(".num_batches_tracked"))
    if counters:  # files saved by PyTorch < 0.4.1 lack BN step counters; inference never reads them
        sd = {**sd, **{k: own[k].clone() for k in counters}}
        report.notes.append(f"filled {len(counters)} missing BatchNorm num_batches_tracked counters with 0")
    missing = sorted(main_own - set(sd))
    wrong = [f"{k} {tuple(v.shape)} vs ours {tuple(own[k].shape)}"
             for k, v in sd.items() if k in own and tuple(v.shape) != tuple(own[k].shape)
             and not k.startswith("aux_")]
    if missing:
        raise UserError(f"{path} does not fill our {source!r} model: {len(missing)} tensors missing "
                        f"(e.g. {_first(missing)}).",
                        fix=f"check --from {source}: is the file a complete {source} Fast-SCNN checkpoint?")
    if wrong:
        raise UserError(f"{path}: {len(wrong)} tensors have other shapes than our {source!r} model "
                        f"(e.g. {'; '.join(wrong[:2])}).",
                        fix="check --from, and that the checkpoint is a Fast-SCNN of the published width.")
    out = {k: v for k, v in sd.items() if not k.startswith("aux_")}
    for head in ("aux_lds", "aux_gfe"):
        part = {k: v for k, v in sd.items() if k.startswith(head + ".")}
        if not part:
            continue
        fits = set(part) == {k for k in own if k.startswith(head + ".")} and all(
            tuple(v.shape) == tuple(own[k].shape) for k, v in part.items())
        if fits:
            out.update(part)
            report.aux_mapped += len(part)
        else:
            report.dropped.extend(sorted(part))
            report.notes.append(f"dropped the aux head mapped to {head}: its shapes differ from ours")
    return out


def map_state_dict(sd: Dict[str, Any], source: str, *, num_classes: Optional[int] = None,
                   path: Path = Path("<state dict>")) -> Tuple[Dict[str, Any], "ArchConfig", ImportReport]:
    """Map a public state dict onto ours: (our state dict, our ArchConfig, report). Strict."""
    if source not in SOURCES:
        raise UserError(f"unknown checkpoint source {source!r}.", fix=f"use --from {' or '.join(SOURCES)}.")
    report = ImportReport(source=source)
    if source == "mmseg":
        _check_old_mmseg(sd, path)
    renamed, unplaced, origin = _translate(sd, source)
    if unplaced:
        raise UserError(f"{path}: {len(unplaced)} tensors have no place in our {source!r} model "
                        f"(e.g. {_first(unplaced)}).",
                        fix=f"check --from: the keys do not follow the {source} layout.")
    if source == "mmseg":
        renamed = _resolve_aux(renamed, report, origin)
    classes = _infer_classes(renamed, num_classes, path)
    cfg = _target_config(source, classes)
    mapped = _check_against_model(renamed, cfg, path, source, report)
    report.mapped = len(mapped)
    report.dropped = [origin.get(k, k) for k in report.dropped]
    for note in report.notes:
        log.info("%s: %s", path, note)
    return mapped, cfg, report


def import_checkpoint(src: str | Path, source: str, num_classes: Optional[int] = None, *,
                      description: str = "") -> Checkpoint:
    """Read a Tramac or mmsegmentation checkpoint and return it as a native :class:`Checkpoint`.

    The result reproduces the source network's outputs (RGB input, ImageNet mean/std on the 0..1
    scale, as both projects train). ``report`` of the import is in ``checkpoint.extra``.
    """
    from fastscnn_edge.core.fileio import sha256_file
    from fastscnn_edge.core.metadata import CITYSCAPES_CLASSES
    from fastscnn_edge.model.checkpoint import load_raw, state_sha256

    path = Path(src)
    if source not in SOURCES:
        raise UserError(f"unknown checkpoint source {source!r}.", fix=f"use --from {' or '.join(SOURCES)}.")
    sd = _strip_wrappers(load_raw(path), path)
    mapped, cfg, report = map_state_dict(sd, source, num_classes=num_classes, path=path)
    classes = cfg.num_classes
    names = list(CITYSCAPES_CLASSES) if classes == len(CITYSCAPES_CLASSES) else [f"class_{i}" for i in range(classes)]
    file_sha = sha256_file(path)
    ckpt = Checkpoint(
        arch=source, state_dict=mapped, num_classes=classes, class_names=names, source=description or
        f"{source} checkpoint {path.name} (sha256 {file_sha[:12]})", config=cfg.to_dict(),
        state_sha256=state_sha256(mapped),
        extra={"imported_from": source, "source_file": path.name, "source_sha256": file_sha,
               "mapped_tensors": report.mapped, "aux_tensors": report.aux_mapped,
               "dropped": list(report.dropped), "notes": list(report.notes)},
    )
    ckpt.build_model(aux=report.aux_mapped > 0)  # proves the result loads strictly into our model
    return ckpt
