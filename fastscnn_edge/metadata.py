"""The metadata every artifact carries (ONNX ``metadata_props``; engine sidecar JSON).

torch-free: needs only ``onnx`` (and only when reading/writing ONNX files).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from fastscnn_edge.errors import UserError

PREFIX = "fastscnn_edge."

CITYSCAPES_CLASSES: Tuple[str, ...] = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

RANDOM_WEIGHTS = "random-init"  # ModelMeta.weights_sha256 of a model exported without --weights
RANDOM_WEIGHTS_NOTE = ("note: randomly initialised weights: the labels mean nothing (speed and export checks do); "
                       "trained weights: models/demo/fastscnn_synth.pt (synthetic-scene demo) or `fastscnn-edge weights list`")

HEADS = ("cls", "prob", "logits")
INPUT_FORMATS = ("float", "rgb8", "bgr8")
LABEL_DTYPES = ("uint8", "int32", "int64")
PRECISIONS = ("fp32", "fp16", "int8")


@dataclass
class ModelMeta:
    """What a consumer needs to feed an artifact and read its output."""

    arch: str = "paper"
    head: str = "cls"
    input_format: str = "float"
    resolution: Optional[Tuple[int, int]] = None  # None: dynamic H, W
    num_classes: int = 19
    class_names: List[str] = field(default_factory=lambda: list(CITYSCAPES_CLASSES))
    mean: Tuple[float, float, float] = IMAGENET_MEAN  # RGB order, on the 0..1 scale
    std: Tuple[float, float, float] = IMAGENET_STD
    channel_order: str = "RGB"  # of the float input tensor
    labels_dtype: str = "uint8"
    precision: str = "fp32"
    weights_sha256: str = ""
    weights_source: str = ""
    toolkit_version: str = ""
    extra: Dict[str, str] = field(default_factory=dict)

    def to_props(self) -> Dict[str, str]:
        d = asdict(self)
        extra = d.pop("extra")
        out = {PREFIX + k: json.dumps(v) if not isinstance(v, str) else v for k, v in d.items()}
        out.update({PREFIX + "extra." + k: v for k, v in extra.items()})
        return out

    @classmethod
    def from_props(cls, props: Dict[str, str]) -> "ModelMeta":
        meta = cls()
        known = set(asdict(meta))
        for key, value in props.items():
            if not key.startswith(PREFIX):
                continue
            name = key[len(PREFIX):]
            if name.startswith("extra."):
                meta.extra[name[len("extra."):]] = value
            elif name in known and name != "extra":
                current = getattr(meta, name)
                if isinstance(current, str) and name not in ("resolution",):
                    setattr(meta, name, value)
                else:
                    parsed = json.loads(value)
                    if name in ("resolution", "mean", "std") and parsed is not None:
                        parsed = tuple(parsed)
                    setattr(meta, name, parsed)
        return meta

    def to_json(self) -> Dict[str, object]:
        return asdict(self)

    @property
    def random_weights(self) -> bool:
        """Exported (or run) without trained weights."""
        return self.weights_sha256 == RANDOM_WEIGHTS


def read_onnx_meta(path: str | Path) -> ModelMeta:
    """Read the toolkit metadata of an ONNX file (without loading its weights)."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - onnx raises several types for a bad file
        raise UserError(f"{path} is not a readable ONNX file ({type(exc).__name__}).",
                        fix="pass a file written by `fastscnn-edge export`.") from None
    return meta_from_proto(model, path)


def meta_from_proto(model, path: str | Path) -> ModelMeta:  # noqa: ANN001 - onnx.ModelProto
    """The toolkit metadata of an ONNX model already in memory (``path`` names it in errors)."""
    props = {p.key: p.value for p in model.metadata_props}
    if not any(k.startswith(PREFIX) for k in props):
        raise UserError(f"{path} carries no fastscnn-edge metadata.",
                        fix="export it with `fastscnn-edge export` (foreign ONNX files are not supported).")
    return ModelMeta.from_props(props)


def write_onnx_meta(model, meta: ModelMeta) -> None:  # noqa: ANN001 - onnx.ModelProto
    """Replace the toolkit's metadata_props entries of an in-memory ONNX model."""
    keep = [p for p in model.metadata_props if not p.key.startswith(PREFIX)]
    del model.metadata_props[:]
    for p in keep:
        model.metadata_props.append(p)
    for k, v in meta.to_props().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
